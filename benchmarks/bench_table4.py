"""Figure: the table-4 campaign's wall time on this machine, projected from its 21 (augmentation x dim) cells.

Runs the cells of config/campaigns/imc23-ucdavis-augment-at-loading.yaml on split 0, seed 12345 (one run each, 7
augmentations x dims 32, 64, 1500, the campaign's settings) through the real workflow with `--cores 2`, in a fresh
results folder (the dataset and flowpic caches of resources/datasets are reused). Each cell's run time is its job's
wall time from Snakemake's benchmark file; the 315-run campaign has 15 runs per cell (5 splits x 3 seeds), and
with 2 jobs at a time on 2 cores its wall time is the sum of the run times / 2. Prints the per-cell times and the
accuracies next to the paper's table-4 means (IMC'23, ucdavis-icdm19: ours is the synthetic stand-in, so only the
order of magnitude and the ranking are comparable). Target (issue 10): under 4 hours projected.
Usage: python benchmarks/bench_table4.py [--results-dir DIR] [--cores 2] [--dims 32,64,1500]
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
from _common import ROOT, machine


def paper_table4() -> dict[tuple[str, int], tuple[float, float]]:
    """IMC'23 table 4 (the published numbers tcbench ships, tcbench/reporting/published/imc23.csv): (augmentation,
    dim) -> mean test-script and test-human accuracy (%) of the 15 runs per cell, on the real ucdavis-icdm19."""
    from tcbench.reporting.paper import published

    cells = published().query("reference == 'imc23-table4' and metric == 'acc'")
    means = {(r.aug_name, int(r.flowpic_dim), r.test_split_name): float(r.mean) for r in cells.itertuples()}
    return {(aug, dim): (means[(aug, dim, "test-script")], means[(aug, dim, "test-human")])
            for aug, dim, _ in means}


RUNS_PER_CELL = 15  # 5 splits x 3 seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=None, help="results folder (default: a temporary one)")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    parser.add_argument("--dims", default="32,64,1500", help="dims of the cells")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "config" / "campaigns" / "imc23-ucdavis-augment-at-loading.yaml").read_text())
    dims = [int(d) for d in args.dims.split(",")]
    config.update(campaign_id="bench-table4-cells", datasets_dir=str(ROOT / "resources" / "datasets"))
    config["grid"].update(split_index=[0], seed=[12345], flowpic_dim=dims)
    print(f"machine: {machine()}, --cores {args.cores}")
    with tempfile.TemporaryDirectory() as tmp:
        results = args.results_dir or Path(tmp) / "results"
        config["results_dir"] = str(results)
        path = Path(tmp) / "cells.yaml"
        path.write_text(yaml.safe_dump(config))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile", str(path),
                               "--cores", str(args.cores), "--quiet", "rules"], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"campaign failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        cells = []
        for marker_path in sorted(results.glob("runs/*/marker.json")):
            marker = json.loads(marker_path.read_text())
            key = marker["run_key"]
            with open(results / "logs" / "runs" / f"{key}.benchmark.tsv") as fh:
                seconds = float(next(csv.DictReader(fh, delimiter="\t"))["s"])
            p, m = marker["params"], marker["metrics"]
            cells.append((p["aug_name"], p["flowpic_dim"], seconds, marker.get("epochs_run"), m["test-script"]["acc"],
                          m["test-human"]["acc"], marker.get("full_net", {}).get("path", "-")))
    paper_cells = paper_table4()
    order = list(dict.fromkeys(aug for aug, _ in paper_cells))
    cells.sort(key=lambda c: (c[1], order.index(c[0])))
    print(f"{len(cells)} cells in {wall:.0f} s wall")
    print("| augmentation | dim | run wall | epochs | split-0 script / human acc | paper script / human (15 runs) | path |")
    print("|---|---|---|---|---|---|---|")
    for aug, dim, seconds, epochs, script, human, path in cells:
        paper = paper_cells[(aug, dim)]
        print(f"| {aug} | {dim} | {seconds:.1f} s | {epochs} | {script:.2f} / {human:.2f} | {paper[0]:.2f} / {paper[1]:.2f} | {path} |")
    total = sum(c[2] for c in cells) * RUNS_PER_CELL
    by_dim = {d: sum(c[2] for c in cells if c[1] == d) * RUNS_PER_CELL / args.cores for d in dims}
    print(f"projected {RUNS_PER_CELL * len(cells)}-run campaign: {total / args.cores / 3600:.2f} h on {args.cores} cores "
          f"({', '.join(f'dim {d}: {s / 3600:.2f} h' for d, s in by_dim.items())})")


if __name__ == "__main__":
    main()
