"""Figure: the cost model's projection of the jobs a long campaign finished in a window of time, against the window
(the whole-paper campaign measured while it runs, across sessions; the table-4 campaign was measured whole).

The model is the one the campaign had at the window's start: calibrated from the runs and pre-trainings finished
before it (tcbench.campaign.cost.calibrated, as `tcbench campaign status` and the dry run price jobs). The jobs whose
marker was written inside the window are priced by it and scheduled on --cores (tcbench.campaign.cost.makespan;
they were ready, so without their dependencies); the window's wall time is the measured figure. Per method it also
prints the jobs' measured job seconds against their projected ones. The window should hold nothing but the
campaign.

Usage: python benchmarks/paper_window.py RESULTS_DIR --since EPOCH [--until EPOCH] [--cores 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

from _common import machine

from tcbench.campaign.cost import Job, calibrated, finished_runs, makespan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, help="the campaign's results folder (holding runs/, pretrain/ and logs/)")
    ap.add_argument("--since", type=float, required=True, help="the window's start (epoch seconds)")
    ap.add_argument("--until", type=float, default=None, help="the window's end (epoch seconds) [default: now]")
    ap.add_argument("--cores", type=int, default=2, help="--cores the campaign ran with")
    ap.add_argument("--device", default="cpu", help="resources.device of the campaign")
    args = ap.parse_args()
    until = args.until or time.time()

    runs = [r for r in finished_runs(args.results) if r.end_time is not None]
    model = calibrated([r for r in runs if r.end_time < args.since], args.device)
    window = [r for r in runs if args.since <= r.end_time < until]
    if not window:
        raise SystemExit(f"{args.results}: no run or pre-training finished in the window")
    projected = [model.seconds(r.method, r.features) for r in window]
    wall = makespan([Job(str(i), s) for i, s in enumerate(projected)], args.cores)
    measured = until - args.since

    def utc(epoch: float) -> str:
        return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    print(f"machine: {machine()}")
    print(f"window: {utc(args.since)} to {utc(until)}; cost model at its start: {model.source}")
    print(f"{'method':<18}{'jobs':>6}{'measured job s':>16}{'projected job s':>17}{'ratio':>8}")
    for method in sorted({r.method for r in window}):
        mine = [(r.seconds, p) for r, p in zip(window, projected) if r.method == method]
        done, priced = sum(m for m, _ in mine), sum(p for _, p in mine)
        print(f"{method:<18}{len(mine):>6}{done:>16.0f}{priced:>17.0f}{priced / done:>8.2f}")
    print(f"{len(window)} jobs finished in {measured / 60:.1f} min measured; projected for --cores {args.cores}: "
          f"{wall / 60:.1f} min ({(wall - measured) / measured:+.0%})")


if __name__ == "__main__":
    main()
