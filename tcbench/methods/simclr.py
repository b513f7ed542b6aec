"""SimCLR (docs/original-behaviour.md, SimCLR): contrastive pre-training of a flowpic CNN on two augmented views
per flow, then a linear probe finetuned on a few flows per class of the human and of the script partition and
tested on the rest of each.

The pre-training is a pre-step with its own content key (``results/pretrain/<key>/``): every finetune seed and
finetune setting of one pre-training reuses its weights, so a campaign of 5 pre-training x 5 finetune seeds trains
5 backbones, not 25. Each finetune run still records the whole story in its own AIM run (the pre-training's
per-epoch metrics are replayed from the pre-training marker), as the original's single run did.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from tcbench.contract import JobResources, Method, RunContext
from tcbench.data import ucdavis
from tcbench.data.registry import DatasetDef
from tcbench.methods.params import (
    FLOWPIC_BLOCK_DURATION,
    FLOWPIC_DIM,
    SPLIT_INDEX,
    TRAIN_VAL_SPLIT_RATIO,
    WITH_DROPOUT,
    Param,
    flowpic_resources,
)
from tcbench.methods.registry import register

log = logging.getLogger("tcbench.run")

PRETRAIN_MARKER_KIND = "simclr-pretrain"
# (name in contexts and file names, dataset partition), in the original's order.
FINETUNE_PARTITIONS = (("human", ucdavis.PARTITION_HUMAN), ("script", ucdavis.PARTITION_SCRIPT))


def _view_augmentation_names() -> tuple[str, ...]:
    """Every augmentation that changes a flow (a view composes them; ``noaug`` would add nothing)."""
    from tcbench.augment import augmentation_names

    return tuple(a for a in augmentation_names() if a not in augmentation_names("none"))


CL_SEED = Param("contrastive_learning_seed", int, 12345,
                "Pre-training seed: weight init, 80/20 train/val draw and view augmentations.", minimum=0,
                option="--cl-seed", tag="cl_seed", replicate=True, axis_label="contrastive learning seeds",
                campaign_option="--cl-seeds")
FT_SEED = Param("finetune_seed", int, 12345, "Finetune seed: head init, choice of the training flows, shuffling.",
                minimum=0, option="--ft-seed", tag="ft_seed", replicate=True, axis_label="finetune seeds",
                campaign_option="--ft-seeds")
PROJECTION_LAYER_DIM = Param("projection_layer_dim", int, 30,
                             "Width of the projection head the contrastive loss is computed on (the paper: 30, 84).",
                             minimum=1, option="--cl-projection-layer-dim", tag="proj",
                             axis_label="projection layer dims", campaign_option="--cl-projection-layer-dims")
VIEW_AUGMENTATIONS = Param("augmentations", list, ["changertt", "timeshift"],
                           "Augmentations composed (in a random order per view) into each of the two views of a flow.",
                           choices_from=_view_augmentation_names, unique=True, option="--cl-aug-names",
                           component="augmentation")
TEMPERATURE = Param("temperature", float, 0.07, "NT-Xent temperature.", exclusive_minimum=0, option="--cl-temperature")
CL_LEARNING_RATE = Param("cl_learning_rate", float, 0.001, "Pre-training Adam learning rate.", exclusive_minimum=0)
CL_EPOCHS = Param("cl_epochs", int, 50, "Maximum pre-training epochs.", minimum=1)
CL_PATIENCE_STEPS = Param("cl_patience_steps", int, 3,
                          "Pre-training early stopping: epochs without a validation top-5 accuracy gain.", minimum=1)
CL_BATCH_SIZE = Param("cl_batch_size", int, 32, "Flows per pre-training batch (2 views each).", minimum=1,
                      campaign_option="--batch-size")
FT_LEARNING_RATE = Param("ft_learning_rate", float, 0.01, "Finetune Adam learning rate (linear head only).",
                         exclusive_minimum=0)
FT_EPOCHS = Param("ft_epochs", int, 50, "Maximum finetune epochs.", minimum=1)
FT_PATIENCE_STEPS = Param("ft_patience_steps", int, 5, "Finetune early stopping: epochs without a train-loss improvement.",
                          minimum=1)
FT_PATIENCE_MIN_DELTA = Param("ft_patience_min_delta", float, 0.001,
                              "Minimum train-loss decrease counted as an improvement.", minimum=0)
FT_TRAIN_SAMPLES = Param("ft_train_samples", int, 10,
                         "Flows per class of each finetune partition used to train the head; the rest test it.",
                         minimum=1, hparam="finetune_train_samples")
FT_BATCH_SIZE = Param("ft_batch_size", int, 32, "Finetune mini-batch size.", minimum=1, campaign_option="--batch-size")

_PRETRAIN_SETTINGS = (VIEW_AUGMENTATIONS, TEMPERATURE, CL_LEARNING_RATE, CL_EPOCHS, CL_PATIENCE_STEPS, CL_BATCH_SIZE,
                      WITH_DROPOUT, FLOWPIC_BLOCK_DURATION, TRAIN_VAL_SPLIT_RATIO)


def _needs_finetune_partitions(dataset: DatasetDef) -> None:
    missing = [p for _, p in FINETUNE_PARTITIONS if p not in dataset.test_partitions]
    if missing:
        from tcbench.methods.registry import method_names

        others = [m for m in method_names() if m not in (SimCLR.name,)]
        raise ValueError(f"method: simclr finetunes on {ucdavis.DATASET_NAME}'s human and script partitions; "
                         f"{dataset.name} has none; valid methods: {others}")


class SimclrPretrain(Method):
    """The contrastive pre-training step: its identity leaves out the finetune seed and settings, so every finetune
    of the same pre-training settings shares it."""

    name = "simclr-pretrain"
    summary = "SimCLR pre-training only (NT-Xent on two augmented views per flow), shared by the finetune runs."
    section = "simclr"
    axes = (SPLIT_INDEX, CL_SEED, FLOWPIC_DIM, WITH_DROPOUT, PROJECTION_LAYER_DIM)
    settings = _PRETRAIN_SETTINGS
    uses_gpu = True
    commands = ("contralearn-pretrain",)
    tracked = False
    results_kind = "pretrain"
    step_only = True

    def flowpic_cache(self, params: Mapping[str, Any]) -> tuple[int, float] | None:
        """The flowpic cache, unless every view is rebuilt from the packets."""
        from tcbench.augment.views import needs_series

        return None if needs_series(params["augmentations"]) else super().flowpic_cache(params)

    def resources(self, params: Mapping[str, Any]) -> JobResources:
        return flowpic_resources(params)

    def cost_features(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Dim, training set, and the views: augmentations that rebuild a view from the packets (changertt,
        timeshift, packetloss) cost more per epoch than those that transform the flowpic."""
        from tcbench.augment.views import needs_series

        return {**super().cost_features(params), "views": "series" if needs_series(params["augmentations"]) else "image"}

    def check_params(self, params: Mapping[str, Any], dataset: DatasetDef) -> None:
        _needs_finetune_partitions(dataset)

    def execute(self, run: RunContext) -> dict[str, Any]:
        from tcbench.data.splits import TrainSplits, ucdavis_run_split

        p = run.params
        labels = run.read_labels()
        splits = p["splits"]
        train_splits = TrainSplits.read(run.data.train_splits(splits["n_splits"], splits["samples_per_class"]))
        split = ucdavis_run_split(labels, train_splits, p["split_index"], p["contrastive_learning_seed"],
                                  p["train_val_split_ratio"], with_leftover=False)
        pending = run.side_pool().submit(_view_sources, p, run, split)
        import torch

        from tcbench.models.simclr import build_contrastive_net
        from tcbench.training.contrastive import train_contrastive
        from tcbench.training.determinism import collect_nondeterminism, seed_everything
        from tcbench.training.metrics import check_finite

        determinism = seed_everything(p["contrastive_learning_seed"], run.threads, run.device)
        net = build_contrastive_net(p["flowpic_dim"], p["with_dropout"], p["projection_layer_dim"])
        train_views, val_views = pending.result()
        log.info("pretrain %s: split %d seed %d dim %d views %s: train %d flows, val %d", run.key, p["split_index"],
                 p["contrastive_learning_seed"], p["flowpic_dim"], "+".join(p["augmentations"]), len(split.train),
                 len(split.val))

        def on_epoch(rec: Any) -> None:
            log.info("epoch %3d  train loss %.4f top1 %6.2f top5 %6.2f  val loss %.4f top1 %6.2f top5 %6.2f%s (%.2f s)",
                     rec.epoch, rec.train_loss, rec.train_acc_top_1, rec.train_acc_top_5, rec.val_loss, rec.val_acc_top_1,
                     rec.val_acc_top_5, "  *" if rec.improved else "", rec.seconds)

        run.lap("setup")
        with collect_nondeterminism(determinism):
            result = train_contrastive(
                net, train_views.draw, val_views.draw, p["flowpic_dim"], epochs=p["cl_epochs"],
                batch_size=p["cl_batch_size"], learning_rate=p["cl_learning_rate"], temperature=p["temperature"],
                patience_steps=p["cl_patience_steps"], seed=p["contrastive_learning_seed"], device=run.device,
                on_epoch=on_epoch,
            )
        run.lap("train")
        if not result.history:
            raise RuntimeError("pre-training ran no epoch")
        history = [asdict(e) for e in result.history]
        check_finite({"contrastivelearning": {k: v for k, v in history[-1].items() if isinstance(v, float)}})
        weights = run.artifacts / f"best_model_weights_pretrain_split_{p['split_index']}.pt"
        torch.save(result.best_state, weights)
        from tcbench.models.sparse_full import full_net_record

        return {"kind": PRETRAIN_MARKER_KIND, "weights": weights.name, "history": history,
                "best_epoch": result.best_epoch, "best_acc_top_5": result.best_acc_top_5, "epochs_run": len(history),
                "stopped_early": result.stopped_early, "determinism": determinism,
                **full_net_record(p["flowpic_dim"], run.device)}

    def done_line(self, marker: Mapping[str, Any]) -> str:
        return (f"pre-training {marker['pretrain_key']} done in {marker['durations']['total']:.1f} s: "
                f"{marker['epochs_run']} epochs, best val acc_top_5 {marker['best_acc_top_5']:.2f} at epoch {marker['best_epoch']}")


