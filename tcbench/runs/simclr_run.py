"""One SimCLR run (reference tcbench-behaviour.md 5.2): contrastive pre-training of a flowpic CNN on two augmented
views per flow, then a linear probe finetuned on a few flows per class of the human and of the script partition
and tested on the rest of each.

The pre-training is a step of its own with its own content key (``results/pretrain/<key>/``): every finetune
seed and finetune setting of one pre-training reuses its weights, so a campaign of 5 pre-training x 5 finetune
seeds trains 5 backbones, not 25. Each finetune run still records the whole story in its own AIM run (the
pre-training's per-epoch metrics are replayed from the pre-training marker), as the original's single run did.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tcbench.augment.views import DEFAULT_VIEW_AUGMENTATIONS, ViewSource, check_view_augmentations, needs_series, view_input_cutoff
from tcbench.campaign.grid import RESULT_SETTING_TYPES, DatasetPaths, build_run_params, pretrain_params, run_key
from tcbench.data import ucdavis
from tcbench.data.curated import read_labels
from tcbench.data.splits import FINETUNE_TRAIN_SAMPLES, RunSplit, TrainSplits, finetune_partition, ucdavis_run_split
from tcbench.features.flowpic import check_dim
from tcbench.runs.common import (
    RunOptions,
    SideTracker,
    check_finite,
    execute_run,
    load_flowpics,
    marker_base,
    versions,
    write_params,
    write_reports,
)

log = logging.getLogger("tcbench.run")

EXPERIMENT = "contrastive-learning-and-finetune"
PRETRAIN_MARKER_KIND = "simclr-pretrain"
# (name in contexts and file names, dataset partition), in the original's order.
FINETUNE_PARTITIONS = (("human", ucdavis.PARTITION_HUMAN), ("script", ucdavis.PARTITION_SCRIPT))
_POSITIVE = ("cl_epochs", "cl_batch_size", "cl_patience_steps", "ft_epochs", "ft_batch_size", "ft_patience_steps",
             "ft_train_samples", "projection_layer_dim", "threads")


@dataclass(frozen=True)
class ContrastiveRunOptions(RunOptions):
    """Everything a SimCLR run needs; ``params`` is the finetune run's identity, ``PretrainOptions.params`` the
    pre-training's. ``pretrain_dir`` (not part of either) says where the pre-training lives or goes."""

    contrastive_learning_seed: int = 12345
    finetune_seed: int = 12345
    projection_layer_dim: int = 30
    with_dropout: bool = True
    augmentations: tuple[str, ...] = DEFAULT_VIEW_AUGMENTATIONS
    temperature: float = 0.07
    cl_learning_rate: float = 0.001
    cl_epochs: int = 50
    cl_patience_steps: int = 3
    cl_batch_size: int = 32
    ft_learning_rate: float = 0.01
    ft_epochs: int = 50
    ft_patience_steps: int = 5
    ft_patience_min_delta: float = 0.001
    ft_train_samples: int = FINETUNE_TRAIN_SAMPLES
    ft_batch_size: int = 32
    device: str = "cpu"
    experiment: str = EXPERIMENT
    pretrain_dir: Path | None = None

    def params(self, dataset_spec: dict[str, Any]) -> dict[str, Any]:
        """Same dict as ``tcbench.campaign.grid.campaign_runs`` builds from a config, hence the same run_key."""
        point = {"split_index": self.split_index, "contrastive_learning_seed": self.contrastive_learning_seed,
                 "finetune_seed": self.finetune_seed, "flowpic_dim": self.flowpic_dim, "with_dropout": self.with_dropout,
                 "projection_layer_dim": self.projection_layer_dim}
        settings = {key: getattr(self, key) for key in RESULT_SETTING_TYPES["simclr"]}
        splits = {"n_splits": self.n_splits, "samples_per_class": self.samples_per_class}
        return build_run_params("simclr", dataset_spec, splits, point, settings)

    def hparams(self) -> dict[str, Any]:
        """AIM ``run["hparams"]``: the original's SimCLR keys in its order, then the settings it left out."""
        return {
            "flowpic_dim": self.flowpic_dim,
            "split_index": self.split_index,
            "dataset": self.dataset_name,
            "dataset_minpkts": -1,
            "contrastive_learning_seed": self.contrastive_learning_seed,
            "finetune_seed": self.finetune_seed,
            "finetune_train_samples": self.ft_train_samples,
            "with_dropout": self.with_dropout,
            "projection_layer_dim": self.projection_layer_dim,
            "finetune_augmentation": "none",
            "augmentations": list(self.augmentations),
            "train_val_split_ratio": self.train_val_split_ratio,
            "flowpic_block_duration": self.flowpic_block_duration,
            "temperature": self.temperature,
            "cl_learning_rate": self.cl_learning_rate,
            "cl_epochs": self.cl_epochs,
            "cl_patience_steps": self.cl_patience_steps,
            "cl_batch_size": self.cl_batch_size,
            "ft_learning_rate": self.ft_learning_rate,
            "ft_epochs": self.ft_epochs,
            "ft_patience_steps": self.ft_patience_steps,
            "ft_patience_min_delta": self.ft_patience_min_delta,
            "ft_batch_size": self.ft_batch_size,
        }

    def validate(self) -> None:
        if self.dataset_name != ucdavis.DATASET_NAME:
            raise ValueError(f"SimCLR runs finetune on the human and script partitions of {ucdavis.DATASET_NAME}; "
                             f"dataset {self.dataset_name} has none")
        check_dim(self.flowpic_dim)
        check_view_augmentations(self.augmentations)
        for name in _POSITIVE:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("temperature", "cl_learning_rate", "ft_learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class PretrainOptions(ContrastiveRunOptions):
    """The pre-training step of a SimCLR run: its identity leaves out the finetune seed and settings."""

    results_kind: ClassVar[str] = "pretrain"

    def params(self, dataset_spec: dict[str, Any]) -> dict[str, Any]:
        return pretrain_params(super().params(dataset_spec))

    @classmethod
    def of(cls, options: ContrastiveRunOptions) -> PretrainOptions:
        return cls(**{f.name: getattr(options, f.name) for f in fields(ContrastiveRunOptions)})


# ------------------------------------------------------------------------------------------------ pre-training
def pretrain(options: ContrastiveRunOptions, run_dir: Path | None = None, results_dir: Path = Path("results")) -> dict[str, Any]:
    """Run the contrastive pre-training of ``options``; write weights and the pre-training marker; return it."""
    return execute_run(PretrainOptions.of(options), run_dir, results_dir, None, _pretrain)


def _view_sources(options: ContrastiveRunOptions, paths: DatasetPaths, split: RunSplit) -> tuple[ViewSource, ViewSource]:
    """Train and validation view sources, each with its own ``default_rng(seed)`` as the original's datasets.
    Needs no torch: runs on a side thread while the process imports it."""
    from tcbench.features.flowpic_store import read_flow_series

    augs, dim, block = tuple(options.augmentations), options.flowpic_dim, options.flowpic_block_duration
    seed = options.contrastive_learning_seed
    if not needs_series(augs):
        store = load_flowpics(paths, dim, block)
        return tuple(ViewSource(augs, dim, block, np.random.default_rng(seed), flowpics=store.rows_for(rows))  # type: ignore[return-value]
                     for rows in (split.train, split.val))
    series, last = read_flow_series(paths.parquet, np.concatenate([split.train, split.val]), view_input_cutoff(augs, block))
    n = len(split.train)
    parts = (np.arange(n), np.arange(n, n + len(split.val)))
    return tuple(ViewSource(augs, dim, block, np.random.default_rng(seed), series=series.take(p), last_time=last[p])  # type: ignore[return-value]
                 for p in parts)


def _pretrain(options: PretrainOptions, params: dict[str, Any], key: str, paths: DatasetPaths, run_dir: Path,
              artifacts: Path, aim_template: Path | None, t_start: float) -> dict[str, Any]:
    labels = read_labels(paths.parquet)
    train_splits = TrainSplits.read(paths.train_splits(options.n_splits, options.samples_per_class))
    split = ucdavis_run_split(labels, train_splits, options.split_index, options.contrastive_learning_seed,
                              options.train_val_split_ratio, with_leftover=False)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="data") as pool:
        pending = pool.submit(_view_sources, options, paths, split)
        import torch

        from tcbench.models.simclr import build_contrastive_net
        from tcbench.training.contrastive import train_contrastive
        from tcbench.training.determinism import collect_nondeterminism, seed_everything

        determinism = seed_everything(options.contrastive_learning_seed, options.threads, options.device)
        net = build_contrastive_net(options.flowpic_dim, options.with_dropout, options.projection_layer_dim)
        train_views, val_views = pending.result()
    log.info("pretrain %s: split %d seed %d dim %d views %s: train %d flows, val %d", key, options.split_index,
             options.contrastive_learning_seed, options.flowpic_dim, "+".join(options.augmentations),
             len(split.train), len(split.val))

    def on_epoch(rec: Any) -> None:
        log.info("epoch %3d  train loss %.4f top1 %6.2f top5 %6.2f  val loss %.4f top1 %6.2f top5 %6.2f%s (%.2f s)",
                 rec.epoch, rec.train_loss, rec.train_acc_top_1, rec.train_acc_top_5, rec.val_loss, rec.val_acc_top_1,
                 rec.val_acc_top_5, "  *" if rec.improved else "", rec.seconds)

    t_setup = time.time()
    with collect_nondeterminism(determinism):
        result = train_contrastive(
            net, train_views.draw, val_views.draw, options.flowpic_dim, epochs=options.cl_epochs,
            batch_size=options.cl_batch_size, learning_rate=options.cl_learning_rate, temperature=options.temperature,
            patience_steps=options.cl_patience_steps, seed=options.contrastive_learning_seed, device=options.device,
            on_epoch=on_epoch,
        )
    t_trained = time.time()
    if not result.history:
        raise RuntimeError("pre-training ran no epoch")
    history = [asdict(e) for e in result.history]
    last = history[-1]
    check_finite({"contrastivelearning": {k: v for k, v in last.items() if isinstance(v, float)}})
    weights = artifacts / f"best_model_weights_pretrain_split_{options.split_index}.pt"
    torch.save(result.best_state, weights)
    write_params(artifacts, params, pretrain_key=key, device=options.device, threads=options.threads,
                 dataset_dir=str(options.dataset_dir))
    t_end = time.time()
    return {
        "marker_version": 1,
        "kind": PRETRAIN_MARKER_KIND,
        "pretrain_key": key,
        "params": params,
        "weights": weights.name,
        "history": history,
        "best_epoch": result.best_epoch,
        "best_acc_top_5": result.best_acc_top_5,
        "epochs_run": len(history),
        "stopped_early": result.stopped_early,
        "creation_time": t_start,
        "end_time": t_end,
        "durations": {"setup": t_setup - t_start, "train": t_trained - t_setup, "total": t_end - t_start},
        "versions": versions(),
        "determinism": determinism,
    }


