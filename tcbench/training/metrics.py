"""Classification metrics and the per-run report frames (`<ctx>_class_rep.csv`, `<ctx>_conf_mtx.csv`).

Scales follow the original (docs/original-behaviour.md, Metrics and contexts): `acc` in percent, precision/recall/f1
as the weighted-average row of sklearn's classification report, fractions in [0, 1]. Every class is always listed;
the original let sklearn infer the labels from the data and then renamed rows by position, so a class absent from
both y and y_pred shifted every later label (docs/original-behaviour.md, Known weaknesses of the original, item 11).

Computed with numpy from the confusion matrix, with sklearn's formulas and zero_division=0 (tests check equality
with sklearn): importing sklearn.metrics costs about 2 s per process on the reference machine, a quarter of a
dim-32 run, and every run is its own process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def _checked(y_true, y_pred, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true).astype(np.int64, copy=False)
    yp = np.asarray(y_pred).astype(np.int64, copy=False)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {yt.shape} and {yp.shape}")
    n_classes = len(class_names)
    for name, y in (("y_true", yt), ("y_pred", yp)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            # sklearn would silently ignore labels outside `labels`; a wrong code is a bug upstream.
            raise ValueError(f"{name} holds codes outside [0, {n_classes}) for classes {list(class_names)}")
    return yt, yp


def confusion_counts(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(C, C) int64 matrix, rows = true class, columns = predicted class."""
    return np.bincount(np.asarray(y_true) * n_classes + np.asarray(y_pred), minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    fp, fn = predicted - tp, support - tp
    return {
        "precision": _divide(tp, predicted),
        "recall": _divide(tp, support),
        "f1-score": _divide(2 * tp, 2 * tp + fn + fp),
        "support": support,
    }


def _weighted(values: np.ndarray, support: np.ndarray) -> float:
    total = support.sum()
    return float(np.average(values, weights=support)) if total > 0 else 0.0


def classification_metrics(y_true, y_pred, class_names: Sequence[str]) -> dict[str, float]:
    """`{"acc": percent, "precision", "recall", "f1": weighted averages in [0, 1]}`."""
    yt, yp = _checked(y_true, y_pred, class_names)
    cm = confusion_counts(yt, yp, len(class_names))
    per_class = _per_class(cm)
    support = per_class["support"]
    return {
        "acc": 100.0 * float(np.trace(cm) / cm.sum()) if cm.sum() else 0.0,
        "precision": _weighted(per_class["precision"], support),
        "recall": _weighted(per_class["recall"], support),
        "f1": _weighted(per_class["f1-score"], support),
    }


def class_report_frame(y_true, y_pred, class_names: Sequence[str]) -> pd.DataFrame:
    """The original's class-report CSV: columns `index, precision, recall, f1-score, support`; one row per class
    in class order, then `accuracy` (its value repeated in all four columns), `macro avg`, `weighted avg`."""
    yt, yp = _checked(y_true, y_pred, class_names)
    cm = confusion_counts(yt, yp, len(class_names))
    per_class = _per_class(cm)
    columns = ["precision", "recall", "f1-score"]
    frame = pd.DataFrame(per_class, index=list(class_names), dtype=float)[columns + ["support"]]
    total = per_class["support"].sum()
    acc = float(np.trace(cm) / total) if total else 0.0
    frame.loc["accuracy"] = [acc] * 4
    frame.loc["macro avg"] = [float(per_class[c].mean()) for c in columns] + [total]
    frame.loc["weighted avg"] = [_weighted(per_class[c], per_class["support"]) for c in columns] + [total]
    return frame.reset_index(names="index")


def confusion_frame(y_true, y_pred, class_names: Sequence[str]) -> pd.DataFrame:
    """Confusion matrix (rows = true, columns = predicted), first column `index` = true label name."""
    yt, yp = _checked(y_true, y_pred, class_names)
    cm = confusion_counts(yt, yp, len(class_names))
    return pd.DataFrame(cm, index=list(class_names), columns=list(class_names)).reset_index(names="index")


def check_finite(metrics: Mapping[str, Mapping[str, float]]) -> None:
    """FloatingPointError naming every non-finite metric: a diverged run must not be recorded as a result."""
    bad = [f"{ctx}/{name}" for ctx, values in metrics.items() for name, v in values.items() if not np.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite metric(s) {bad}: the run diverged; no result is written")
