"""Figure: the average flowpic per class and partition of the synthetic stand-in, one image per generator version.

What a model sees of each class, averaged over the flows of a partition (rows: pretraining, script, human;
columns: the five classes), at the flowpic dim the paper's campaigns use most (32 x 32, the first 15 s). The
colour is log(1 + mean packet count) per pixel, one scale per image so the partitions of a version compare
directly. Next to each image it prints, per class and partition, where the mean flowpic's mass sits in time (the
time bin holding half the packets) and how many packets the first 15 s hold: the numbers the pictures show.

docs/synthetic.md shows the images (docs/figures/synthetic-flowpics-v<version>.png).

Usage: python benchmarks/plot_synthetic_flowpics.py [--versions 2,3] [--seed 12345] [--dim 32] [--out docs/figures]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tcbench.data.synthetic import write_synthetic_ucdavis
from tcbench.data.ucdavis import CLASSES, PARTITIONS
from tcbench.features.flowpic_store import build_flowpic_store

ROOT = Path(__file__).resolve().parents[1]


def mean_flowpics(parquet: Path, dim: int) -> dict[tuple[str, str], np.ndarray]:
    """(partition, class) -> the mean (dim, dim) flowpic (rows: size bins, columns: time bins) of its flows."""
    store = build_flowpic_store(parquet, dim)
    meta = pq.read_table(parquet, columns=["row_id", "app", "partition"]).to_pandas()
    meta = meta.set_index("row_id").loc[store.row_ids]
    means = {}
    for (partition, app), rows in meta.groupby(["partition", "app"], observed=True).indices.items():
        means[str(partition), str(app)] = np.asarray(store.matrix[rows].mean(axis=0)).reshape(dim, dim)
    return means


def plot(means: dict[tuple[str, str], np.ndarray], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(float(np.log1p(m).max()) for m in means.values())
    fig, axes = plt.subplots(len(PARTITIONS), len(CLASSES), figsize=(2.2 * len(CLASSES), 2.3 * len(PARTITIONS)),
                             squeeze=False, constrained_layout=True)
    for i, partition in enumerate(PARTITIONS):
        for j, app in enumerate(CLASSES):
            ax = axes[i][j]
            image = means.get((partition, app))
            if image is not None:
                shown = ax.imshow(np.log1p(image), origin="lower", cmap="magma", vmin=0.0, vmax=top,
                                  interpolation="nearest", aspect="equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(app, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{partition}\nsize ->", fontsize=9)
            if i == len(PARTITIONS) - 1:
                ax.set_xlabel("time ->", fontsize=9)
    fig.colorbar(shown, ax=axes, shrink=0.6, label="log(1 + mean packets per pixel)")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def describe(means: dict[tuple[str, str], np.ndarray]) -> list[str]:
    """Per class and partition: packets in the window, and the time bin by which half of them have arrived."""
    lines = [f"  {'partition':<28} {'class':<14} {'packets':>8} {'half by bin':>11}"]
    for (partition, app), image in sorted(means.items()):
        per_time = image.sum(axis=0)
        total = float(per_time.sum())
        half = int(np.searchsorted(np.cumsum(per_time), total / 2)) if total else -1
        lines.append(f"  {partition:<28} {app:<14} {total:>8.1f} {half:>11d}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", default="2,3", help="generator versions, comma list")
    ap.add_argument("--seed", type=int, default=12345, help="generator seed")
    ap.add_argument("--dim", type=int, default=32, help="flowpic dim (32, 64 or 1500)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures", help="folder of the images")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for version in (int(v) for v in args.versions.split(",")):
            parquet = write_synthetic_ucdavis(Path(tmp) / f"v{version}.parquet", seed=args.seed,
                                              generator_version=version)
            means = mean_flowpics(parquet, args.dim)
            path = args.out / f"synthetic-flowpics-v{version}.png"
            plot(means, f"synthetic ucdavis-icdm19, generator version {version}, seed {args.seed}: mean "
                        f"{args.dim}x{args.dim} flowpic (first 15 s)", path)
            print(f"version {version}: {path}")
            print("\n".join(describe(means)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
