"""Faults and mistakes (issue 16): a run that cannot write stops at once with one line, edited data is refused,
usage mistakes get one line and exit 2, jobs find tcbench without PATH, a killed campaign command resumes by itself.

Real faults where a test can make them (a full tmpfs, a read-only mount, SIGKILL); injected ones where it cannot
(AIM's storage, the marker writer, a permission error as root), always in a real process that must exit by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
import yaml
from test_workflow import ROOT, TINY_CONFIG, planned_jobs, snakemake

RUN_ARGS = ["--samples-per-class", "5", "--epochs", "2"]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
# A run that cannot write must end within this (it ends in seconds; before the fix it never did).
EXIT_WITHIN_S = 120


def run_cli(args: list[str], inject: str = "", timeout: float = EXIT_WITHIN_S) -> subprocess.CompletedProcess:
    """`tcbench ARGS` in its own process, through the console entry point (as Snakemake's jobs run it), after
    executing ``inject`` (fault injection) in that process."""
    code = f"import sys\n{textwrap.dedent(inject)}\nfrom tcbench.cli.main import main\nsys.argv = ['tcbench', *{args!r}]\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=timeout)


def assert_one_line_failure(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert proc.returncode == code, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def no_marker_anywhere(results: Path) -> None:
    assert not list(results.rglob("marker.json")), "a failed run left a marker"
    assert not list(results.rglob(".marker.json*")), "a failed run left a temp marker"


@contextmanager
def mounted_tmpfs(where: Path, size: str, read_only: bool = False):
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.strip() or 'mount failed'}): needs root or CAP_SYS_ADMIN")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


# ------------------------------------------------------------------------------------------------ I/O faults
def test_a_full_disk_stops_the_run_within_seconds_with_one_line(tiny_dataset, tmp_path):
    """results_dir on a 640 KiB tmpfs: AIM's write fails with 'No space left on device'; the run exits 1 by itself
    (no thread blocks the exit), says why in one line, and leaves no marker."""
    with mounted_tmpfs(tmp_path / "small", "640k") as small:
        started = time.monotonic()
        proc = run_cli(["run", "augment-at-loading", "--dataset-dir", str(tiny_dataset), "--results-dir",
                        str(small / "results"), *RUN_ARGS])
        assert time.monotonic() - started < EXIT_WITHIN_S
        assert_one_line_failure(proc, 1, "cannot write the run's results", "No space left on device",
                                "no marker written")
        no_marker_anywhere(small)


def test_a_read_only_results_folder_fails_in_one_line(tiny_dataset, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        proc = run_cli(["run", "augment-at-loading", "--dataset-dir", str(tiny_dataset), "--results-dir",
                        str(ro / "results"), *RUN_ARGS])
        assert_one_line_failure(proc, 1, "Read-only file system", str(ro / "results"))


AIM_TRACK_FAILS = """
import aimrocks.errors
from tcbench.tracking import aim_run
def full(self, *args, **kwargs):
    raise aimrocks.errors.RocksIOError(b"IO error: No space left on device: While appending to file: /x/000005.log")
aim_run.AimRunWriter.track = full
"""
MARKER_FSYNC_FAILS = """
import errno, os
from tcbench import atomic
real_fsync = os.fsync
def failing_fsync(fd):
    if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(".marker.json"):
        raise OSError(errno.EIO, "Input/output error")
    return real_fsync(fd)
atomic.os.fsync = failing_fsync
"""
PERMISSION_DENIED = """
import errno
from tcbench.runs import template
def denied(key, run_dir, results_dir, kind="runs"):
    raise PermissionError(errno.EACCES, "Permission denied", str(results_dir))
template.run_folder = denied
"""


# `make test` keeps the AIM writer (the same one-line path as a full disk); the other two run in `make test-all`.
@pytest.mark.parametrize("inject,cause", [
    pytest.param(AIM_TRACK_FAILS, "No space left on device: While appending to file", id="aim-writer"),
    pytest.param(MARKER_FSYNC_FAILS, "Input/output error", id="marker-writer", marks=pytest.mark.slow),
    pytest.param(PERMISSION_DENIED, "Permission denied", id="permission", marks=pytest.mark.slow)])
def test_injected_storage_faults_end_the_run_with_one_line(tiny_dataset, tmp_path, inject, cause):
    proc = run_cli(["run", "augment-at-loading", "--dataset-dir", str(tiny_dataset), "--results-dir",
                    str(tmp_path / "results"), *RUN_ARGS], inject=inject)
    assert_one_line_failure(proc, 1, "cannot write the run's results", cause)
    no_marker_anywhere(tmp_path)


def test_a_bug_keeps_its_traceback_and_still_exits(tiny_dataset, tmp_path):
    """Not an I/O fault: the traceback is kept for the report, the last line says what happened, the process ends."""
    proc = run_cli(["run", "augment-at-loading", "--dataset-dir", str(tiny_dataset), "--results-dir",
                    str(tmp_path / "results"), *RUN_ARGS],
                   inject="from tcbench.runs import template\n"
                          "def broken(*a, **k):\n    raise KeyError('boom')\n"
                          "template.check_finite = broken\n")
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: KeyError: 'boom' (a bug")
    no_marker_anywhere(tmp_path)


# ------------------------------------------------------------------------------------------------ data identity
def test_an_edited_dataset_is_refused_and_a_copy_is_accepted(tiny_dataset, tmp_path):
    """The synthetic dataset records its content when generated; a run on an edited parquet (rows removed) is
    refused in one line, naming the file; an untouched copy of the folder trains."""
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    record = json.loads((copy / "content.json").read_text())
    assert record["parquet"] == "ucdavis-icdm19.parquet" and len(record["sha256"]) == 64
    ok = run_cli(["run", "augment-at-loading", "--dataset-dir", str(copy), "--results-dir", str(tmp_path / "r1"), *RUN_ARGS])
    assert ok.returncode == 0, ok.stderr[-3000:]

    parquet = copy / "ucdavis-icdm19.parquet"
    table = pq.read_table(parquet)
    pq.write_table(table.slice(0, table.num_rows - 3), parquet)
    refused = run_cli(["run", "augment-at-loading", "--dataset-dir", str(copy), "--results-dir", str(tmp_path / "r2"),
                       *RUN_ARGS])
    assert_one_line_failure(refused, 2, str(parquet), "not the data this folder was made with", "edited or replaced")
    no_marker_anywhere(tmp_path / "r2")


def test_summaries_never_pool_runs_of_different_data(tiny_dataset, tmp_path):
    """`tcbench campaign summary` over runs of two dataset identities (as `results/runs/*/marker.json` can be)
    groups by the identity and says so."""
    ok = run_cli(["run", "augment-at-loading", "--dataset-dir", str(tiny_dataset), "--results-dir", str(tmp_path), *RUN_ARGS])
    assert ok.returncode == 0, ok.stderr[-3000:]
    (marker,) = (tmp_path / "runs").glob("*/marker.json")
    other = json.loads(marker.read_text())
    other["params"]["dataset"]["synthetic"]["seed"] = 7  # as if trained on another generated dataset
    other["run_key"] = "0" * 16
    copy = tmp_path / "runs" / other["run_key"] / "marker.json"
    copy.parent.mkdir()
    shutil.copytree(marker.parent / "artifacts", copy.parent / "artifacts")
    copy.write_text(json.dumps(other))
    proc = run_cli(["campaign", "summary", "--campaign-id", "mixed", "--output-dir", str(tmp_path / "out"), "--quiet",
                    str(marker), str(copy)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "the runs differ in dataset_identity (2 values" in proc.stdout and "never pooled" in proc.stdout
    runsinfo = pq.read_table(tmp_path / "out" / "runsinfo_flowpic_dim_32.parquet").to_pandas()
    assert runsinfo.groupby("dataset_identity")["run_key"].nunique().tolist() == [1, 1]
    csv = (tmp_path / "out" / "summary_flowpic_dim_32.csv").read_text()
    assert "dataset_identity" in csv and "seed=7" in csv


# ------------------------------------------------------------------------------------------------ usage mistakes
@pytest.mark.parametrize("args,code,fragments", [
    (["run", "augment-at-loading", "--dataset-dir", ".", "--device", "cdua"], 2, ["--device", "'cdua'", "cpu, cuda or cuda:N"]),
    (["campaign", "augment-at-loading", "--flowpic-dims", "32,abc", "--dry-run"], 2, ["--flowpic-dims", "['abc']", "integers"]),
    (["run", "job", "{}", "--dataset-dir", ".", "--run-dir", "x", "--threads", "0"], 2, ["--threads", "valid values"]),
])
def test_usage_mistakes_get_one_line_and_exit_2(args, code, fragments):
    proc = run_cli(args)
    assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, last


def test_a_yaml_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("campaign_id: x\ngrid: {split_index: [0, 1}\n")
    for command in (["campaign", "status", "--configfile", str(bad)],
                    ["campaign", "augment-at-loading", "--configfile", str(bad), "--dry-run"]):
        proc = run_cli(command)
        assert_one_line_failure(proc, 2, str(bad), "YAML syntax error at line 2, column")


def test_cuda_without_a_gpu_is_refused_before_any_work(tiny_dataset, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    started = time.monotonic()
    proc = run_cli(["run", "augment-at-loading", "--dataset-dir", str(tiny_dataset), "--results-dir", str(tmp_path),
                    "--device", "cuda", *RUN_ARGS])
    assert_one_line_failure(proc, 2, "--device cuda", "CUDA is not available", "valid values here: ['cpu']")
    assert time.monotonic() - started < 30 and not (tmp_path / "runs").exists()


def test_a_cuda_campaign_without_a_gpu_is_refused_at_planning(tmp_path):
    """`resources.device: cuda` on a machine without a GPU: a local run stops before any job with one line naming the
    key; a dry run (the plan may be for a cluster's GPU nodes) warns and plans."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    on_cuda = "resources={'device': 'cuda'}"
    run = snakemake(tmp_path, "--cores", "1", "--config", on_cuda)
    said = run.stdout + run.stderr
    assert run.returncode != 0 and "Traceback" not in said
    assert "resources.device: cuda: device 'cuda' requested but CUDA is not available" in said
    assert "valid values here: ['cpu']" in said and not (tmp_path / "results").exists()
    dry = snakemake(tmp_path, "-n", "--config", on_cuda)
    assert dry.returncode == 0 and "warning: resources.device: cuda" in dry.stdout + dry.stderr


def test_config_on_the_command_line_overrides_the_default_config(tmp_path):
    """`snakemake -n --config key=value` keeps config/config.yaml and changes the keys given, nested values typed."""
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config" / "config.yaml")  # the working dir's default
    proc = snakemake(tmp_path, "-n", "--config", "campaign_id=override", "grid={'flowpic_dim': [64], 'seed': [1]}",
                     "report={'compare_by': 'split_index'}")
    assert proc.returncode != 0 and "report.compare_by: 'split_index' is not a grid axis with 2+ values" in proc.stdout + proc.stderr
    proc = snakemake(tmp_path, "-n", "--config", "campaign_id=override", "grid={'flowpic_dim': [64], 'seed': [1]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "results/campaigns/override/" in out and planned_jobs(out)["train"] == 2


# ------------------------------------------------------------------------------------------------ jobs and locks
def test_jobs_run_the_tcbench_of_the_python_running_snakemake(tiny_campaign):
    """Snakemake started by path with a PATH that has no tcbench: every job still finds it. The session's tiny
    campaign is run so (conftest.tiny_campaign, which fails with Snakemake's output if a job did not): from the dataset
    to the report page."""
    from conftest import NO_TCBENCH_PATH

    assert shutil.which("tcbench", path=NO_TCBENCH_PATH) is None
    assert len(list((tiny_campaign / "results" / "runs").glob("*/marker.json"))) == 4
    campaign = tiny_campaign / "results" / "campaigns" / TINY_CONFIG["campaign_id"]
    assert (campaign / "aim_merge.json").exists() and (campaign / "report.html").exists()
    assert list((tiny_campaign / "resources" / "datasets").glob("*/dataset.json"))


@pytest.mark.slow  # 48 s; SIGKILL of a whole campaign mid-training and its resume stay in `make test`:
# test_reliability.test_kill_during_training_then_resume_trains_only_the_missing_runs
def test_a_killed_campaign_command_resumes_by_itself(tmp_path):
    """kill -9 of `tcbench campaign ...` and its Snakemake mid-training leaves Snakemake's lock; the same command
    again releases it (no Snakemake works in the folder), says so, and finishes. A second command while one runs
    is refused in one line."""
    config = {**TINY_CONFIG, "campaign_id": "resumed", "training": {"epochs": 4}}
    path = tmp_path / "resumed.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "tcbench", "campaign", "augment-at-loading", "--configfile", str(path), "--cores", "2"]
    first = subprocess.Popen(command, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            children = psutil.Process(first.pid).children(recursive=True)
            if any("job" in _cmdline(c) for c in children):
                break
            time.sleep(0.2)
        else:
            pytest.fail("no training started")
        busy = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
        assert busy.returncode == 2 and "another tcbench campaign works in" in busy.stderr, busy.stderr[-2000:]
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    psutil.wait_procs([p for p in psutil.process_iter() if p.pid != os.getpid() and _in_group(p, first.pid)], timeout=30)
    assert list((tmp_path / ".snakemake" / "locks").glob("*.lock")), "SIGKILL left Snakemake's lock"
    again = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "released a stale Snakemake lock left by a killed campaign" in again.stdout
    assert len(list((tmp_path / "results" / "runs").glob("*/marker.json"))) == 4


def _cmdline(proc: psutil.Process) -> str:
    """A process's command line, or "" once it has exited (a short-lived child can turn zombie between being listed
    and being read)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _in_group(proc: psutil.Process, group: int) -> bool:
    try:
        return os.getpgid(proc.pid) == group
    except (ProcessLookupError, psutil.Error):
        return False
