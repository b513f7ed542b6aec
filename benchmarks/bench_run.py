"""Figures: wall time and peak RSS of one full run, and its fixed per-run overhead.

The run: full-scale synthetic ucdavis-icdm19 (seed 12345), split 0, seed 12345, noaug, defaults (50 epochs max,
early stopping, three test sets incl. the 6 172-flow leftover), dim 32 and dim 64, executed exactly as a
Snakemake job executes it (`tcbench run augment-at-loading`, its own process, AIM template copy).
Fixed overhead, as the issue defines it = process start to the first training step, plus AIM writing and the
marker = process wall time minus the training loop minus the tests (inference and report files).
Usage: python benchmarks/bench_run.py [--dims 32,64] [--repeat 2] [--augs noaug,changertt] [--threads 2]
       python benchmarks/bench_run.py --xgboost pktseries --dims 32 --repeat 2      (XGBoost pktseries-10 run)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ensure_full_dataset, machine, timed_child

from tcbench.augment import AUGMENTATIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", default="32,64", help="flowpic dims to run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per dim (each in a fresh results folder)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the run")
    parser.add_argument("--augs", default="noaug", help="augmentations to run, comma list (or 'all')")
    parser.add_argument("--xgboost", choices=["pktseries", "flowpic"], default=None, help="time an XGBoost run instead")
    args = parser.parse_args()
    dataset = ensure_full_dataset()
    tcbench = [sys.executable, "-m", "tcbench"]
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "aim-template"
        subprocess.run([*tcbench, "campaign", "aim-template", "--path", str(template)], check=True, capture_output=True)
        for dim in (int(d) for d in args.dims.split(",")):
            # Build the cache only when missing: rewriting it would make Snakemake re-run every campaign run
            # that reads it (mtime rerun trigger).
            if not (dataset / "flowpics" / f"flowpic_dim{dim}_block15.npz").exists():
                subprocess.run([*tcbench, "datasets", "flowpics", "--dataset-dir", str(dataset), "--dim", str(dim)],
                               check=True, capture_output=True)
            augs = AUGMENTATIONS if args.augs == "all" else args.augs.split(",")
            variants = [["--method", "xgboost", "--input-repr", args.xgboost]] if args.xgboost else [["--aug-name", a] for a in augs]
            for variant, rep in ((v, r) for v in variants for r in range(args.repeat)):
                results = Path(tmp) / f"results-{dim}-{rep}"
                wall, rss, out = timed_child([*tcbench, "run", "augment-at-loading", "--dataset-dir", str(dataset),
                                              "--flowpic-dim", str(dim), "--split-index", "0", "--seed", "12345",
                                              "--threads", str(args.threads), "--results-dir", str(results),
                                              "--aim-template", str(template), *variant])
                marker = json.loads(next(results.glob("runs/*/marker.json")).read_text())
                d = marker["durations"]
                overhead = wall - d["train"] - d["test"]
                acc = {k: round(v["acc"], 2) for k, v in marker["metrics"].items() if k.startswith("test")}
                print(f"{' '.join(variant[1::2]):>20} dim {dim:4d} rep {rep}: wall {wall:5.2f} s | peak RSS {rss:5.0f} MiB | train {d['train']:.2f} s "
                      f"({marker.get('epochs_run', '-')} epochs) | tests {d['test']:.2f} s | fixed overhead {overhead:.2f} s = "
                      f"{overhead / wall:.0%} of wall (in-process setup {d['setup']:.2f} s, AIM close + marker "
                      f"{d['tracking_close']:.2f} s) | {acc}")
                shutil.rmtree(results)


if __name__ == "__main__":
    main()
