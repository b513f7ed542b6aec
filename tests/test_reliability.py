"""Crashes, failures, resumes and shared results lose nothing (docs/reliability.md lists each guarantee).

Everything here is real: Snakemake runs the workflow, processes are killed with SIGKILL (what `kill -9` and the
kernel's out-of-memory killer send), and the results are read back from disk and through the AIM SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from click.testing import CliRunner
from test_workflow import ROOT, TINY_CONFIG, planned_jobs

from tcbench.cli.main import cli
from tcbench.tracking.marker import read_marker

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
# The workflow tests' tiny campaign (2 splits x 2 seeds), with one more epoch: a run lasts long enough to be killed.
CONFIG = {**TINY_CONFIG, "campaign_id": "reliable", "training": {"epochs": 4}}
RUN_ARGS = ["--samples-per-class", "5", "--epochs", "3"]


# ------------------------------------------------------------------------------------------------ helpers
def snakemake_cmd(workdir: Path, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
            "--configfile", str(config), *args]


def snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(workdir, config, *args), capture_output=True, text=True, env=ENV, timeout=900)


def write_config(workdir: Path, name: str = "campaign.yaml", **changes: object) -> Path:
    config = json.loads(json.dumps(CONFIG))
    config.update(changes)
    path = workdir / name
    path.write_text(yaml.safe_dump(config))
    return path


def planned_trains(workdir: Path, config: Path, *args: str) -> int:
    proc = snakemake(workdir, config, "-n", "--quiet", "rules", *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return planned_jobs(proc.stdout + proc.stderr).get("train", 0)


def markers(workdir: Path) -> list[Path]:
    return sorted((workdir / "results" / "runs").glob("*/marker.json"))


def unfinished(workdir: Path) -> list[Path]:
    """Run folders without a marker: runs in training (or killed while training)."""
    runs = workdir / "results" / "runs"
    return [d for d in runs.iterdir() if not (d / "marker.json").exists()] if runs.is_dir() else []


def training_processes(root: int) -> list[psutil.Process]:
    """The `tcbench run ...` Python processes (not their shell wrappers) started by the process ``root`` (a test's
    own Snakemake): never another campaign's or another test session's on the same machine."""
    found = []
    try:
        descendants = psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for proc in descendants:
        try:
            cmd = proc.cmdline()
        except psutil.Error:  # ended meanwhile
            continue
        if len(cmd) > 2 and "python" in Path(cmd[0]).name and any(Path(c).name == "tcbench" for c in cmd[1:2]) \
                and "run" in cmd:
            found.append(proc)
    return found


@pytest.fixture
def decoy(tmp_path: Path):
    """A process that looks like another campaign's training (`python .../tcbench run job ...`) but was not started
    by the test's Snakemake: the tests must neither wait for it nor kill it."""
    script = tmp_path / "decoy" / "tcbench"
    script.parent.mkdir()
    script.write_text("import time\ntime.sleep(900)\n")
    proc = subprocess.Popen([sys.executable, str(script), "run", "job", "{}"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def group_members(root: int) -> list[psutil.Process]:
    """The process ``root`` (a test's own Snakemake, started in its own session) and every process it started."""
    try:
        top = psutil.Process(root)
        return [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def frozen(proc: psutil.Process) -> bool:
    try:
        return proc.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True


def freeze_when(group: int, condition, timeout: float, what: str):
    """Wait until ``condition()`` holds while the process group ``group`` (a Snakemake started with
    ``start_new_session``, and its jobs) is stopped with SIGSTOP; return its value with the group still stopped.
    Checking a running campaign and then killing it races (a run can finish between the check and the kill); a
    stopped group cannot change what the check saw before the caller acts on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            os.killpg(group, signal.SIGSTOP)
            wait_for(lambda: all(frozen(p) for p in group_members(group)), 30, "the campaign's processes to stop",
                     poll=0.01)
            value = condition()
            if value:
                return value
            os.killpg(group, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for(condition, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def assert_campaign_complete(workdir: Path, n_runs: int, campaign_id: str = "reliable") -> None:
    """Every marker valid, each run once in the merged AIM repo, and no AIM run left locked."""
    from aim import Repo

    from tcbench.tracking.aim_repo import run_is_locked

    found = markers(workdir)
    assert len(found) == n_runs
    hashes = {read_marker(m)["aim"]["run_hash"] for m in found}
    for m in found:
        assert not run_is_locked(m.parent / "aim", read_marker(m)["aim"]["run_hash"])
    repo = Repo(str(workdir / "results" / "campaigns" / campaign_id / "aim"))
    merged = [run.hash for run in repo.iter_runs()]
    assert sorted(merged) == sorted(hashes)
    for h in merged:
        assert not run_is_locked(repo.path, h)


# ------------------------------------------------------------------------------------------------ kill -9
def test_kill_during_training_then_resume_trains_only_the_missing_runs(tiny_campaign, tmp_path):
    """SIGKILL to Snakemake and all its jobs while runs train: no partial marker; after `--unlock` the re-run with
    `--rerun-incomplete` (set by the profiles) plans exactly the runs without a marker, finishes them, and the
    merged repo holds each run once."""
    from conftest import copy_campaign

    # The session's tiny campaign prepared the same data (dataset, flowpics, splits) and the AIM template: a copy of
    # its folder without its runs and campaign results, so the campaign below goes straight to training.
    copy_campaign(tiny_campaign, tmp_path)
    for done in ("runs", "campaigns"):
        shutil.rmtree(tmp_path / "results" / done)
    # 3 runs on 2 cores: the third keeps one run in training after the first has finished.
    config = write_config(tmp_path, grid={**CONFIG["grid"], "split_index": [0], "seed": [12345, 42, 7]})
    proc = subprocess.Popen(snakemake_cmd(tmp_path, config, "--cores", "2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV, start_new_session=True)
    try:
        # Checked with the campaign stopped (SIGSTOP), then killed as it was: no run can finish in between.
        jobs = freeze_when(proc.pid, lambda: markers(tmp_path) and unfinished(tmp_path) and training_processes(proc.pid),
                           600, "one finished run and one in training")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    _, alive = psutil.wait_procs(jobs, timeout=30)
    assert not alive, "the killed jobs are gone"

    done = markers(tmp_path)
    assert 1 <= len(done) < 3
    for m in done:
        read_marker(m)  # complete and valid: written last, atomically
    assert unfinished(tmp_path), "a run was killed mid-training, its folder is there without a marker"

    # Snakemake's own lock and its records of the jobs in flight survive SIGKILL: `--unlock` releases the lock, and
    # `--rerun-incomplete` re-runs the interrupted jobs (their outputs are atomic markers, never partial files).
    assert snakemake(tmp_path, config, "--unlock").returncode == 0
    assert planned_trains(tmp_path, config, "--rerun-incomplete") == 3 - len(done)
    before = {m: m.stat().st_mtime_ns for m in done}
    resumed = snakemake(tmp_path, config, "--cores", "2", "--rerun-incomplete")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert all(m.stat().st_mtime_ns == t for m, t in before.items())  # finished runs were not trained again
    assert_campaign_complete(tmp_path, 3)


def _merge_cmd(workdir: Path, dst: Path) -> list[str]:
    return [sys.executable, "-m", "tcbench", "campaign", "merge", "--campaign-id", "reliable", "--dst", str(dst),
            *map(str, markers(workdir))]


# The campaign of `finished`: the session's tiny campaign (3 epochs, campaign_id "tiny"), not CONFIG.
FINISHED_ID = TINY_CONFIG["campaign_id"]


@pytest.fixture(scope="module")
def finished(tiny_campaign: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4-run campaign (shared by the tests that only read it or add to it): a copy of the session's tiny
    campaign (conftest.tiny_campaign), its config also as campaign.yaml. That such a copy plans nothing is
    test_workflow.test_rerun_trains_nothing; the tests that plan here count the trains they expect."""
    from conftest import copy_campaign

    workdir = copy_campaign(tiny_campaign, tmp_path_factory.mktemp("finished"))
    (workdir / "campaign.yaml").write_text((workdir / "tiny.yaml").read_text())
    return workdir


@pytest.mark.parametrize("previous", [False, True], ids=["first-merge", "over-a-merged-repo"])
def test_kill_during_merge_leaves_the_previous_repo_whole_and_a_rerun_completes(finished, tmp_path, previous):
    """SIGKILL while the campaign repo is being built: the destination is either absent or the previous complete
    repo, never a partial one; the next merge sweeps the dead process's temp folder and completes."""
    from aim import Repo

    dst = tmp_path / "aim"
    if previous:
        assert subprocess.run(_merge_cmd(finished, dst), env=ENV, capture_output=True).returncode == 0
        before = sorted(r.hash for r in Repo(str(dst)).iter_runs())
    proc = subprocess.Popen(_merge_cmd(finished, dst), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: list(tmp_path.glob(".aim.tmp-*")), 120, "the merge's temp repo", poll=0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(tmp_path.glob(".aim.tmp-*")), "killed mid-merge: its temp repo is left behind"
    if previous:
        assert sorted(r.hash for r in Repo(str(dst)).iter_runs()) == before
    else:
        assert not dst.exists()

    rerun = subprocess.run(_merge_cmd(finished, dst), env=ENV, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not list(tmp_path.glob(".aim.tmp-*"))
    expected = sorted(read_marker(m)["aim"]["run_hash"] for m in markers(finished))
    assert sorted(r.hash for r in Repo(str(dst)).iter_runs()) == expected


@pytest.mark.slow  # 20 s (two forced merges, each with the summaries and report); a second merge of the same runs
# giving the same repo stays in `make test`: test_tracking.test_merge_twice_and_duplicates_give_same_runs, and above
def test_merge_is_idempotent(finished):
    """Merging the same campaign again (Snakemake's merge rule, forced) gives the same runs, once each, with the same
    labels, and trains nothing."""
    from aim import Repo

    dst = finished / "results" / "campaigns" / FINISHED_ID / "aim"

    def labelled() -> list[tuple[str, int]]:
        return sorted((r.hash, r["hparams"]["campaign_exp_idx"]) for r in Repo(str(dst)).iter_runs())

    first = labelled()
    trained = {m: m.stat().st_mtime_ns for m in markers(finished)}
    for _ in range(2):
        proc = snakemake(finished, finished / "campaign.yaml", "--cores", "1", "--forcerun", "merge_campaign")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert labelled() == first
    assert {m: m.stat().st_mtime_ns for m in markers(finished)} == trained
    assert sorted(idx for _, idx in first) == [1, 2, 3, 4]


# ------------------------------------------------------------------------------------------------ failures
@pytest.mark.slow  # 38 s; a SIGKILLed run retrained alone: test_kill_during_training_then_resume_trains_only_the_missing_runs;
# a failed run's state and log in `campaign status`: test_status.py
def test_a_killed_run_fails_alone_with_its_log_and_a_retry_finishes_it(tmp_path, decoy):
    """One training process SIGKILLed (as the out-of-memory killer does): with --keep-going the other runs finish,
    Snakemake and `tcbench campaign status` name the failed run's log; the re-run trains only that run. With
    profiles/local (retries: 1) the same kill is absorbed within one invocation."""
    config = write_config(tmp_path)
    # `decoy`: another campaign's training on the same machine (issue 16); this test neither waits for it nor kills it.

    def kill_one_run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.Popen(snakemake_cmd(tmp_path, config, "--cores", "2", *args), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=ENV)
        victims = wait_for(lambda: training_processes(proc.pid), 600, "a training process")
        assert decoy.pid not in {v.pid for v in victims}
        victims[0].send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=900)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")

    failed = kill_one_run("--keep-going")
    assert failed.returncode != 0
    assert len(markers(tmp_path)) == 3
    status = subprocess.run([sys.executable, "-m", "tcbench", "campaign", "status", "--configfile", str(config),
                             "--directory", str(tmp_path), "--json"], capture_output=True, text=True, env=ENV)
    (row,) = [json.loads(line) for line in status.stdout.splitlines()]
    assert row["state"] == "failed" and not (tmp_path / "results" / "runs" / row["run_key"] / "marker.json").exists()
    log = f"results/logs/runs/{row['run_key']}.log"
    assert row["log"].endswith(log)
    assert "Error in rule train" in failed.stdout and log in failed.stdout
    assert planned_trains(tmp_path, config) == 1

    # The same failure under the local profile (retries: 1): the retry trains the run within one invocation.
    for m in markers(tmp_path):
        m.unlink()
    retried = kill_one_run("--profile", str(ROOT / "profiles" / "local"))  # retries: 1
    assert retried.returncode == 0, retried.stdout[-3000:]
    assert "Trying to restart job" in retried.stdout
    assert_campaign_complete(tmp_path, 4)
    assert decoy.poll() is None, "the other campaign's process was left alone"


def test_a_diverging_run_is_reported_and_writes_no_result(tiny_dataset, tmp_path):
    """A NaN loss stops the run with an error naming the epoch; no marker, the log says why."""
    result = CliRunner().invoke(cli, ["run", "augment-at-loading", "--dataset-dir", str(tiny_dataset),
                                      "--results-dir", str(tmp_path), *RUN_ARGS, "--learning-rate", "1e30"])
    assert result.exit_code != 0
    assert "training diverged at epoch" in result.output + str(result.exception)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not (run_dir / "marker.json").exists()
    assert "training diverged at epoch" in (run_dir / "artifacts" / "log.txt").read_text()


# ------------------------------------------------------------------------------------------------ sharing
@pytest.mark.slow  # 100 s; its plan counts are also checked by test_workflow's relabel and changed-hparam tests
def test_campaigns_sharing_runs_train_them_once_and_replan_exactly_what_changed(finished):
    """A second campaign in the same results folder trains only its new grid points; the first is then still
    complete. Changing a hyper-parameter re-plans every affected run and only those; execution settings re-plan
    nothing."""
    shared_before = {m.parent.name: m.stat().st_mtime_ns for m in markers(finished)}
    second = write_config(finished, "second.yaml", campaign_id="second", training=TINY_CONFIG["training"],
                          grid={**CONFIG["grid"], "split_index": [1, 2]})
    assert planned_trains(finished, second) == 2  # split 2 x 2 seeds; split 1 is shared
    proc = snakemake(finished, second, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    after = {m.parent.name: m.stat().st_mtime_ns for m in markers(finished)}
    assert all(after[k] == t for k, t in shared_before.items())  # the shared runs were not retrained
    assert len(after) == 6
    first = finished / "campaign.yaml"
    assert planned_trains(finished, first) == 0

    cases = {"more epochs": ({"training": {**CONFIG["training"], "epochs": 5}}, 4),
             "one more seed": ({"grid": {**CONFIG["grid"], "seed": [12345, 42, 7]}}, 2),
             "threads and device only": ({"resources": {"device": "cpu", "threads_per_run": 2}}, 0)}
    for name, (change, expected) in cases.items():  # under a new id: "tiny" names the first grid (issue 16)
        changed = write_config(finished, "changed.yaml", campaign_id="changed",
                               **{"training": TINY_CONFIG["training"], **change})
        assert planned_trains(finished, changed) == expected, name


# ------------------------------------------------------------------------------------------------ determinism
def _run_twice(tiny_dataset: Path, tmp_path: Path, *args: str) -> tuple[dict, dict, Path, Path]:
    out = []
    for name in ("a", "b"):
        result = CliRunner().invoke(cli, ["run", *args, "--dataset-dir", str(tiny_dataset),
                                          "--results-dir", str(tmp_path / name), *RUN_ARGS], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        (marker,) = (tmp_path / name / "runs").glob("*/marker.json")
        out.append(marker)
    return read_marker(out[0]), read_marker(out[1]), out[0].parent, out[1].parent


def results(marker: dict) -> dict:
    """The marker's metrics without wall-clock durations (which differ between any two runs)."""
    return {ctx: {k: v for k, v in values.items() if k != "duration"} for ctx, values in marker["metrics"].items()}


def test_the_same_cnn_run_twice_on_cpu_gives_identical_metrics_and_weights(tiny_dataset, tmp_path):
    a, b, dir_a, dir_b = _run_twice(tiny_dataset, tmp_path, "augment-at-loading", "--aug-name", "changertt")
    assert a["run_key"] == b["run_key"]
    assert results(a) == results(b)  # every context, every metric, bit for bit
    (weights_a,) = (dir_a / "artifacts").glob("best_model_weights_*.pt")
    state_a = torch.load(weights_a, weights_only=True)
    state_b = torch.load(dir_b / "artifacts" / weights_a.name, weights_only=True)
    assert state_a.keys() == state_b.keys() and all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    for report in sorted((dir_a / "artifacts").glob("*_conf_mtx.csv")):
        assert report.read_bytes() == (dir_b / "artifacts" / report.name).read_bytes()
    assert a["determinism"] == {"device": "cpu", "threads": 1, "deterministic_algorithms": False,
                                "cudnn_deterministic": False, "cudnn_benchmark": False,
                                "cublas_workspace_config": None, "nondeterministic_ops": []}


def test_the_same_xgboost_run_twice_gives_identical_metrics(tiny_dataset, tmp_path):
    a, b, _, _ = _run_twice(tiny_dataset, tmp_path, "augment-at-loading", "--method", "xgboost")
    assert a["run_key"] == b["run_key"] and results(a) == results(b)
    assert len(results(a)) >= 4


def test_nondeterministic_operations_are_recorded():
    """On CUDA, torch warns (warn_only) about kernels without a deterministic implementation; the run collects
    those warnings into its marker. Checked here with the warning torch emits, since no GPU is needed to record it."""
    import warnings

    from tcbench.training.determinism import collect_nondeterminism

    record = {"nondeterministic_ops": []}
    with warnings.catch_warnings(record=True) as passed:
        warnings.simplefilter("always")
        with collect_nondeterminism(record):
            for _ in range(2):
                warnings.warn("scatter_add_cuda_kernel does not have a deterministic implementation, but you set "
                              "'torch.use_deterministic_algorithms(True, warn_only=True)'", UserWarning, stacklevel=2)
            warnings.warn("an unrelated warning", UserWarning, stacklevel=2)
    assert record["nondeterministic_ops"] == ["scatter_add_cuda_kernel does not have a deterministic implementation, "
                                              "but you set 'torch.use_deterministic_algorithms(True, warn_only=True)'"]
    assert [str(w.message) for w in passed] == ["an unrelated warning"]  # other warnings still reach the caller
