"""Figure: flowpics of the full-scale synthetic dataset at dim 32 and 1500 on one core (time, peak RSS).

Each dim runs in its own child process pinned to one core (taskset) so the RSS and time are its own.
Usage: python benchmarks/bench_flowpic.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys

from _common import ensure_full_dataset, machine, packet_counts, timed_child

REPEAT = 5

CHILD = r"""
import json, resource, sys, time
from tcbench.features.flowpic_store import build_flowpic_store
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t0, c0 = time.perf_counter(), cpu()
store = build_flowpic_store(sys.argv[1], int(sys.argv[2]))
print(json.dumps({"flows": store.matrix.shape[0], "nnz": int(store.matrix.nnz), "total_s": time.perf_counter() - t0,
                  "cpu_s": cpu() - c0}))
"""


def main() -> None:
    dataset = ensure_full_dataset()
    parquet = str(dataset / "ucdavis-icdm19.parquet")
    pin = ["taskset", "-c", "0"] if os.path.exists("/usr/bin/taskset") else []
    print(f"machine: {machine()}")
    print(f"dataset: {packet_counts(parquet)}")
    for dim in (32, 64, 1500):
        runs = []
        for _ in range(REPEAT):
            wall, rss, out = timed_child([*pin, sys.executable, "-c", CHILD, parquet, str(dim)])
            runs.append((json.loads(out.strip().splitlines()[-1]), rss))
        res, _ = runs[0]
        times = sorted(r["total_s"] for r, _ in runs)
        cpus = sorted(r["cpu_s"] for r, _ in runs)
        print(f"dim {dim:4d}: {res['flows']} flows, {res['nnz'] / 1e6:.2f} M non-zero pixels | parquet read + flowpics on "
              f"one core, {REPEAT} runs: wall median {statistics.median(times):.2f} s (min {times[0]:.2f}), CPU median "
              f"{statistics.median(cpus):.2f} s | peak RSS max {max(r for _, r in runs):.0f} MiB")


if __name__ == "__main__":
    main()
