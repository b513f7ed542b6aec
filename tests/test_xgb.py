"""XGBoost building blocks: learnable toy problems (dense and CSR), determinism, save/load, XGBClassifier parity."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from tcbench.training.xgb import load_model, predict_classes, predict_proba, save_model, train_xgboost

N_CLASSES = 5


def toy_problem(n_rows=300, n_features=12, seed=0):
    """Class c shifts feature c up: learnable, with noise features."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(N_CLASSES), n_rows // N_CLASSES)
    x = rng.random((len(y), n_features))
    x[np.arange(len(y)), y] += 1.0
    return x, y


def sparse_toy_problem(n_rows=300, n_features=400, seed=1):
    """Flowpic-like: mostly zeros, counts/255, class c lights up its own block of columns."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(N_CLASSES), n_rows // N_CLASSES)
    dense = np.zeros((len(y), n_features))
    for i, c in enumerate(y):
        cols = rng.choice(np.arange(c * 20, c * 20 + 20), 5, replace=False)
        dense[i, cols] = rng.integers(1, 256, 5) / 255
        noise = rng.choice(n_features, 5, replace=False)
        dense[i, noise] = rng.integers(1, 256, 5) / 255
    return sp.csr_matrix(dense), y


def model_doc(model):
    return json.loads(bytes(model.save_raw(raw_format="json")))


def test_dense_learns_and_is_deterministic():
    x, y = toy_problem()
    xt, yt = toy_problem(seed=5)
    m1 = train_xgboost(x, y, seed=12345, threads=1, num_classes=N_CLASSES)
    m2 = train_xgboost(x, y, seed=12345, threads=2, num_classes=N_CLASSES)
    pred = predict_classes(m1, xt)
    assert pred.dtype == np.int64 and (pred == yt).mean() > 0.9
    np.testing.assert_array_equal(predict_proba(m1, xt), predict_proba(m2, xt))
    assert model_doc(m1) == model_doc(m2)
    proba = predict_proba(m1, xt)
    assert proba.shape == (len(yt), N_CLASSES)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_csr_learns_without_densifying_and_is_deterministic():
    x, y = sparse_toy_problem()
    xt, yt = sparse_toy_problem(seed=9)
    m1 = train_xgboost(x, y, seed=1, threads=1, num_classes=N_CLASSES)
    m2 = train_xgboost(x, y, seed=1, threads=1, num_classes=N_CLASSES)
    assert (predict_classes(m1, xt) == yt).mean() > 0.9
    np.testing.assert_array_equal(predict_proba(m1, xt), predict_proba(m2, xt))
    assert model_doc(m1) == model_doc(m2)


def test_save_load_round_trip(tmp_path):
    x, y = toy_problem()
    model = train_xgboost(x, y, seed=3, threads=1, num_classes=N_CLASSES)
    path = save_model(model, tmp_path / "xgb_model_split_0.json")
    assert path.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    doc = json.loads(path.read_text())
    assert doc["learner"]["objective"]["name"] == "multi:softprob"
    loaded = load_model(path)
    np.testing.assert_array_equal(predict_proba(loaded, x), predict_proba(model, x))
    np.testing.assert_array_equal(predict_classes(loaded, x), predict_classes(model, x))
    with pytest.raises(ValueError):
        save_model(model, tmp_path / "model.ubj")


def test_rejects_missing_classes_and_bad_inputs():
    x, y = toy_problem()
    with pytest.raises(ValueError):
        train_xgboost(x, np.where(y == 4, 0, y), seed=0, threads=1, num_classes=N_CLASSES)
    with pytest.raises(ValueError):
        train_xgboost(x, y[:-1], seed=0, threads=1, num_classes=N_CLASSES)
    with pytest.raises(TypeError):
        train_xgboost(sp.csc_matrix(x), y, seed=0, threads=1, num_classes=N_CLASSES)


def run_python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_same_model_as_xgbclassifier_with_defaults(tmp_path):
    """The original's XGBClassifier(objective="multi:softprob", random_state=seed) and train_xgboost agree exactly:
    same model JSON (XGBClassifier.save_model's file byte for byte) and same probabilities, dense and CSR.

    Runs in a child: this process may hold an xgboost imported without scikit-learn (no XGBClassifier)."""
    out = run_python(f"""
        import sklearn.base, json, numpy as np, scipy.sparse as sp, xgboost
        from tcbench.training.xgb import train_xgboost, predict_proba, save_model
        rng = np.random.default_rng(0)
        y = np.tile(np.arange(5), 40)
        x = rng.random((200, 20)); x[np.arange(200), y] += 0.5
        xs = x.copy(); xs[xs < 0.7] = 0; xs = sp.csr_matrix(xs)
        for name, data in (("dense", x), ("csr", xs)):
            ref = xgboost.XGBClassifier(objective="multi:softprob", random_state=7, n_jobs=1).fit(data, y)
            ours = train_xgboost(data, y, seed=7, threads=1, num_classes=5)
            assert np.array_equal(ref.predict_proba(data), predict_proba(ours, data)), name
            ref.save_model(r"{tmp_path}/ref_" + name + ".json")
            save_model(ours, r"{tmp_path}/ours_" + name + ".json")
            a = open(r"{tmp_path}/ref_" + name + ".json", "rb").read()
            b = open(r"{tmp_path}/ours_" + name + ".json", "rb").read()
            assert a == b, name
        print("ok")
    """)
    assert out.strip() == "ok"


def test_run_process_does_not_import_sklearn():
    out = run_python("""
        import sys, numpy as np
        from tcbench.training.xgb import train_xgboost, predict_classes
        y = np.tile(np.arange(5), 20); x = np.random.default_rng(0).random((100, 6)); x[np.arange(100), y] += 1
        predict_classes(train_xgboost(x, y, seed=0, threads=1, num_classes=5), x)
        print(sorted(m for m in sys.modules if m.split(".")[0] == "sklearn"))
    """)
    assert out.strip() == "[]"
