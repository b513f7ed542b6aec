"""Property tests (hypothesis) of the flowpic binning and of the augmentations, on arbitrary packet arrays:
empty and one-packet flows, unsorted times, times on bin edges and outside the window, sizes outside
[0, 1500], several size dtypes.

Reproducible: the ``ci`` profile of conftest.py derandomizes the examples; ``HYPOTHESIS_PROFILE=explore``
draws new random ones, more of them (``_examples`` scales the per-test counts).
"""

from __future__ import annotations

import os
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tcbench.augment import (
    AUGMENTATIONS,
    IMAGE_AUGMENTATIONS,
    SERIES_AUGMENTATIONS,
    augment_at_loading,
    copies_per_sample,
    draw_parameters,
    image,
)
from tcbench.augment import series as series_mod
from tcbench.augment.views import ViewSource
from tcbench.features import flowpic as flowpic_mod
from tcbench.features.flowpic import PacketSeries, flowpic, flowpic_matrix
from tcbench.features.pktseries import pktseries_features

T = 15.0
_SCALE = 1 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 20


def _examples(n: int) -> int:
    return n * _SCALE


# ------------------------------------------------------------------------------------------------ strategies
# Times: anywhere around the window, plus the values where binning can go wrong (bin edges, T and its float
# neighbours, -0.0, tiny negatives, huge values).
_EDGE_TIMES = [0.0, -0.0, T, np.nextafter(T, 0.0), np.nextafter(T, np.inf), -1e-300, np.nextafter(0.0, -1.0), 1e300,
               -1.0, 7.5, 14.99]
time_values = st.one_of(
    st.floats(-2.0, 2 * T + 2, allow_nan=False),
    st.sampled_from(_EDGE_TIMES),
    st.integers(0, 64).map(lambda k: k * T / 64),
    st.integers(0, 32).map(lambda k: k * T / 32),
)
size_values = st.one_of(
    st.integers(-100, 1700),
    st.sampled_from([0, 1, 1499, 1500, 1501, 32767, -32768]),
    st.integers(0, 64).map(lambda k: round(k * 1500 / 64)),
)
size_dtypes = st.sampled_from([np.int16, np.int32, np.int64, np.float64])


@st.composite
def flows(draw: st.DrawFn, max_flows: int = 5, max_packets: int = 40) -> tuple[list, list]:
    """(times, sizes) lists of per-flow arrays of one size dtype; flows may be empty, times are unsorted."""
    dtype = draw(size_dtypes)
    times, sizes = [], []
    for _ in range(draw(st.integers(0, max_flows))):
        packets = draw(st.lists(st.tuples(time_values, size_values), max_size=max_packets))
        s = np.array([p[1] for p in packets], dtype=np.int64)
        times.append(np.array([p[0] for p in packets], dtype=np.float64))
        sizes.append((np.clip(s, -32768, 32767) if dtype == np.int16 else s).astype(dtype))
    return times, sizes


@st.composite
def curated_flows(draw: st.DrawFn, max_flows: int = 4, max_packets: int = 40) -> PacketSeries:
    """Flows as curated datasets hold them (sorted times from 0, int16 sizes in [0, 1500]); some are empty."""
    times, sizes = [], []
    for _ in range(draw(st.integers(1, max_flows))):
        gaps = draw(st.lists(st.floats(0.0, 3.0, allow_nan=False), max_size=max_packets))
        t = np.cumsum(np.asarray(gaps, dtype=np.float64))
        if len(t):
            t -= t[0]
        times.append(t)
        sizes.append(np.asarray(draw(st.lists(st.integers(0, 1500), min_size=len(t), max_size=len(t))), dtype=np.int16))
    return PacketSeries.from_lists(times, sizes)