def _view_sources(p: Mapping[str, Any], run: RunContext, split: Any) -> tuple[Any, Any]:
    """Train and validation view sources, each with its own ``default_rng(seed)`` as the original's datasets.
    Needs no torch: runs on a side thread while the process imports it."""
    from tcbench.augment.views import ViewSource, needs_series, view_input_cutoff
    from tcbench.features.flowpic_store import read_flow_series
    augs, dim, block = tuple(p["augmentations"]), p["flowpic_dim"], p["flowpic_block_duration"]
    seed = p["contrastive_learning_seed"]
    if not needs_series(augs):
        store = run.flowpics()
        return tuple(ViewSource(augs, dim, block, np.random.default_rng(seed), flowpics=store.rows_for(rows))  # type: ignore[return-value]
                     for rows in (split.train, split.val))
    series, last = read_flow_series(run.data.parquet, np.concatenate([split.train, split.val]), view_input_cutoff(augs, block))
    n = len(split.train)
    parts = (np.arange(n), np.arange(n, n + len(split.val)))
    return tuple(ViewSource(augs, dim, block, np.random.default_rng(seed), series=series.take(i), last_time=last[i])  # type: ignore[return-value]
                 for i in parts)


@register
class SimCLR(Method):
    name = "simclr"
    summary = ("SimCLR: contrastive pre-training (shared by the finetune seeds), then a linear head finetuned on a few "
               "flows per class of the human and of the script partition.")
    section = "simclr"
    axes = (SPLIT_INDEX, CL_SEED, FT_SEED, FLOWPIC_DIM, WITH_DROPOUT, PROJECTION_LAYER_DIM)
    optional_axes = frozenset({"with_dropout"})
    settings = (*_PRETRAIN_SETTINGS, FT_LEARNING_RATE, FT_EPOCHS, FT_PATIENCE_STEPS, FT_PATIENCE_MIN_DELTA, FT_TRAIN_SAMPLES,
                FT_BATCH_SIZE)
    uses_gpu = True
    experiment = "contrastive-learning-and-finetune"
    commands = ("contralearn-and-finetune",)
    pre_step = SimclrPretrain
    hparam_order = ("flowpic_dim", "split_index", "dataset", "dataset_minpkts", "contrastive_learning_seed",
                    "finetune_seed", "ft_train_samples", "with_dropout", "projection_layer_dim", "augmentations",
                    "train_val_split_ratio", "flowpic_block_duration", "temperature", "cl_learning_rate", "cl_epochs",
                    "cl_patience_steps", "cl_batch_size", "ft_learning_rate", "ft_epochs", "ft_patience_steps",
                    "ft_patience_min_delta", "ft_batch_size")

    def test_contexts(self, dataset: DatasetDef, settings: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(ucdavis.TEST_CONTEXT_BY_PARTITION[p] for _, p in FINETUNE_PARTITIONS)

    def describe(self, config: Mapping[str, Any]) -> str:
        return f" (views: {'+'.join(config[self.section]['augmentations'])})"

    def campaign_defaults(self, settings: Mapping[str, Any]) -> dict[str, list[Any]]:
        return {"split_index": [0, 1, 2, 3, 4], "contrastive_learning_seed": [12345, 1, 2, 3, 4], "finetune_seed": [12345, 1, 2, 3, 4],
                "flowpic_dim": [32], "with_dropout": [False], "projection_layer_dim": [30]}

    def check_config(self, config: Mapping[str, Any], dataset: DatasetDef) -> None:
        _needs_finetune_partitions(dataset)
        train_samples = config[self.section]["ft_train_samples"]
        smallest = min(min(ucdavis.CLASS_COUNTS[p].values()) for _, p in FINETUNE_PARTITIONS)
        if train_samples >= smallest:
            raise ValueError(f"simclr.ft_train_samples: {train_samples} training flows per class leave no test flow in "
                             f"the smallest finetune class ({smallest} flows); valid values: 1..{smallest - 1}")

    def resources(self, params: Mapping[str, Any]) -> JobResources:
        return flowpic_resources(params)

    def check_params(self, params: Mapping[str, Any], dataset: DatasetDef) -> None:
        _needs_finetune_partitions(dataset)

    def hparams(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The original's SimCLR keys in its order (with its constant ``finetune_augmentation: none`` and
        ``dataset_minpkts: -1``), then the settings it left out."""
        out = super().hparams(params)
        items = list(out.items())
        items.insert(list(out).index("projection_layer_dim") + 1, ("finetune_augmentation", "none"))
        return dict(items)

    def execute(self, run: RunContext) -> dict[str, Any]:
        from tcbench.data.splits import finetune_partition
        p = run.params
        assert run.pre_step_dir is not None and run.pre_step_key is not None
        pretraining = read_pretraining(run.pre_step_dir, run.pre_step_key)
        labels = run.read_labels()
        codes = labels.app.astype(np.int64)
        parts = {name: finetune_partition(labels, labels.rows_in(partition), p["finetune_seed"], p["ft_train_samples"])
                 for name, partition in FINETUNE_PARTITIONS}
        store = run.flowpics()

        import time

        import torch

        from tcbench.models.simclr import build_contrastive_net, build_finetune_net
        from tcbench.models.sparse_full import full_net_record
        from tcbench.training.batches import FlowpicBatches
        from tcbench.training.contrastive import train_linear_probe
        from tcbench.training.determinism import collect_nondeterminism, seed_everything
        from tcbench.training.loop import evaluate

        determinism = seed_everything(p["finetune_seed"], run.threads, run.device)
        pretrained = build_contrastive_net(p["flowpic_dim"], p["with_dropout"], p["projection_layer_dim"])
        weights = Path(run.pre_step_dir) / "artifacts" / pretraining["weights"]
        pretrained.load_state_dict(torch.load(weights, weights_only=True))
        _link_or_copy(weights, run.artifacts / weights.name)

        _replay_pretraining(run, pretraining)
        run.start_tracking("pandas")
        run.lap("setup")
        for name, (train_rows, test_rows) in parts.items():
            context = f"finetune_{name}_train"

            def on_epoch(rec: Any, context: str = context) -> None:
                run.track(rec.loss, "loss", context, rec.epoch)
                run.track(rec.acc, "acc", context, rec.epoch)
                if rec.improved:
                    run.track(rec.loss, "best_loss", context)
                    run.track(rec.epoch, "best_epoch", context)

            t0 = time.time()
            net = build_finetune_net(pretrained, len(ucdavis.CLASSES))
            with collect_nondeterminism(determinism):
                result = train_linear_probe(
                    net, FlowpicBatches(store.rows_for(train_rows), codes[train_rows], p["flowpic_dim"]),
                    epochs=p["ft_epochs"], batch_size=p["ft_batch_size"], learning_rate=p["ft_learning_rate"],
                    patience_steps=p["ft_patience_steps"], patience_min_delta=p["ft_patience_min_delta"],
                    seed=p["finetune_seed"], device=run.device, on_epoch=on_epoch,
                )
            torch.save(result.best_state, run.artifacts / f"best_model_weights_finetune_{name}_from_split_{p['split_index']}.pt")
            t1 = time.time()
            run.track(t1 - t0, "duration", "finetune-train")
            last = result.history[-1]
            run.metrics[context] = {"loss": last.loss, "acc": last.acc, "best_loss": result.best_loss,
                                    "best_epoch": float(result.best_epoch)}
            run.metrics["finetune-train"] = {"duration": t1 - t0}

            test_context = ucdavis.TEST_CONTEXT_BY_PARTITION[dict(FINETUNE_PARTITIONS)[name]]
            evaluation = evaluate(net, FlowpicBatches(store.rows_for(test_rows), codes[test_rows], p["flowpic_dim"],
                                                      cache_layouts=False),
                                  device=run.device)
            scores = run.record(test_context, {"loss": evaluation.loss, **run.report(
                test_context, evaluation.y_true, evaluation.y_pred, ucdavis.CLASSES)})
            test_seconds = time.time() - t1
            run.track(test_seconds, "duration", "finetune-test")
            run.metrics["finetune-test"] = {"duration": test_seconds}
            log.info("finetune %s: %d epochs (best %d, train loss %.4f); %s acc %.2f f1 %.4f (%d flows)", name,
                     len(result.history), result.best_epoch, result.best_loss, test_context, scores["acc"], scores["f1"],
                     len(test_rows))
        run.lap("finetune_and_test")
        run.durations["pretraining"] = pretraining["durations"]["total"]
        run.params_extra["pretrain_key"] = pretraining["pretrain_key"]
        return {"pretraining": {k: pretraining[k] for k in ("pretrain_key", "epochs_run", "best_epoch", "best_acc_top_5",
                                                            "stopped_early")},
                "determinism": determinism, **full_net_record(p["flowpic_dim"], run.device)}


def read_pretraining(pretrain_dir: Path, expected_key: str) -> dict[str, Any]:
    """The pre-training marker of ``pretrain_dir``, checked to be the pre-training this run asks for."""
    path = Path(pretrain_dir) / "marker.json"
    try:
        marker = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no finished pre-training there (run `tcbench run contralearn-pretrain`)") from None
    if marker.get("kind") != PRETRAIN_MARKER_KIND or marker.get("pretrain_key") != expected_key:
        raise ValueError(f"{path} holds pre-training {marker.get('pretrain_key')!r}, but this run's settings need "
                         f"{expected_key!r}: point --pretrain-dir at results/pretrain/{expected_key} or omit it")
    return marker


def _replay_pretraining(run: RunContext, marker: Mapping[str, Any]) -> None:
    """Track the pre-training's metrics in the finetune run, under the original's contexts; keep their last values."""
    metrics: dict[str, dict[str, float]] = {"contrastivelearning_train": {}, "contrastivelearning_val": {}}
    for rec in marker["history"]:
        for subset, prefix in (("contrastivelearning_train", "train_"), ("contrastivelearning_val", "val_")):
            for name in ("loss", "acc_top_1", "acc_top_5"):
                run.track(rec[prefix + name], name, subset, rec["epoch"])
                metrics[subset][name] = rec[prefix + name]
        if rec["improved"]:
            run.track(rec["val_acc_top_5"], "best_acc_top_5", "contrastivelearning_val")
            run.track(rec["epoch"], "best_epoch", "contrastivelearning_val")
    metrics["contrastivelearning_val"].update(best_acc_top_5=marker["best_acc_top_5"], best_epoch=float(marker["best_epoch"]))
    duration = marker["durations"]["train"]
    run.track(duration, "duration", "pretrain-train")
    metrics["pretrain-train"] = {"duration": duration}
    run.metrics.update(metrics)


def _link_or_copy(src: Path, dst: Path) -> None:
    # The finetune run's artifacts hold the pre-trained weights as the original's did; a hard link costs no space.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
