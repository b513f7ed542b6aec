"""Shared fixtures: a small synthetic dataset folder, a finished tiny campaign and a finished two-augmentation campaign
built on it, each prepared once per test session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests (tests/test_fuzz.py) are reproducible: derandomize draws the same examples on every machine and
# run, and no example database is written. HYPOTHESIS_PROFILE=explore draws new random examples when hunting for
# bugs locally (test_fuzz.py then runs 20 times as many per test).
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

@pytest.fixture(autouse=True)
def _no_plugins_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that loads a config with `plugins:` in this process exports them (TCBENCH_PLUGINS) as the workflow
    does for its jobs; the variable is restored after each test, so later Snakemake subprocesses (whose campaigns
    record the plugins they load) never inherit another test's plugins."""
    from tcbench.plugins import PLUGINS_ENV

    monkeypatch.setenv(PLUGINS_ENV, os.environ.get(PLUGINS_ENV, ""))
    if not os.environ[PLUGINS_ENV]:
        monkeypatch.delenv(PLUGINS_ENV)


TINY_SCALE = 0.05
TINY_SAMPLES_PER_CLASS = 5


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared dataset folder (parquet + dataset.json + train splits) at 5 % of the pretraining flows."""
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    root = tmp_path_factory.mktemp("datasets") / "tiny"
    runner = CliRunner()
    for args in (
        ["datasets", "synth", "--output-dir", str(root), "--scale", str(TINY_SCALE)],
        ["datasets", "splits", "--dataset-dir", str(root), "--samples-per-class", str(TINY_SAMPLES_PER_CLASS)],
    ):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root


# The PATH the session's tiny campaign runs under: no tcbench on it (test_faults checks that every job still found it).
NO_TCBENCH_PATH = "/usr/bin:/bin"
# What `tcbench campaign` printed while it ran the session's two-augs campaign (a file in its folder).
CAMPAIGN_COMMAND_OUTPUT = "two-augs.campaign-command.out"


# ------------------------------------------------------------------------------ the session's campaigns
# The two campaigns below take most of a minute each. When the selected tests need them, they are built in a
# background thread from the session's first test on (each by the real Snakemake in its own process), while the tests
# that come before their first user run; their fixtures then wait for them. Nothing changes for the tests: the same
# commands build the same folders, a failure is reported by the fixture with Snakemake's output, and a session
# that ends first stops them.
_BUILDS: dict[str, Future] = {}
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """``cmd`` run to its end in its own process group (stopped with the session: ``_prebuild_campaigns``)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _build_tiny(workdir: Path, env: dict[str, str]) -> Path:
    import yaml
    from test_workflow import ROOT, TINY_CONFIG

    config = workdir / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG))
    proc = _run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", "2",
                 "--configfile", str(config)], workdir, {**env, "PATH": NO_TCBENCH_PATH})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def _build_two_augs(tiny: Path, workdir: Path, env: dict[str, str]) -> Path:
    import yaml
    from test_report_workflow import AUG_CONFIG
    from test_workflow import planned_jobs

    copy_campaign(tiny, workdir)
    config = workdir / "two-augs.yaml"
    config.write_text(yaml.safe_dump(AUG_CONFIG))
    proc = _run([sys.executable, "-m", "tcbench", "campaign", "augment-at-loading", "--configfile", str(config),
                 "--cores", "2", "--profile", "local"], workdir,
                {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"})
    (workdir / CAMPAIGN_COMMAND_OUTPUT).write_text(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert planned_jobs(proc.stdout).get("train") == 4, "the tiny campaign's noaug runs were not reused"
    return workdir


@pytest.fixture(scope="session", autouse=True)
def _prebuild_campaigns(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Start building the session's campaigns that the selected tests use (tiny, then two-augs), in the background."""
    needed = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    if "tiny_campaign" not in needed:
        yield
        return
    env = dict(os.environ)  # as the session started: no variable a test sets meanwhile reaches the campaigns
    builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-campaigns")
    tiny = _BUILDS["tiny_campaign"] = builder.submit(_build_tiny, tmp_path_factory.mktemp("tiny"), env)
    if "two_augs_campaign" in needed:
        workdir = tmp_path_factory.mktemp("two-augs")
        _BUILDS["two_augs_campaign"] = builder.submit(lambda: _build_two_augs(tiny.result(), workdir, env))
    yield
    builder.shutdown(wait=False, cancel_futures=True)
    with _RUNNING_LOCK:
        for proc in _RUNNING:
            os.killpg(proc.pid, signal.SIGKILL)
    builder.shutdown(wait=True)
    _BUILDS.clear()


@pytest.fixture(scope="session")
def tiny_campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow tests' tiny campaign (test_workflow.TINY_CONFIG, saved as ``tiny.yaml``: 2 splits x 2 seeds, dim 32,
    3 epochs) run once per session to the end by the real Snakemake with ``--cores 2``, started by path with
    ``PATH=NO_TCBENCH_PATH``: every job (dataset, flowpics, splits, training, merge, summary, plots, report) has to find
    the tcbench of the Python running Snakemake. Several modules assert on it; never change this folder: take a copy
    (``copy_campaign``) to alter it or to run more of the workflow in it."""
    if "tiny_campaign" in _BUILDS:
        return _BUILDS["tiny_campaign"].result()
    return _build_tiny(tmp_path_factory.mktemp("tiny"), dict(os.environ))


@pytest.fixture(scope="session")
def two_augs_campaign(tiny_campaign: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_report_workflow.AUG_CONFIG (noaug and changertt, 2 splits x 2 seeds, dim 32, the tiny campaign's training),
    saved as ``two-augs.yaml``, run to the end in a copy of the session's tiny campaign as a user runs it from the
    campaign folder: ``tcbench campaign augment-at-loading --configfile two-augs.yaml --cores 2 --profile local``
    (its stdout kept as CAMPAIGN_COMMAND_OUTPUT; test_workflow checks the command's profile and progress lines). Its
    noaug runs are the tiny campaign's (same keys), so only the 4 changertt runs train here. Shared by
    test_report_workflow, test_paper_page and test_workflow; never change this folder: take a copy (``copy_campaign``)."""
    if "two_augs_campaign" in _BUILDS:
        return _BUILDS["two_augs_campaign"].result()
    return _build_two_augs(tiny_campaign, tmp_path_factory.mktemp("two-augs"), dict(os.environ))


@pytest.fixture(scope="session")
def table4_dry_run(tmp_path_factory: pytest.TempPathFactory):
    """``snakemake -n --configfile config/campaigns/imc23-ucdavis-augment-at-loading.yaml`` (the paper's table-4
    campaign) in an empty folder, run once per session: test_grid counts its train jobs, test_report_workflow its
    report outputs. The CompletedProcess."""
    from test_workflow import ROOT, snakemake

    return snakemake(tmp_path_factory.mktemp("table4-plan"), "-n",
                     configfile=ROOT / "config" / "campaigns" / "imc23-ucdavis-augment-at-loading.yaml")


def copy_campaign(source: Path, target: Path) -> Path:
    """A full copy of a finished campaign folder (results, resources, .snakemake records; file times kept, so Snakemake
    sees it as finished, as the original): ``target``, which may exist and be empty."""
    import shutil

    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    return target


def realdata_dir(name: str) -> Path:
    """The real captures of ../shared/realdata/<name> (from the repository root), or TCBENCH_REALDATA/<name>."""
    import os

    root = Path(os.environ.get("TCBENCH_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))
    return root / name


def require_realdata(name: str) -> Path:
    path = realdata_dir(name)
    if not path.exists():
        pytest.skip(f"real samples not found at {path} (set TCBENCH_REALDATA to the shared realdata folder)")
    return path
