"""Figure: one SimCLR pre-training + 5 finetunes at dim 32 on this machine's cores (target: under 3 minutes).

Runs the real workflow (`snakemake --cores N`) on a SimCLR campaign of split 0, pre-training seed 12345 and
finetune seeds 12345, 1, 2, 3, 4 at dim 32 (the original's defaults otherwise: changertt + timeshift views,
projection 30, no dropout) in a fresh results folder, on the full-scale synthetic dataset (prepared once). Prints
the campaign wall time, each job's time from Snakemake's benchmark files and the test accuracies.
Usage: python benchmarks/bench_simclr.py [--cores 2] [--dim 32] [--ft-seeds 12345,1,2,3,4]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import ROOT, ensure_full_dataset, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", default="2", help="snakemake --cores")
    parser.add_argument("--dim", type=int, default=32, help="flowpic dim")
    parser.add_argument("--ft-seeds", default="12345,1,2,3,4", help="finetune seeds, comma list")
    args = parser.parse_args()
    dataset = ensure_full_dataset()
    config = {
        "campaign_id": "bench-simclr", "method": "simclr", "datasets_dir": str(dataset.parent),
        "dataset": {"name": "ucdavis-icdm19", "source": "synthetic"},
        "grid": {"split_index": [0], "contrastive_learning_seed": [12345],
                 "finetune_seed": [int(s) for s in args.ft_seeds.split(",")], "flowpic_dim": [args.dim],
                 "with_dropout": [False], "projection_layer_dim": [30]},
    }
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        config["results_dir"] = str(Path(tmp) / "results")
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        env_bin = str(Path(sys.executable).parent)
        cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(ROOT), "--configfile", str(path),
               "--cores", args.cores, "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={"PATH": f"{env_bin}:/usr/bin:/bin"})
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        logs = Path(config["results_dir"]) / "logs"
        for kind in ("pretrain", "runs"):
            for tsv in sorted((logs / kind).glob("*.benchmark.tsv")):
                with open(tsv) as fh:
                    row = next(csv.DictReader(fh, delimiter="\t"))
                print(f"{kind:8s} {tsv.name.split('.')[0]}: {float(row['s']):6.1f} s, max RSS {float(row['max_rss']):.0f} MB")
        for marker_path in sorted((Path(config["results_dir"]) / "pretrain").glob("*/marker.json")):
            pre = json.loads(marker_path.read_text())
            print(f"pre-training: {pre['epochs_run']} epochs, best val acc_top_5 {pre['best_acc_top_5']:.2f} at epoch "
                  f"{pre['best_epoch']}, train loop {pre['durations']['train']:.1f} s")
        for marker_path in sorted((Path(config["results_dir"]) / "runs").glob("*/marker.json")):
            marker = json.loads(marker_path.read_text())
            m = marker["metrics"]
            print(f"finetune seed {marker['hparams']['finetune_seed']:>5}: test-human {m['test-human']['acc']:.2f}  "
                  f"test-script {m['test-script']['acc']:.2f}")
    print(f"campaign wall time (snakemake --cores {args.cores}, 1 pre-training + {len(config['grid']['finetune_seed'])} "
          f"finetunes, merge, summary, plots): {wall:.1f} s")


if __name__ == "__main__":
    main()
