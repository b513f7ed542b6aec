"""The slurm-gpu profile on a real single-node SLURM (slurmctld + slurmd + munge, two fake GPUs).

Runs in CI (`CI` set, as `.ci/run` does) or with TCBENCH_SLURM_TEST=1: tests/slurm/start_local_slurm.sh installs and
starts the cluster when it can (root, Debian packages) and the test is skipped with its reason when it cannot. On a
developer machine it never touches the system unless asked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "campaign_id": "tiny-slurm",
    "dataset": {"name": "ucdavis-icdm19", "source": "synthetic", "synthetic": {"seed": 12345, "scale": 0.05, "lookalikes": True}},
    "splits": {"n_splits": 5, "samples_per_class": 5},
    "grid": {"split_index": [0], "aug_name": ["noaug"], "flowpic_dim": [32], "seed": [1, 2]},
    "training": {"epochs": 2},
}


@pytest.fixture(scope="module")
def slurm() -> Iterator[None]:
    if not (os.environ.get("CI") or os.environ.get("TCBENCH_SLURM_TEST")):
        pytest.skip("SLURM integration test: runs in CI or with TCBENCH_SLURM_TEST=1 (it installs and starts daemons)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.skip("snakemake-executor-plugin-slurm is not installed")
    proc = subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "start_local_slurm.sh")], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(f"SLURM integration test skipped: {proc.stdout.strip()} {proc.stderr.strip()}")
        pytest.skip(f"no local SLURM: {proc.stdout.strip()} {proc.stderr.strip()}")
    yield
    # Leave the machine as it was: a config whose controller is gone slows every later Snakemake start by 9 s.
    subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "stop_local_slurm.sh")], capture_output=True, text=True, timeout=60)


def test_tiny_campaign_runs_through_the_slurm_gpu_profile(slurm, tmp_path):
    """The train jobs go to SLURM as one job array whose tasks each ask for one GPU: each run sees
    CUDA_VISIBLE_DEVICES, its SLURM job and array task; markers, merged repo and summary appear as locally."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # The runs train on the CPU (the GPUs are fake); `train:gpu=1` makes every train job ask SLURM for one.
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(config),
           "--profile", str(ROOT / "profiles" / "slurm-gpu"), "--set-resources", "train:gpu=1",
           "--slurm-init-seconds-before-status-checks", "5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    markers = sorted((tmp_path / "results" / "runs").glob("*/marker.json"))
    assert len(markers) == 2
    environments = [json.loads(m.read_text())["environment"] for m in markers]
    assert all(e.get("SLURM_JOB_ID") and e.get("CUDA_VISIBLE_DEVICES") in {"0", "1"} for e in environments)
    assert sorted(e.get("SLURM_ARRAY_TASK_ID") for e in environments) == ["1", "2"]  # one array submission
    summary = tmp_path / "results" / "campaigns" / "tiny-slurm" / "campaign_summary" / "summary_flowpic_dim_32.csv"
    assert summary.exists() and (tmp_path / "results" / "campaigns" / "tiny-slurm" / "aim_merge.json").exists()
    assert shutil.which("squeue") is not None


@pytest.mark.slow
def test_fetch_first_runs_through_the_slurm_gpu_profile(slurm, tmp_path):
    """`dataset.fetch: true` under the slurm-gpu profile, against a real HTTP server on 127.0.0.1: the download runs
    where Snakemake runs (a local rule: compute nodes often have no internet), the import and the runs go to SLURM,
    and the same command then runs the campaign on the fetched data."""
    from conftest import require_realdata
    from mirror_server import MirrorServer, manifest_for, mirage19_archive
    from test_fetch import COPIES, PATH, TINY_MIRAGE

    files = {PATH: mirage19_archive(require_realdata("mirage19"), COPIES)}
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(TINY_MIRAGE))
    base = {k: v for k, v in os.environ.items() if not k.startswith("TCBENCH_MIRROR")}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(config),
           "--profile", str(ROOT / "profiles" / "slurm-gpu"), "--set-resources", "train:gpu=1",
           "--slurm-init-seconds-before-status-checks", "5"]
    with MirrorServer(files, manifest_for(files)) as server:
        env = {**base, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}",
               "TCBENCH_MIRROR": server.url, "TCBENCH_MIRROR_CHECKSUMS": "mirror"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert len(server.requests) == 2  # the manifest and the archive, once
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "localrule fetch_raw" in out and "localrule campaign_on_fetched_data" in out
    assert "slurm_logs/rule_import_fetched" in out and "slurm_logs/rule_train" in out  # both submitted to SLURM
    (marker,) = (tmp_path / "results" / "runs").glob("*/marker.json")
    run = json.loads(marker.read_text())
    assert run["params"]["dataset"]["sha256"] and run["environment"].get("SLURM_JOB_ID")
    assert (tmp_path / "results" / "campaigns" / "tiny-mirage" / "report.html").exists()
