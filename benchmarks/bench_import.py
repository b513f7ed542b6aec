"""Figure: ucdavis-icdm19 import throughput from the authors' raw format (target: at least 1 M packets/s on one core).

Raw input of realistic size: the full-scale synthetic dataset (6 672 flows, 44.8 M packets) written in the authors'
format (three deflated zips, one TSV file per flow, 1.3 GB of text) by `tcbench.data.importers.export`; made once
into resources/raw/ (ignored by git). Then `tcbench datasets import ucdavis-icdm19 --raw ...` runs in its own process
(one worker by default) into a fresh folder: wall time, packets per second and peak RSS; the conversion stage
(inflate + TSV parse + curated columns) is also timed alone, in this process.
Usage: python benchmarks/bench_import.py [--workers 1] [--part-mb 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, ensure_full_dataset, machine, timed_child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1, help="tcbench datasets import --workers")
    parser.add_argument("--part-mb", type=float, default=64.0, help="tcbench datasets import --part-mb")
    args = parser.parse_args()
    dataset = ensure_full_dataset()
    raw = ROOT / "resources" / "raw" / "ucdavis-icdm19-synth-full"
    if not (raw / "pretraining.zip").exists():
        from tcbench.data.importers.export import export_ucdavis_raw

        t0 = time.perf_counter()
        export_ucdavis_raw(dataset / "ucdavis-icdm19.parquet", raw)
        print(f"wrote the raw archives to {raw} in {time.perf_counter() - t0:.1f} s")
    size = sum(p.stat().st_size for p in raw.glob("*.zip"))
    print(f"machine: {machine()}\ninput: {raw} ({size / 2**20:.0f} MiB of zips)")

    from tcbench.data.importers import ucdavis as importer

    files = importer.discover([raw])
    parts = importer.partition_parts(files, args.part_mb)
    t0 = time.perf_counter()
    packets = sum(int(importer.convert_part(part).column("num_pkts").to_numpy().sum()) for part in parts)
    stage = time.perf_counter() - t0
    print(f"conversion stage (inflate, parse, curated columns; one core): {stage:.1f} s = {packets / stage / 1e6:.2f} M packets/s")

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "tcbench", "datasets", "import", "ucdavis-icdm19", "--raw", str(raw), "--output-dir",
               str(Path(tmp) / "out"), "--workers", str(args.workers), "--part-mb", str(args.part_mb), "--no-progress"]
        wall, rss, _ = timed_child(cmd)
    print(f"`tcbench datasets import` end to end ({args.workers} worker(s); parts, assembly, sha256): {wall:.1f} s = "
          f"{packets / wall / 1e6:.2f} M packets/s, peak RSS {rss:.0f} MiB ({len(files)} flows, {packets / 1e6:.1f} M packets)")


if __name__ == "__main__":
    main()
