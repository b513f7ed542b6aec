"""Figure: generation time and peak memory of the synthetic ucdavis-icdm19, generator versions side by side.

Each measurement is one fresh process that generates the dataset (``generate_synthetic_ucdavis``) and writes the
parquet (``write_synthetic_ucdavis``) into a temporary folder; it reports the generation time, the write time and
its own peak RSS (``ru_maxrss``: the whole process, imports included). Versions alternate within each repetition
(v2, v3, v2, v3, ...), so a machine that drifts during the invocation shifts both alike; the medians are printed
side by side with the ratio v3 / v2. Target: version 3 no slower and no larger in memory than version 2.

Usage: python benchmarks/bench_generate.py [--repeat 3] [--scale 1.0] [--seed 12345] [--versions 2,3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, machine

_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from tcbench.data.curated import write_curated_parquet
from tcbench.data.synthetic import generate_synthetic_ucdavis
t1 = time.perf_counter()
table = generate_synthetic_ucdavis(seed=int(sys.argv[1]), scale=float(sys.argv[2]), generator_version=int(sys.argv[3]))
t2 = time.perf_counter()
write_curated_parquet(table, sys.argv[4])
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "generate": t2 - t1, "write": t3 - t2, "flows": table.num_rows,
                  "packets": int(sum(table["num_pkts"].to_numpy())),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(version: int, seed: int, scale: float, folder: Path) -> dict:
    out = folder / f"v{version}.parquet"
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(seed), str(scale), str(version), str(out)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    out.unlink(missing_ok=True)
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="measurements per version (alternating)")
    ap.add_argument("--scale", type=float, default=1.0, help="dataset.synthetic.scale (1.0: the full dataset)")
    ap.add_argument("--seed", type=int, default=12345, help="generator seed")
    ap.add_argument("--versions", default="2,3", help="generator versions, comma list")
    args = ap.parse_args()
    versions = [int(v) for v in args.versions.split(",")]
    print(f"machine: {machine()}; seed {args.seed}, scale {args.scale}, {args.repeat} repetitions")
    results: dict[int, list[dict]] = {v: [] for v in versions}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for v in versions:
                r = measure(v, args.seed, args.scale, Path(tmp))
                results[v].append(r)
                print(f"  rep {rep + 1} v{v}: generate {r['generate']:.2f} s, write {r['write']:.2f} s, "
                      f"peak RSS {r['rss_mib']:.0f} MiB", flush=True)
    print("\n| version | flows | packets | generate (median, min-max) | write | peak RSS (median) |")
    print("|---|---|---|---|---|---|")
    med = {}
    for v, rs in results.items():
        gen = [r["generate"] for r in rs]
        med[v] = (statistics.median(gen), statistics.median(r["rss_mib"] for r in rs))
        print(f"| {v} | {rs[0]['flows']} | {rs[0]['packets'] / 1e6:.1f} M | {med[v][0]:.2f} s ({min(gen):.2f}-{max(gen):.2f}) "
              f"| {statistics.median(r['write'] for r in rs):.2f} s | {med[v][1]:.0f} MiB |")
    if 2 in med and len(med) > 1:
        for v in med:
            if v != 2:
                print(f"v{v} / v2: generate {med[v][0] / med[2][0]:.2f}x, peak RSS {med[v][1] / med[2][1]:.2f}x")


if __name__ == "__main__":
    main()
