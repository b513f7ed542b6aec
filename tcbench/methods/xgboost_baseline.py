"""The XGBoost baseline (docs/original-behaviour.md, XGBoost): features -> one fit -> tests -> AIM run, marker.

Inputs are the packet series (sizes, IATs, directions of the first 10 or 30 packets, min-max scaled on the training
rows) or the flattened flowpic (counts / 255, kept sparse at dim 1500). Splits are those of the supervised runs
(80/20 per class with the run seed); no augmentation, no early stopping. Each context logs acc, precision, recall,
f1 (the original logged only acc to AIM) and the duration of the fit or prediction pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from tcbench.contract import JobResources, Method, RunContext
from tcbench.methods.params import (
    FLOWPIC_BLOCK_DURATION,
    FLOWPIC_DIM,
    MAX_SAMPLES_PER_CLASS,
    SEED,
    SPLIT_INDEX,
    TEST_LEFTOVER,
    TRAIN_VAL_SPLIT_RATIO,
    Param,
    flowpic_resources,
)
from tcbench.methods.registry import register

log = logging.getLogger("tcbench.run")

REPRESENTATIONS = ("pktseries", "flowpic")
FLOW_REPRESENTATION = Param(
    "flow_representation", str, "pktseries",
    "Input: pktseries (sizes, IATs, directions of the first max_n_pkts packets, min-max scaled on train) or the "
    "flattened flowpic.", choices=REPRESENTATIONS, option="--input-repr")
MAX_N_PKTS = Param("max_n_pkts", int, 10, "Packets per flow of the pktseries input.", choices=(10, 30),
                   option="--pktseries-len", tag="pkts", splits_report=True,
                   campaign_option="--pktseries-len")
# The original records dummies for the axis a representation does not use (flowpic_dim 32 / max_n_pkts 30).
DUMMY_DIM, DUMMY_N_PKTS = 32, 30
DENSE_FLOWPIC_MAX_DIM = 64


@register
class XGBoostBaseline(Method):
    name = "xgboost"
    summary = "XGBoost on the first packets' series or the flattened flowpic (library defaults, random_state = seed)."
    section = "xgboost"
    axes = (SPLIT_INDEX, SEED, FLOWPIC_DIM, MAX_N_PKTS)
    settings = (FLOW_REPRESENTATION, FLOWPIC_BLOCK_DURATION, TRAIN_VAL_SPLIT_RATIO, MAX_SAMPLES_PER_CLASS, TEST_LEFTOVER)
    fixed_axes = {"aug_name": ("noaug",)}
    commands = ("augment-at-loading",)
    hparam_order = ("flowpic_dim", "flowpic_block_duration", "split_index", "dataset", "dataset_minpkts", "seed",
                    "flow_representation", "max_n_pkts", "max_samples_per_class", "train_val_split_ratio")

    def resources(self, params: Mapping[str, Any]) -> JobResources:
        return flowpic_resources(params)

    def grid_axes(self, settings: Mapping[str, Any]) -> tuple[Param, ...]:
        """split_index x seed x (flowpic_dim for flowpic inputs, max_n_pkts for packet series): the original's order
        with its forced ``noaug`` axis left out."""
        last = FLOWPIC_DIM if settings.get("flow_representation", FLOW_REPRESENTATION.default) == "flowpic" else MAX_N_PKTS
        return (SPLIT_INDEX, SEED, last)

    def cost_features(self, params: Mapping[str, Any]) -> dict[str, str]:
        """The input representation and its size (flowpic dim or packets per flow), the training set."""
        size = params["flowpic_dim"] if params["flow_representation"] == "flowpic" else params["max_n_pkts"]
        return {"input": f"{params['flow_representation']}-{size}",
                "train": "larger" if params["split_index"] == -1 else "split"}

    def flowpic_cache(self, params: Mapping[str, Any]) -> tuple[int, float] | None:
        return super().flowpic_cache(params) if params["flow_representation"] == "flowpic" else None

    def experiment_name(self, params: Mapping[str, Any]) -> str:
        return f"xgb_{params['flow_representation']}"

    def describe(self, config: Mapping[str, Any]) -> str:
        return f" ({config[self.section]['flow_representation']})"

    def campaign_defaults(self, settings: Mapping[str, Any]) -> dict[str, list[Any]]:
        replicates: dict[str, list[Any]] = {"split_index": [0, 1, 2, 3, 4], "seed": [12345, 42, 666]}
        if settings.get("flow_representation") == "flowpic":
            from tcbench.features.flowpic import VALID_DIMS

            return {**replicates, "flowpic_dim": list(VALID_DIMS)}
        return {**replicates, "max_n_pkts": list(MAX_N_PKTS.choices or ())}

    def axes_hint(self, config: Mapping[str, Any]) -> str:
        return (f" ({self.section}.flow_representation is {config[self.section]['flow_representation']!r}: "
                "'pktseries' takes max_n_pkts, 'flowpic' takes flowpic_dim)")

    def hparams(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The original's XGBoost hparams, dummies included (docs/original-behaviour.md, Hyper-parameters recorded
        per run)."""
        flowpic = params["flow_representation"] == "flowpic"
        dummies = {"flowpic_dim": DUMMY_DIM} if not flowpic else {"max_n_pkts": DUMMY_N_PKTS}
        return super().hparams({**params, **dummies})

    def execute(self, run: RunContext) -> dict[str, Any]:
        from tcbench.training.xgb import predict_classes, save_model, train_xgboost

        p = run.params
        labels = run.read_labels()
        split = run.split(labels)
        needed = np.unique(np.concatenate([split.train, split.val, *split.tests.values()]))
        features = _features(p, run, needed, split.train)
        codes = labels.app.astype(np.int64)
        run.start_tracking("pandas")
        log.info("run %s: xgboost %s split %d seed %d: train %d, val %d, tests %s", run.key, p["flow_representation"],
                 p["split_index"], p["seed"], len(split.train), len(split.val),
                 {k: len(v) for k, v in split.tests.items()})

        t_setup = run.lap("setup")
        model = train_xgboost(features(split.train), codes[split.train], seed=p["seed"], threads=run.threads,
                              num_classes=len(labels.classes))
        fit_seconds = time.time() - t_setup
        save_model(model, run.artifacts / f"xgb_model_split_{p['split_index']}.json")
        run.lap("train")
        for context, rows in (("train", split.train), ("val", split.val), *split.tests.items()):
            t0 = time.time()
            y_pred = predict_classes(model, features(rows))
            # The original's train duration covers the fit and the prediction on the training set.
            duration = time.time() - t0 + (fit_seconds if context == "train" else 0.0)
            scores = run.record(context, {**run.report(context, codes[rows], y_pred, labels.classes), "duration": duration})
            log.info("%s: acc %.2f  f1 %.4f  (%d flows, %.2f s)", context, scores["acc"], scores["f1"], len(rows), duration)
        run.lap("test")
        return {}


def _features(p: Mapping[str, Any], run: RunContext, needed: np.ndarray, train: np.ndarray) -> Any:
    """A function row_ids -> model input, covering every flow in ``needed``."""
    if p["flow_representation"] == "flowpic":
        store = run.flowpics()
        if p["flowpic_dim"] <= DENSE_FLOWPIC_MAX_DIM:
            # Dense like the original: XGBoost treats entries a sparse matrix does not store as missing, not 0.
            return lambda rows: store.rows_for(rows).toarray().astype(np.float32) / 255.0
        # 2.25 M features per flow at dim 1500 only fit sparse; empty pixels then count as missing values.
        return lambda rows: (store.rows_for(rows).astype(np.float32) / 255.0).tocsr()
    from tcbench.features.pktseries import MinMaxScaler, read_pktseries_features

    row_ids, raw = read_pktseries_features(run.data.parquet, needed, p["max_n_pkts"])
    position = np.full(int(row_ids.max()) + 1, -1, dtype=np.int64)
    position[row_ids] = np.arange(len(row_ids))
    scaler = MinMaxScaler().fit(raw[position[train]])  # fit on the training rows only, as the original
    scaled = scaler.transform(raw)
    return lambda rows: scaled[position[rows]]
