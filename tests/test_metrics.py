"""Metrics and report frames against a hand-computed example that includes a class absent from y and y_pred."""

from __future__ import annotations

import numpy as np
import pytest

from tcbench.training.metrics import class_report_frame, classification_metrics, confusion_frame

CLASSES = ["a", "b", "c", "d"]  # "c" never appears, neither in y_true nor in y_pred
Y_TRUE = np.array([0, 0, 0, 1, 1, 3])
Y_PRED = np.array([0, 0, 1, 1, 3, 3])

# Per class (precision, recall, f1, support), by hand:
# a: tp 2 of 2 predicted, 3 true -> 1, 2/3, 0.8 ; b: 1 of 2, 2 true -> 1/2, 1/2, 1/2
# c: nothing -> 0, 0, 0 (zero_division=0) ; d: 1 of 2, 1 true -> 1/2, 1, 2/3
PER_CLASS = {
    "a": (1.0, 2 / 3, 0.8, 3),
    "b": (0.5, 0.5, 0.5, 2),
    "c": (0.0, 0.0, 0.0, 0),
    "d": (0.5, 1.0, 2 / 3, 1),
}
WEIGHTED = (4.5 / 6, 4 / 6, (3 * 0.8 + 2 * 0.5 + 2 / 3) / 6)
MACRO = (2.0 / 4, (2 / 3 + 0.5 + 1.0) / 4, (0.8 + 0.5 + 2 / 3) / 4)


def test_classification_metrics_by_hand() -> None:
    m = classification_metrics(Y_TRUE, Y_PRED, CLASSES)
    assert set(m) == {"acc", "precision", "recall", "f1"}
    assert m["acc"] == pytest.approx(100 * 4 / 6)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx(WEIGHTED)


def test_class_report_layout_and_values() -> None:
    frame = class_report_frame(Y_TRUE, Y_PRED, CLASSES)
    assert list(frame.columns) == ["index", "precision", "recall", "f1-score", "support"]
    assert list(frame["index"]) == [*CLASSES, "accuracy", "macro avg", "weighted avg"]
    rows = frame.set_index("index")
    for name, expected in PER_CLASS.items():
        assert tuple(rows.loc[name]) == pytest.approx(expected)
    assert tuple(rows.loc["accuracy"]) == pytest.approx((4 / 6,) * 4)
    assert tuple(rows.loc["macro avg"]) == pytest.approx((*MACRO, 6))
    assert tuple(rows.loc["weighted avg"]) == pytest.approx((*WEIGHTED, 6))


def test_confusion_frame_lists_absent_class_in_place() -> None:
    frame = confusion_frame(Y_TRUE, Y_PRED, CLASSES)
    assert list(frame.columns) == ["index", *CLASSES]
    assert list(frame["index"]) == CLASSES
    expected = np.array([[2, 1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(frame[CLASSES].to_numpy(), expected)


def test_perfect_predictions() -> None:
    y = np.array([0, 1, 2, 2])
    m = classification_metrics(y, y, ["x", "y", "z"])
    assert m == pytest.approx({"acc": 100.0, "precision": 1.0, "recall": 1.0, "f1": 1.0})


@pytest.mark.parametrize("fn", [classification_metrics, class_report_frame, confusion_frame])
def test_codes_outside_class_range_rejected(fn) -> None:
    with pytest.raises(ValueError, match="outside"):
        fn(np.array([0, 4]), np.array([0, 1]), CLASSES)
    with pytest.raises(ValueError):
        fn(np.array([0, 1]), np.array([0, 1, 1]), CLASSES)


@pytest.mark.parametrize("seed", range(5))
def test_equal_to_sklearn_on_random_predictions(seed) -> None:
    """The numpy implementation reproduces sklearn's classification_report (zero_division=0) and confusion_matrix."""
    from sklearn.metrics import classification_report, confusion_matrix

    rng = np.random.default_rng(seed)
    n_classes = 5
    y_true = rng.integers(0, n_classes - 1, 200)  # the last class never appears in y_true
    y_pred = rng.integers(0, n_classes, 200)
    names = [f"c{i}" for i in range(n_classes)]
    expected = classification_report(y_true, y_pred, labels=list(range(n_classes)), target_names=names,
                                     output_dict=True, zero_division=0)
    frame = class_report_frame(y_true, y_pred, names).set_index("index")
    for row in [*names, "macro avg", "weighted avg"]:
        for col in ("precision", "recall", "f1-score", "support"):
            assert frame.loc[row, col] == pytest.approx(expected[row][col], rel=1e-12, abs=1e-15)
    metrics = classification_metrics(y_true, y_pred, names)
    assert metrics["f1"] == pytest.approx(expected["weighted avg"]["f1-score"], rel=1e-12)
    assert metrics["acc"] == pytest.approx(100 * expected["accuracy"], rel=1e-12)
    cm = confusion_frame(y_true, y_pred, names).set_index("index").to_numpy()
    np.testing.assert_array_equal(cm, confusion_matrix(y_true, y_pred, labels=list(range(n_classes))))
