"""Packet-series representation for XGBoost (docs/original-behaviour.md, Packet-series features), for many flows
at once.

Per flow and ``n = max_n_pkts`` (10 or 30) the feature vector has ``3n`` float64 values
``[size_0..size_{n-1}, iat_0..iat_{n-1}, dir_0..dir_{n-1}]``:

- ``size_i``: the first n packet sizes (no clipping);
- ``iat_i``: the inter-arrival times of the whole ``timetofirst`` series, ``[0, t1 - t0, t2 - t1, ...]``,
  truncated to n (the first IAT is 0 even when ``t0 > 0``, as in mirage's filtered series);
- ``dir_i``: the first n packet directions;

each zero-padded to n for flows shorter than n. The original built a pandas frame per flow; here a whole dataset
is one gather over the flat packet arrays: flow ``i`` contributes ``k_i = min(len_i, n)`` packets, whose flat
positions ``offsets[i] + j`` (``j < k_i``) are computed with offsets arithmetic, so the cost is O(N * n), not
O(packets), once the columns are read.

Directions are not part of :class:`~tcbench.features.flowpic.PacketSeries` (flowpics ignore them):
:func:`pktseries_features` takes them as a separate flat array aligned with ``series.times``.

Features of the first ``m <= n`` packets are a column subset of the n-packet features
(:func:`truncate_features`), so one n=30 matrix serves the n=10 runs too. Reading a whole dataset costs about as
much as the parquet decode of its three packet columns (~1.5 s for the full ucdavis-icdm19, 45 M packets).

:class:`MinMaxScaler` reproduces ``sklearn.preprocessing.MinMaxScaler()`` (fit on the training rows, applied to
every subset, no clipping) without importing sklearn, which costs ~2 s per run process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tcbench.data.checks import check_packet_series, check_schema
from tcbench.data.parquet import DatasetError, list_values, open_parquet, read_row_group
from tcbench.features.flowpic import PacketSeries

VALID_MAX_N_PKTS = (10, 30)
PKTSERIES_COLUMNS = ("row_id", "timetofirst", "pkts_size", "pkts_dir")


def _gather(
    times: np.ndarray, sizes: np.ndarray, directions: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n: int
) -> np.ndarray:
    """(len(starts), 3n) features of the flows whose packets are ``[starts[i], starts[i] + lengths[i])``."""
    n_flows = len(starts)
    out = np.zeros((n_flows, 3 * n), dtype=np.float64)
    kept = np.minimum(lengths, n).astype(np.int64)
    total = int(kept.sum())
    if total == 0:
        return out
    rows = np.repeat(np.arange(n_flows, dtype=np.int64), kept)
    first = np.cumsum(kept) - kept  # position in the flat "kept" array of each flow's first packet
    cols = np.arange(total, dtype=np.int64) - np.repeat(first, kept)  # packet index j within its flow
    src = np.repeat(starts.astype(np.int64, copy=False), kept) + cols  # flat packet position
    prev = np.where(cols > 0, src - 1, src)  # j == 0 -> IAT 0
    flat_out = rows * (3 * n) + cols
    out_flat = out.reshape(-1)
    out_flat[flat_out] = sizes[src]
    out_flat[flat_out + n] = times[src] - times[prev]
    out_flat[flat_out + 2 * n] = directions[src]
    return out


def check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"max_n_pkts must be a positive integer, got {n!r}")
    return int(n)


def pktseries_features(series: PacketSeries, n: int, directions: np.ndarray) -> np.ndarray:
    """(n_flows, 3n) float64 packet-series features (module docstring) of every flow of ``series``.

    ``directions`` is the flat ``pkts_dir`` array aligned with ``series.times`` / ``series.sizes``.
    """
    n = check_n(n)
    directions = np.asarray(directions)
    if directions.shape != series.sizes.shape:
        raise ValueError(f"directions ({directions.shape}) must align with the packet arrays ({series.sizes.shape})")
    offsets = np.asarray(series.offsets, dtype=np.int64)
    return _gather(series.times, series.sizes, directions, offsets[:-1], np.diff(offsets), n)


def truncate_features(features: np.ndarray, n_from: int, n_to: int) -> np.ndarray:
    """Features for ``n_to`` packets taken from features built for ``n_from >= n_to`` packets (exactly equal)."""
    if not 1 <= n_to <= n_from or features.shape[1] != 3 * n_from:
        raise ValueError(f"cannot truncate {features.shape[1]} columns (n={n_from}) to n={n_to}")
    cols = (np.arange(3)[:, None] * n_from + np.arange(n_to)[None, :]).reshape(-1)
    return features[:, cols]


def read_pktseries_features(
    parquet_path: str | Path, row_ids: np.ndarray | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row_ids, (N, 3n) features) of a curated parquet, streamed one row group at a time.

    ``row_ids=None``: every flow, sorted by row_id. Otherwise exactly the requested flows, in the requested order
    (duplicates allowed); a row_id absent from the file raises ``KeyError``. Only the features of the selected
    flows are gathered, but every row group is decoded: parquet list columns cannot be sliced before reading.
    """
    n = check_n(n)
    wanted = None if row_ids is None else np.asarray(row_ids, dtype=np.int64)
    wanted_unique = None if wanted is None else np.unique(wanted)
    ids_parts, feat_parts = [], []
    with open_parquet(parquet_path) as pf:
        check_schema(pf.schema_arrow, parquet_path, PKTSERIES_COLUMNS)
        n_groups = pf.metadata.num_row_groups
    for group in range(n_groups):
        if wanted_unique is not None:
            group_ids = read_row_group(parquet_path, group, ["row_id"]).column(0).to_numpy()
            if not np.isin(group_ids, wanted_unique).any():
                continue
        table = read_row_group(parquet_path, group, PKTSERIES_COLUMNS)
        ids = table.column("row_id").to_numpy().astype(np.int64, copy=False)
        times, offsets = list_values(table.column("timetofirst"), "timetofirst", parquet_path)
        sizes, size_offsets = list_values(table.column("pkts_size"), "pkts_size", parquet_path)
        dirs, dir_offsets = list_values(table.column("pkts_dir"), "pkts_dir", parquet_path)
        if not (np.array_equal(offsets, size_offsets) and np.array_equal(offsets, dir_offsets)):
            raise DatasetError(
                f"{parquet_path}: timetofirst, pkts_size and pkts_dir differ in length for some flow "
                f"of row group {group}"
            )
        check_packet_series(times, offsets, ids, parquet_path)
        starts, lengths = offsets[:-1], np.diff(offsets)
        if wanted_unique is not None:
            keep = np.isin(ids, wanted_unique)
            ids, starts, lengths = ids[keep], starts[keep], lengths[keep]
        ids_parts.append(ids)
        feat_parts.append(_gather(times, sizes, dirs, starts, lengths, n))
    all_ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int64)
    features = np.concatenate(feat_parts) if feat_parts else np.zeros((0, 3 * n), dtype=np.float64)
    order = np.argsort(all_ids, kind="stable")
    all_ids, features = all_ids[order], features[order]
    if len(all_ids) > 1 and not (np.diff(all_ids) > 0).all():
        raise ValueError(f"{parquet_path}: duplicate row_id values")
    if wanted is None:
        return all_ids, features
    positions = np.clip(np.searchsorted(all_ids, wanted), 0, max(len(all_ids) - 1, 0))
    if len(all_ids) == 0 or not np.array_equal(all_ids[positions], wanted):
        missing = np.setdiff1d(wanted, all_ids)[:5]
        raise KeyError(f"{parquet_path}: row_ids not in the dataset: {missing.tolist()} ...")
    return wanted.copy(), features[positions]


