"""``tcbench run``: one training run, the unit of work of every campaign job."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tcbench.cli import fast_exit


@click.group()
def run() -> None:
    """Run a single experiment (one Snakemake job of a campaign)."""


def _options(*decorators: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Apply a list of click options in the order they are listed (so --help lists them in that order)."""
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


# Where the data is and which flows a run uses: every run command.
DATA_OPTIONS = (
    click.option("--dataset-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
                 help="Prepared dataset folder: <dataset>.parquet, dataset.json, splits/, flowpics/ (filtered/ when imported)."),
    click.option("--dataset", "dataset_name", type=click.Choice(["ucdavis-icdm19", "mirage19", "mirage22", "utmobilenet21"]),
                 default="ucdavis-icdm19", help="Dataset of --dataset-dir."),
    click.option("--dataset-minpkts", type=int, default=-1,
                 help="Filtered variant of mirage19 / mirage22 / utmobilenet21 (10; mirage22 also 1000); -1 for ucdavis-icdm19."),
    click.option("--split-index", type=int, default=0, help="Train split (0..n_splits-1), or -1 for the whole pretraining partition."),
    click.option("--flowpic-dim", type=click.Choice(["32", "64", "1500"]), default="32", help="Flowpic resolution."),
    click.option("--flowpic-block-duration", type=click.FloatRange(min=0, min_open=True), default=15.0,
                 help="Seconds of each flow covered by the flowpic."),
    click.option("--n-splits", type=click.IntRange(min=1), default=5, help="Number of train splits of the dataset (selects the splits file)."),
    click.option("--samples-per-class", type=click.IntRange(min=1), default=100, help="Flows per class of each train split (selects the splits file)."),
    click.option("--train-val-split-ratio", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.8,
                 help="Fraction of each class of the split used for training; the rest validates."),
)
# Where and how a run executes (never part of its identity).
EXEC_OPTIONS = (
    click.option("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (cuda must be available)."),
    click.option("--threads", type=click.IntRange(min=1), default=1, help="torch CPU threads."),
    click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Run folder; default <results-dir>/runs/<run_key> (pretrain/<key> for a pre-training). Its name must equal the key."),
    click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
                 help="Results root used when --run-dir is not given."),
)
AIM_TEMPLATE_OPTION = click.option(
    "--aim-template", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
    help="Empty AIM repo to copy instead of creating one (saves ~2 s of AIM migrations per run).")


@run.command("augment-at-loading")
@_options(*DATA_OPTIONS)
@click.option("--seed", type=int, default=12345, help="Run seed: weight init, shuffling and the 80/20 train/val draw.")
@click.option("--method", type=click.Choice(["monolithic", "xgboost"]), default="monolithic",
              help="monolithic: flowpic CNN trained with the augmentation; xgboost: the XGBoost baseline (no augmentation).")
@click.option("--input-repr", type=click.Choice(["pktseries", "flowpic"]), default="pktseries",
              help="XGBoost input: first packets' sizes, IATs and directions, or the flattened flowpic.")
@click.option("--pktseries-len", type=click.Choice(["10", "30"]), default="10", help="XGBoost pktseries: packets per flow.")
@click.option("--aug-name", type=click.Choice(["noaug", "rotate", "horizontalflip", "colorjitter", "packetloss", "changertt", "timeshift"]),
              default="noaug", help="Augmentation applied at loading (monolithic): the flows plus augmented copies.")
@click.option("--epochs", type=click.IntRange(min=1), default=50, help="Maximum training epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, help="Mini-batch size.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.001, help="Adam learning rate.")
@click.option("--patience-steps", type=click.IntRange(min=1), default=5,
              help="Early stopping: epochs without a validation-loss improvement before stopping.")
@click.option("--patience-min-delta", type=click.FloatRange(min=0), default=0.001,
              help="Early stopping: minimum validation-loss decrease that counts as an improvement.")
