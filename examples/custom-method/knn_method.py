"""A complete tcbench method in one module: k-nearest-neighbour vote on flattened flowpics.

Nothing in tcbench/ or workflow/ knows about it. A campaign names this file under `plugins:` (see config.yaml next
to it); the workflow then validates the `knn:` config section and the `n_neighbors` grid axis from the declarations
below, plans one job per grid point, hands each job its parameters, and merges and summarises the runs like the
built-in methods'. `tcbench run knn --help` lists its options (with `--plugin examples/custom-method/knn_method.py`).

The learner is scikit-learn's `KNeighborsClassifier` (brute force, Euclidean distance) on flowpic counts / 255, the
pixel scale the CNN sees: a non-parametric baseline that shows how much of the flowpic's signal a nearest
neighbour already carries.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcbench.contract import JobResources
from tcbench.methods import Method, Param, register
from tcbench.methods.params import (
    FLOWPIC_BLOCK_DURATION,
    FLOWPIC_DIM,
    MAX_SAMPLES_PER_CLASS,
    SEED,
    SPLIT_INDEX,
    TEST_LEFTOVER,
    TRAIN_VAL_SPLIT_RATIO,
)

# The method's own parameters, each declared once: the config schema, `tcbench run knn` options, the run key,
# AIM hparams and tags are derived from these declarations.
# `baseline`: the campaign's comparisons (paired tests, critical-difference diagram) put every k against k = 5.
N_NEIGHBORS = Param("n_neighbors", int, 5, "Neighbours whose labels vote for a flow's class.", minimum=1, tag="k",
                    baseline=5)
WEIGHTS = Param("weights", str, "uniform", "Vote weights: uniform, or distance (closer neighbours count more).",
                choices=("uniform", "distance"))


@register
class KNearestNeighbours(Method):
    name = "knn"
    summary = "k-nearest-neighbour vote on flattened flowpics (counts / 255, Euclidean distance)."
    section = "knn"  # the config section of its settings: `knn: {weights: distance}`
    axes = (SPLIT_INDEX, SEED, FLOWPIC_DIM, N_NEIGHBORS)  # grid product order, the last varies fastest
    settings = (WEIGHTS, FLOWPIC_BLOCK_DURATION, TRAIN_VAL_SPLIT_RATIO, MAX_SAMPLES_PER_CLASS, TEST_LEFTOVER)
    experiment = "knn-flowpic"

    def resources(self, params: Any) -> JobResources:
        """Its own scheduler request: the brute-force vote holds the float32 features of the training flows and a
        block of test-to-train distances, so memory grows with the flowpic's pixels; a vote takes seconds."""
        pixels = int(params["flowpic_dim"]) ** 2
        return JobResources(memory_mb=1000 + pixels // 1000, minutes=10)

    def execute(self, run: Any) -> dict[str, Any]:
        from sklearn.neighbors import KNeighborsClassifier

        labels = run.read_labels()
        split = run.split(labels)  # train/val drawn with the run seed; test sets of the dataset
        store = run.flowpics()
        codes = labels.app.astype(np.int64)

        def features(rows: np.ndarray) -> Any:
            return (store.rows_for(rows).astype(np.float32) / 255.0).tocsr()

        k = run.value(N_NEIGHBORS)  # typed: an int
        if k > len(split.train):
            raise ValueError(f"n_neighbors: {k} is more than the {len(split.train)} training flows; "
                             f"valid values: 1..{len(split.train)}")
        run.start_tracking("pandas")
        run.lap("setup")
        model = KNeighborsClassifier(n_neighbors=k, weights=run.value(WEIGHTS), algorithm="brute")
        model.fit(features(split.train), codes[split.train])
        run.lap("train")
        for context, rows in (("train", split.train), ("val", split.val), *split.tests.items()):
            y_pred = model.predict(features(rows)).astype(np.int64)
            run.record(context, run.report(context, codes[rows], y_pred, labels.classes))
        run.lap("test")
        return {}
