"""Campaign progress with ETA: the step parser, the estimate, and the wrapper around a real child process."""

from __future__ import annotations

import sys

import pytest
from rich.console import Console

from tcbench.campaign.compose import PROFILES, resolve_profile
from tcbench.campaign.progress import StepProgress, format_seconds, run_with_progress


def test_step_lines_are_parsed_and_other_lines_ignored():
    progress = StepProgress(started=0.0)
    assert not progress.update("rule train:")
    assert progress.describe(5.0) == "planning, 5s elapsed"
    assert progress.update("3 of 12 steps (25%) done")
    assert (progress.done, progress.total) == (3, 12)


def test_eta_is_mean_step_time_times_steps_left():
    progress = StepProgress(started=100.0)
    progress.update("4 of 10 steps (40%) done")
    assert progress.eta_seconds(180.0) == pytest.approx(80 / 4 * 6)
    assert progress.describe(180.0) == "4 of 10 steps, 1m20s elapsed, ETA 2m00s"
    progress.update("10 of 10 steps (100%) done")
    assert progress.eta_seconds(200.0) is None


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59.6, "1m00s"), (61, "1m01s"), (3723, "1h02m03s")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_wrapper_echoes_the_output_adds_progress_lines_and_returns_the_exit_code(tmp_path):
    script = "import sys; print('Building DAG'); print('1 of 2 steps (50%) done', file=sys.stderr); " \
             "print('2 of 2 steps (100%) done', flush=True); sys.exit(3)"
    out = tmp_path / "console.txt"
    with out.open("w") as fh:
        rc = run_with_progress([sys.executable, "-c", script], "campaign x", Console(file=fh, width=200))
    text = out.read_text().splitlines()
    assert rc == 3
    assert text[0] == "Building DAG"
    assert text[1] == "1 of 2 steps (50%) done"
    assert text[2].startswith("[campaign x] 1 of 2 steps, ") and "ETA" in text[2]
    assert text[4].startswith("[campaign x] 2 of 2 steps, ") and "ETA" not in text[4]


def test_profiles_resolve_by_name_or_folder(tmp_path):
    assert resolve_profile("slurm-gpu") == PROFILES / "slurm-gpu"
    assert resolve_profile(str(PROFILES / "local")) == PROFILES / "local"
    with pytest.raises(FileNotFoundError, match=r"--profile slurm: .*valid: local, local-gpu, slurm-gpu"):
        resolve_profile("slurm")
    with pytest.raises(FileNotFoundError, match="no config.yaml"):
        resolve_profile(str(tmp_path))
