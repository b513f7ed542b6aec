"""The data a method's run reads: its split of the dataset and the flowpic cache."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tcbench.data.paths import DatasetPaths
from tcbench.data.registry import DatasetDef
from tcbench.features.flowpic_store import FlowpicStore, build_flowpic_store, load_flowpic_store

log = logging.getLogger("tcbench.run")


def load_run_split(params: Mapping[str, Any], paths: DatasetPaths, dataset: DatasetDef, labels: Any, seed: int) -> Any:
    """The run's train/val rows and test sets: the drawn train splits of a dataset used whole (ucdavis-icdm19), or
    the index splits of an imported variant (context ``test``)."""
    from tcbench.data.splits import TrainSplits, index_run_split, ucdavis_run_split

    split_index = params["split_index"]
    if not dataset.draws_train_splits:
        from tcbench.data.checks import check_train_classes

        split = index_run_split(paths.index_splits, split_index)
        check_train_classes(labels, split.train, f"split {split_index} of {paths.index_splits}")
        return split
    splits = params["splits"]
    train_splits = TrainSplits.read(paths.train_splits(splits["n_splits"], splits["samples_per_class"]))
    return ucdavis_run_split(labels, train_splits, split_index, seed, params["train_val_split_ratio"],
                             params.get("max_samples_per_class", -1), params.get("test_leftover", False))


def load_flowpics(paths: DatasetPaths, dim: int, block_duration: float) -> FlowpicStore:
    cache = paths.flowpics(dim, block_duration)
    if cache.exists():
        return load_flowpic_store(cache)
    log.info("flowpic cache %s missing: computing flowpics in memory (a campaign builds it once)", cache)
    return build_flowpic_store(paths.parquet, dim, block_duration)
