"""Helpers shared by the benchmark scripts: the full-scale synthetic dataset folder and child-process peak RSS."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from tcbench.data.synthetic import synthetic_dataset_id

ROOT = Path(__file__).resolve().parents[1]
# The default synthetic dataset (default seed, scale and generator version), where the workflow would build it.
DATASET_DIR = ROOT / "resources" / "datasets" / synthetic_dataset_id()


def ensure_full_dataset(n_splits: int = 5, samples_per_class: int = 100) -> Path:
    """Generate the full-scale default synthetic dataset and its splits if they are missing."""
    if not (DATASET_DIR / "ucdavis-icdm19.parquet").exists():
        subprocess.run([sys.executable, "-m", "tcbench", "datasets", "synth", "--output-dir", str(DATASET_DIR)], check=True)
    splits = DATASET_DIR / "splits" / f"train_splits_n{n_splits}_per_class{samples_per_class}.parquet"
    if not splits.exists():
        subprocess.run([sys.executable, "-m", "tcbench", "datasets", "splits", "--dataset-dir", str(DATASET_DIR)], check=True)
    return DATASET_DIR


# Runs the command as the only child of a fresh interpreter, so RUSAGE_CHILDREN's peak RSS is that command's own.
_WRAPPER = (
    "import json, resource, subprocess, sys, time; t0 = time.perf_counter(); "
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(json.dumps({'rc': p.returncode, 'wall': time.perf_counter() - t0, "
    "'rss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'out': p.stdout, 'err': p.stderr}))"
)


def timed_child(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one command run in its own process (with ``env`` and in ``cwd``,
    if given: `python -m` puts the working directory first on the module path)."""
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, check=True, env=env,
                          cwd=cwd)
    res = json.loads(proc.stdout)
    if res["rc"] != 0:
        raise RuntimeError(f"{cmd} failed ({res['rc']}):\n{res['out']}\n{res['err']}")
    return res["wall"], res["rss_kib"] / 1024, res["out"]


def machine() -> str:
    import os

    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def packet_counts(parquet: str) -> str:
    """Flows, packets and packets inside the 15 s flowpic window of a curated parquet (streamed)."""
    from tcbench.features.flowpic_store import iter_packet_series

    flows = packets = inside = 0
    for _, series in iter_packet_series(parquet):
        flows += series.n_flows
        packets += len(series.times)
        inside += int((series.times < 15).sum())
    return f"{flows} flows, {packets / 1e6:.1f} M packets, {inside / 1e6:.1f} M inside 15 s"