@click.option("--with-dropout/--no-dropout", default=True, help="Dropout2d(0.25) after conv2 and feature Dropout(0.5) after the last FC layer.")
@click.option("--max-samples-per-class", type=int, default=-1, help="Cap on flows per class before the train/val split (-1: no cap).")
@click.option("--test-leftover/--no-test-leftover", default=True,
              help="Also test on every flow not used for train/val (the original's test-train-val-leftover).")
@click.option("--suppress-val-augmentation/--no-suppress-val-augmentation", default=False,
              help="Validate on the original flows only (the original augments validation like training).")
@click.option("--aug-samples", type=click.IntRange(min=2), default=10,
              help="Each training flow plus aug-samples - 1 augmented copies (horizontalflip: 1 copy).")
@click.option("--experiment", default=None,
              help="AIM experiment name [default: augmentation-at-loading; xgboost: xgb_<input-repr>].")
@_options(*EXEC_OPTIONS, AIM_TEMPLATE_OPTION)
def augment_at_loading(**kwargs: object) -> None:
    """Train and test one model; write an AIM run, artifacts and marker.json under the run folder."""
    run_dir, results_dir, aim_template = kwargs.pop("run_dir"), kwargs.pop("results_dir"), kwargs.pop("aim_template")
    method, input_repr, pktseries_len = kwargs.pop("method"), kwargs.pop("input_repr"), int(kwargs.pop("pktseries_len"))  # type: ignore[call-overload]
    kwargs["flowpic_dim"] = int(kwargs["flowpic_dim"])  # type: ignore[call-overload]
    if method == "xgboost":
        from tcbench.runs.xgboost_run import XGBoostRunOptions, execute

        options: object = XGBoostRunOptions(
            dataset_dir=kwargs["dataset_dir"], dataset_name=kwargs["dataset_name"], dataset_minpkts=kwargs["dataset_minpkts"],
            n_splits=kwargs["n_splits"], samples_per_class=kwargs["samples_per_class"],
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
        options = SupervisedRunOptions(**kwargs)  # type: ignore[arg-type]
    _finish(execute, options, run_dir=run_dir, results_dir=results_dir, aim_template=aim_template)


def _finish(execute: Callable[..., dict[str, Any]], options: object, **where: Any) -> None:
    """Run, turn bad input into a one-line error (exit 2), print the test scores, exit fast."""
    try:
        marker = execute(options, **where)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    scores = "  ".join(f"{ctx} acc {m['acc']:.2f}" for ctx, m in marker["metrics"].items() if ctx.startswith("test"))
    click.echo(f"run {marker['run_key']} done in {marker['durations']['total']:.1f} s: {scores}")
    fast_exit.request()  # every output is closed (the marker fsynced): nothing is left for teardown to flush


def _names(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    from tcbench.augment.views import check_view_augmentations

    try:
        return check_view_augmentations([v.strip() for v in value.split(",") if v.strip()])
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


# The contrastive pre-training's options (`tcbench run contralearn-pretrain` and `contralearn-and-finetune`).
CL_OPTIONS = (
    click.option("--cl-seed", type=click.IntRange(min=0), default=12345,
                 help="Pre-training seed: weight init, 80/20 train/val draw and view augmentations."),
    click.option("--cl-aug-names", callback=_names, default="changertt,timeshift", show_default=True,
                 help="Comma list of augmentations composed (random order per view) into each of the two views."),
    click.option("--cl-projection-layer-dim", type=click.IntRange(min=1), default=30, show_default=True,
                 help="Width of the projection head the contrastive loss is computed on."),
    click.option("--cl-learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.001, show_default=True,
                 help="Pre-training Adam learning rate."),
    click.option("--cl-temperature", type=click.FloatRange(min=0, min_open=True), default=0.07, show_default=True,
                 help="NT-Xent temperature."),
    click.option("--cl-epochs", type=click.IntRange(min=1), default=50, show_default=True, help="Maximum pre-training epochs."),
    click.option("--cl-patience-steps", type=click.IntRange(min=1), default=3, show_default=True,
                 help="Pre-training early stopping: epochs without a validation top-5 accuracy gain."),
    click.option("--cl-batch-size", type=click.IntRange(min=1), default=32, show_default=True,
                 help="Flows per pre-training batch (two views each)."),
    click.option("--with-dropout/--no-dropout", default=True, show_default=True, help="Dropout2d(0.25) after conv2."),
)
FT_OPTIONS = (
    click.option("--ft-seed", type=click.IntRange(min=0), default=12345, show_default=True,
                 help="Finetune seed: head init, choice of the training flows, shuffling."),
    click.option("--ft-learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.01, show_default=True,
                 help="Finetune Adam learning rate (linear head only; the backbone is frozen)."),
    click.option("--ft-epochs", type=click.IntRange(min=1), default=50, show_default=True, help="Maximum finetune epochs."),
    click.option("--ft-patience-steps", type=click.IntRange(min=1), default=5, show_default=True,
                 help="Finetune early stopping: epochs without a train-loss improvement."),
    click.option("--ft-patience-min-delta", type=click.FloatRange(min=0), default=0.001, show_default=True,
                 help="Finetune early stopping: minimum train-loss decrease that counts as an improvement."),
    click.option("--ft-train-samples", type=click.IntRange(min=1), default=10, show_default=True,
                 help="Flows per class of the human and of the script partition that train the head; the rest test it."),
    click.option("--ft-batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Finetune mini-batch size."),
)
_SIMCLR_RENAMED = {"cl_seed": "contrastive_learning_seed", "ft_seed": "finetune_seed", "cl_aug_names": "augmentations",
                   "cl_projection_layer_dim": "projection_layer_dim", "cl_temperature": "temperature"}


def _simclr_options(kwargs: dict[str, Any]) -> Any:
    from tcbench.runs.simclr_run import ContrastiveRunOptions

    kwargs["flowpic_dim"] = int(kwargs["flowpic_dim"])
    return ContrastiveRunOptions(**{_SIMCLR_RENAMED.get(name, name): value for name, value in kwargs.items()})


@run.command("contralearn-and-finetune")
@_options(*DATA_OPTIONS, *CL_OPTIONS, *FT_OPTIONS)
@click.option("--pretrain-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of this run's pre-training (results/pretrain/<key>); pre-trains there first when it holds none.")
@click.option("--experiment", default="contrastive-learning-and-finetune", show_default=True, help="AIM experiment name.")
@_options(*EXEC_OPTIONS, AIM_TEMPLATE_OPTION)
def contralearn_and_finetune(**kwargs: Any) -> None:
    """SimCLR: contrastive pre-training on two augmented views per flow (reused when already done), then a linear
    head finetuned on --ft-train-samples flows per class of the human and of the script partition, tested on the
    rest of each (contexts test-human, test-script). Writes an AIM run, artifacts and marker.json."""
    from tcbench.runs.simclr_run import execute

    where = {name: kwargs.pop(name) for name in ("run_dir", "results_dir", "aim_template")}
    _finish(execute, _simclr_options(kwargs), **where)


@run.command("contralearn-pretrain")
@_options(*DATA_OPTIONS, *CL_OPTIONS, *EXEC_OPTIONS)
def contralearn_pretrain(**kwargs: Any) -> None:
    """SimCLR pre-training only: writes results/pretrain/<key>/ (weights, per-epoch history, marker.json), which
    every `contralearn-and-finetune` run with the same pre-training settings reuses."""
    from tcbench.runs.simclr_run import pretrain

    where = {name: kwargs.pop(name) for name in ("run_dir", "results_dir")}
    try:
        marker = pretrain(_simclr_options(kwargs), **where)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"pre-training {marker['pretrain_key']} done in {marker['durations']['total']:.1f} s: "
               f"{marker['epochs_run']} epochs, best val acc_top_5 {marker['best_acc_top_5']:.2f} at epoch {marker['best_epoch']}")
    fast_exit.request()
