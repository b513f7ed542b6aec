"""One supervised augment-at-loading run: data -> flowpics -> CNN training -> tests -> AIM run, artifacts, marker.

A run is one process so a scheduler can place it anywhere; everything it needs is the curated dataset folder
(labels, train splits, flowpic cache) and its parameters. Its result is complete only once ``marker.json``
exists: the marker is written last and atomically, so an interrupted run leaves no marker and is re-run.
"""

from __future__ import annotations

import logging
import platform
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tcbench import RESULTS_VERSION, __version__
from tcbench.campaign.grid import RESULT_TRAINING_TYPES, DatasetPaths, build_run_params, run_key
from tcbench.data import ucdavis
from tcbench.data.curated import read_labels
from tcbench.data.dataset_info import read_dataset_spec
from tcbench.data.splits import RunSplit, TrainSplits, ucdavis_run_split
from tcbench.features.flowpic import check_dim
from tcbench.features.flowpic_store import FlowpicStore, build_flowpic_store, load_flowpic_store

log = logging.getLogger("tcbench.run")

EXPERIMENT = "augmentation-at-loading"
SUPPORTED_AUGMENTATIONS = ("noaug",)


@dataclass(frozen=True)
class SupervisedRunOptions:
    """Everything one run needs; the result-relevant part forms the run_key (see ``params``)."""

    dataset_dir: Path
    dataset_name: str = ucdavis.DATASET_NAME
    n_splits: int = 5
    samples_per_class: int = 100
    split_index: int = 0
    aug_name: str = "noaug"
    flowpic_dim: int = 32
    seed: int = 12345
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 0.001
    patience_steps: int = 5
    patience_min_delta: float = 0.001
    with_dropout: bool = True
    train_val_split_ratio: float = 0.8
    flowpic_block_duration: float = 15.0
    max_samples_per_class: int = -1
    test_leftover: bool = True
    device: str = "cpu"
    threads: int = 1
    experiment: str = EXPERIMENT

    def params(self, dataset_spec: dict[str, Any]) -> dict[str, Any]:
        """Same dict as ``tcbench.campaign.grid.run_params`` builds from a config, hence the same run_key."""
        training = {key: getattr(self, key) for key in RESULT_TRAINING_TYPES}
        splits = {"n_splits": self.n_splits, "samples_per_class": self.samples_per_class}
        return build_run_params("monolithic", dataset_spec, splits, self.split_index, self.aug_name,
                                self.flowpic_dim, self.seed, training)

    def hparams(self) -> dict[str, Any]:
        """AIM ``run["hparams"]``: the original's keys in its order, plus the options it left out."""
        return {
            "flowpic_dim": self.flowpic_dim,
            "flowpic_block_duration": self.flowpic_block_duration,
            "split_index": self.split_index,
            "max_samples_per_class": self.max_samples_per_class,
            "aug_name": self.aug_name,
            "patience_steps": self.patience_steps,
            "suppress_val_augmentation": False,
            "dataset": self.dataset_name,
            "dataset_minpkts": -1,
            "seed": self.seed,
            "with_dropout": self.with_dropout,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "patience_min_delta": self.patience_min_delta,
            "train_val_split_ratio": self.train_val_split_ratio,
        }

    def validate(self) -> None:
        check_dim(self.flowpic_dim)
        if self.aug_name not in SUPPORTED_AUGMENTATIONS:
            raise ValueError(f"aug_name {self.aug_name!r} is not available yet; valid values: {list(SUPPORTED_AUGMENTATIONS)}")
        for name in ("epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patience_steps < 1:
            raise ValueError(f"patience_steps must be >= 1, got {self.patience_steps}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def _load_flowpics(paths: DatasetPaths, dim: int, block_duration: float) -> FlowpicStore:
    cache = paths.flowpics(dim, block_duration)
    if cache.exists():
        return load_flowpic_store(cache)
    log.info("flowpic cache %s missing: computing flowpics in memory (a campaign builds it once)", cache)
    return build_flowpic_store(paths.parquet, dim, block_duration)


def _write_reports(artifacts: Path, context: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from tcbench.training.metrics import class_report_frame, classification_metrics, confusion_frame

    names = list(ucdavis.CLASSES)
    class_report_frame(y_true, y_pred, names).to_csv(artifacts / f"{context}_class_rep.csv", index=False)
    confusion_frame(y_true, y_pred, names).to_csv(artifacts / f"{context}_conf_mtx.csv", index=False)
    return classification_metrics(y_true, y_pred, names)


def _configure_logging(artifacts: Path) -> logging.Handler:
    handler = logging.FileHandler(artifacts / "log.txt", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("tcbench")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def execute(options: SupervisedRunOptions, run_dir: Path | None = None, results_dir: Path = Path("results"),
            aim_template: Path | None = None) -> dict[str, Any]:
    """Run training and tests, write the per-run AIM repo, artifacts and marker; return the marker."""
    t_start = time.time()
    options.validate()
    paths = DatasetPaths(Path(options.dataset_dir), options.dataset_name)
    dataset_spec = read_dataset_spec(paths.root)
    params = options.params(dataset_spec)
    key = run_key(params)
    run_dir = Path(run_dir) if run_dir is not None else Path(results_dir) / "runs" / key
    if run_dir.name != key:
        raise ValueError(
            f"the run parameters hash to run_key {key} but the run folder is {run_dir}: the workflow and the code "
            "disagree on the parameters (re-run `snakemake` so it re-plans the campaign)"
        )
    from tcbench.tracking.marker import write_marker

    marker_path = run_dir / "marker.json"
    # A previous interrupted attempt may have left a partial folder: start clean, the marker is absent anyway.
    for stale in ("aim", "artifacts"):
        if (run_dir / stale).exists():
            shutil.rmtree(run_dir / stale)
    artifacts = run_dir / "artifacts"
    artifacts.mkdir(parents=True)
    handler = _configure_logging(artifacts)
    try:
        marker = _execute(options, params, key, paths, run_dir, artifacts, aim_template, t_start)
        write_marker(marker_path, marker)
        log.info("run %s done in %.1f s: marker %s", key, marker["durations"]["total"], marker_path)
        return marker
    finally:
        logging.getLogger("tcbench").removeHandler(handler)
        handler.close()


def _execute(options: SupervisedRunOptions, params: dict[str, Any], key: str, paths: DatasetPaths, run_dir: Path,
             artifacts: Path, aim_template: Path | None, t_start: float) -> dict[str, Any]:
    with ExitStack() as stack:
        import torch

        from tcbench.models.cnn import build_flowpic_cnn
        from tcbench.training.batches import FlowpicBatches
        from tcbench.training.loop import evaluate, train_supervised

        torch.set_num_threads(options.threads)
        torch.manual_seed(options.seed)
        np.random.seed(options.seed % 2**32)

        labels = read_labels(paths.parquet)
        train_splits = TrainSplits.read(paths.train_splits(options.n_splits, options.samples_per_class))
        split: RunSplit = ucdavis_run_split(
            labels, train_splits, options.split_index, options.seed, options.train_val_split_ratio,
            options.max_samples_per_class, options.test_leftover,
        )
        store = _load_flowpics(paths, options.flowpic_dim, options.flowpic_block_duration)
        codes = labels.app.astype(np.int64)  # indexed by row_id

        def batches(row_ids: np.ndarray) -> FlowpicBatches:
            return FlowpicBatches(store.rows_for(row_ids), codes[row_ids], options.flowpic_dim)

        train_data, val_data = batches(split.train), batches(split.val)
        log.info("run %s: split %d seed %d dim %d: train %d, val %d, tests %s", key, options.split_index, options.seed,
                 options.flowpic_dim, len(split.train), len(split.val), {k: len(v) for k, v in split.tests.items()})

        model = build_flowpic_cnn(len(ucdavis.CLASSES), options.flowpic_dim, options.with_dropout)
        metrics: dict[str, dict[str, float]] = {}
        tracked: list[tuple[float, str, str, int | None]] = []  # (value, name, subset, epoch), replayed into AIM

        def on_epoch(rec: Any) -> None:
            for subset, loss, acc in (("train", rec.train_loss, rec.train_acc), ("val", rec.val_loss, rec.val_acc)):
                tracked.extend([(loss, "loss", subset, rec.epoch), (acc, "acc", subset, rec.epoch)])
            if rec.improved:
                tracked.extend([(rec.val_loss, "best_loss", "val", None), (rec.epoch, "best_epoch", "val", None)])
            log.info("epoch %3d  train loss %.4f acc %6.2f  val loss %.4f acc %6.2f%s (%.2f s)", rec.epoch,
                     rec.train_loss, rec.train_acc, rec.val_loss, rec.val_acc, "  *" if rec.improved else "", rec.seconds)

        # Importing aim and opening the run (~1.5 s) happen on a side thread while the model trains: torch
        # releases the GIL in its kernels, whereas started earlier they would compete with the Python-heavy
        # imports and data loading (+0.8 s measured). The run's creation time is set to the start of the run
        # afterwards, so its lifetime (the original's run_duration) still covers loading, training and tests.
        # Epoch metrics are buffered and replayed into AIM on that thread at the end.
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="aim"))
        pending = pool.submit(_open_aim_run, run_dir / "aim", aim_template, options, key)
        # AIM's run lock is thread-local (filelock): it must be released by the thread that took it.
        stack.callback(lambda: pool.submit(_close_aim_run, pending, t_start).result())
        pool.submit(_import_report_modules)
        t_setup = time.time()
        result = train_supervised(
            model, train_data, val_data, epochs=options.epochs, batch_size=options.batch_size,
            learning_rate=options.learning_rate, patience_steps=options.patience_steps,
            patience_min_delta=options.patience_min_delta, seed=options.seed, device=options.device, on_epoch=on_epoch,
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
            _write_reports(artifacts, context, evaluation.y_true, evaluation.y_pred)
        for context, row_ids in split.tests.items():
            evaluation = evaluate(model, batches(row_ids), device=options.device)
            scores = {"loss": evaluation.loss, **_write_reports(artifacts, context, evaluation.y_true, evaluation.y_pred)}
            tracked.extend((value, name, context, None) for name, value in scores.items())
            metrics[context] = scores
            log.info("%s: acc %.2f  f1 %.4f  (%d flows)", context, scores["acc"], scores["f1"], len(row_ids))
        t_tested = time.time()
        _check_finite(metrics)
        aim_run = pending.result()
        pool.submit(_replay, aim_run, tracked).result()
    # Leaving the block closed the AIM run (also on errors), which sets its end_time.

    with open(artifacts / "params.yml", "w") as fh:
        yaml.safe_dump({**params, "run_key": key, "device": options.device, "threads": options.threads,
                        "experiment": options.experiment, "dataset_dir": str(options.dataset_dir)}, fh, sort_keys=False)
    t_end = time.time()
    return {
        "marker_version": 1,
        "run_key": key,
        "method": "monolithic",
        "experiment": options.experiment,
        "hparams": options.hparams(),
        "params": params,
        "aim": {"repo": "aim", "run_hash": aim_run.run_hash},
        "metrics": metrics,
        "creation_time": aim_run.creation_time,
        "end_time": aim_run.end_time,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "durations": {
            "setup": t_setup - t_start,
            "train": t_trained - t_setup,
            "test": t_tested - t_trained,
            "tracking_close": t_end - t_tested,
            "total": t_end - t_start,
        },
        "versions": _versions(),
        "artifacts": sorted(p.name for p in artifacts.iterdir()),
    }


def _import_report_modules() -> None:
    """pandas (~0.4 s to import) is only needed for the report CSVs after training: import it meanwhile."""
    import pandas  # noqa: F401


def _open_aim_run(repo: Path, template: Path | None, options: SupervisedRunOptions, key: str) -> Any:
    from tcbench.tracking.aim_repo import init_run_repo
    from tcbench.tracking.aim_run import AimRunWriter

    init_run_repo(repo, template)
    return AimRunWriter(repo, options.experiment, options.hparams(), run_key=key).open()


def _replay(aim_run: Any, tracked: list[tuple[float, str, str, int | None]]) -> None:
    for value, name, subset, epoch in tracked:
        aim_run.track(value, name, subset, epoch=epoch)


def _close_aim_run(pending: Future, started: float) -> None:
    """Close the run whether it succeeded or not (an AIM failure already surfaced through ``result()``), and
    date its creation back to the start of the run."""
    from tcbench.tracking.aim_repo import set_run_creation_time

    try:
        writer = pending.result()
    except Exception:
        return
    writer.close()
    set_run_creation_time(writer.repo_path, writer.run_hash, started)
    writer.creation_time = started


def _check_finite(metrics: dict[str, dict[str, float]]) -> None:
    bad = [f"{ctx}/{name}" for ctx, values in metrics.items() for name, v in values.items() if not np.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite metric(s) {bad}: the run diverged; no result is written")


def _versions() -> dict[str, Any]:
    from importlib.metadata import version

    return {"tcbench": __version__, "results_version": RESULTS_VERSION, "python": platform.python_version(),
            **{name: version(name) for name in ("torch", "aim", "numpy")}}