def _reference_flowpic(t: np.ndarray, s: np.ndarray, dim: int, block: float = T) -> np.ndarray:
    """The flowpic of docs/original-behaviour.md (Flowpic construction) with np.histogram2d: drop t >= T (and
    t < 0 through the range), clip sizes, clip counts."""
    keep = t < block
    x = np.clip(s[keep].astype(np.float64), 0, 1500) / 1500 * dim
    y = t[keep] / block * dim
    counts, _, _ = np.histogram2d(x, y, bins=(range(dim + 1), range(dim + 1)))
    return np.clip(counts, 0, 255).astype(np.uint8)


def _rows(m: sp.csr_matrix, dim: int) -> np.ndarray:
    return m.toarray().reshape(-1, dim, dim)


def _in_window(t: np.ndarray, s: np.ndarray, block: float = T) -> int:
    """Packets the flowpic counts: ``0 <= t / T`` (a negative time that scales to -0.0 is in) and ``t < T``."""
    return int(((t / block >= 0) & (t < block) & ~np.isnan(s.astype(np.float64))).sum())


# ------------------------------------------------------------------------------------------------- flowpics
@settings(max_examples=_examples(150))
@given(data=flows(), dim=st.sampled_from([32, 64]), block=st.sampled_from([T, T, 0.3, 1.0, 60.0]))
def test_flowpic_matrix_equals_histogram2d(data, dim, block):
    times, sizes = data
    matrix = flowpic_matrix(PacketSeries.from_lists(times, sizes), dim, block)
    assert matrix.shape == (len(times), dim * dim) and matrix.dtype == np.uint8
    for row, t, s in zip(_rows(matrix, dim), times, sizes):
        np.testing.assert_array_equal(row, _reference_flowpic(t, s, dim, block))
        assert int(row.astype(np.int64).sum()) == _in_window(t, s, block)  # fewer than 256 packets: no pixel clips


@settings(max_examples=_examples(25))
@given(data=flows(max_flows=3, max_packets=30))
def test_flowpic_matrix_equals_histogram2d_at_1500(data):
    """dim 1500 takes the sorted-keys path, which relies on no ordering of the packets."""
    times, sizes = data
    matrix = flowpic_matrix(PacketSeries.from_lists(times, sizes), 1500)
    for i, (t, s) in enumerate(zip(times, sizes)):
        np.testing.assert_array_equal(matrix[i].toarray().reshape(1500, 1500), _reference_flowpic(t, s, 1500))


@settings(max_examples=_examples(60))
@given(data=flows(), dim=st.sampled_from([32, 1500]), chunk=st.integers(1, 50), block=st.sampled_from([1.0, 15.0, 60.0]))
def test_flowpic_chunking_and_permutation_do_not_change_the_result(data, dim, chunk, block):
    times, sizes = data
    whole = flowpic_matrix(PacketSeries.from_lists(times, sizes), dim, block)
    with mock.patch.object(flowpic_mod, "_PACKETS_PER_CHUNK", chunk):
        assert (flowpic_matrix(PacketSeries.from_lists(times, sizes), dim, block) != whole).nnz == 0
    reversed_flows = PacketSeries.from_lists([t[::-1] for t in times], [s[::-1] for s in sizes])
    assert (flowpic_matrix(reversed_flows, dim, block) != whole).nnz == 0


@settings(max_examples=_examples(40))
@given(t=time_values, s=size_values, n=st.integers(200, 400))
def test_flowpic_counts_clip_at_255(t, s, n):
    pic = flowpic(np.full(n, t), np.full(n, s, dtype=np.int16 if -32768 <= s <= 32767 else np.int64), 32)
    assert pic.dtype == np.uint8
    assert int(pic.astype(np.int64).sum()) == (min(n, 255) if 0 <= t / T and t < T else 0)


