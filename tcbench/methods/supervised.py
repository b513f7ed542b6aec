"""The supervised flowpic CNN trained with augmentation at loading (the original's ``monolithic`` method).

A run: data -> flowpics (+ augmented copies of the training and validation flows) -> CNN training with early
stopping on the validation loss -> tests -> AIM run, report files, marker. The original's behaviour:
docs/original-behaviour.md, Augment at loading and Training and early stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from tcbench.contract import JobResources, Method, RunContext
from tcbench.methods.params import (
    AUG_NAME,
    FLOWPIC_BLOCK_DURATION,
    FLOWPIC_DIM,
    MAX_SAMPLES_PER_CLASS,
    SEED,
    SPLIT_INDEX,
    TEST_LEFTOVER,
    TRAIN_VAL_SPLIT_RATIO,
    WITH_DROPOUT,
    Param,
    flowpic_resources,
)
from tcbench.methods.registry import register

log = logging.getLogger("tcbench.run")

EPOCHS = Param("epochs", int, 50, "Maximum training epochs.", minimum=1)
BATCH_SIZE = Param("batch_size", int, 32, "Mini-batch size.", minimum=1)
LEARNING_RATE = Param("learning_rate", float, 0.001, "Adam learning rate.", exclusive_minimum=0)
PATIENCE_STEPS = Param("patience_steps", int, 5, "Early stopping: epochs without a validation-loss improvement.",
                       minimum=1)
PATIENCE_MIN_DELTA = Param("patience_min_delta", float, 0.001,
                           "Early stopping: minimum validation-loss decrease that counts as an improvement.", minimum=0)
SUPPRESS_VAL_AUGMENTATION = Param("suppress_val_augmentation", bool, False,
                                  "Validate on the original flows only (the original augments validation like training).")
AUG_SAMPLES = Param("aug_samples", int, 10,
                    "Augment at loading: each training flow plus aug_samples - 1 augmented copies (horizontalflip: 1 copy).",
                    minimum=2)


@register
class SupervisedCNN(Method):
    name = "monolithic"
    summary = "Supervised flowpic CNN (LeNet-like at dims 32/64, the Full net at 1500) trained with augmentation at loading."
    section = "training"
    axes = (WITH_DROPOUT, SPLIT_INDEX, AUG_NAME, FLOWPIC_DIM, SEED)
    optional_axes = frozenset({"with_dropout"})
    settings = (EPOCHS, BATCH_SIZE, LEARNING_RATE, PATIENCE_STEPS, PATIENCE_MIN_DELTA, WITH_DROPOUT, FLOWPIC_BLOCK_DURATION,
                SUPPRESS_VAL_AUGMENTATION, AUG_SAMPLES, TRAIN_VAL_SPLIT_RATIO, MAX_SAMPLES_PER_CLASS, TEST_LEFTOVER)
    uses_gpu = True
    experiment = "augmentation-at-loading"
    commands = ("augment-at-loading",)
    hparam_order = ("flowpic_dim", "flowpic_block_duration", "split_index", "max_samples_per_class", "aug_name",
                    "patience_steps", "suppress_val_augmentation", "dataset", "dataset_minpkts", "seed", "with_dropout",
                    "epochs", "batch_size", "learning_rate", "patience_min_delta", "train_val_split_ratio", "aug_samples")

    def resources(self, params: Mapping[str, Any]) -> JobResources:
        return flowpic_resources(params)

    def cost_features(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Dim and augmentation (applied at loading: it multiplies the training set by aug_samples), the training
        set (a split or the whole pretraining partition) and the 6 172-flow leftover test."""
        return {**super().cost_features(params), "aug": str(params["aug_name"]),
                "leftover": str(bool(params["test_leftover"])).lower()}

    def campaign_defaults(self, settings: Mapping[str, Any]) -> dict[str, list[Any]]:
        from tcbench.augment import AUGMENTATIONS
        from tcbench.features.flowpic import VALID_DIMS

        return {"split_index": [0, 1, 2, 3, 4], "seed": [12345, 42, 666], "aug_name": list(AUGMENTATIONS),
                "flowpic_dim": list(VALID_DIMS)}

    def execute(self, run: RunContext) -> dict[str, Any]:
        p = run.params
        labels = run.read_labels()
        split = run.split(labels)
        store = run.flowpics()
        codes = labels.app.astype(np.int64)  # indexed by row_id
        # Reading packet series and building the augmented copies (numpy, pyarrow: GIL released) overlap with
        # `import torch` (~2 s) on a side thread.
        augmented_sets = [split.train] if p["suppress_val_augmentation"] else [split.train, split.val]
        pending_sets = run.side_pool().submit(augment_sets, p, run.data, store, codes, augmented_sets)

        import torch

        from tcbench.models.cnn import build_flowpic_cnn
        from tcbench.training.batches import FlowpicBatches
        from tcbench.training.determinism import collect_nondeterminism, seed_everything
        from tcbench.training.loop import evaluate, train_supervised

        determinism = seed_everything(p["seed"], run.threads, run.device)

        def batches(row_ids: np.ndarray, reused: bool = False) -> FlowpicBatches:
            # A set read every epoch keeps its per-flow sparse layouts (dim 1500); a test set is read once.
            return FlowpicBatches(store.rows_for(row_ids), codes[row_ids], p["flowpic_dim"], cache_layouts=reused)

        train_data, *augmented_val = [FlowpicBatches(m, y, p["flowpic_dim"]) for m, y in pending_sets.result()]
        val_data = augmented_val[0] if augmented_val else batches(split.val, reused=True)
        log.info("run %s: split %d seed %d dim %d aug %s: train %d (%d with copies), val %d (%d), tests %s", run.key,
                 p["split_index"], p["seed"], p["flowpic_dim"], p["aug_name"], len(split.train), len(train_data),
                 len(split.val), len(val_data), {k: len(v) for k, v in split.tests.items()})

        model = build_flowpic_cnn(len(labels.classes), p["flowpic_dim"], p["with_dropout"])

        def on_epoch(rec: Any) -> None:
            for subset, loss, acc in (("train", rec.train_loss, rec.train_acc), ("val", rec.val_loss, rec.val_acc)):
                run.track(loss, "loss", subset, rec.epoch)
                run.track(acc, "acc", subset, rec.epoch)
            if rec.improved:
                run.track(rec.val_loss, "best_loss", "val")
                run.track(rec.epoch, "best_epoch", "val")
            log.info("epoch %3d  train loss %.4f acc %6.2f  val loss %.4f acc %6.2f%s (%.2f s)", rec.epoch,
                     rec.train_loss, rec.train_acc, rec.val_loss, rec.val_acc, "  *" if rec.improved else "", rec.seconds)

        run.start_tracking("pandas")  # pandas (~0.4 s) is needed for the report CSVs after training
        run.lap("setup")
        with collect_nondeterminism(determinism):
            result = train_supervised(
                model, train_data, val_data, epochs=p["epochs"], batch_size=p["batch_size"],
                learning_rate=p["learning_rate"], patience_steps=p["patience_steps"],
                patience_min_delta=p["patience_min_delta"], seed=p["seed"], device=run.device, on_epoch=on_epoch,
            )
        run.lap("train")
        if not result.history:
            raise RuntimeError("training ran no epoch")
        last = result.history[-1]
        torch.save(result.best_state, run.artifacts / f"best_model_weights_split_{p['split_index']}.pt")
        run.metrics["train"] = {"loss": last.train_loss, "acc": last.train_acc}
        run.metrics["val"] = {"loss": last.val_loss, "acc": last.val_acc,
                              "best_loss": result.best_loss, "best_epoch": float(result.best_epoch)}
        for context, data in (("train", train_data), ("val", val_data)):
            evaluation = evaluate(model, data, device=run.device)
            run.report(context, evaluation.y_true, evaluation.y_pred, labels.classes)
        for context, row_ids in split.tests.items():
            evaluation = evaluate(model, batches(row_ids), device=run.device)
            scores = run.record(context, {"loss": evaluation.loss,
                                          **run.report(context, evaluation.y_true, evaluation.y_pred, labels.classes)})
            log.info("%s: acc %.2f  f1 %.4f  (%d flows)", context, scores["acc"], scores["f1"], len(row_ids))
        run.lap("test")
        from tcbench.models.sparse_full import full_net_record

        return {"epochs_run": len(result.history), "stopped_early": result.stopped_early, "determinism": determinism,
                **full_net_record(p["flowpic_dim"], run.device)}


