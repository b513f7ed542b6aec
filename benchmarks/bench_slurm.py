"""Figure: scheduler overhead per job of the slurm-gpu profile on the local single-node SLURM.

Runs the 12-run default campaign (config/config.yaml: 2 splits x 2 dims x 3 seeds, full-scale synthetic dataset,
prepared once) twice into fresh results folders: with the local executor (`--cores 2`) and through
`--profile profiles/slurm-gpu` (the node has 2 CPUs, so SLURM also runs 2 jobs at a time). The overhead per job is
the difference of the two campaign wall times divided by the number of job waves (12 runs / 2 at a time). Needs a
running local SLURM: `sudo bash tests/slurm/start_local_slurm.sh`.
Usage: python benchmarks/bench_slurm.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import ROOT, ensure_full_dataset, machine


def campaign(workdir: Path, extra: list[str]) -> float:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["datasets_dir"] = str(ensure_full_dataset().parent)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile", str(path), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"campaign failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as local_dir, tempfile.TemporaryDirectory() as slurm_dir:
        local = campaign(Path(local_dir), ["--cores", "2"])
        print(f"local executor, --cores 2: {local:.0f} s")
        slurm = campaign(Path(slurm_dir), ["--profile", str(ROOT / "profiles" / "slurm-gpu"),
                                           "--slurm-init-seconds-before-status-checks", "5"])
        print(f"slurm-gpu profile (2 jobs at a time on the node): {slurm:.0f} s")
    waves = 12 / 2
    print(f"scheduler overhead per job: {(slurm - local) / waves:.1f} s "
          f"((slurm wall - local wall) / {waves:.0f} waves of 2 concurrent jobs)")


if __name__ == "__main__":
    main()
