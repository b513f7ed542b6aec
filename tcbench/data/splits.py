"""ucdavis-icdm19 splits exactly as the original tcbench draws them (reference tcbench-behaviour.md 3.1).

Two levels: the dataset-wide train splits (5 x 100 flows per class from ``pretraining``, ``default_rng(12345)``),
stored once per dataset; and, inside a run, the per-class 80/20 train/val partition drawn with the run seed. The
random streams are consumed in the same order as the original so the same flows are selected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tcbench.data import ucdavis

SPLITS_SEED = 12345
N_SPLITS = 5
SAMPLES_PER_CLASS = 100
LARGER_TRAINSET_SPLIT = -1


def ucdavis_train_splits(
    labels: pd.DataFrame,
    n_splits: int = N_SPLITS,
    samples_per_class: int = SAMPLES_PER_CLASS,
    seed: int = SPLITS_SEED,
) -> pd.DataFrame:
    """Long table (split_index, row_id) of the non-overlapping train splits.

    ``labels`` holds row_id, app and partition in row_id order. Classes are visited in order of first
    appearance, as the original iterates the row-sorted parquet.
    """
    rng = np.random.default_rng(seed)
    pretraining = labels[labels["partition"] == ucdavis.PARTITION_PRETRAINING]
    needed = n_splits * samples_per_class
    parts = []
    for app in pd.unique(pretraining["app"].astype(str)):
        rows = pretraining.loc[pretraining["app"].astype(str) == app, "row_id"].to_numpy()
        if len(rows) < needed:
            raise ValueError(
                f"class {app!r} has {len(rows)} pretraining flows, fewer than n_splits x samples_per_class = "
                f"{n_splits} x {samples_per_class}; lower splits.samples_per_class or use a larger dataset scale"
            )
        chosen = rng.permutation(rows)[:needed]
        for split_index, chunk in enumerate(np.split(chosen, n_splits)):
            parts.append(pd.DataFrame({"split_index": split_index, "row_id": chunk}))
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["split_index", "row_id"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class RunSplit:
    """Row ids a run trains, validates and tests on; test sets keyed by their AIM context name."""

    train: np.ndarray
    val: np.ndarray
    tests: dict[str, np.ndarray] = field(default_factory=dict)


def train_val_partition(
    labels: pd.DataFrame,
    candidate_rows: np.ndarray,
    seed: int,
    ratio: float = 0.8,
    max_samples_per_class: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class shuffle with ``default_rng(seed)``, optional cap, then the first ``int(n * ratio)`` go to train."""
    if not 0 < ratio < 1:
        raise ValueError(f"train_val_split_ratio must be in (0, 1), got {ratio}")
    rng = np.random.default_rng(seed)
    subset = labels.set_index("row_id").loc[np.sort(candidate_rows), "app"].astype(str)
    train, val = [], []
    for app in sorted(subset.unique()):
        rows = rng.permutation(subset.index[subset == app].to_numpy())
        if max_samples_per_class > 0:
            rows = rows[:max_samples_per_class]
        n_train = int(len(rows) * ratio)
        train.append(rows[:n_train])
        val.append(rows[n_train:])
    return np.concatenate(train), np.concatenate(val)


def ucdavis_run_split(
    labels: pd.DataFrame,
    train_splits: pd.DataFrame,
    split_index: int,
    seed: int,
    ratio: float = 0.8,
    max_samples_per_class: int = -1,
    with_leftover: bool = True,
) -> RunSplit:
    """The data of one supervised run: train/val from the split, the two test partitions and the leftover.

    The leftover is every flow not used for train or val, human and script partitions included, as in the
    original (so its 6172-flow accuracies stay comparable with the paper's table 4).
    """
    if split_index == LARGER_TRAINSET_SPLIT:
        candidates = labels.loc[labels["partition"] == ucdavis.PARTITION_PRETRAINING, "row_id"].to_numpy()
    else:
        available = sorted(train_splits["split_index"].unique().tolist())
        if split_index not in available:
            raise ValueError(f"split_index {split_index} does not exist; valid values: {available + [LARGER_TRAINSET_SPLIT]}")
        candidates = train_splits.loc[train_splits["split_index"] == split_index, "row_id"].to_numpy()
    train, val = train_val_partition(labels, candidates, seed, ratio, max_samples_per_class)
    tests = {
        context: labels.loc[labels["partition"] == partition, "row_id"].to_numpy()
        for partition, context in (
            (ucdavis.PARTITION_SCRIPT, ucdavis.TEST_CONTEXT_BY_PARTITION[ucdavis.PARTITION_SCRIPT]),
            (ucdavis.PARTITION_HUMAN, ucdavis.TEST_CONTEXT_BY_PARTITION[ucdavis.PARTITION_HUMAN]),
        )
    }
    if with_leftover:
        used = np.concatenate([train, val])
        tests[ucdavis.LEFTOVER_CONTEXT] = np.setdiff1d(labels["row_id"].to_numpy(), used)
    return RunSplit(train=train, val=val, tests=tests)