class MinMaxScaler:
    """``sklearn.preprocessing.MinMaxScaler()`` (feature_range (0, 1), clip=False), bit-for-bit.

    fit: per-feature min and max of the training rows (NaN ignored); ``scale = 1 / (max - min)`` with a range
    below ``10 * eps`` replaced by 1 (sklearn's ``_handle_zeros_in_scale``), ``offset = -min * scale``.
    transform: ``x * scale + offset`` in float64, as sklearn computes it (so a constant training feature maps its
    training value to 0 and any other value v to ``v - min``); out-of-range values are not clipped.
    """

    def __init__(self) -> None:
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.min_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> MinMaxScaler:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"MinMaxScaler.fit needs a non-empty 2-D array, got shape {x.shape}")
        data_min = np.nanmin(x, axis=0)
        data_max = np.nanmax(x, axis=0)
        data_range = data_max - data_min
        safe_range = data_range.copy()
        safe_range[data_range < 10 * np.finfo(np.float64).eps] = 1.0
        self.scale_ = 1.0 / safe_range
        self.min_ = 0.0 - data_min * self.scale_
        self.data_min_, self.data_max_ = data_min, data_max
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.scale_ is None or self.min_ is None:
            raise RuntimeError("MinMaxScaler.transform called before fit")
        out = np.array(x, dtype=np.float64, copy=True)
        if out.ndim != 2 or out.shape[1] != len(self.scale_):
            raise ValueError(f"expected (N, {len(self.scale_)}) features, got shape {out.shape}")
        out *= self.scale_
        out += self.min_
        return out

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)