def read_pretraining(pretrain_dir: Path, expected_key: str) -> dict[str, Any]:
    """The pre-training marker of ``pretrain_dir``, checked to be the pre-training this run asks for."""
    import json

    path = Path(pretrain_dir) / "marker.json"
    try:
        marker = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no finished pre-training there (run `tcbench run contralearn-pretrain`)") from None
    if marker.get("kind") != PRETRAIN_MARKER_KIND or marker.get("pretrain_key") != expected_key:
        raise ValueError(f"{path} holds pre-training {marker.get('pretrain_key')!r}, but this run's settings need "
                         f"{expected_key!r}: point --pretrain-dir at results/pretrain/{expected_key} or omit it")
    return marker


# ---------------------------------------------------------------------------------------------------- finetune
def execute(options: ContrastiveRunOptions, run_dir: Path | None = None, results_dir: Path = Path("results"),
            aim_template: Path | None = None) -> dict[str, Any]:
    """Finetune and test from the run's pre-training (pre-training first when it does not exist yet); write the
    per-run AIM repo, artifacts and marker; return the marker."""
    from tcbench.data.dataset_info import read_dataset_spec

    options.validate()
    pretrain_dir = options.pretrain_dir
    if pretrain_dir is None:
        spec = read_dataset_spec(options.dataset_paths().root)
        pretrain_dir = Path(results_dir) / "pretrain" / run_key(PretrainOptions.of(options).params(spec))
    if not (Path(pretrain_dir) / "marker.json").exists():
        pretrain(options, Path(pretrain_dir), results_dir)
    return execute_run(replace(options, pretrain_dir=Path(pretrain_dir)), run_dir, results_dir, aim_template, _finetune)


