"""Shared fixtures: a small synthetic dataset folder and a finished tiny campaign, each prepared once per test
session."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def tiny_campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow tests' tiny campaign (test_workflow.TINY_CONFIG, saved as ``tiny.yaml``: 2 splits x 2 seeds, dim 32,
    3 epochs) run once per session to the end by the real Snakemake with ``--cores 2``, started by path with
    ``PATH=NO_TCBENCH_PATH``: every job (dataset, flowpics, splits, training, merge, summary, plots, report) has to find
    the tcbench of the Python running Snakemake. Several modules assert on it; never change this folder: take a copy
    (``copy_campaign``) to alter it or to run more of the workflow in it."""
    import subprocess
    import sys

    import yaml
    from test_workflow import ROOT, TINY_CONFIG

    workdir = tmp_path_factory.mktemp("tiny")
    config = workdir / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
                           "--cores", "2", "--configfile", str(config)], capture_output=True, text=True,
                          env={**os.environ, "PATH": NO_TCBENCH_PATH}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


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
