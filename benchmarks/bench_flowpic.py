"""Figure: flowpics of the full-scale synthetic dataset at dim 32 and 1500 on one core (time, peak RSS).

Each dim runs in its own child process pinned to one core (taskset) so the RSS and time are its own.
Usage: python benchmarks/bench_flowpic.py
"""

from __future__ import annotations

import json
import os
import sys

from _common import ensure_full_dataset, machine, packet_counts, timed_child

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from tcbench.features.flowpic_store import build_flowpic_store
t_import = time.perf_counter()
store = build_flowpic_store(sys.argv[1], int(sys.argv[2]))
t_done = time.perf_counter()
print(json.dumps({"flows": store.matrix.shape[0], "nnz": int(store.matrix.nnz), "total_s": t_done - t_import}))
"""


def main() -> None:
    dataset = ensure_full_dataset()
    parquet = str(dataset / "ucdavis-icdm19.parquet")
    pin = ["taskset", "-c", "0"] if os.path.exists("/usr/bin/taskset") else []
    print(f"machine: {machine()}")
    print(f"dataset: {packet_counts(parquet)}")
    for dim in (32, 64, 1500):
        wall, rss, proc = timed_child([*pin, sys.executable, "-c", CHILD, parquet, str(dim)])
        res = json.loads(proc.strip().splitlines()[-1])
        print(f"dim {dim:4d}: {res['flows']} flows, {res['nnz'] / 1e6:.2f} M non-zero pixels | parquet read + flowpics "
              f"{res['total_s']:.2f} s on one core (wall incl. imports {wall:.2f} s) | peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