def _replay_pretraining(tracker: SideTracker, marker: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Track the pre-training's metrics in the finetune run, under the original's contexts; return their last values."""
    metrics: dict[str, dict[str, float]] = {"contrastivelearning_train": {}, "contrastivelearning_val": {}}
    for rec in marker["history"]:
        for subset, prefix in (("contrastivelearning_train", "train_"), ("contrastivelearning_val", "val_")):
            for name in ("loss", "acc_top_1", "acc_top_5"):
                tracker.track(rec[prefix + name], name, subset, rec["epoch"])
                metrics[subset][name] = rec[prefix + name]
        if rec["improved"]:
            tracker.track(rec["val_acc_top_5"], "best_acc_top_5", "contrastivelearning_val")
            tracker.track(rec["epoch"], "best_epoch", "contrastivelearning_val")
    metrics["contrastivelearning_val"].update(best_acc_top_5=marker["best_acc_top_5"], best_epoch=float(marker["best_epoch"]))
    duration = marker["durations"]["train"]
    tracker.track(duration, "duration", "pretrain-train")
    metrics["pretrain-train"] = {"duration": duration}
    return metrics


def _link_or_copy(src: Path, dst: Path) -> None:
    # The finetune run's artifacts hold the pre-trained weights as the original's did; a hard link costs no space.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _finetune(options: ContrastiveRunOptions, params: dict[str, Any], key: str, paths: DatasetPaths, run_dir: Path,
              artifacts: Path, aim_template: Path | None, t_start: float) -> dict[str, Any]:
    assert options.pretrain_dir is not None
    pretraining = read_pretraining(options.pretrain_dir, run_key(pretrain_params(params)))
    with ExitStack() as stack:
        labels = read_labels(paths.parquet)
        codes = labels.app.astype(np.int64)
        parts = {name: finetune_partition(labels, labels.rows_in(partition), options.finetune_seed, options.ft_train_samples)
                 for name, partition in FINETUNE_PARTITIONS}
        store = load_flowpics(paths, options.flowpic_dim, options.flowpic_block_duration)

        import torch

        from tcbench.models.simclr import build_contrastive_net, build_finetune_net
        from tcbench.training.batches import FlowpicBatches
        from tcbench.training.contrastive import train_linear_probe
        from tcbench.training.determinism import collect_nondeterminism, seed_everything
        from tcbench.training.loop import evaluate

        determinism = seed_everything(options.finetune_seed, options.threads, options.device)
        pretrained = build_contrastive_net(options.flowpic_dim, options.with_dropout, options.projection_layer_dim)
        weights = Path(options.pretrain_dir) / "artifacts" / pretraining["weights"]
        pretrained.load_state_dict(torch.load(weights, weights_only=True))
        _link_or_copy(weights, artifacts / weights.name)

        tracker = SideTracker(stack, run_dir / "aim", aim_template, options.experiment, options.hparams(), key, t_start)
        metrics = _replay_pretraining(tracker, pretraining)
        tracker.start("pandas")
        t_setup = time.time()
        for name, (train_rows, test_rows) in parts.items():
            context = f"finetune_{name}_train"

            def on_epoch(rec: Any, context: str = context) -> None:
                tracker.track(rec.loss, "loss", context, rec.epoch)
                tracker.track(rec.acc, "acc", context, rec.epoch)
                if rec.improved:
                    tracker.track(rec.loss, "best_loss", context)
                    tracker.track(rec.epoch, "best_epoch", context)

            t0 = time.time()
            net = build_finetune_net(pretrained, len(ucdavis.CLASSES))
            with collect_nondeterminism(determinism):
                result = train_linear_probe(
                    net, FlowpicBatches(store.rows_for(train_rows), codes[train_rows], options.flowpic_dim),
                    epochs=options.ft_epochs, batch_size=options.ft_batch_size, learning_rate=options.ft_learning_rate,
                    patience_steps=options.ft_patience_steps, patience_min_delta=options.ft_patience_min_delta,
                    seed=options.finetune_seed, device=options.device, on_epoch=on_epoch,
                )
            torch.save(result.best_state, artifacts / f"best_model_weights_finetune_{name}_from_split_{options.split_index}.pt")
            t1 = time.time()
            tracker.track(t1 - t0, "duration", "finetune-train")
            last = result.history[-1]
            metrics[context] = {"loss": last.loss, "acc": last.acc, "best_loss": result.best_loss,
                                "best_epoch": float(result.best_epoch)}
            metrics["finetune-train"] = {"duration": t1 - t0}

            test_context = ucdavis.TEST_CONTEXT_BY_PARTITION[dict(FINETUNE_PARTITIONS)[name]]
            evaluation = evaluate(net, FlowpicBatches(store.rows_for(test_rows), codes[test_rows], options.flowpic_dim),
                                  device=options.device)
            scores = {"loss": evaluation.loss, **write_reports(artifacts, test_context, evaluation.y_true, evaluation.y_pred)}
            test_seconds = time.time() - t1
            for metric, value in {**scores, "duration": test_seconds}.items():
                tracker.track(value, metric, test_context if metric != "duration" else "finetune-test")
            metrics[test_context] = scores
            metrics["finetune-test"] = {"duration": test_seconds}
            log.info("finetune %s: %d epochs (best %d, train loss %.4f); %s acc %.2f f1 %.4f (%d flows)", name,
                     len(result.history), result.best_epoch, result.best_loss, test_context, scores["acc"], scores["f1"],
                     len(test_rows))
        t_tested = time.time()
        check_finite(metrics)
        tracker.flush()

    write_params(artifacts, params, run_key=key, pretrain_key=pretraining["pretrain_key"], device=options.device,
                 threads=options.threads, experiment=options.experiment, dataset_dir=str(options.dataset_dir))
    t_end = time.time()
    durations = {"setup": t_setup - t_start, "finetune_and_test": t_tested - t_setup, "tracking_close": t_end - t_tested,
                 "total": t_end - t_start, "pretraining": pretraining["durations"]["total"]}
    marker = marker_base(key, "simclr", options.experiment, options.hparams(), params, tracker, metrics, durations)
    marker["pretraining"] = {key_: pretraining[key_] for key_ in ("pretrain_key", "epochs_run", "best_epoch",
                                                                  "best_acc_top_5", "stopped_early")}
    marker["determinism"] = determinism
    return marker
