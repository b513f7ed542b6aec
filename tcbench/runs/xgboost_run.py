"""One XGBoost baseline run (reference tcbench-behaviour.md 4.7, 5.3): features -> one fit -> tests -> AIM, marker.

Inputs are the packet series (sizes, IATs, directions of the first 10 or 30 packets, min-max scaled on the
training rows) or the flattened flowpic (counts / 255, kept sparse). Splits are those of the supervised runs
(80/20 per class with the run seed); no augmentation, no early stopping. Each context logs acc, precision,
recall, f1 (the original logged only acc to AIM) and the duration of the fit or prediction pass.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tcbench.campaign.grid import RESULT_SETTING_TYPES, DatasetPaths, build_run_params
from tcbench.data.curated import read_labels
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

REPRESENTATIONS = ("pktseries", "flowpic")
# The original records dummies for the axis a representation does not use (flowpic_dim 32 / max_n_pkts 30).
DUMMY_DIM, DUMMY_N_PKTS = 32, 30
DENSE_FLOWPIC_MAX_DIM = 64


@dataclass(frozen=True)
class XGBoostRunOptions(RunOptions):
    flow_representation: str = "pktseries"
    max_n_pkts: int = 10
    experiment: str = "xgb_pktseries"

    def point(self) -> dict[str, Any]:
        last = {"flowpic_dim": self.flowpic_dim} if self.flow_representation == "flowpic" else {"max_n_pkts": self.max_n_pkts}
        return {"split_index": self.split_index, "seed": self.seed, **last}

    def params(self, dataset_spec: dict[str, Any]) -> dict[str, Any]:
        """Same dict as ``tcbench.campaign.grid.campaign_runs`` builds from a config, hence the same run_key."""
        settings = {key: getattr(self, key) for key in RESULT_SETTING_TYPES["xgboost"]}
        splits = {"n_splits": self.n_splits, "samples_per_class": self.samples_per_class}
        return build_run_params("xgboost", dataset_spec, splits, self.point(), settings)

    def hparams(self) -> dict[str, Any]:
        """The original's XGBoost hparams, dummies included (section 6.2)."""
        flowpic = self.flow_representation == "flowpic"
        return {
            "flowpic_dim": self.flowpic_dim if flowpic else DUMMY_DIM,
            "flowpic_block_duration": self.flowpic_block_duration,
            "split_index": self.split_index,
            "dataset": self.dataset_name,
            "dataset_minpkts": self.dataset_minpkts,
            "seed": self.seed,
            "flow_representation": self.flow_representation,
            "max_n_pkts": DUMMY_N_PKTS if flowpic else self.max_n_pkts,
            "max_samples_per_class": self.max_samples_per_class,
            "train_val_split_ratio": self.train_val_split_ratio,
        }

    def validate(self) -> None:
        if self.flow_representation not in REPRESENTATIONS:
            raise ValueError(f"flow_representation {self.flow_representation!r} is not valid; valid values: {list(REPRESENTATIONS)}")
        check_dim(self.flowpic_dim)
        if self.max_n_pkts not in (10, 30):
            raise ValueError(f"max_n_pkts {self.max_n_pkts} is not valid; valid values: [10, 30]")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


def execute(options: XGBoostRunOptions, run_dir: Path | None = None, results_dir: Path = Path("results"),
            aim_template: Path | None = None) -> dict[str, Any]:
    """Fit and test one XGBoost model; write the per-run AIM repo, artifacts and marker; return the marker."""
    return execute_run(options, run_dir, results_dir, aim_template, _execute)


def _features(options: XGBoostRunOptions, paths: DatasetPaths, needed: np.ndarray, train: np.ndarray) -> Any:
    """A function row_ids -> model input, covering every flow in ``needed``."""
    if options.flow_representation == "flowpic":
        store = load_flowpics(paths, options.flowpic_dim, options.flowpic_block_duration)
        if options.flowpic_dim <= DENSE_FLOWPIC_MAX_DIM:
            # Dense like the original: XGBoost treats entries a sparse matrix does not store as missing, not 0.
            return lambda rows: store.rows_for(rows).toarray().astype(np.float32) / 255.0
        # 2.25 M features per flow at dim 1500 only fit sparse; empty pixels then count as missing values.
        return lambda rows: (store.rows_for(rows).astype(np.float32) / 255.0).tocsr()
    from tcbench.features.pktseries import MinMaxScaler, read_pktseries_features

    row_ids, raw = read_pktseries_features(paths.parquet, needed, options.max_n_pkts)
    position = np.full(int(row_ids.max()) + 1, -1, dtype=np.int64)
    position[row_ids] = np.arange(len(row_ids))
    scaler = MinMaxScaler().fit(raw[position[train]])  # fit on the training rows only, as the original
    scaled = scaler.transform(raw)
    return lambda rows: scaled[position[rows]]


def _execute(options: XGBoostRunOptions, params: dict[str, Any], key: str, paths: DatasetPaths, run_dir: Path,
             artifacts: Path, aim_template: Path | None, t_start: float) -> dict[str, Any]:
    with ExitStack() as stack:
        from tcbench.training.xgb import predict_classes, save_model, train_xgboost

        labels = read_labels(paths.parquet)
        split = load_run_split(options, paths, labels, options.seed)
        needed = np.unique(np.concatenate([split.train, split.val, *split.tests.values()]))
        features = _features(options, paths, needed, split.train)
        codes = labels.app.astype(np.int64)
        tracker = SideTracker(stack, run_dir / "aim", aim_template, options.experiment, options.hparams(), key, t_start)
        tracker.start("pandas")
        log.info("run %s: xgboost %s split %d seed %d: train %d, val %d, tests %s", key, options.flow_representation,
                 options.split_index, options.seed, len(split.train), len(split.val),
                 {k: len(v) for k, v in split.tests.items()})

        t_setup = time.time()
        model = train_xgboost(features(split.train), codes[split.train], seed=options.seed, threads=options.threads,
                              num_classes=len(labels.classes))
        fit_seconds = time.time() - t_setup
        save_model(model, artifacts / f"xgb_model_split_{options.split_index}.json")
        t_trained = time.time()
        metrics: dict[str, dict[str, float]] = {}
        for context, rows in (("train", split.train), ("val", split.val), *split.tests.items()):
            t0 = time.time()
            y_pred = predict_classes(model, features(rows))
            # The original's train duration covers the fit and the prediction on the training set.
            duration = time.time() - t0 + (fit_seconds if context == "train" else 0.0)
            scores = {**write_reports(artifacts, context, codes[rows], y_pred, labels.classes), "duration": duration}
            for name, value in scores.items():
                tracker.track(value, name, context)
            metrics[context] = scores
            log.info("%s: acc %.2f  f1 %.4f  (%d flows, %.2f s)", context, scores["acc"], scores["f1"], len(rows), duration)
        t_tested = time.time()
        check_finite(metrics)
        tracker.flush()

    write_params(artifacts, params, run_key=key, threads=options.threads, experiment=options.experiment,
                 dataset_dir=str(options.dataset_dir))
    t_end = time.time()
    durations = {"setup": t_setup - t_start, "train": t_trained - t_setup, "test": t_tested - t_trained,
                 "tracking_close": t_end - t_tested, "total": t_end - t_start}
    return marker_base(key, "xgboost", options.experiment, options.hparams(), params, tracker, metrics, durations)