@settings(max_examples=_examples(60))
@given(data=flows(), picks=st.lists(st.integers(0, 10), max_size=8), max_time=st.one_of(st.none(), time_values))
def test_take_equals_per_flow_selection(data, picks, max_time):
    times, sizes = data
    series = PacketSeries.from_lists(times, sizes)
    chosen = np.array([p % len(times) for p in picks] if times else [], dtype=np.int64)
    taken = series.take(chosen, max_time)
    assert taken.n_flows == len(chosen)
    for k, i in enumerate(chosen):
        keep = np.ones(len(times[i]), bool) if max_time is None else times[i] < max_time
        np.testing.assert_array_equal(taken.times[taken.offsets[k]:taken.offsets[k + 1]], times[i][keep])
        np.testing.assert_array_equal(taken.sizes[taken.offsets[k]:taken.offsets[k + 1]], sizes[i][keep])


@settings(max_examples=_examples(40))
@given(t=st.lists(st.one_of(time_values, st.just(np.nan), st.just(-np.inf), st.just(np.inf)), max_size=20),
       nan_sizes=st.booleans())
def test_flowpic_drops_nan_and_infinite_values_like_histogram2d(t, nan_sizes):
    """Found by this file: a NaN time hid the negative ones from the read-only min, which then wrapped into the
    previous size row; NaN float sizes landed in an arbitrary bin; -5e-324 (scales to -0.0, which histogram2d
    keeps) was dropped."""
    times = np.asarray(t, dtype=np.float64)
    sizes = np.full(len(times), 700.0)
    if nan_sizes and len(sizes):
        sizes[::2] = np.nan
    pic = flowpic(times, sizes, 32)
    finite = ~np.isnan(times) & ~np.isnan(sizes)
    np.testing.assert_array_equal(pic, _reference_flowpic(times[finite], sizes[finite], 32))


