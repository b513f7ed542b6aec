"""Figure: flowpics of the full-scale synthetic dataset at dim 32 and 1500 on one core (time, peak RSS).

Each dim runs in its own child process pinned to one core (taskset) so the RSS and time are its own.
Usage: python benchmarks/bench_flowpic.py
"""

from __future__ import annotations

import json
import os
import sys

from _common import ensure_full_dataset, machine, timed_child

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from tcbench.features.flowpic_store import read_packet_series
from tcbench.features.flowpic import flowpic_matrix
t_import = time.perf_counter()
row_ids, series = read_packet_series(sys.argv[1])
t_read = time.perf_counter()
matrix = flowpic_matrix(series, int(sys.argv[2]))
t_done = time.perf_counter()
inside = int((series.times < 15).sum())
print(json.dumps({"flows": series.n_flows, "packets": int(len(series.times)), "packets_in_window": inside,
                  "nnz": int(matrix.nnz), "read_s": t_read - t_import, "bin_s": t_done - t_read,
                  "total_s": t_done - t_import}))
"""


def main() -> None:
    dataset = ensure_full_dataset()
    parquet = str(dataset / "ucdavis-icdm19.parquet")
    pin = ["taskset", "-c", "0"] if os.path.exists("/usr/bin/taskset") else []
    print(f"machine: {machine()}")
    for dim in (32, 64, 1500):
        wall, rss, proc = timed_child([*pin, sys.executable, "-c", CHILD, parquet, str(dim)])
        res = json.loads(proc.strip().splitlines()[-1])
        print(f"dim {dim:4d}: {res['flows']} flows, {res['packets'] / 1e6:.1f} M packets ({res['packets_in_window'] / 1e6:.1f} M < 15 s), "
              f"{res['nnz'] / 1e6:.2f} M non-zero pixels | read {res['read_s']:.2f} s + flowpic {res['bin_s']:.2f} s "
              f"= {res['total_s']:.2f} s on one core | peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
