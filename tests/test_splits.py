"""ucdavis-icdm19 splits: counts, non-overlap, determinism and the leftover definition
(docs/original-behaviour.md, ucdavis-icdm19 splits)."""

import numpy as np
import pytest

from tcbench.data import ucdavis
from tcbench.data.labels import FlowLabels, read_labels
from tcbench.data.splits import TrainSplits, ucdavis_run_split, ucdavis_train_splits

CODE = {name: i for i, name in enumerate(ucdavis.CLASSES)}


def full_scale_labels() -> FlowLabels:
    """Labels with the real class counts, rows sorted by (partition, class) (no packets needed for splits)."""
    apps, partitions = [], []
    for partition in sorted(ucdavis.PARTITIONS):
        for app in ucdavis.CLASSES:
            n = ucdavis.CLASS_COUNTS[partition][app]
            apps += [CODE[app]] * n
            partitions += [partition] * n
    return FlowLabels(app=np.array(apps, dtype=np.int8), partition=np.array(partitions))


def per_class(labels: FlowLabels, rows: np.ndarray) -> dict[str, int]:
    codes, counts = np.unique(labels.app[rows], return_counts=True)
    return {ucdavis.CLASSES[c]: int(n) for c, n in zip(codes, counts)}


@pytest.fixture(scope="module")
def labels():
    return full_scale_labels()


@pytest.fixture(scope="module")
def splits(labels):
    return ucdavis_train_splits(labels)


def test_five_splits_of_100_per_class_from_pretraining(labels, splits):
    assert len(labels.app) == 6672
    assert (labels.partition[splits.row_id] == ucdavis.PARTITION_PRETRAINING).all()
    for k in range(5):
        assert per_class(labels, splits.rows(k)) == {c: 100 for c in ucdavis.CLASSES}
    assert len(np.unique(splits.row_id)) == len(splits.row_id) == 2500  # non-overlapping


def test_splits_deterministic_and_round_trip(labels, splits, tmp_path):
    again = ucdavis_train_splits(labels)
    np.testing.assert_array_equal(again.row_id, splits.row_id)
    loaded = TrainSplits.read(splits.write(tmp_path / "s.parquet"))
    np.testing.assert_array_equal(loaded.row_id, splits.row_id)
    np.testing.assert_array_equal(loaded.split_index, splits.split_index)


def test_run_split_80_20_and_test_sets(labels, splits):
    split = ucdavis_run_split(labels, splits, split_index=0, seed=12345)
    assert len(split.train) == 400 and len(split.val) == 100
    assert set(split.train).isdisjoint(split.val)
    assert per_class(labels, split.train) == {c: 80 for c in ucdavis.CLASSES}
    assert len(split.tests["test-script"]) == 150 and len(split.tests["test-human"]) == 83
    # The original's leftover: everything not in train/val, human and script partitions included.
    assert len(split.tests["test-train-val-leftover"]) == 6172
    assert per_class(labels, split.tests["test-train-val-leftover"]) == {
        "google-doc": 1166, "google-drive": 1582, "google-music": 537, "google-search": 1860, "youtube": 1027}


def test_train_val_partition_changes_with_seed(labels, splits):
    a = ucdavis_run_split(labels, splits, 0, seed=12345)
    b = ucdavis_run_split(labels, splits, 0, seed=42)
    assert set(a.train) | set(a.val) == set(b.train) | set(b.val)
    assert set(a.train) != set(b.train)


def test_larger_trainset_split(labels, splits):
    split = ucdavis_run_split(labels, splits, split_index=-1, seed=6, with_leftover=False)
    assert per_class(labels, split.train) == {
        "google-doc": 976, "google-drive": 1307, "google-music": 473, "google-search": 1532, "youtube": 861}
    assert "test-train-val-leftover" not in split.tests


def test_unknown_split_index_names_valid_values(labels, splits):
    with pytest.raises(ValueError, match=r"valid values: \[0, 1, 2, 3, 4, -1\]"):
        ucdavis_run_split(labels, splits, split_index=7, seed=1)


def test_too_few_flows_for_splits_is_explained(labels):
    with pytest.raises(ValueError, match="google-music"):
        ucdavis_train_splits(labels, samples_per_class=200)


def test_read_labels_from_curated_parquet(tiny_dataset):
    labels = read_labels(tiny_dataset / "ucdavis-icdm19.parquet")
    assert labels.app.dtype == np.int8 and set(np.unique(labels.app)) == set(range(5))
    assert len(labels.rows_in(ucdavis.PARTITION_HUMAN)) == 83
    assert len(labels.rows_in(ucdavis.PARTITION_SCRIPT)) == 150
