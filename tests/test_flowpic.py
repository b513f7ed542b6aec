"""Flowpic binning against the worked examples of docs/original-behaviour.md (Flowpic construction) and against
np.histogram2d."""

import numpy as np
import pytest

from tcbench.features.flowpic import PacketSeries, flowpic, flowpic_matrix
from tcbench.features.flowpic_store import build_flowpic_store, load_flowpic_store, save_flowpic_store


@pytest.mark.parametrize(
    ("t", "s", "pixel"),
    [
        (0.0, 0, (0, 0)),
        (0.46875, 46.875, (1, 1)),
        (14.99, 1500, (31, 31)),
        (7.5, 1600, (31, 16)),  # size clipped to 1500 -> last (closed) size bin
    ],
)
def test_reference_examples_dim32(t, s, pixel):
    pic = flowpic(np.array([t]), np.array([s]), 32)
    assert pic.dtype == np.uint8 and pic.shape == (32, 32)
    assert pic[pixel] == 1 and pic.sum() == 1


def test_packets_at_or_after_block_duration_and_negative_times_are_dropped():
    pic = flowpic(np.array([-0.1, 15.0, 20.0, 14.999]), np.array([100, 100, 100, 100]), 32)
    assert pic.sum() == 1 and pic[2, 31] == 1


def test_counts_clip_at_255():
    pic = flowpic(np.zeros(1000), np.full(1000, 1412), 32)
    assert pic[30, 0] == 255 and pic.sum() == 255


def test_dim1500_size_1499_and_1500_share_last_bin():
    pic = flowpic(np.array([0.0, 0.0]), np.array([1499, 1500]), 1500)
    assert pic[1499, 0] == 2


def test_block_duration_scales_time_axis():
    pic = flowpic(np.array([5.0]), np.array([10]), 32, block_duration=10.0)
    assert pic[0, 16] == 1


@pytest.mark.parametrize("dim", [32, 64, 1500])
def test_matrix_equals_histogram2d(dim):
    rng = np.random.default_rng(7)
    times = [np.sort(rng.uniform(-1, 20, rng.integers(0, 2000))) for _ in range(40)]
    sizes = [rng.integers(-10, 1700, len(t)).astype(np.int16) for t in times]
    matrix = flowpic_matrix(PacketSeries.from_lists(times, sizes), dim)
    assert matrix.shape == (40, dim * dim) and matrix.dtype == np.uint8
    for i, (t, s) in enumerate(zip(times, sizes)):
        keep = (t < 15) & (t >= 0)
        x = np.clip(s[keep], 0, 1500) / 1500 * dim
        y = t[keep] / 15 * dim
        expected, _, _ = np.histogram2d(x, y, bins=(range(dim + 1), range(dim + 1)))
        np.testing.assert_array_equal(matrix[i].toarray().ravel(), np.clip(expected, 0, 255).astype(np.uint8).ravel())


def test_invalid_dim_names_valid_values():
    with pytest.raises(ValueError, match=r"valid values: \[32, 64, 1500\]"):
        flowpic(np.zeros(1), np.zeros(1), 48)


def test_store_round_trip(tmp_path, tiny_dataset):
    store = build_flowpic_store(tiny_dataset / "ucdavis-icdm19.parquet", 32)
    path = save_flowpic_store(store, tmp_path / "fp.npz")
    loaded = load_flowpic_store(path)
    assert loaded.dim == 32 and loaded.block_duration == 15.0
    assert (loaded.matrix != store.matrix).nnz == 0
    np.testing.assert_array_equal(loaded.row_ids, np.arange(len(loaded.row_ids)))
    rows = loaded.rows_for(np.array([5, 2]))
    assert (rows[0] != store.matrix[5]).nnz == 0 and (rows[1] != store.matrix[2]).nnz == 0
    assert not list(tmp_path.glob(".*tmp"))


def test_store_rejects_garbage(tmp_path):
    bad = tmp_path / "fp.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable flowpic store"):
        load_flowpic_store(bad)


def test_series_take_and_window():
    times = [np.array([0.0, 1.0, 40.0]), np.array([]), np.array([0.0, 29.0, 31.0, 33.0])]
    sizes = [np.array([1, 2, 3], dtype=np.int16), np.array([], dtype=np.int16), np.array([4, 5, 6, 7], dtype=np.int16)]
    series = PacketSeries.from_lists(times, sizes)
    taken = series.take(np.array([2, 0, 1, 2]), max_time=30.0)
    np.testing.assert_array_equal(np.diff(taken.offsets), [2, 2, 0, 2])
    np.testing.assert_array_equal(taken.sizes, [4, 5, 1, 2, 4, 5])
    np.testing.assert_array_equal(series.last_times(), [40.0, 0.0, 33.0])


def test_read_flow_series_matches_parquet(tiny_dataset):
    import pyarrow.parquet as pq

    from tcbench.features.flowpic_store import read_flow_series

    parquet = tiny_dataset / "ucdavis-icdm19.parquet"
    rows = np.array([40, 3, 3, 100])
    series, last = read_flow_series(parquet, rows, max_time=31.0)
    table = pq.read_table(parquet, columns=["row_id", "timetofirst", "pkts_size"]).to_pydict()
    for i, row in enumerate(rows):
        t = np.array(table["timetofirst"][row])
        s = np.array(table["pkts_size"][row])
        got = slice(series.offsets[i], series.offsets[i + 1])
        np.testing.assert_array_equal(series.times[got], t[t < 31.0])
        np.testing.assert_array_equal(series.sizes[got], s[t < 31.0])
        assert last[i] == t[-1]
