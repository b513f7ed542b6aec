"""Shared fixtures: a small synthetic dataset folder prepared once per test session."""

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
