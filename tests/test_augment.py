"""Augment-at-loading (docs/original-behaviour.md, Augmentations): shapes, order, determinism, and each operation
against explicit computations and a plain per-sample reference of the original's semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

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
from tcbench.features.flowpic import PacketSeries, flowpic_matrix

T = 15.0
N = 6


def _flows(seed: int = 0, n: int = N, horizon: float = 40.0, max_packets: int = 600):
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.uniform(0, horizon, rng.integers(1, max_packets))) for _ in range(n)]
    for t in times:
        t -= t[0]  # time to first packet
    sizes = [rng.integers(0, 1501, len(t)).astype(np.int16) for t in times]
    return times, sizes


@pytest.fixture(scope="module")
def flows():
    times, sizes = _flows()
    return times, sizes, PacketSeries.from_lists(times, sizes)


def _hist(t: np.ndarray, s: np.ndarray, dim: int) -> np.ndarray:
    """Plain flowpic (docs/original-behaviour.md, Flowpic construction) with np.histogram2d."""
    keep = (t < T) & (t >= 0)
    x = np.clip(s[keep], 0, 1500) / 1500 * dim
    y = t[keep] / T * dim
    counts, _, _ = np.histogram2d(x, y, bins=(range(dim + 1), range(dim + 1)))
    return np.clip(counts, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ shapes and order
def test_copies_per_sample():
    assert [copies_per_sample(a) for a in AUGMENTATIONS] == [0, 9, 1, 9, 9, 9, 9]
    assert copies_per_sample("rotate", aug_samples=3) == 2 and copies_per_sample("horizontalflip", 3) == 1
    with pytest.raises(ValueError, match="unknown augmentation"):
        copies_per_sample("mixup")


@pytest.mark.parametrize("aug", AUGMENTATIONS)
@pytest.mark.parametrize("dim", [32, 64])
def test_shape_dtype_and_determinism(flows, aug, dim):
    _, _, series = flows
    fp = flowpic_matrix(series, dim)
    out = augment_at_loading(aug, fp, series, dim, T, seed=7)
    assert sp.isspmatrix_csr(out) and out.dtype == np.uint8
    assert out.shape == (copies_per_sample(aug) * N, dim * dim)
    again = augment_at_loading(aug, fp, series, dim, T, seed=7)
    assert (out != again).nnz == 0
    if aug not in ("noaug", "horizontalflip"):
        other = augment_at_loading(aug, fp, series, dim, T, seed=8)
        assert (out != other).nnz > 0


def test_series_augmentations_need_series_and_image_ones_need_flowpics(flows):
    _, _, series = flows
    with pytest.raises(ValueError, match="series is required"):
        augment_at_loading("changertt", None, None, 32, T, 1)
    with pytest.raises(ValueError, match="flowpics is required"):
        augment_at_loading("rotate", None, series, 32, T, 1)
    with pytest.raises(ValueError, match="flowpics but"):
        augment_at_loading("timeshift", flowpic_matrix(series, 32)[:2], series, 32, T, 1)


def test_noaug_and_empty_input(flows):
    _, _, series = flows
    assert augment_at_loading("noaug", flowpic_matrix(series, 32), series, 32, T, 1).shape == (0, 1024)
    empty = sp.csr_matrix((0, 1024), dtype=np.uint8)
    assert augment_at_loading("rotate", empty, None, 32, T, 1).shape == (0, 1024)


# ------------------------------------------------------------------------------------------- horizontalflip
def test_horizontalflip_reverses_time_axis(flows):
    _, _, series = flows
    for dim in (32, 1500):
        fp = flowpic_matrix(series, dim)
        out = augment_at_loading("horizontalflip", fp, series, dim, T, seed=1)
        expected = fp.toarray().reshape(-1, dim, dim)[:, :, ::-1].reshape(-1, dim * dim)
        np.testing.assert_array_equal(out.toarray(), expected)


# --------------------------------------------------------------------------------------------------- rotate
def _torchvision_rotate(img: np.ndarray, a: float) -> np.ndarray:
    """Plain per-image reference: what torchvision 0.15's ``F.rotate(tensor, -a)`` computes (nearest, fill None).

    ``_get_inverse_affine_matrix(center=[0, 0], angle=a, translate=0, scale=1, shear=0)`` in float64 with ``math``,
    ``_gen_affine_grid`` (pixel-centre base grid, theta^T / [w/2, h/2], bmm), ``grid_sample`` nearest/zeros/
    align_corners=False on the float image, round, cast to uint8.
    """
    h, w = img.shape
    rot = math.radians(-(-a))  # noqa: B002 (the original's double negation, kept to mirror its formula)
    sx = sy = 0.0
    a_ = math.cos(rot - sy) / math.cos(sy)
    b_ = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c_ = math.sin(rot - sy) / math.cos(sy)
    d_ = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    matrix = [d_, -b_, 0.0, -c_, a_, 0.0]
    matrix[2] += matrix[0] * (-0.0 - 0.0) + matrix[1] * (-0.0 - 0.0)
    matrix[5] += matrix[3] * (-0.0 - 0.0) + matrix[4] * (-0.0 - 0.0)
    theta = torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3)
    base = torch.empty(1, h, w, 3, dtype=torch.float32)
    base[..., 0].copy_(torch.linspace(-w * 0.5 + 0.5, w * 0.5 + 0.5 - 1, steps=w))
    base[..., 1].copy_(torch.linspace(-h * 0.5 + 0.5, h * 0.5 + 0.5 - 1, steps=h).unsqueeze_(-1))
    base[..., 2].fill_(1)
    rescaled = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float32)
    grid = base.view(1, h * w, 3).bmm(rescaled).view(1, h, w, 2)
    x = torch.from_numpy(img).unsqueeze(0).unsqueeze(0).to(torch.float32)
    out = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return torch.round(out).to(torch.uint8)[0, 0].numpy()


def _random_images(n: int, dim: int, seed: int = 3, density: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(1, 256, (n, dim, dim)).astype(np.uint8)
    imgs[rng.random((n, dim, dim)) > density] = 0
    return imgs


@pytest.mark.parametrize("dim", [32, 64])
def test_rotate_by_zero_is_identity(dim):
    imgs = _random_images(4, dim)
    np.testing.assert_array_equal(image.rotate_dense(imgs, np.zeros(4)), imgs)
    m = sp.csr_matrix(imgs.reshape(4, -1))
    np.testing.assert_array_equal(image.rotate_sparse(m, np.zeros(4), dim).toarray(), imgs.reshape(4, -1))


@pytest.mark.parametrize("dim", [32, 64])
def test_rotate_90_is_clockwise_rot90(dim):
    imgs = _random_images(2, dim)
    imgs[0, 0, :5] = 200  # asymmetric mark: top-left row segment
    expected = np.rot90(imgs, k=-1, axes=(1, 2))  # positive angle = clockwise, an exact permutation for even dim
    np.testing.assert_array_equal(image.rotate_dense(imgs, np.full(2, 90.0)), expected)
    m = sp.csr_matrix(imgs.reshape(2, -1))
    np.testing.assert_array_equal(image.rotate_sparse(m, np.full(2, 90.0), dim).toarray().reshape(2, dim, dim), expected)
    assert (image.rotate_dense(imgs, np.full(2, 90.0))[0, :5, dim - 1] == 200).all()


@pytest.mark.parametrize("dim", [32, 64])
def test_rotate_matches_per_image_torchvision_reference(dim):
    rng = np.random.default_rng(11)
    imgs = _random_images(12, dim, seed=5)
    angles = np.concatenate([rng.uniform(-10, 10, 8), [10.0, -10.0, 45.0, 180.0]])
    dense = image.rotate_dense(imgs, angles)
    sparse = image.rotate_sparse(sp.csr_matrix(imgs.reshape(12, -1)), angles, dim).toarray().reshape(12, dim, dim)
    for img, a, d, s in zip(imgs, angles, dense, sparse):
        ref = _torchvision_rotate(img, float(a))
        np.testing.assert_array_equal(d, ref)
        np.testing.assert_array_equal(s, ref)


def test_rotate_sparse_equals_dense_at_1500():
    imgs = _random_images(2, 1500, seed=9, density=0.002)
    angles = np.array([7.3, -9.9])
    sparse = image.rotate_sparse(sp.csr_matrix(imgs.reshape(2, -1)), angles, 1500).toarray().reshape(2, 1500, 1500)
    np.testing.assert_array_equal(sparse, image.rotate_dense(imgs, angles))


def test_rotate_sparse_chunking(monkeypatch):
    imgs = _random_images(10, 32, seed=2)
    m = sp.csr_matrix(imgs.reshape(10, -1))
    angles = np.linspace(-10, 10, 10)
    whole = image.rotate_sparse(m, angles, 32)
    monkeypatch.setattr(image, "_SPARSE_NNZ_PER_CHUNK", 50)
    assert (image.rotate_sparse(m, angles, 32) != whole).nnz == 0


def test_rotate_at_loading_is_copy_major(flows):
    _, _, series = flows
    dim = 32
    fp = flowpic_matrix(series, dim)
    out = augment_at_loading("rotate", fp, series, dim, T, seed=4).toarray().reshape(9, N, dim, dim)
    angles = draw_parameters("rotate", np.random.default_rng(4), 9, N)["angle"]
    imgs = fp.toarray().reshape(N, dim, dim)
    for k in (0, 4, 8):
        for i in (0, N - 1):
            np.testing.assert_array_equal(out[k, i], _torchvision_rotate(imgs[i], float(angles[k, i])))


# ---------------------------------------------------------------------------------------------- colorjitter
def _torchvision_blend(img: torch.Tensor, other: torch.Tensor, ratio: float) -> torch.Tensor:
    return (ratio * img + (1.0 - ratio) * other).clamp(0, 255).to(img.dtype)


def _torchvision_colorjitter(img: np.ndarray, b: float, c: float, brightness_first: bool) -> np.ndarray:
    """Plain per-image reference: torchvision adjust_brightness / adjust_contrast on a (1, H, W) uint8 tensor."""
    x = torch.from_numpy(img).unsqueeze(0)

    def brightness(x):
        return _torchvision_blend(x, torch.zeros_like(x), b)

    def contrast(x):
        return _torchvision_blend(x, torch.mean(x.to(torch.float32), dim=(-3, -2, -1), keepdim=True), c)

    y = contrast(brightness(x)) if brightness_first else brightness(contrast(x))
    return y[0].numpy()


def test_colorjitter_identity():
    imgs = _random_images(5, 32).reshape(5, -1)
    out = image.colorjitter(sp.csr_matrix(imgs), np.ones(5), np.ones(5), np.array([1, 0, 1, 0, 1], bool), 32)
    np.testing.assert_array_equal(out.toarray(), imgs)


def test_colorjitter_hand_computation():
    img = np.zeros((32, 32), dtype=np.uint8)
    img[0, 0], img[3, 4], img[10, 20] = 10, 100, 255
    mean = np.float32(365) / np.float32(1024)
    b, c = 1.5, 0.5
    # brightness then contrast: 15, 150, 255 (clamped); mean of the brightened image (420 / 1024)
    mb = np.float32(420) / np.float32(1024)
    bc = {v: int(np.clip(np.float32(c) * np.float32(v) + np.float32(1 - c) * mb, 0, 255)) for v in (15, 150, 255)}
    # contrast then brightness
    cb = {v: int(np.clip(np.float32(b) * np.float32(int(np.float32(c) * np.float32(v) + np.float32(1 - c) * mean)), 0, 255))
          for v in (10, 100, 255)}
    assert (bc[15], bc[150], bc[255]) == (7, 75, 127) and (cb[10], cb[100], cb[255]) == (7, 75, 190)
    m = sp.csr_matrix(np.stack([img.ravel(), img.ravel()]))
    out = image.colorjitter(m, np.full(2, b), np.full(2, c), np.array([True, False]), 32).toarray().reshape(2, 32, 32)
    assert (out[0, 0, 0], out[0, 3, 4], out[0, 10, 20]) == (7, 75, 127) and out[0].astype(int).sum() == 209
    assert (out[1, 0, 0], out[1, 3, 4], out[1, 10, 20]) == (7, 75, 190) and out[1].astype(int).sum() == 272


def test_colorjitter_matches_torchvision_reference_including_filled_background():
    rng = np.random.default_rng(21)
    imgs = _random_images(40, 32, seed=8, density=0.3)
    imgs[:10] = rng.integers(0, 256, (10, 32, 32))  # dense images: contrast < 1 lifts the zero background
    b = rng.uniform(0.2, 1.8, 40)
    c = rng.uniform(0.2, 1.8, 40)
    c[:5] = 0.2
    first = rng.random(40) < 0.5
    out = image.colorjitter(sp.csr_matrix(imgs.reshape(40, -1)), b, c, first, 32).toarray().reshape(40, 32, 32)
    filled = 0
    for i in range(40):
        ref = _torchvision_colorjitter(imgs[i], float(b[i]), float(c[i]), bool(first[i]))
        np.testing.assert_array_equal(out[i], ref)
        filled += int((ref[imgs[i] == 0] > 0).any())
    assert filled > 0  # the dense-background path was exercised


def test_colorjitter_draws_and_order(flows):
    _, _, series = flows
    params = draw_parameters("colorjitter", np.random.default_rng(0), 9, N)
    order = params["order"]
    assert order.shape == (9, N, 4) and (np.sort(order, axis=2) == np.arange(4)).all()
    bfirst = np.array([[list(o).index(0) < list(o).index(2) for o in row] for row in order])
    np.testing.assert_array_equal(params["brightness_first"], bfirst)
    for key, (lo, hi) in {"brightness": (0.2, 1.8), "saturation": (0.2, 1.8), "contrast": (0.2, 1.8), "hue": (-0.2, 0.2)}.items():
        assert params[key].shape == (9, N) and (params[key] >= lo).all() and (params[key] < hi).all()
    dim = 32
    fp = flowpic_matrix(series, dim)
    out = augment_at_loading("colorjitter", fp, series, dim, T, seed=0).toarray().reshape(9, N, dim, dim)
    imgs = fp.toarray().reshape(N, dim, dim)
    for k in (0, 8):
        for i in range(N):
            ref = _torchvision_colorjitter(imgs[i], float(params["brightness"][k, i]), float(params["contrast"][k, i]),
                                           bool(bfirst[k, i]))
            np.testing.assert_array_equal(out[k, i], ref)


# --------------------------------------------------------------------------------------- series augmentations
def _reference_series_aug(aug: str, t: np.ndarray, s: np.ndarray, p: float):
    """Plain per-flow restatement of the original's operations (docs/original-behaviour.md, The seven
    augmentations)."""
    if aug == "changertt":
        return t * p, s
    if aug == "timeshift":
        t2 = t + p
        k = int((t2 < 0).sum())  # the original drops the first k packets
        return t2[k:], s[k:]
    lo, hi = p - 0.1, p + 0.1
    drop = np.where((t >= lo) & (t <= hi))[0]
    return np.delete(t, drop), np.delete(s, drop)


@pytest.mark.parametrize("aug", SERIES_AUGMENTATIONS)
def test_series_augmentations_match_per_sample_reference(flows, aug):
    times, sizes, series = flows
    dim = 32
    out = augment_at_loading(aug, None, series, dim, T, seed=5).toarray().reshape(9, N, dim, dim)
    last = np.array([t[-1] for t in times])
    (params,) = draw_parameters(aug, np.random.default_rng(5), 9, N, last).values()
    for k in range(9):
        for i in range(N):
            t2, s2 = _reference_series_aug(aug, times[i], sizes[i], float(params[k, i]))
            np.testing.assert_array_equal(out[k, i], _hist(t2, s2, dim))


def test_packetloss_removes_exactly_the_window():
    t = np.round(np.arange(0, 12, 0.05), 10)  # packets every 50 ms
    s = np.full(len(t), 700, dtype=np.int16)
    one = PacketSeries.from_lists([t], [s])
    centre = np.array([[3.0], [0.0], [11.97]])
    removed = [((t >= c - 0.1) & (t <= c + 0.1)).sum() for c in centre[:, 0]]
    assert removed[0] == 5  # 2.9 .. 3.1 inclusive
    aug = series_mod.augmented_series("packetloss", one, centre)
    assert np.diff(aug.offsets).tolist() == [len(t) - r for r in removed]
    pics = series_mod.augmented_flowpics("packetloss", one, centre, 32, T)
    assert pics.sum(axis=1).A.ravel().tolist() == [len(t) - r for r in removed]
    for k, c in enumerate(centre[:, 0]):
        keep = ~((t >= c - 0.1) & (t <= c + 0.1))
        np.testing.assert_array_equal(pics[k].toarray().reshape(32, 32), _hist(t[keep], s[keep], 32))


def test_changertt_scales_times():
    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(0, 35, 400))
    s = rng.integers(0, 1500, 400).astype(np.int16)
    one = PacketSeries.from_lists([t], [s])
    alpha = np.array([[0.5], [1.0], [1.4999]])
    aug = series_mod.augmented_series("changertt", one, alpha)
    assert len(aug.times) == 3 * len(t)  # every packet kept, only times change
    pics = series_mod.augmented_flowpics("changertt", one, alpha, 64, T)
    for k, a in enumerate(alpha[:, 0]):
        assert pics[k].sum() == int((a * t < T).sum())
        np.testing.assert_array_equal(pics[k].toarray().reshape(64, 64), _hist(a * t, s, 64))


def test_timeshift_drops_negative_times():
    t = np.arange(0, 20, 0.1)
    s = np.full(len(t), 100, dtype=np.int16)
    one = PacketSeries.from_lists([t], [s])
    shift = np.array([[-0.95], [0.0], [0.7]])
    aug = series_mod.augmented_series("timeshift", one, shift)
    assert np.diff(aug.offsets).tolist() == [int((t + b >= 0).sum()) for b in shift[:, 0]]
    assert (aug.times >= 0).all()
    pics = series_mod.augmented_flowpics("timeshift", one, shift, 32, T)
    for k, b in enumerate(shift[:, 0]):
        assert pics[k].sum() == int(((t + b >= 0) & (t + b < T)).sum())


@pytest.mark.parametrize("aug", SERIES_AUGMENTATIONS)
def test_truncated_series_with_last_time_equals_full_series(flows, aug):
    times, sizes, series = flows
    cut = [t < 2 * T + 1 for t in times]
    short = PacketSeries.from_lists([t[c] for t, c in zip(times, cut)], [s[c] for s, c in zip(sizes, cut)])
    last = series_mod.last_packet_times(series)
    full = augment_at_loading(aug, None, series, 32, T, seed=3)
    part = augment_at_loading(aug, None, short, 32, T, seed=3, last_time=last)
    assert (full != part).nnz == 0


@pytest.mark.parametrize("aug", SERIES_AUGMENTATIONS)
def test_series_copy_groups_do_not_change_the_result(flows, aug, monkeypatch):
    _, _, series = flows
    whole = augment_at_loading(aug, None, series, 1500, T, seed=6)
    monkeypatch.setattr(series_mod, "_PACKETS_PER_GROUP", 1)
    assert (augment_at_loading(aug, None, series, 1500, T, seed=6) != whole).nnz == 0


def test_flows_without_packets():
    one = PacketSeries.from_lists([np.zeros(0), np.array([0.0, 1.0])], [np.zeros(0, np.int16), np.array([5, 5], np.int16)])
    for aug in SERIES_AUGMENTATIONS:
        out = augment_at_loading(aug, None, one, 32, T, seed=1)
        assert out.shape == (18, 1024) and out[0::2].nnz == 0


def test_image_augmentations_listed():
    assert set(IMAGE_AUGMENTATIONS) | set(SERIES_AUGMENTATIONS) | {"noaug"} == set(AUGMENTATIONS)
