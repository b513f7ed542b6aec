"""What every run method shares: the content-addressed run folder, logging, AIM tracking on a side thread,
report files and the marker that is written last.

A run is complete only once ``marker.json`` exists: the marker is written last and atomically, so an interrupted
run leaves no marker and is re-run from a clean folder.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tcbench import RESULTS_VERSION, __version__
from tcbench.campaign.grid import DatasetPaths, run_key, with_min_pkts
from tcbench.data import ucdavis
from tcbench.features.flowpic_store import FlowpicStore, build_flowpic_store, load_flowpic_store

log = logging.getLogger("tcbench.run")

Tracked = tuple[float, str, str, "int | None"]  # (value, metric name, context subset, epoch)


@dataclass(frozen=True)
class RunOptions:
    """What every run method needs: the dataset, its splits, the grid point and where/how the run executes."""

    dataset_dir: Path
    dataset_name: str = ucdavis.DATASET_NAME
    dataset_minpkts: int = -1  # > 0: the filtered variant of mirage19 / mirage22 / utmobilenet21
    n_splits: int = 5
    samples_per_class: int = 100
    split_index: int = 0
    seed: int = 12345
    flowpic_dim: int = 32
    flowpic_block_duration: float = 15.0
    train_val_split_ratio: float = 0.8
    max_samples_per_class: int = -1
    test_leftover: bool = True
    threads: int = 1

    def dataset_paths(self) -> DatasetPaths:
        return DatasetPaths(Path(self.dataset_dir), self.dataset_name, self.dataset_minpkts)

    def check_dataset(self) -> None:
        if self.dataset_name != ucdavis.DATASET_NAME and self.dataset_minpkts <= 0:
            raise ValueError(f"dataset {self.dataset_name} needs --dataset-minpkts (its filtered variant: 10, or 1000 for mirage22)")
        if self.dataset_name != ucdavis.DATASET_NAME and self.max_samples_per_class > 0:
            raise ValueError(f"max_samples_per_class is only supported for {ucdavis.DATASET_NAME}; "
                             f"{self.dataset_name} uses its fixed train/val/test index splits")
        # Footer, schema and labels only (~20 ms): a truncated or foreign file fails here, before any work.
        from tcbench.data.checks import check_dataset_file

        check_dataset_file(self.dataset_paths().parquet, self.dataset_name)


def load_run_split(options: RunOptions, paths: DatasetPaths, labels: Any, seed: int) -> Any:
    """The run's train/val rows and test sets: ucdavis-icdm19's drawn splits, or the index splits of the others
    (context ``test``)."""
    from tcbench.data.splits import TrainSplits, index_run_split, ucdavis_run_split

    if options.dataset_name != ucdavis.DATASET_NAME:
        from tcbench.data.checks import check_train_classes

        split = index_run_split(paths.index_splits, options.split_index)
        check_train_classes(labels, split.train, f"split {options.split_index} of {paths.index_splits}")
        return split
    train_splits = TrainSplits.read(paths.train_splits(options.n_splits, options.samples_per_class))
    return ucdavis_run_split(labels, train_splits, options.split_index, seed, options.train_val_split_ratio,
                             options.max_samples_per_class, options.test_leftover)


def run_folder(key: str, run_dir: Path | None, results_dir: Path, kind: str = "runs") -> tuple[Path, Path]:
    """(run folder, its empty artifacts folder); the folder must be named by the run's content key. ``kind`` is
    the results sub-folder of the default location (``runs``; ``pretrain`` for SimCLR pre-trainings)."""
    run_dir = Path(run_dir) if run_dir is not None else Path(results_dir) / kind / key
    if run_dir.name != key:
        raise ValueError(
            f"the run parameters hash to run_key {key} but the run folder is {run_dir}: the workflow and the code "
            "disagree on the parameters (re-run `snakemake` so it re-plans the campaign)"
        )
    # A previous interrupted attempt may have left a partial folder: start clean, the marker is absent anyway.
    for stale in ("aim", "artifacts"):
        if (run_dir / stale).exists():
            shutil.rmtree(run_dir / stale)
    artifacts = run_dir / "artifacts"
    artifacts.mkdir(parents=True)
    return run_dir, artifacts


def execute_run(options: Any, run_dir: Path | None, results_dir: Path, aim_template: Path | None,
                body: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Validate the options, prepare the content-addressed run folder, run ``body`` with the run's log file
    attached, then write the marker it returns (last, atomically). ``options`` is a method's run options."""
    from tcbench.data.dataset_info import read_dataset_spec
    from tcbench.tracking.marker import write_marker

    t_start = time.time()
    options.validate()
    options.check_dataset()
    if getattr(options, "device", "cpu") == "cuda":  # claim a GPU no other run of this machine uses
        from dataclasses import replace

        from tcbench.runs.gpu import resolve_cuda

        options = replace(options, device=resolve_cuda(options.device))
    paths = options.dataset_paths()
    params = options.params(with_min_pkts(read_dataset_spec(paths.root), options.dataset_minpkts))
    key = run_key(params)
    run_dir, artifacts = run_folder(key, run_dir, results_dir, getattr(options, "results_kind", "runs"))

    handler = logging.FileHandler(artifacts / "log.txt", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("tcbench")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        marker = body(options, params, key, paths, run_dir, artifacts, aim_template, t_start)
        marker["artifacts"] = sorted(p.name for p in artifacts.iterdir())
        marker_path = write_marker(run_dir / "marker.json", marker)
        log.info("run %s done in %.1f s: marker %s", key, marker["durations"]["total"], marker_path)
        return marker
    except BaseException as exc:  # the run's own log says why it has no marker (also when interrupted)
        log.error("run %s failed, no marker written: %s: %s", key, type(exc).__name__, exc)
        raise
    finally:
        root.removeHandler(handler)
        handler.close()


class SideTracker:
    """The run's AIM run, opened, fed and closed on one side thread.

    Importing aim and opening a run cost ~1.5 s; started right before the heavy compute they overlap with it
    (torch and xgboost release the GIL in their kernels), whereas started earlier they would compete with the
    Python-heavy imports and data loading. Metrics are buffered and replayed in order (with their epochs) at the
    end. AIM's run lock is thread-local (filelock), so every AIM call happens on the same thread. After closing,
    the run's creation time is set to the start of the run, so its lifetime (the original's run_duration) covers
    the whole run.
    """

    def __init__(self, stack: ExitStack, repo: Path, template: Path | None, experiment: str, hparams: dict[str, Any],
                 key: str, started: float) -> None:
        self._pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="aim"))
        self._args = (repo, template, experiment, hparams, key)
        self._started = started
        self._pending = None
        self.tracked: list[Tracked] = []
        self.writer: Any = None
        stack.callback(self._close)

    def start(self, *warm_imports: str) -> None:
        """Open the AIM run in the background; then import ``warm_imports`` there too (needed later)."""
        self._pending = self._pool.submit(_open_aim_run, *self._args)
        for module in warm_imports:
            self._pool.submit(__import__, module)

    def track(self, value: float, name: str, subset: str, epoch: int | None = None) -> None:
        self.tracked.append((value, name, subset, epoch))

    def flush(self) -> None:
        """Wait for the run to be open and write every buffered metric (re-raises an AIM failure)."""
        if self._pending is None:
            self.start()
        self.writer = self._pending.result()
        self._pool.submit(_replay, self.writer, self.tracked).result()

    def _close(self) -> None:
        if self._pending is not None:
            self._pool.submit(_close_aim_run, self._pending, self._started).result()


