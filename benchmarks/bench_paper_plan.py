"""Figures: the dry run of the whole paper (`config/paper.yaml`) next to Snakemake's own floor for the same number of
jobs (target: at most 1.3x), and the cost model's projected wall time of the whole ucdavis paper (target: at most
10 hours on 2 cores).

Both dry runs are made in this invocation, back to back, in fresh working directories (nothing done yet, so every
job is planned): ours plans every campaign of the paper config (the table-8 campaigns are skipped while their
datasets are not imported); the floor is a one-rule workflow with the same number of jobs, one input and one log each
(bench_dry_run.FLOOR_SNAKEFILE). `--repeat N` takes the median of N pairs. `--against DIR` also plans the paper with
the Snakefile, configs and code of another checkout DIR, interleaved with ours in each repeat.
Usage: python benchmarks/bench_paper_plan.py [--cores 2] [--repeat 3] [--against DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

from _common import ROOT, machine
from bench_dry_run import FLOOR_SNAKEFILE, dry_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2, help="--cores of the projection")
    parser.add_argument("--repeat", type=int, default=3, help="dry-run pairs (the median is reported)")
    parser.add_argument("--against", type=Path, default=None, help="another checkout to plan the paper with")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    ours, floors, against = [], [], []
    out = ""
    for _ in range(args.repeat):
        if args.against:
            wall, _ = plan_paper(args.against.resolve(), args.cores, pythonpath=str(args.against.resolve()))
            against.append(wall)
        wall, out = plan_paper(ROOT, args.cores)
        ours.append(wall)
        jobs = int(re.search(r"^total\s+(\d+)\s*$", out, re.M).group(1))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "Snakefile").write_text(FLOOR_SNAKEFILE.format(n=jobs - 2))  # + data and all = the same count
            floor, _ = dry_run(["-s", str(Path(tmp) / "Snakefile"), "-d", tmp])
        floors.append(floor)
    print("\n".join(line for line in out.splitlines() if re.match(r"(imc23-|table |total |left |cost model|projected)", line)))
    ours_s, floor_s = statistics.median(ours), statistics.median(floors)
    print(f"`snakemake -n` of the paper ({jobs} jobs): {ours_s:.1f} s (runs: {', '.join(f'{w:.1f}' for w in ours)})")
    print(f"Snakemake floor, one-rule workflow of {jobs} jobs: {floor_s:.1f} s (runs: {', '.join(f'{w:.1f}' for w in floors)})")
    print(f"ratio: {ours_s / floor_s:.2f}x (target: at most 1.3x)")
    if against:
        against_s = statistics.median(against)
        print(f"against {args.against}: {against_s:.1f} s (runs: {', '.join(f'{w:.1f}' for w in against)}), "
              f"{against_s / floor_s:.2f}x the floor")


def plan_paper(root: Path, cores: int, pythonpath: str | None = None) -> tuple[float, str]:
    """Wall seconds and output of the dry run of ``root``'s paper config in a fresh working directory."""
    with tempfile.TemporaryDirectory() as tmp:
        return dry_run(["-s", str(root / "Snakefile"), "-d", tmp, "--cores", str(cores), "--configfile",
                        str(root / "config" / "paper.yaml"), "--config", "start_project=true"], pythonpath=pythonpath)


if __name__ == "__main__":
    main()
