"""Figure: the cost model's per-cell seconds measured on this machine, as the `cells:` of cost_defaults.yaml.

Reads every finished run and pre-training under the given results folders (markers and Snakemake's benchmark file
of each job, as the cost model's calibration does: tcbench.campaign.cost.finished_runs), takes each run's job
seconds back to the cell's base conditions by dividing by the method's other factors in
tcbench/campaign/cost_defaults.yaml (the leftover test, the larger training set, the device), and prints per method
and cell the median, the number of runs and the shipped figure beside it, then the `cells:` mappings to paste into
cost_defaults.yaml when this machine becomes the reference. Cells with fewer than --min-runs runs are left out.

Usage: python benchmarks/cost_cells.py RESULTS_DIR [RESULTS_DIR ...] [--min-runs 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _common import machine

from tcbench.campaign.cost import cell_and_factor, finished_runs, shipped_defaults


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", type=Path, help="results folders (holding runs/ and logs/)")
    ap.add_argument("--min-runs", type=int, default=3, help="runs a cell needs to be printed")
    ap.add_argument("--device", default="cpu", help="device kind of the runs to read (cpu or cuda)")
    args = ap.parse_args()

    defaults = shipped_defaults()
    by_cell: dict[tuple[str, str], list[float]] = {}
    for folder in args.results:
        for run in finished_runs(folder):
            spec = defaults["methods"].get(run.method)
            if spec is None or run.features.get("device") != args.device:
                continue
            cell, factor = cell_and_factor(spec, run.features)
            by_cell.setdefault((run.method, cell), []).append(run.seconds / factor)

    print(f"machine: {machine()}; device {args.device}; folders: {', '.join(map(str, args.results))}")
    print(f"{'method':16s} {'cell':22s} {'runs':>5s} {'median s':>9s} {'shipped s':>9s} {'ratio':>6s}")
    cells: dict[str, dict[str, float]] = {}
    for (method, cell), seconds in sorted(by_cell.items()):
        if len(seconds) < args.min_runs:
            continue
        median = statistics.median(seconds)
        shipped = float(defaults["methods"][method].get("cells", {}).get(cell, float("nan")))
        print(f"{method:16s} {cell:22s} {len(seconds):5d} {median:9.1f} {shipped:9.1f} {median / shipped:6.2f}")
        cells.setdefault(method, {})[cell] = round(median, 1)
    print()
    for method, table in cells.items():
        print(f"{method}:\n  cells:")
        for cell, value in table.items():
            print(f'    "{cell}": {value}')


if __name__ == "__main__":
    main()
