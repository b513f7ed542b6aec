"""``tcbench datasets``: build the embedded synthetic dataset, its train splits and the flowpic caches."""

from __future__ import annotations

import time
from pathlib import Path

import click

from tcbench.data import ucdavis


@click.group()
def datasets() -> None:
    """Prepare curated datasets: the synthetic ucdavis-icdm19 stand-in, train splits, flowpic caches."""


@datasets.command("synth")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Dataset folder to write; default: <datasets-dir>/<synthetic dataset id>.")
@click.option("--datasets-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("resources/datasets"),
              help="Parent folder of all datasets, used when --output-dir is not given.")
@click.option("--seed", type=int, default=12345, help="Generator seed; the same seed gives a byte-identical parquet.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True, max=1), default=1.0,
              help="Fraction of the real pretraining flows to generate (human and script partitions stay full).")
@click.option("--lookalikes/--no-lookalikes", default=True,
              help="Draw a few flows with another class's generator (the real data's confusions).")
def synth(output_dir: Path | None, datasets_dir: Path, seed: int, scale: float, lookalikes: bool) -> None:
    """Generate the synthetic ucdavis-icdm19 dataset (curated schema, real class counts)."""
    from tcbench.campaign.grid import dataset_spec
    from tcbench.data.dataset_info import write_dataset_spec
    from tcbench.data.synthetic import synthetic_dataset_id, write_synthetic_ucdavis

    output_dir = output_dir or datasets_dir / synthetic_dataset_id(seed, scale, lookalikes)
    t0 = time.perf_counter()
    path = write_synthetic_ucdavis(output_dir / f"{ucdavis.DATASET_NAME}.parquet", seed=seed, scale=scale, lookalikes=lookalikes)
    config = {"dataset": {"name": ucdavis.DATASET_NAME, "source": "synthetic",
                          "synthetic": {"seed": seed, "scale": scale, "lookalikes": lookalikes}}}
    write_dataset_spec(output_dir, dataset_spec(config))
    click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s")


@datasets.command("splits")
@click.option("--dataset-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Prepared dataset folder (holds ucdavis-icdm19.parquet and dataset.json).")
@click.option("--n-splits", type=click.IntRange(min=1), default=5, help="Number of non-overlapping train splits.")
@click.option("--samples-per-class", type=click.IntRange(min=1), default=100, help="Flows per class in each split.")
@click.option("--seed", type=int, default=12345, help="Seed of default_rng drawing the splits (the original's 12345).")
def splits(dataset_dir: Path, n_splits: int, samples_per_class: int, seed: int) -> None:
    """Draw the ucdavis-icdm19 train splits from the pretraining partition, as the original tcbench does."""
    from tcbench.campaign.grid import DatasetPaths
    from tcbench.data.curated import read_labels
    from tcbench.data.splits import ucdavis_train_splits

    paths = DatasetPaths(dataset_dir, ucdavis.DATASET_NAME)
    splits = ucdavis_train_splits(read_labels(paths.parquet), n_splits, samples_per_class, seed)
    out = splits.write(paths.train_splits(n_splits, samples_per_class))
    click.echo(f"wrote {out}: {n_splits} splits x {samples_per_class} flows per class")


@datasets.command("flowpics")
@click.option("--dataset-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Prepared dataset folder (holds ucdavis-icdm19.parquet).")
@click.option("--dim", type=click.Choice(["32", "64", "1500"]), required=True, help="Flowpic resolution.")
@click.option("--block-duration", type=click.FloatRange(min=0, min_open=True), default=15.0,
              help="Seconds of each flow that the flowpic covers (packets at or after it are dropped).")
def flowpics(dataset_dir: Path, dim: str, block_duration: float) -> None:
    """Compute the flowpics of every flow once and cache them as a sparse matrix shared by all runs."""
    from tcbench.campaign.grid import DatasetPaths
    from tcbench.features.flowpic_store import build_flowpic_store, save_flowpic_store

    paths = DatasetPaths(dataset_dir, ucdavis.DATASET_NAME)
    t0 = time.perf_counter()
    store = build_flowpic_store(paths.parquet, int(dim), block_duration)
    out = save_flowpic_store(store, paths.flowpics(int(dim), block_duration))
    click.echo(f"wrote {out}: {store.matrix.shape[0]} flows, {store.matrix.nnz} non-zero pixels, "
               f"{time.perf_counter() - t0:.2f} s")
