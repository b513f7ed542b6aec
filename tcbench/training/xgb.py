"""XGBoost model of the XGBoost augment-at-loading runs (docs/original-behaviour.md, XGBoost).

The original trains ``xgboost.XGBClassifier(objective="multi:softprob", random_state=seed)`` and leaves every
other hyper-parameter at the library default of **xgboost 1.7.5**. :func:`train_xgboost` trains the very same
model with xgboost's native API (``xgboost.train`` on a ``QuantileDMatrix``, the exact calls and parameters
``XGBClassifier.fit`` makes; tests check that the model JSON and probabilities are identical). The scikit-learn
wrapper is avoided because, when scikit-learn is installed, ``import xgboost`` imports ``sklearn.base``: 2.0 s
instead of 0.6 s per run process. :func:`import_xgboost` imports xgboost with scikit-learn hidden when nothing in
the process has imported scikit-learn yet (``xgboost.XGBClassifier`` is then unusable in that process; the
native ``Booster`` API is complete).

Defaults of the installed xgboost (3.x) that differ from 1.7.5 and change the trained model (checked on 3.2.0
through ``Booster.save_config()``, against the xgboost 1.7 parameter docs):

- ``tree_method``: 1.7's ``"auto"`` meant ``exact`` (every split candidate enumerated) for in-memory,
  single-machine training (``approx`` only when distributed or external memory); since 2.0 the default is
  ``hist`` (updater ``grow_quantile_histmaker``, each feature quantised into ``max_bin=256`` bins), and the
  scikit-learn wrapper feeds it a ``QuantileDMatrix``. ``tree_method="exact"`` would bring the 1.7 algorithm back.
- ``base_score`` (intercept): 1.7 used a constant 0.5 for every class, a no-op under softmax; since 3.1 a
  per-class intercept is estimated from the training labels (saved as a vector). It changes the trees when the
  classes are imbalanced; with the balanced 100-per-class ucdavis splits the intercepts are nearly equal.
- unchanged: ``n_estimators=100`` boosting rounds, ``max_depth=6``, ``learning_rate=0.3``,
  ``min_child_weight=1``, ``gamma=0``, ``subsample=1``, ``colsample_by*=1``, ``reg_lambda=1``, ``reg_alpha=0``,
  ``max_delta_step=0``, ``grow_policy="depthwise"``, ``booster="gbtree"``, one tree per class and round
  (``multi_strategy="one_output_per_tree"``), ``missing=NaN``.

Inputs: a dense float array (scaled packet series, or flowpic counts / 255) or a scipy CSR matrix (flowpic
counts / 255; a 1500x1500 flowpic has 2.25 M features and is never densified). XGBoost treats the entries a CSR
matrix does not store as *missing* rather than 0, so a CSR input and the same matrix densified can give
different trees (missing values take a learned default branch); the original always passed dense arrays, where 0
is a value. Dense input at dims 32 / 64 (1 024 / 4 096 features) keeps the original's semantics.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from tcbench.atomic import atomic_write

if TYPE_CHECKING:
    import xgboost

OBJECTIVE = "multi:softprob"
N_ESTIMATORS = 100  # XGBClassifier's default number of boosting rounds (unchanged since 1.x)
# What XGBClassifier.save_model stores in the file, so XGBClassifier.load_model reads our files as its own.
_SKLEARN_ATTR = json.dumps({"_estimator_type": "classifier"})


def import_xgboost() -> ModuleType:
    """``xgboost``, imported without scikit-learn when no scikit-learn module is loaded yet (module docstring)."""
    if "xgboost" in sys.modules:
        return sys.modules["xgboost"]
    if any(name == "sklearn" or name.startswith("sklearn.") for name in sys.modules):
        import xgboost as xgb

        return xgb
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # makes `import sklearn` raise ImportError
    try:
        import xgboost as xgb
    finally:
        if sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]
    return xgb


def _check_x(x) -> None:
    if not (isinstance(x, np.ndarray) or sp.issparse(x)) or x.ndim != 2:
        raise TypeError(f"features must be a 2-D numpy array or scipy sparse matrix, got {type(x).__name__}")
    if sp.issparse(x) and x.format != "csr":
        raise TypeError(f"sparse features must be CSR, got {x.format}")


def train_xgboost(x_train, y_train: np.ndarray, *, seed: int, threads: int, num_classes: int) -> xgboost.Booster:
    """One fit on all rows of ``XGBClassifier(objective="multi:softprob", random_state=seed, n_jobs=threads)``.

    Returns the trained ``xgboost.Booster`` (what ``XGBClassifier.get_booster()`` would hold). Every other
    parameter is the installed library's default (module docstring: how they differ from xgboost 1.7.5).
    ``y_train`` holds class codes; like XGBClassifier, every code of ``[0, num_classes)`` must occur in it.
    """
    xgb = import_xgboost()
    _check_x(x_train)
    y = np.asarray(y_train).astype(np.int64, copy=False)
    if y.ndim != 1 or len(y) != x_train.shape[0]:
        raise ValueError(f"{x_train.shape[0]} feature rows but labels of shape {y.shape}")
    if num_classes < 3:
        # XGBClassifier switches to binary:logistic below 3 classes; ucdavis has 5, so that path is not replicated.
        raise ValueError(f"multi:softprob training needs at least 3 classes, got {num_classes}")
    present = np.unique(y)
    if not np.array_equal(present, np.arange(num_classes)):
        raise ValueError(f"training labels must cover every class 0..{num_classes - 1}, found {present.tolist()}")
    # The same DMatrix type and parameters XGBClassifier.fit builds (tree_method/device default, max_bin None).
    dtrain = xgb.QuantileDMatrix(x_train, label=y, nthread=int(threads), max_bin=None)
    params = {"objective": OBJECTIVE, "n_jobs": int(threads), "random_state": int(seed), "num_class": int(num_classes)}
    return xgb.train(params, dtrain, N_ESTIMATORS, evals=[], verbose_eval=False)


def predict_proba(model: xgboost.Booster, x) -> np.ndarray:
    """(N, num_classes) class probabilities, computed as XGBClassifier.predict_proba does (``inplace_predict``)."""
    _check_x(x)
    proba = model.inplace_predict(x)
    return np.asarray(proba).reshape(x.shape[0], -1)


def predict_classes(model: xgboost.Booster, x) -> np.ndarray:
    """Predicted class codes (int64): argmax of the probabilities, first class on ties (``np.argmax``)."""
    return np.argmax(predict_proba(model, x), axis=1).astype(np.int64)


def model_json_bytes(model: xgboost.Booster) -> bytes:
    """The model file content: xgboost's JSON document, with XGBClassifier.save_model's scikit_learn attribute."""
    model.set_attr(scikit_learn=_SKLEARN_ATTR)
    try:
        return bytes(model.save_raw(raw_format="json"))
    finally:
        model.set_attr(scikit_learn=None)


def save_model(model: xgboost.Booster, path: str | Path) -> Path:
    """Write the JSON model file (the original's ``xgb_model_split_<k>.json``) atomically."""
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"{path}: the model file must end in .json")
    content = model_json_bytes(model)
    return atomic_write(path, lambda tmp: tmp.write_bytes(content), durable=True)


def load_model(path: str | Path) -> xgboost.Booster:
    """A fresh Booster read from a file written by :func:`save_model` (the original reloads before testing)."""
    xgb = import_xgboost()
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(1)
    if head != b"{":
        raise ValueError(f"{path}: not an xgboost JSON model")
    model = xgb.Booster(model_file=str(path))
    model.set_attr(scikit_learn=None)
    return model
