"""Classification metrics and the per-run report frames (`<ctx>_class_rep.csv`, `<ctx>_conf_mtx.csv`).

Scales follow the original (behaviour doc 6.3): `acc` in percent, precision/recall/f1 as the weighted-average row
of sklearn's classification report, fractions in [0, 1]. Every class is always listed (labels=range(C)); the
original let sklearn infer the labels from the data and then renamed rows by position, so a class absent from
both y and y_pred shifted every later label (section 10, item 11).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix


def _checked(y_true, y_pred, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    yt = np.asarray(y_true).astype(np.int64, copy=False)
    yp = np.asarray(y_pred).astype(np.int64, copy=False)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {yt.shape} and {yp.shape}")
    n_classes = len(class_names)
    for name, y in (("y_true", yt), ("y_pred", yp)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            # sklearn would silently ignore labels outside `labels`; a wrong code is a bug upstream.
            raise ValueError(f"{name} holds codes outside [0, {n_classes}) for classes {list(class_names)}")
    return yt, yp, list(range(n_classes))


def _report(yt: np.ndarray, yp: np.ndarray, labels: list[int], class_names: Sequence[str]) -> dict:
    return classification_report(
        yt, yp, labels=labels, target_names=list(class_names), output_dict=True, zero_division=0
    )


def classification_metrics(y_true, y_pred, class_names: Sequence[str]) -> dict[str, float]:
    """`{"acc": percent, "precision", "recall", "f1": weighted averages in [0, 1]}`."""
    yt, yp, labels = _checked(y_true, y_pred, class_names)
    weighted = _report(yt, yp, labels, class_names)["weighted avg"]
    return {
        "acc": 100.0 * float(accuracy_score(yt, yp)),
        "precision": float(weighted["precision"]),
        "recall": float(weighted["recall"]),
        "f1": float(weighted["f1-score"]),
    }


def class_report_frame(y_true, y_pred, class_names: Sequence[str]) -> pd.DataFrame:
    """The original's class-report CSV: columns `index, precision, recall, f1-score, support`; one row per class
    in class order, then `accuracy` (its value repeated in all four columns), `macro avg`, `weighted avg`."""
    yt, yp, labels = _checked(y_true, y_pred, class_names)
    report = _report(yt, yp, labels, class_names)
    rows = {name: report[name] for name in class_names}
    acc = float(accuracy_score(yt, yp))
    rows["accuracy"] = {"precision": acc, "recall": acc, "f1-score": acc, "support": acc}
    rows["macro avg"] = report["macro avg"]
    rows["weighted avg"] = report["weighted avg"]
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    frame = frame[["precision", "recall", "f1-score", "support"]]
    frame.index.name = None
    return frame.reset_index()


def confusion_frame(y_true, y_pred, class_names: Sequence[str]) -> pd.DataFrame:
    """Confusion matrix (rows = true, columns = predicted), first column `index` = true label name."""
    yt, yp, labels = _checked(y_true, y_pred, class_names)
    cm = confusion_matrix(yt, yp, labels=labels)
    frame = pd.DataFrame(cm, index=list(class_names), columns=list(class_names))
    return frame.reset_index()
