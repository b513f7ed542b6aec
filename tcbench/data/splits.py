"""ucdavis-icdm19 splits exactly as the original tcbench draws them (docs/original-behaviour.md, ucdavis-icdm19
splits).

Two levels: the dataset-wide train splits (5 x 100 flows per class from ``pretraining``, ``default_rng(12345)``),
stored once per dataset; and, inside a run, the per-class 80/20 train/val partition drawn with the run seed. The
random streams are consumed in the same order as the original so the same flows are selected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tcbench.atomic import atomic_write
from tcbench.data import ucdavis
from tcbench.data.checks import check_train_classes
from tcbench.data.labels import FlowLabels
from tcbench.data.parquet import DatasetError, open_parquet, read_columns

SPLITS_SEED = 12345
N_SPLITS = 5
SAMPLES_PER_CLASS = 100
LARGER_TRAINSET_SPLIT = -1


@dataclass(frozen=True)
class TrainSplits:
    """The train splits as a long table: flow ``row_id[i]`` belongs to split ``split_index[i]``."""

    split_index: np.ndarray
    row_id: np.ndarray

    def rows(self, split_index: int) -> np.ndarray:
        return self.row_id[self.split_index == split_index]

    @property
    def indexes(self) -> list[int]:
        return sorted(np.unique(self.split_index).tolist())

    def write(self, path: str | Path) -> Path:
        table = pa.table({"split_index": self.split_index.astype(np.int64), "row_id": self.row_id.astype(np.int64)})
        return atomic_write(path, lambda tmp: pq.write_table(table, tmp))

    @classmethod
    def read(cls, path: str | Path) -> TrainSplits:
        if not Path(path).exists():
            raise FileNotFoundError(f"train splits file not found: {path} (create it with `tcbench datasets splits`)")
        with open_parquet(path) as pf:
            table = read_columns(pf, path, ["split_index", "row_id"])
        return cls(table.column("split_index").to_numpy(), table.column("row_id").to_numpy())


def _classes_in_order_of_appearance(codes: np.ndarray) -> np.ndarray:
    values, first = np.unique(codes, return_index=True)
    return values[np.argsort(first)]


def ucdavis_train_splits(
    labels: FlowLabels,
    n_splits: int = N_SPLITS,
    samples_per_class: int = SAMPLES_PER_CLASS,
    seed: int = SPLITS_SEED,
) -> TrainSplits:
    """The non-overlapping train splits; classes are visited in order of first appearance among the
    pretraining flows, as the original iterates the row-sorted parquet."""
    rng = np.random.default_rng(seed)
    pretraining = labels.rows_in(ucdavis.PARTITION_PRETRAINING)
    needed = n_splits * samples_per_class
    per_class = np.bincount(labels.app[pretraining], minlength=len(labels.classes))
    # Every class, present or not (an absent one would otherwise silently be left out of every split).
    for code in np.flatnonzero(per_class < needed):
        raise DatasetError(
            f"class {labels.classes[code]!r} has {per_class[code]} pretraining flows, fewer than n_splits x "
            f"samples_per_class = {n_splits} x {samples_per_class}; lower splits.samples_per_class or use a "
            "larger dataset scale"
        )
    split_parts, row_parts = [], []
    for code in _classes_in_order_of_appearance(labels.app[pretraining]):
        rows = pretraining[labels.app[pretraining] == code]
        chosen = rng.permutation(rows)[:needed]
        row_parts.append(chosen)
        split_parts.append(np.repeat(np.arange(n_splits), samples_per_class))
    split_index, row_id = np.concatenate(split_parts), np.concatenate(row_parts)
    order = np.lexsort((row_id, split_index))
    return TrainSplits(split_index[order], row_id[order])


@dataclass(frozen=True)
class RunSplit:
    """Row ids a run trains, validates and tests on; test sets keyed by their AIM context name."""

    train: np.ndarray
    val: np.ndarray
    tests: dict[str, np.ndarray] = field(default_factory=dict)


def train_val_partition(
    labels: FlowLabels,
    candidate_rows: np.ndarray,
    seed: int,
    ratio: float = 0.8,
    max_samples_per_class: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class shuffle with ``default_rng(seed)``, optional cap, then the first ``int(n * ratio)`` go to train."""
    if not 0 < ratio < 1:
        raise ValueError(f"train_val_split_ratio must be in (0, 1), got {ratio}")
    rng = np.random.default_rng(seed)
    candidates = np.sort(candidate_rows)
    train, val = [], []
    for code in np.unique(labels.app[candidates]):  # alphabetical class order
        rows = rng.permutation(candidates[labels.app[candidates] == code])
        if max_samples_per_class > 0:
            rows = rows[:max_samples_per_class]
        n_train = int(len(rows) * ratio)
        train.append(rows[:n_train])
        val.append(rows[n_train:])
    train_rows = np.concatenate(train) if train else np.zeros(0, dtype=np.int64)
    check_train_classes(labels, train_rows, f"train/val partition of {len(candidates)} flows (ratio {ratio}, "
                                            f"max_samples_per_class {max_samples_per_class})")
    return train_rows, np.concatenate(val) if val else np.zeros(0, dtype=np.int64)