# ------------------------------------------------------------------------------------- series augmentations
def _flow(series: PacketSeries, i: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = series.offsets[i], series.offsets[i + 1]
    return series.times[lo:hi], series.sizes[lo:hi]


@settings(max_examples=_examples(80))
@given(series=curated_flows(), copies=st.integers(0, 3), data=st.data())
def test_series_operations_on_each_flow(series, copies, data):
    """Each operation against its definition (docs/original-behaviour.md, The seven augmentations), flow by flow
    and copy by copy."""
    n = series.n_flows
    unit = np.asarray(data.draw(st.lists(st.floats(0, 1), min_size=copies * n, max_size=copies * n)),
                      dtype=np.float64).reshape(copies, n)
    last = series_mod.last_packet_times(series)
    params = {"changertt": 0.5 + unit, "timeshift": 2 * unit - 1, "packetloss": unit * last}
    for op, p in params.items():
        out = series_mod.augmented_series(op, series, p)
        assert out.n_flows == copies * n
        for k in range(copies):
            for i in range(n):
                t, s = _flow(series, i)
                t2, s2 = _flow(out, k * n + i)
                if op == "changertt":
                    keep = np.ones(len(t), bool)
                    np.testing.assert_array_equal(t2, t * p[k, i])
                elif op == "timeshift":
                    keep = t + p[k, i] >= 0
                    np.testing.assert_array_equal(t2, (t + p[k, i])[keep])
                else:
                    keep = ~((t >= p[k, i] - series_mod.PACKETLOSS_DELTA) & (t <= p[k, i] + series_mod.PACKETLOSS_DELTA))
                    np.testing.assert_array_equal(t2, t[keep])
                np.testing.assert_array_equal(s2, s[keep])
                assert len(t2) <= len(t) and np.isfinite(t2).all()
                assert (np.diff(t2) >= 0).all()  # every operation keeps sorted times sorted
                if op != "changertt":
                    assert (t2 >= 0).all()


@settings(max_examples=_examples(60))
@given(series=curated_flows(), aug=st.sampled_from(AUGMENTATIONS), dim=st.sampled_from([32, 64]),
       seed=st.integers(0, 2**32 - 1), aug_samples=st.integers(1, 4))
def test_augment_at_loading_properties(series, aug, dim, seed, aug_samples):
    n = series.n_flows
    fp = flowpic_matrix(series, dim)
    out = augment_at_loading(aug, fp, series, dim, T, seed, aug_samples)
    copies = copies_per_sample(aug, aug_samples)
    assert sp.isspmatrix_csr(out) and out.dtype == np.uint8 and out.shape == (copies * n, dim * dim)
    assert (augment_at_loading(aug, fp, series, dim, T, seed, aug_samples) != out).nnz == 0  # same seed, same output
    pics = _rows(out, dim).reshape(copies, n, dim, dim).astype(np.int64)
    originals = _rows(fp, dim).astype(np.int64)
    counts = np.diff(series.offsets)
    assert (pics[:, counts == 0] == 0).all()  # flows without packets stay empty whatever the augmentation
    if aug in IMAGE_AUGMENTATIONS:  # an image augmentation of an empty picture is empty
        assert (pics[:, originals.sum(axis=(1, 2)) == 0] == 0).all()
    if aug == "packetloss":  # packets are only removed: no pixel grows
        assert (pics <= originals[None]).all()
    if aug in ("changertt", "timeshift"):
        assert (pics.sum(axis=(2, 3)) <= np.minimum(counts, 255 * dim * dim)[None]).all()
    if aug == "horizontalflip":
        np.testing.assert_array_equal(pics[0], originals[:, :, ::-1])


@settings(max_examples=_examples(30))
@given(series=curated_flows(), aug=st.sampled_from(SERIES_AUGMENTATIONS), seed=st.integers(0, 1000))
def test_series_augmentation_of_a_window_equals_the_whole_flow(series, aug, seed):
    """Runs read only the packets before ``input_cutoff`` (plus the last time): same flowpics as every packet."""
    last = series_mod.last_packet_times(series)
    cut = series_mod.window(series, series_mod.input_cutoff(aug, T))
    full = augment_at_loading(aug, None, series, 32, T, seed)
    assert (augment_at_loading(aug, None, cut, 32, T, seed, last_time=last) != full).nnz == 0


# -------------------------------------------------------------------------------------- image augmentations
@st.composite
def images(draw: st.DrawFn, dim: int, max_images: int = 4) -> np.ndarray:
    n = draw(st.integers(0, max_images))
    density = draw(st.sampled_from([0.0, 0.01, 0.2, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    imgs = rng.integers(1, 256, (n, dim, dim)).astype(np.uint8)
    imgs[rng.random((n, dim, dim)) >= density] = 0
    return imgs


@settings(max_examples=_examples(30))
@given(data=st.data(), dim=st.sampled_from([32, 64]))
def test_rotate_sparse_equals_dense_and_torchvision(data, dim):
    from test_augment import _torchvision_rotate

    imgs = data.draw(images(dim))
    angles = np.asarray(data.draw(st.lists(st.floats(-180, 180), min_size=len(imgs), max_size=len(imgs))))
    dense = image.rotate_dense(imgs, angles)
    sparse = image.rotate_sparse(sp.csr_matrix(imgs.reshape(len(imgs), dim * dim)), angles, dim)
    assert sparse.shape == (len(imgs), dim * dim) and sparse.dtype == np.uint8
    np.testing.assert_array_equal(sparse.toarray().reshape(-1, dim, dim), dense)
    for img, a, d in zip(imgs, angles, dense):
        np.testing.assert_array_equal(d, _torchvision_rotate(img, float(a)))


@settings(max_examples=_examples(30))
@given(data=st.data(), dim=st.sampled_from([32, 64]))
def test_colorjitter_equals_torchvision(data, dim):
    from test_augment import _torchvision_colorjitter

    imgs = data.draw(images(dim))
    n = len(imgs)
    factors = st.lists(st.floats(0.0, 3.0), min_size=n, max_size=n)
    b, c = np.asarray(data.draw(factors)), np.asarray(data.draw(factors))
    first = np.asarray(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    out = image.colorjitter(sp.csr_matrix(imgs.reshape(n, dim * dim)), b, c, first, dim)
    assert out.shape == (n, dim * dim) and out.dtype == np.uint8
    for i in range(n):
        np.testing.assert_array_equal(out[i].toarray().reshape(dim, dim), _torchvision_colorjitter(imgs[i], b[i], c[i], first[i]))


@settings(max_examples=_examples(30))
@given(data=st.data(), dim=st.sampled_from([32, 64]))
def test_horizontal_flip_is_an_involution(data, dim):
    imgs = data.draw(images(dim))
    m = sp.csr_matrix(imgs.reshape(len(imgs), dim * dim))
    flipped = image.horizontal_flip(m, dim)
    np.testing.assert_array_equal(flipped.toarray().reshape(-1, dim, dim), imgs[:, :, ::-1])
    assert (image.horizontal_flip(flipped, dim) != m).nnz == 0


# ---------------------------------------------------------------------------------------------------- views
@settings(max_examples=_examples(30))
@given(series=curated_flows(), augs=st.lists(st.sampled_from([a for a in AUGMENTATIONS if a != "noaug"]), min_size=1,
                                             max_size=3, unique=True), seed=st.integers(0, 1000))
def test_views_shape_and_determinism(series, augs, seed):
    dim = 32
    source = lambda: ViewSource(tuple(augs), dim, T, np.random.default_rng(seed), flowpics=flowpic_matrix(series, dim),  # noqa: E731
                                series=series, last_time=series_mod.last_packet_times(series))
    views = source().draw()
    assert views.shape == (2 * series.n_flows, dim * dim) and views.dtype == np.uint8
    assert (source().draw() != views).nnz == 0
    empty = np.flatnonzero(np.diff(series.offsets) == 0)
    assert views[np.concatenate([empty, empty + series.n_flows])].nnz == 0  # flows without packets: empty views


# ------------------------------------------------------------------------------------------ packet series
@settings(max_examples=_examples(60))
@given(series=curated_flows(max_packets=15), n=st.sampled_from([1, 10, 30]))
def test_pktseries_features_per_flow(series, n):
    directions = (np.arange(len(series.times)) % 2).astype(np.int8)
    features = pktseries_features(series, n, directions)
    assert features.shape == (series.n_flows, 3 * n) and np.isfinite(features).all()
    for i in range(series.n_flows):
        t, s = _flow(series, i)
        k = min(len(t), n)
        iat = np.diff(t, prepend=t[:1])[:k]
        expected = np.zeros(3 * n)
        expected[:k], expected[n:n + k] = s[:k], iat
        expected[2 * n:2 * n + k] = directions[series.offsets[i]:series.offsets[i] + k]
        np.testing.assert_array_equal(features[i], expected)
        assert (features[i, n:2 * n] >= 0).all()  # sorted times: no negative inter-arrival time


@pytest.mark.parametrize("aug", SERIES_AUGMENTATIONS)
def test_series_augmentations_of_empty_and_one_packet_flows(aug):
    """Flows whose last time is 0 (no packet, or one at t=0): the draws are defined and nothing crashes."""
    one = PacketSeries.from_lists([np.zeros(0), np.zeros(1)], [np.zeros(0, np.int16), np.full(1, 100, np.int16)])
    params = draw_parameters(aug, np.random.default_rng(0), 3, 2, last_time=series_mod.last_packet_times(one))
    assert all(np.isfinite(v).all() for v in params.values())
    out = augment_at_loading(aug, None, one, 32, T, seed=0, aug_samples=4)
    assert out.shape == (6, 1024) and out[0::2].nnz == 0


def test_image_augmentations_of_empty_pictures_are_empty():
    for aug in IMAGE_AUGMENTATIONS:
        out = augment_at_loading(aug, sp.csr_matrix((3, 1024), dtype=np.uint8), None, 32, T, seed=1)
        assert out.shape == (copies_per_sample(aug) * 3, 1024) and out.nnz == 0
