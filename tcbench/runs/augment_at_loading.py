"""One supervised augment-at-loading run: data -> flowpics -> CNN training -> tests -> AIM run, artifacts, marker.

A run is one process so a scheduler can place it anywhere; everything it needs is the curated dataset folder
(labels, train splits, flowpic cache) and its parameters.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tcbench.campaign.grid import RESULT_SETTING_TYPES, DatasetPaths, build_run_params
from tcbench.data.curated import read_labels
from tcbench.data.splits import RunSplit
from tcbench.features.flowpic import check_dim
from tcbench.runs.common import (
    RunOptions,
    SideTracker,
    check_finite,
    execute_run,
    load_flowpics,
    load_run_split,
    marker_base,
    write_params,
    write_reports,
)

log = logging.getLogger("tcbench.run")

EXPERIMENT = "augmentation-at-loading"


@dataclass(frozen=True)
class SupervisedRunOptions(RunOptions):
    """Everything one run needs; the result-relevant part forms the run_key (see ``params``)."""

    aug_name: str = "noaug"
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 0.001
    patience_steps: int = 5
    patience_min_delta: float = 0.001
    with_dropout: bool = True
    suppress_val_augmentation: bool = False
    aug_samples: int = 10
    device: str = "cpu"
    experiment: str = EXPERIMENT

    def params(self, dataset_spec: dict[str, Any]) -> dict[str, Any]:
        """Same dict as ``tcbench.campaign.grid.campaign_runs`` builds from a config, hence the same run_key."""
        point = {"split_index": self.split_index, "aug_name": self.aug_name, "flowpic_dim": self.flowpic_dim,
                 "seed": self.seed}
        settings = {key: getattr(self, key) for key in RESULT_SETTING_TYPES["monolithic"]}
        splits = {"n_splits": self.n_splits, "samples_per_class": self.samples_per_class}
        return build_run_params("monolithic", dataset_spec, splits, point, settings)

    def hparams(self) -> dict[str, Any]:
        """AIM ``run["hparams"]``: the original's keys in its order, plus the options it left out."""
        return {
            "flowpic_dim": self.flowpic_dim,
            "flowpic_block_duration": self.flowpic_block_duration,
            "split_index": self.split_index,
            "max_samples_per_class": self.max_samples_per_class,
            "aug_name": self.aug_name,
            "patience_steps": self.patience_steps,
            "suppress_val_augmentation": self.suppress_val_augmentation,
            "dataset": self.dataset_name,
            "dataset_minpkts": self.dataset_minpkts,
            "seed": self.seed,
            "with_dropout": self.with_dropout,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "patience_min_delta": self.patience_min_delta,
            "train_val_split_ratio": self.train_val_split_ratio,
            "aug_samples": self.aug_samples,
        }

    def validate(self) -> None:
        check_dim(self.flowpic_dim)
        from tcbench.augment import AUGMENTATIONS

        if self.aug_name not in AUGMENTATIONS:
            raise ValueError(f"aug_name {self.aug_name!r} is not valid; valid values: {list(AUGMENTATIONS)}")
        if self.aug_samples < 2:
            raise ValueError(f"aug_samples must be >= 2, got {self.aug_samples}")
        for name in ("epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patience_steps < 1:
            raise ValueError(f"patience_steps must be >= 1, got {self.patience_steps}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def augment_sets(options: SupervisedRunOptions, paths: DatasetPaths, store: Any, codes: np.ndarray,
                 row_sets: list[np.ndarray]) -> list[tuple[Any, np.ndarray]]:
    """(flowpics, labels) of each set: its flows followed by their augmented copies (reference 2.3).

    Series augmentations read the packets of all the sets' flows in one pass over the parquet, keeping only
    those that can reach the flowpic window after the transform (t < 2 T + 1 s) and each flow's last time.
    Every set uses the run seed, as the original augments validation with the training seed. Needs no torch for
    series augmentations, so it runs on a side thread while the run imports torch.
    """
    import scipy.sparse as sp

    from tcbench.augment import SERIES_AUGMENTATIONS, augment_at_loading, copies_per_sample
    from tcbench.features.flowpic_store import read_flow_series

    copies = copies_per_sample(options.aug_name, options.aug_samples)
    series = last = None
    if options.aug_name in SERIES_AUGMENTATIONS:
        series, last = read_flow_series(paths.parquet, np.concatenate(row_sets), 2 * options.flowpic_block_duration + 1)
    out, first = [], 0
    for rows in row_sets:
        flowpics = store.rows_for(rows)
        if copies:
            part = np.arange(first, first + len(rows))
            extra = augment_at_loading(
                options.aug_name, flowpics, series.take(part) if series is not None else None, options.flowpic_dim,
                options.flowpic_block_duration, options.seed, options.aug_samples,
                last_time=last[part] if last is not None else None,
            )
            flowpics = sp.vstack([flowpics, extra], format="csr", dtype=np.uint8)
        first += len(rows)
        out.append((flowpics, np.tile(codes[rows], copies + 1)))
    return out


def execute(options: SupervisedRunOptions, run_dir: Path | None = None, results_dir: Path = Path("results"),
            aim_template: Path | None = None) -> dict[str, Any]:
    """Run training and tests, write the per-run AIM repo, artifacts and marker; return the marker."""
    return execute_run(options, run_dir, results_dir, aim_template, _execute)


def _execute(options: SupervisedRunOptions, params: dict[str, Any], key: str, paths: DatasetPaths, run_dir: Path,
             artifacts: Path, aim_template: Path | None, t_start: float) -> dict[str, Any]:
    with ExitStack() as stack:
        labels = read_labels(paths.parquet)
        split: RunSplit = load_run_split(options, paths, labels, options.seed)
        store = load_flowpics(paths, options.flowpic_dim, options.flowpic_block_duration)
        codes = labels.app.astype(np.int64)  # indexed by row_id
        # Reading packet series and building the augmented copies (numpy, pyarrow: GIL released) overlap with
        # `import torch` (~2 s) on a side thread.
        data_pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="data"))
        augmented_sets = [split.train] if options.suppress_val_augmentation else [split.train, split.val]
        pending_sets = data_pool.submit(augment_sets, options, paths, store, codes, augmented_sets)

        import torch

        from tcbench.models.cnn import build_flowpic_cnn
        from tcbench.training.determinism import collect_nondeterminism, seed_everything
        from tcbench.training.batches import FlowpicBatches
        from tcbench.training.loop import evaluate, train_supervised

        determinism = seed_everything(options.seed, options.threads, options.device)

        def batches(row_ids: np.ndarray) -> FlowpicBatches:
            return FlowpicBatches(store.rows_for(row_ids), codes[row_ids], options.flowpic_dim)

        train_data, *augmented_val = [FlowpicBatches(m, y, options.flowpic_dim) for m, y in pending_sets.result()]
        val_data = augmented_val[0] if augmented_val else batches(split.val)
        log.info("run %s: split %d seed %d dim %d aug %s: train %d (%d with copies), val %d (%d), tests %s", key,
                 options.split_index, options.seed, options.flowpic_dim, options.aug_name, len(split.train),
                 len(train_data), len(split.val), len(val_data), {k: len(v) for k, v in split.tests.items()})

        model = build_flowpic_cnn(len(labels.classes), options.flowpic_dim, options.with_dropout)
        metrics: dict[str, dict[str, float]] = {}
        tracker = SideTracker(stack, run_dir / "aim", aim_template, options.experiment, options.hparams(), key, t_start)

        def on_epoch(rec: Any) -> None:
            for subset, loss, acc in (("train", rec.train_loss, rec.train_acc), ("val", rec.val_loss, rec.val_acc)):
                tracker.track(loss, "loss", subset, rec.epoch)
                tracker.track(acc, "acc", subset, rec.epoch)
            if rec.improved:
                tracker.track(rec.val_loss, "best_loss", "val")
                tracker.track(rec.epoch, "best_epoch", "val")
            log.info("epoch %3d  train loss %.4f acc %6.2f  val loss %.4f acc %6.2f%s (%.2f s)", rec.epoch,
                     rec.train_loss, rec.train_acc, rec.val_loss, rec.val_acc, "  *" if rec.improved else "", rec.seconds)

        tracker.start("pandas")  # pandas (~0.4 s) is needed for the report CSVs after training
        t_setup = time.time()
        with collect_nondeterminism(determinism):
            result = train_supervised(
                model, train_data, val_data, epochs=options.epochs, batch_size=options.batch_size,
                learning_rate=options.learning_rate, patience_steps=options.patience_steps,
                patience_min_delta=options.patience_min_delta, seed=options.seed, device=options.device,
                on_epoch=on_epoch,
            )
        t_trained = time.time()
        if not result.history:
            raise RuntimeError("training ran no epoch")
        last = result.history[-1]
        torch.save(result.best_state, artifacts / f"best_model_weights_split_{options.split_index}.pt")
        metrics["train"] = {"loss": last.train_loss, "acc": last.train_acc}
        metrics["val"] = {"loss": last.val_loss, "acc": last.val_acc,
                          "best_loss": result.best_loss, "best_epoch": float(result.best_epoch)}
        for context, data in (("train", train_data), ("val", val_data)):
            evaluation = evaluate(model, data, device=options.device)
            write_reports(artifacts, context, evaluation.y_true, evaluation.y_pred, labels.classes)
        for context, row_ids in split.tests.items():
            evaluation = evaluate(model, batches(row_ids), device=options.device)
            scores = {"loss": evaluation.loss,
                      **write_reports(artifacts, context, evaluation.y_true, evaluation.y_pred, labels.classes)}
            for name, value in scores.items():
                tracker.track(value, name, context)
            metrics[context] = scores
            log.info("%s: acc %.2f  f1 %.4f  (%d flows)", context, scores["acc"], scores["f1"], len(row_ids))
        t_tested = time.time()
        check_finite(metrics)
        tracker.flush()
    # Leaving the block closed the AIM run (also on errors), which sets its end_time.

    write_params(artifacts, params, run_key=key, device=options.device, threads=options.threads,
                 experiment=options.experiment, dataset_dir=str(options.dataset_dir))
    t_end = time.time()
    durations = {"setup": t_setup - t_start, "train": t_trained - t_setup, "test": t_tested - t_trained,
                 "tracking_close": t_end - t_tested, "total": t_end - t_start}
    marker = marker_base(key, "monolithic", options.experiment, options.hparams(), params, tracker, metrics, durations)
    return {**marker, "epochs_run": len(result.history), "stopped_early": result.stopped_early,
            "determinism": determinism}