def _open_aim_run(repo: Path, template: Path | None, experiment: str, hparams: dict[str, Any], key: str) -> Any:
    from tcbench.tracking.aim_repo import init_run_repo
    from tcbench.tracking.aim_run import AimRunWriter

    init_run_repo(repo, template)
    return AimRunWriter(repo, experiment, hparams, run_key=key).open()


def _replay(writer: Any, tracked: list[Tracked]) -> None:
    for value, name, subset, epoch in tracked:
        writer.track(value, name, subset, epoch=epoch)


def _close_aim_run(pending: Any, started: float) -> None:
    """Close the run whether it succeeded or not (an AIM failure already surfaced through ``flush``), and date
    its creation back to the start of the run."""
    from tcbench.tracking.aim_repo import set_run_creation_time

    try:
        writer = pending.result()
    except Exception:
        return
    writer.close()
    writer.creation_time = set_run_creation_time(writer.repo_path, writer.run_hash, started)


def load_flowpics(paths: DatasetPaths, dim: int, block_duration: float) -> FlowpicStore:
    cache = paths.flowpics(dim, block_duration)
    if cache.exists():
        return load_flowpic_store(cache)
    log.info("flowpic cache %s missing: computing flowpics in memory (a campaign builds it once)", cache)
    return build_flowpic_store(paths.parquet, dim, block_duration)


def write_reports(artifacts: Path, context: str, y_true: np.ndarray, y_pred: np.ndarray,
                  classes: Sequence[str] = ucdavis.CLASSES) -> dict[str, float]:
    """The original's `<context>_class_rep.csv` and `<context>_conf_mtx.csv`; returns acc, precision, recall, f1."""
    from tcbench.training.metrics import class_report_frame, classification_metrics, confusion_frame

    names = list(classes)
    class_report_frame(y_true, y_pred, names).to_csv(artifacts / f"{context}_class_rep.csv", index=False)
    confusion_frame(y_true, y_pred, names).to_csv(artifacts / f"{context}_conf_mtx.csv", index=False)
    return classification_metrics(y_true, y_pred, names)


def check_finite(metrics: dict[str, dict[str, float]]) -> None:
    bad = [f"{ctx}/{name}" for ctx, values in metrics.items() for name, v in values.items() if not np.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite metric(s) {bad}: the run diverged; no result is written")


def write_params(artifacts: Path, params: dict[str, Any], **extra: Any) -> None:
    """``params.yml``: every parameter of the run, as the original dumps its namespace."""
    with open(artifacts / "params.yml", "w") as fh:
        yaml.safe_dump({**params, **extra}, fh, sort_keys=False)


def marker_base(key: str, method: str, experiment: str, hparams: dict[str, Any], params: dict[str, Any],
                tracker: SideTracker, metrics: dict[str, dict[str, float]], durations: dict[str, float]) -> dict[str, Any]:
    return {
        "marker_version": 1,
        "run_key": key,
        "method": method,
        "experiment": experiment,
        "hparams": hparams,
        "params": params,
        "aim": {"repo": "aim", "run_hash": tracker.writer.run_hash},
        "metrics": metrics,
        "creation_time": tracker.writer.creation_time,
        "end_time": tracker.writer.end_time,
        "durations": durations,
        "versions": versions(),
        "environment": execution_environment(),
    }


def execution_environment() -> dict[str, str]:
    """Where the run executed: the host and what a scheduler handed it (GPU ids, SLURM job), for provenance."""
    names = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_ARRAY_TASK_ID")
    return {"host": platform.node(), **{n: os.environ[n] for n in names if n in os.environ}}


def versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"tcbench": __version__, "results_version": RESULTS_VERSION, "python": platform.python_version()}
    for name in ("torch", "aim", "numpy", "xgboost", "xgboost-cpu"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
