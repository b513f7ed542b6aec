"""Storage faults of a whole campaign: a full disk ends the campaign within seconds of its first failed write with the
cause and the path on the terminal (not only in a job log on the full disk), nothing finished is damaged; planning
warns when the campaign will not fit, and names every config folder that is a file or read-only.

Real faults: results on a small tmpfs (skipped with the reason where none can be mounted), real Snakemake and AIM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from test_faults import assert_one_line_failure, mounted_tmpfs, run_cli
from test_workflow import ROOT, TINY_CONFIG, planned_jobs

from tcbench.tracking.marker import read_marker

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
# The bar: a campaign on a 4 MiB file system ends within this, the cause and the path on the terminal.
ENDS_WITHIN_S = 60


def snakemake(workdir: Path, config: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile",
           str(config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


def said(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def write_config(folder: Path, **changes: object) -> Path:
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump({**TINY_CONFIG, **changes}))
    return path


def our_processes(marker: str) -> list[psutil.Process]:
    """Processes still alive whose command line names ``marker`` (a path only this test uses)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.pid != os.getpid() and marker in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def fill(folder: Path, leave: int) -> None:
    """Leave about ``leave`` bytes free on the file system of ``folder``."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as out:
        out.write(b"\0" * max(0, free - leave))


# Both campaigns on a full disk run in `make test-all` (49 s and 29 s); `make test` keeps a run on a full disk
# (test_faults.test_a_full_disk_stops_the_run_within_seconds_with_one_line) and the planning checks below.
@pytest.mark.slow
def test_a_campaign_on_a_4_mib_file_system_ends_within_60_s_naming_the_cause(tmp_path):
    """16 runs (2 dims) with results on a 4 MiB tmpfs, run with --keep-going and the local profile (one retry):
    planning warns that it will not fit; the first failed write ends the whole campaign within 60 s (no job left
    running, no further job started), the terminal names 'No space left on device' and the results folder, and the
    runs that finished keep valid markers."""
    work = tmp_path / "proj"
    work.mkdir()
    with mounted_tmpfs(tmp_path / "small", "4m") as small:
        results = small / "results"
        config = write_config(work, campaign_id="full", results_dir=str(results),
                              grid={**TINY_CONFIG["grid"], "split_index": [0, 1, 2, 3], "flowpic_dim": [32, 64]})
        prepared = snakemake(work, config, "--cores", "2", "--until", "flowpics", "train_splits")
        assert prepared.returncode == 0, said(prepared)[-3000:]

        plan = snakemake(work, config, "-n")
        assert plan.returncode == 0 and planned_jobs(said(plan))["train"] == 16, said(plan)[-3000:]
        assert f"warning: results_dir {results}: the campaign needs about" in said(plan)
        assert "but its file system has 4.0 MiB free" in said(plan)

        started = time.monotonic()
        proc = snakemake(work, config, "--cores", "2", "--keep-going", "--profile", str(ROOT / "profiles" / "local"))
        elapsed = time.monotonic() - started
        out = said(proc)
        assert proc.returncode != 0
        assert elapsed < ENDS_WITHIN_S, f"{elapsed:.0f} s: {out[-3000:]}"
        stopped = [line for line in out.splitlines() if line.startswith("error: campaign stopped:")]
        assert stopped, out[-3000:]
        assert "No space left on device" in stopped[-1] and str(results) in stopped[-1]
        assert out.rstrip().splitlines()[-1] == stopped[-1], "the cause is the terminal's last line"
        assert not our_processes(str(results)), "a job of the campaign still runs"
        markers = list((results / "runs").glob("*/marker.json"))
        assert len(markers) < 16
        for marker in markers:
            read_marker(marker)  # complete: markers are written last and atomically


@pytest.mark.slow
def test_a_full_disk_during_the_merge_keeps_the_finished_campaign(tmp_path):
    """A finished 2-run campaign on a 16 MiB tmpfs (the runs and campaign outputs take about 8 MiB, so 8 MiB left
    no headroom), then the disk filled: merging again (forced) ends at once with
    the cause and the path on the terminal; the merged repo in place still lists both runs and the markers are
    intact. The merge step by hand says the same in one line (exit 1), no traceback."""
    from aim import Repo

    work = tmp_path / "proj"
    work.mkdir()
    with mounted_tmpfs(tmp_path / "small", "16m") as small:
        results = small / "results"
        config = write_config(work, campaign_id="merged", results_dir=str(results), training={"epochs": 1},
                              grid={**TINY_CONFIG["grid"], "seed": [1]})
        done = snakemake(work, config, "--cores", "2")
        assert done.returncode == 0, said(done)[-3000:]
        markers = sorted((results / "runs").glob("*/marker.json"))
        assert len(markers) == 2
        before = {m: m.read_bytes() for m in markers}
        repo = results / "campaigns" / "merged" / "aim"

        fill(small, leave=200 * 1024)
        started = time.monotonic()
        proc = snakemake(work, config, "--cores", "2", "--forcerun", "merge_campaign")
        out = said(proc)
        assert proc.returncode != 0 and time.monotonic() - started < ENDS_WITHIN_S, out[-3000:]
        stopped = [line for line in out.splitlines() if line.startswith("error: campaign stopped:")]
        assert stopped and "No space left on device" in stopped[-1] and str(results) in stopped[-1], out[-3000:]
        assert {m: m.read_bytes() for m in markers} == before
        assert len(list(Repo(str(repo)).iter_runs())) == 2

        by_hand = run_cli(["campaign", "merge", "--campaign-id", "merged", "--dst", str(repo),
                           *map(str, markers)])
        assert_one_line_failure(by_hand, 1, "cannot write the campaign's files", "No space left on device")
        assert len(list(Repo(str(repo)).iter_runs())) == 2
        assert not [p for p in repo.parent.iterdir() if p.name.startswith(".aim.")], "a temp repo was left behind"


def test_every_config_folder_that_is_a_file_or_read_only_gets_one_line_at_planning(tmp_path):
    """results_dir and datasets_dir that are files: one line each, naming the key and the path, from Snakemake and
    from the campaign command, before anything is written; a results_dir on a read-only file system: one line."""
    work = tmp_path / "proj"
    work.mkdir()
    (work / "results-file").write_text("")
    (work / "datasets-file").write_text("")
    config = write_config(work, results_dir="results-file", datasets_dir="datasets-file/sub")
    plan = snakemake(work, config, "-n")
    out = said(plan)
    assert plan.returncode != 0 and "Traceback" not in out, out[-3000:]
    assert f"results_dir: {work / 'results-file'} is a file, not a folder" in out
    assert f"datasets_dir: {work / 'datasets-file' / 'sub'} is a file, not a folder ({work / 'datasets-file'} is a file)" in out
    cli = subprocess.run([sys.executable, "-m", "tcbench", "campaign", "augment-at-loading", "--configfile", str(config),
                          "--cores", "1"], cwd=work, capture_output=True, text=True, env=ENV, timeout=300)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr, cli.stderr[-3000:]
    assert "results_dir:" in cli.stderr and "datasets_dir:" in cli.stderr
    assert sorted(p.name for p in work.iterdir()) == ["campaign.yaml", "datasets-file", "results-file"]

    with mounted_tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        config = write_config(work, results_dir=str(ro / "results"))
        plan = snakemake(work, config, "-n")
        assert plan.returncode != 0 and "Traceback" not in said(plan), said(plan)[-3000:]
        assert f"results_dir: {ro / 'results'} is on a read-only file system" in said(plan)