def augment_sets(p: Mapping[str, Any], paths: Any, store: Any, codes: np.ndarray,
                 row_sets: list[np.ndarray]) -> list[tuple[Any, np.ndarray]]:
    """(flowpics, labels) of each set: its flows followed by their augmented copies (docs/original-behaviour.md,
    Augment at loading).

    Series augmentations read the packets of all the sets' flows in one pass over the parquet, keeping only
    those that can reach the flowpic window after the transform (the augmentation's input cutoff) and each
    flow's last time.
    Every set uses the run seed, as the original augments validation with the training seed. Needs no torch for
    series augmentations, so it runs on a side thread while the run imports torch.
    """
    import scipy.sparse as sp

    from tcbench.augment import augment_at_loading, copies_per_sample, get_augmentation
    from tcbench.augment.series import input_cutoff
    from tcbench.features.flowpic_store import read_flow_series

    aug_name, dim, block = p["aug_name"], p["flowpic_dim"], p["flowpic_block_duration"]
    copies = copies_per_sample(aug_name, p["aug_samples"])
    series = last = None
    if get_augmentation(aug_name).operates_on == "packets":
        series, last = read_flow_series(paths.parquet, np.concatenate(row_sets), input_cutoff(aug_name, block))
    out, first = [], 0
    for rows in row_sets:
        flowpics = store.rows_for(rows)
        if copies:
            part = np.arange(first, first + len(rows))
            extra = augment_at_loading(
                aug_name, flowpics, series.take(part) if series is not None else None, dim, block, p["seed"],
                p["aug_samples"], last_time=last[part] if last is not None else None,
            )
            flowpics = sp.vstack([flowpics, extra], format="csr", dtype=np.uint8)
        first += len(rows)
        out.append((flowpics, np.tile(codes[rows], copies + 1)))
    return out
