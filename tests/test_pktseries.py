"""Packet-series features (docs/original-behaviour.md, Packet-series features) against a slow per-flow reference;
MinMaxScaler against sklearn."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tcbench.features.flowpic import PacketSeries
from tcbench.features.pktseries import (
    MinMaxScaler,
    pktseries_features,
    read_pktseries_features,
    truncate_features,
)


def reference_features(times, sizes, dirs, n):
    """The original's definition, one flow at a time."""
    times = np.asarray(times, dtype=np.float64)
    iat = np.concatenate([[0.0], np.diff(times)]) if len(times) else np.zeros(0)

    def pad(values):
        out = np.zeros(n)
        values = np.asarray(values, dtype=np.float64)[:n]
        out[: len(values)] = values
        return out

    return np.concatenate([pad(sizes), pad(iat), pad(dirs)])


def hand_made_flows():
    rng = np.random.default_rng(7)
    flows = [
        ([0.0], [60], [1]),  # one packet
        ([], [], []),  # empty flow
        ([0.0, 0.5, 0.75, 2.0], [1500, 40, 1600, 0], [0, 1, 1, 0]),  # shorter than n; size 1600 is not clipped
        ([0.25, 0.5, 1.0], [100, 200, 300], [1, 0, 1]),  # t0 > 0 (mirage): first IAT is still 0
    ]
    for length in (10, 11, 30, 31, 57):
        times = np.cumsum(rng.exponential(0.1, length))
        times -= times[0]
        flows.append((times, rng.integers(0, 1500, length), rng.integers(0, 2, length)))
    return flows


def as_series(flows):
    times = [np.asarray(t, dtype=np.float64) for t, _, _ in flows]
    sizes = [np.asarray(s, dtype=np.int16) for _, s, _ in flows]
    dirs = np.concatenate([np.asarray(d, dtype=np.int8) for _, _, d in flows])
    return PacketSeries.from_lists(times, sizes), dirs


@pytest.mark.parametrize("n", [1, 10, 30])
def test_features_match_per_flow_reference(n):
    flows = hand_made_flows()
    series, dirs = as_series(flows)
    got = pktseries_features(series, n, dirs)
    assert got.dtype == np.float64 and got.shape == (len(flows), 3 * n)
    expected = np.stack([reference_features(t, s, d, n) for t, s, d in flows])
    np.testing.assert_array_equal(got, expected)


def test_feature_layout_by_hand():
    series, dirs = as_series([([0.0, 0.5, 0.75], [100, 200, 1600], [0, 1, 1])])
    got = pktseries_features(series, 4, dirs)
    np.testing.assert_array_equal(got[0], [100, 200, 1600, 0, 0, 0.5, 0.25, 0, 0, 1, 1, 0])


def test_truncate_equals_direct_computation():
    series, dirs = as_series(hand_made_flows())
    np.testing.assert_array_equal(truncate_features(pktseries_features(series, 30, dirs), 30, 10),
                                  pktseries_features(series, 10, dirs))


def test_rejects_misaligned_directions_and_bad_n():
    series, dirs = as_series(hand_made_flows())
    with pytest.raises(ValueError):
        pktseries_features(series, 10, dirs[:-1])
    with pytest.raises(ValueError):
        pktseries_features(series, 0, dirs)


def write_parquet(path, flows, row_ids, row_group_size):
    table = pa.table({
        "row_id": pa.array(row_ids, pa.int64()),
        "timetofirst": pa.array([list(map(float, t)) for t, _, _ in flows], pa.list_(pa.float64())),
        "pkts_size": pa.array([list(map(int, s)) for _, s, _ in flows], pa.list_(pa.int16())),
        "pkts_dir": pa.array([list(map(int, d)) for _, _, d in flows], pa.list_(pa.int8())),
    })
    pq.write_table(table, path, row_group_size=row_group_size)


def test_read_from_parquet_all_and_selected(tmp_path):
    flows = hand_made_flows()
    row_ids = np.arange(len(flows))[::-1].copy()  # stored out of order, over several row groups
    path = tmp_path / "flows.parquet"
    write_parquet(path, flows, row_ids, row_group_size=3)
    expected = {rid: reference_features(*flow, 10) for rid, flow in zip(row_ids, flows)}

    ids, feats = read_pktseries_features(path, None, 10)
    np.testing.assert_array_equal(ids, np.arange(len(flows)))
    np.testing.assert_array_equal(feats, np.stack([expected[i] for i in ids]))

    wanted = np.array([5, 0, 7, 5])  # requested order kept, duplicates allowed
    ids, feats = read_pktseries_features(path, wanted, 10)
    np.testing.assert_array_equal(ids, wanted)
    np.testing.assert_array_equal(feats, np.stack([expected[i] for i in wanted]))

    with pytest.raises(KeyError):
        read_pktseries_features(path, np.array([0, 99]), 10)


def test_read_tiny_dataset_matches_in_memory_computation(tiny_dataset):
    parquet = tiny_dataset / "ucdavis-icdm19.parquet"
    table = pq.read_table(parquet, columns=["row_id", "timetofirst", "pkts_size", "pkts_dir"])
    flows = list(zip(table.column("timetofirst").to_pylist(), table.column("pkts_size").to_pylist(),
                     table.column("pkts_dir").to_pylist()))
    order = np.argsort(table.column("row_id").to_numpy())
    ids, feats = read_pktseries_features(parquet, None, 30)
    assert feats.shape == (len(flows), 90)
    np.testing.assert_array_equal(ids, table.column("row_id").to_numpy()[order])
    np.testing.assert_array_equal(feats, np.stack([reference_features(*flows[i], 30) for i in order]))


def test_minmax_scaler_equals_sklearn():
    from sklearn.preprocessing import MinMaxScaler as SkMinMaxScaler

    rng = np.random.default_rng(3)
    train = rng.normal(5, 3, (200, 12))
    train[:, 4] = 7.0  # constant feature: sklearn's scale 1, offset -min
    train[:, 8] = 0.0
    train[:, 9] = rng.integers(0, 2, 200)
    test = rng.normal(5, 6, (100, 12))  # out-of-range values stay unclipped
    ours, ref = MinMaxScaler().fit(train), SkMinMaxScaler().fit(train)
    np.testing.assert_array_equal(ours.scale_, ref.scale_)
    np.testing.assert_array_equal(ours.min_, ref.min_)
    for x in (train, test):
        np.testing.assert_array_equal(ours.transform(x), ref.transform(x))
    assert (ours.transform(train)[:, 4] == 0).all() and ours.transform(test).max() > 1
    np.testing.assert_array_equal(MinMaxScaler().fit_transform(train), ref.transform(train))


def test_minmax_scaler_rejects_unfitted_and_wrong_width():
    with pytest.raises(RuntimeError):
        MinMaxScaler().transform(np.zeros((2, 3)))
    scaler = MinMaxScaler().fit(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError):
        scaler.transform(np.zeros((2, 4)))