def ucdavis_run_split(
    labels: FlowLabels,
    train_splits: TrainSplits,
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
        candidates = labels.rows_in(ucdavis.PARTITION_PRETRAINING)
    else:
        if split_index not in train_splits.indexes:
            raise ValueError(f"split_index {split_index} does not exist; valid values: {train_splits.indexes + [LARGER_TRAINSET_SPLIT]}")
        candidates = train_splits.rows(split_index)
    train, val = train_val_partition(labels, candidates, seed, ratio, max_samples_per_class)
    tests = {
        context: labels.rows_in(partition)
        for partition, context in (
            (ucdavis.PARTITION_SCRIPT, ucdavis.TEST_CONTEXT_BY_PARTITION[ucdavis.PARTITION_SCRIPT]),
            (ucdavis.PARTITION_HUMAN, ucdavis.TEST_CONTEXT_BY_PARTITION[ucdavis.PARTITION_HUMAN]),
        )
    }
    if with_leftover:
        tests[ucdavis.LEFTOVER_CONTEXT] = np.setdiff1d(labels.row_id, np.concatenate([train, val]))
    return RunSplit(train=train, val=val, tests=tests)


FINETUNE_TRAIN_SAMPLES = 10


def finetune_partition(labels: FlowLabels, rows: np.ndarray, seed: int, train_samples: int = FINETUNE_TRAIN_SAMPLES
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) rows of a SimCLR finetune on one partition (docs/original-behaviour.md, SimCLR finetuning
    data): per class, shuffled with a fresh ``default_rng(seed)`` per partition, the first ``train_samples`` train the head and the rest test it."""
    if train_samples < 1:
        raise ValueError(f"finetune train_samples must be >= 1, got {train_samples}")
    rng = np.random.default_rng(seed)
    candidates = np.sort(rows)
    train, test = [], []
    for code in np.unique(labels.app[candidates]):  # alphabetical class order, as train_val_partition
        shuffled = rng.permutation(candidates[labels.app[candidates] == code])
        if len(shuffled) <= train_samples:
            raise ValueError(
                f"class {labels.classes[code]!r} has {len(shuffled)} flows in the finetune partition, not more than "
                f"train_samples={train_samples}: nothing would be left to test; lower the finetune train samples"
            )
        train.append(shuffled[:train_samples])
        test.append(shuffled[train_samples:])
    return np.concatenate(train), np.concatenate(test)


def index_run_split(path: str | Path, split_index: int) -> RunSplit:
    """Train/val rows and the ``test`` set of one split of an imported dataset's index splits file (mirage19,
    mirage22, utmobilenet21: the test set of split k is the one used for split k)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"index splits file not found: {path} (written by `tcbench datasets import`)")
    with open_parquet(path) as pf:
        table = read_columns(pf, path, ["split_index", "train_indexes", "val_indexes", "test_indexes"]).to_pydict()
    indexes = list(table["split_index"])
    if split_index not in indexes:
        raise ValueError(f"split_index {split_index} does not exist in {path}; valid values: {indexes}")
    k = indexes.index(split_index)
    as_rows = lambda name: np.asarray(table[name][k], dtype=np.int64)  # noqa: E731
    return RunSplit(train=as_rows("train_indexes"), val=as_rows("val_indexes"), tests={"test": as_rows("test_indexes")})
