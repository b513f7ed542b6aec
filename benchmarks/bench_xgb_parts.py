"""Figure: the parts of an XGBoost pktseries run on the full-scale synthetic dataset, in one process, one thread.

- read_pktseries_features for all 6 672 flows at n=10 (target: well under 2 s);
- MinMaxScaler fit on 400 train rows + transform of all rows;
- train_xgboost on 400 train rows x 30 features (80 per class from the pretraining partition, threads=1)
  and predict_classes on all 6 672 rows.

Usage: python benchmarks/bench_xgb_parts.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import ensure_full_dataset, machine

N_PKTS = 10
TRAIN_PER_CLASS = 80


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, times


def fmt(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} s (min {min(times):.3f}, {len(times)} runs)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    parquet = ensure_full_dataset() / "ucdavis-icdm19.parquet"
    print(f"machine: {machine()}")

    t0 = time.perf_counter()
    from tcbench.training.xgb import import_xgboost

    xgb = import_xgboost()
    print(f"import xgboost (scikit-learn hidden): {time.perf_counter() - t0:.2f} s, xgboost {xgb.__version__}")

    from tcbench.data import ucdavis
    from tcbench.data.labels import read_labels
    from tcbench.features.pktseries import MinMaxScaler, read_pktseries_features
    from tcbench.training.xgb import predict_classes, train_xgboost

    (row_ids, feats), times = timed(lambda: read_pktseries_features(parquet, None, N_PKTS), args.repeat)
    print(f"read_pktseries_features, all {len(row_ids)} flows, n={N_PKTS} -> {feats.shape}: {fmt(times)}")

    labels = read_labels(parquet)
    y_all = labels.app[row_ids].astype(np.int64)
    rng = np.random.default_rng(12345)
    pretraining = labels.rows_in(ucdavis.PARTITION_PRETRAINING)
    train = np.concatenate([
        rng.choice(pretraining[labels.app[pretraining] == c], TRAIN_PER_CLASS, replace=False)
        for c in range(len(ucdavis.CLASSES))
    ])
    pos = np.searchsorted(row_ids, train)

    def scale():
        scaler = MinMaxScaler().fit(feats[pos])
        return scaler.transform(feats)

    x_all, times = timed(scale, args.repeat)
    print(f"MinMaxScaler fit ({len(pos)} rows) + transform ({len(x_all)} rows): {fmt(times)}")

    model, times = timed(lambda: train_xgboost(x_all[pos], y_all[pos], seed=12345, threads=1,
                                               num_classes=len(ucdavis.CLASSES)), args.repeat)
    print(f"train_xgboost {len(pos)} rows x {x_all.shape[1]} features, 1 thread: {fmt(times)}")

    pred, times = timed(lambda: predict_classes(model, x_all), args.repeat)
    rest = np.setdiff1d(np.arange(len(y_all)), pos)
    print(f"predict_classes on {len(x_all)} rows, 1 thread: {fmt(times)} "
          f"(accuracy on the {len(rest)} non-train flows: {100 * (pred[rest] == y_all[rest]).mean():.2f} %)")


if __name__ == "__main__":
    main()
