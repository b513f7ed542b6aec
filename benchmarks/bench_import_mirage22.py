"""Figure: peak memory (and time) of importing a ~3 GB MIRAGE-COVID-CCMA-2022-like archive.

The archive is generated once into resources/raw/ (ignored by git) by `tcbench.data.importers.raw_fixtures` in the
authors' layout: an outer zip of 9 per-app zips of JSON biflow files with 11 per-packet fields, 59 biflows per file
and packets per biflow log-normal with mirage22's median (27), mean (~3 000) and maximum (1.67 M). Then
`tcbench datasets import mirage22 --raw <archive> --workers N` runs into a fresh folder while a sampler reads the
resident memory of its whole process tree (main process and workers) every 0.2 s.
Usage: python benchmarks/bench_import_mirage22.py [--gb 3] [--workers 2] [--part-mb 64]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _common import ROOT, machine


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=3.0, help="size of the generated archive")
    parser.add_argument("--workers", type=int, default=2, help="tcbench datasets import --workers")
    parser.add_argument("--part-mb", type=float, default=64.0, help="tcbench datasets import --part-mb")
    args = parser.parse_args()
    archive = ROOT / "resources" / "raw" / f"mirage22-like-{args.gb:g}gb" / "MIRAGE-COVID-CCMA-2022.zip"
    if not archive.exists():
        from tcbench.data.importers.raw_fixtures import PacketCounts, write_mirage22_archive

        t0 = time.perf_counter()
        write_mirage22_archive(archive, biflows_per_file=59, target_bytes=int(args.gb * 2**30), counts=PacketCounts())
        print(f"generated {archive} in {time.perf_counter() - t0:.0f} s")
    print(f"machine: {machine()}\ninput: {archive} ({archive.stat().st_size / 2**30:.2f} GiB)")
    with tempfile.TemporaryDirectory(dir=ROOT / "resources") as tmp:
        cmd = [sys.executable, "-m", "tcbench", "datasets", "import", "mirage22", "--raw", str(archive), "--output-dir",
               str(Path(tmp) / "mirage22"), "--workers", str(args.workers), "--part-mb", str(args.part_mb), "--no-progress"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watched, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(watched))
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        output = proc.stdout.read() if proc.stdout else ""
        if proc.returncode:
            raise SystemExit(f"import failed:\n{output}")
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(Path(tmp) / "mirage22" / "mirage22.parquet").metadata
        packets = sum(pq.read_table(Path(tmp) / "mirage22" / "mirage22.parquet", columns=["packets"]).column("packets").to_pylist())
    print(output.strip().splitlines()[0])
    print(f"`tcbench datasets import mirage22 --workers {args.workers} --part-mb {args.part_mb:g}`: {wall:.0f} s, "
          f"{meta.num_rows} biflows, {packets / 1e6:.1f} M packets ({packets / wall / 1e6:.2f} M packets/s), "
          f"peak RSS of the process tree {peak / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
