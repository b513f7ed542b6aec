"""Figure: `tcbench aimrepo report` on a campaign AIM repo of 315 real runs (issue 4 target: < 30 s).

The repo is generated once with the real workflow: 315 XGBoost pktseries-10 runs (5 splits x 63 seeds) on the
synthetic dataset at 5 % scale (small runs, real per-run AIM repos, merged by the campaign rule).
Usage: python benchmarks/bench_aimrepo_report.py [--workdir benchmarks/out/aimrepo-315]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml
from _common import ROOT, machine, timed_child

CONFIG = {
    "campaign_id": "bench-315",
    "method": "xgboost",
    "experiment": "xgb_pktseries",
    "xgboost": {"flow_representation": "pktseries"},
    "dataset": {"name": "ucdavis-icdm19", "source": "synthetic", "synthetic": {"seed": 12345, "scale": 0.05, "lookalikes": True}},
    "splits": {"n_splits": 5, "samples_per_class": 5},
    "grid": {"split_index": [0, 1, 2, 3, 4], "seed": list(range(1, 64)), "max_n_pkts": [10]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "aimrepo-315")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = args.workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "results_dir": str(workdir / "results"), "datasets_dir": str(workdir / "datasets")}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
                    "--configfile", str(config), "--cores", str(os.cpu_count() or 1), "--quiet", "all"], check=True, env=env)
    repo = workdir / "results" / "campaigns" / "bench-315" / "aim"
    print(f"machine: {machine()}")
    for rep in range(args.repeat):
        out = workdir / f"report-{rep}"
        wall, rss, stdout = timed_child([sys.executable, "-m", "tcbench", "aimrepo", "report", "--aim-repo", str(repo),
                                         "--output-folder", str(out)])
        runs = [line for line in stdout.splitlines() if "runs" in line.lower()][:1]
        print(f"aimrepo report, rep {rep}: {wall:.2f} s wall, peak RSS {rss:.0f} MiB {runs}")


if __name__ == "__main__":
    main()
