"""``tcbench run``: one training run, the unit of work of every campaign job."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tcbench.cli import fast_exit
from tcbench.data import ucdavis


@click.group()
def run() -> None:
    """Run a single experiment (one Snakemake job of a campaign)."""


@run.command("augment-at-loading")
@click.option("--dataset-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Prepared dataset folder: ucdavis-icdm19.parquet, dataset.json, splits/, flowpics/.")
@click.option("--split-index", type=int, default=0, help="Train split (0..n_splits-1), or -1 for the whole pretraining partition.")
@click.option("--seed", type=int, default=12345, help="Run seed: weight init, shuffling and the 80/20 train/val draw.")
@click.option("--method", type=click.Choice(["monolithic", "xgboost"]), default="monolithic",
              help="monolithic: flowpic CNN trained with the augmentation; xgboost: the XGBoost baseline (no augmentation).")
@click.option("--input-repr", type=click.Choice(["pktseries", "flowpic"]), default="pktseries",
              help="XGBoost input: first packets' sizes, IATs and directions, or the flattened flowpic.")
@click.option("--pktseries-len", type=click.Choice(["10", "30"]), default="10", help="XGBoost pktseries: packets per flow.")
@click.option("--aug-name", type=click.Choice(["noaug", "rotate", "horizontalflip", "colorjitter", "packetloss", "changertt", "timeshift"]),
              default="noaug", help="Augmentation applied at loading (monolithic): the flows plus augmented copies.")
@click.option("--flowpic-dim", type=click.Choice(["32", "64", "1500"]), default="32", help="Flowpic resolution.")
@click.option("--flowpic-block-duration", type=click.FloatRange(min=0, min_open=True), default=15.0,
              help="Seconds of each flow covered by the flowpic.")
@click.option("--n-splits", type=click.IntRange(min=1), default=5, help="Number of train splits of the dataset (selects the splits file).")
@click.option("--samples-per-class", type=click.IntRange(min=1), default=100, help="Flows per class of each train split (selects the splits file).")
@click.option("--epochs", type=click.IntRange(min=1), default=50, help="Maximum training epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, help="Mini-batch size.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.001, help="Adam learning rate.")
@click.option("--patience-steps", type=click.IntRange(min=1), default=5,
              help="Early stopping: epochs without a validation-loss improvement before stopping.")
@click.option("--patience-min-delta", type=click.FloatRange(min=0), default=0.001,
              help="Early stopping: minimum validation-loss decrease that counts as an improvement.")
@click.option("--with-dropout/--no-dropout", default=True, help="Dropout2d(0.25) after conv2 and feature Dropout(0.5) after the last FC layer.")
@click.option("--train-val-split-ratio", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.8,
              help="Fraction of each class of the split used for training; the rest validates.")
@click.option("--max-samples-per-class", type=int, default=-1, help="Cap on flows per class before the train/val split (-1: no cap).")
@click.option("--test-leftover/--no-test-leftover", default=True,
              help="Also test on every flow not used for train/val (the original's test-train-val-leftover).")
@click.option("--suppress-val-augmentation/--no-suppress-val-augmentation", default=False,
              help="Validate on the original flows only (the original augments validation like training).")
@click.option("--aug-samples", type=click.IntRange(min=2), default=10,
              help="Each training flow plus aug-samples - 1 augmented copies (horizontalflip: 1 copy).")
@click.option("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (cuda must be available).")
@click.option("--threads", type=click.IntRange(min=1), default=1, help="torch CPU threads.")
@click.option("--experiment", default=None,
              help="AIM experiment name [default: augmentation-at-loading; xgboost: xgb_<input-repr>].")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder; default <results-dir>/runs/<run_key>. Its name must equal the run_key.")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              help="Results root used when --run-dir is not given.")
@click.option("--aim-template", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Empty AIM repo to copy instead of creating one (saves ~2 s of AIM migrations per run).")
def augment_at_loading(**kwargs: object) -> None:
    """Train and test one model; write an AIM run, artifacts and marker.json under the run folder."""
    run_dir, results_dir, aim_template = kwargs.pop("run_dir"), kwargs.pop("results_dir"), kwargs.pop("aim_template")
    method, input_repr, pktseries_len = kwargs.pop("method"), kwargs.pop("input_repr"), int(kwargs.pop("pktseries_len"))  # type: ignore[call-overload]
    kwargs["flowpic_dim"] = int(kwargs["flowpic_dim"])  # type: ignore[call-overload]
    if method == "xgboost":
        from tcbench.runs.xgboost_run import XGBoostRunOptions, execute

        options: object = XGBoostRunOptions(
            dataset_dir=kwargs["dataset_dir"], n_splits=kwargs["n_splits"], samples_per_class=kwargs["samples_per_class"],
            split_index=kwargs["split_index"], seed=kwargs["seed"], flow_representation=input_repr,
            max_n_pkts=pktseries_len, flowpic_dim=kwargs["flowpic_dim"],
            flowpic_block_duration=kwargs["flowpic_block_duration"],
            train_val_split_ratio=kwargs["train_val_split_ratio"], max_samples_per_class=kwargs["max_samples_per_class"],
            test_leftover=kwargs["test_leftover"], threads=kwargs["threads"],
            experiment=kwargs["experiment"] or f"xgb_{input_repr}",
        )  # type: ignore[arg-type]
    else:
        from tcbench.runs.augment_at_loading import SupervisedRunOptions, execute  # type: ignore[assignment]

        kwargs["experiment"] = kwargs["experiment"] or "augmentation-at-loading"
        options = SupervisedRunOptions(dataset_name=ucdavis.DATASET_NAME, **kwargs)  # type: ignore[arg-type]
    try:
        marker = execute(options, run_dir=run_dir, results_dir=results_dir, aim_template=aim_template)  # type: ignore[arg-type]
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    scores = "  ".join(f"{ctx} acc {m['acc']:.2f}" for ctx, m in marker["metrics"].items() if ctx.startswith("test"))
    click.echo(f"run {marker['run_key']} done in {marker['durations']['total']:.1f} s: {scores}")
    fast_exit.request()  # every output is closed (the marker fsynced): nothing is left for teardown to flush
