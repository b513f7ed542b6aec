"""Figure: cost of the per-run dataset check (footer, schema, labels) that every `tcbench run` does before any work.

On the full-scale synthetic ucdavis-icdm19 (generated if missing). Prints the median of 20 calls.
Usage: python benchmarks/bench_dataset_check.py
"""

from __future__ import annotations

import statistics
import time

from _common import ensure_full_dataset, machine

from tcbench.data.checks import check_dataset_file


def main() -> None:
    parquet = ensure_full_dataset() / "ucdavis-icdm19.parquet"
    print(f"machine: {machine()}")
    check_dataset_file(parquet)  # warm the page cache, as a campaign's runs find it
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        check_dataset_file(parquet)
        times.append(time.perf_counter() - t0)
    size_mb = parquet.stat().st_size / 2**20
    print(f"check_dataset_file on {parquet.name} ({size_mb:.0f} MiB): median {statistics.median(times) * 1000:.1f} ms "
          f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})")


if __name__ == "__main__":
    main()
