"""ucdavis-icdm19 splits: counts, non-overlap, determinism and the leftover definition (reference 3.1)."""

import numpy as np
import pandas as pd
import pytest

from tcbench.data import ucdavis
from tcbench.data.splits import ucdavis_run_split, ucdavis_train_splits


def full_scale_labels() -> pd.DataFrame:
    """Labels with the real class counts (no packets needed to test the splits)."""
    rows = []
    for partition in sorted(ucdavis.PARTITIONS):
        for app in ucdavis.CLASSES:
            rows += [(partition, app)] * ucdavis.CLASS_COUNTS[partition][app]
    frame = pd.DataFrame(rows, columns=["partition", "app"])
    frame.insert(0, "row_id", np.arange(len(frame)))
    frame["app"] = pd.Categorical(frame["app"], categories=list(ucdavis.CLASSES))
    return frame


@pytest.fixture(scope="module")
def labels():
    return full_scale_labels()


@pytest.fixture(scope="module")
def splits(labels):
    return ucdavis_train_splits(labels)


def test_five_splits_of_100_per_class_from_pretraining(labels, splits):
    assert len(labels) == 6672
    merged = splits.merge(labels, on="row_id")
    assert (merged["partition"] == ucdavis.PARTITION_PRETRAINING).all()
    counts = merged.groupby(["split_index", "app"], observed=True).size()
    assert len(counts) == 25 and (counts == 100).all()
    assert splits["row_id"].is_unique  # non-overlapping


def test_splits_deterministic(labels, splits):
    pd.testing.assert_frame_equal(splits, ucdavis_train_splits(labels))


def test_run_split_80_20_and_test_sets(labels, splits):
    split = ucdavis_run_split(labels, splits, split_index=0, seed=12345)
    assert len(split.train) == 400 and len(split.val) == 100
    assert set(split.train).isdisjoint(split.val)
    codes = labels.set_index("row_id").loc[split.train, "app"].value_counts()
    assert (codes == 80).all()
    assert len(split.tests["test-script"]) == 150 and len(split.tests["test-human"]) == 83
    # The original's leftover: everything not in train/val, human and script partitions included.
    assert len(split.tests["test-train-val-leftover"]) == 6172
    leftover = labels.set_index("row_id").loc[split.tests["test-train-val-leftover"], "app"].value_counts()
    assert leftover.to_dict() == {"google-doc": 1166, "google-drive": 1582, "google-music": 537,
                                  "google-search": 1860, "youtube": 1027}


def test_train_val_partition_changes_with_seed(labels, splits):
    a = ucdavis_run_split(labels, splits, 0, seed=12345)
    b = ucdavis_run_split(labels, splits, 0, seed=42)
    assert set(a.train) | set(a.val) == set(b.train) | set(b.val)
    assert set(a.train) != set(b.train)


def test_larger_trainset_split(labels, splits):
    split = ucdavis_run_split(labels, splits, split_index=-1, seed=6, with_leftover=False)
    per_class = labels.set_index("row_id").loc[split.train, "app"].value_counts().to_dict()
    assert per_class == {"google-doc": 976, "google-drive": 1307, "google-music": 473, "google-search": 1532, "youtube": 861}
    assert "test-train-val-leftover" not in split.tests


def test_unknown_split_index_names_valid_values(labels, splits):
    with pytest.raises(ValueError, match=r"valid values: \[0, 1, 2, 3, 4, -1\]"):
        ucdavis_run_split(labels, splits, split_index=7, seed=1)


def test_too_few_flows_for_splits_is_explained(labels):
    with pytest.raises(ValueError, match="google-music"):
        ucdavis_train_splits(labels, samples_per_class=200)
