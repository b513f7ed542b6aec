"""Augment-at-loading: the seven augmentations of the original, applied to all copies of a dataset at once.

Reference tcbench-behaviour.md 2.1-2.3. ``augment_at_loading`` returns only the augmented copies of N flows (the
caller keeps the originals in front): ``copies_per_sample`` copies, ordered copy-major as in the original (copy 1
of every row, then copy 2, ...), as one ``(copies * N, dim*dim)`` uint8 CSR matrix.

| name | input | parameter per copy | copies |
|---|---|---|---|
| noaug | - | - | 0 |
| horizontalflip | flowpic | - (time axis reversed) | 1 |
| rotate | flowpic | a ~ U(-10, 10) degrees, clockwise | aug_samples - 1 |
| colorjitter | flowpic | order ~ permutation(4), b, saturation, c ~ U(0.2, 1.8), hue ~ U(-0.2, 0.2) | aug_samples - 1 |
| packetloss | packets | t* ~ U(0, t_last); packets with t* - 0.1 <= t <= t* + 0.1 deleted | aug_samples - 1 |
| changertt | packets | alpha ~ U(0.5, 1.5); t' = alpha * t | aug_samples - 1 |
| timeshift | packets | b ~ U(-1, 1) s; t' = t + b, t' < 0 dropped | aug_samples - 1 |

Series augmentations rebuild the flowpics with ``flowpic_matrix`` at the run's dim and block duration.

Randomness: one ``numpy.random.default_rng(seed)`` draws every parameter of every copy, in a few vectorised calls
(shape ``(copies, N)``, copy-major). The result depends only on (seed, inputs), never on a worker count. The
original seeds one generator per chunk of ``N // workers`` rows and draws parameters row by row (so its output
changes with ``--workers``, reference 10 item 23); our random stream therefore differs from the original's and
augmented datasets are statistically, not bitwise, comparable with its runs. Given the same parameters, the
operations themselves follow the original (torchvision 0.15 semantics for the image ones, see ``image``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tcbench.augment import series as _series
from tcbench.features.flowpic import PacketSeries, check_dim

AUGMENTATIONS = ("noaug", "rotate", "horizontalflip", "colorjitter", "packetloss", "changertt", "timeshift")
IMAGE_AUGMENTATIONS = ("rotate", "horizontalflip", "colorjitter")
SERIES_AUGMENTATIONS = ("packetloss", "changertt", "timeshift")
DEFAULT_AUG_SAMPLES = 10

ROTATE_DEGREES = (-10.0, 10.0)
COLORJITTER_FACTOR_RANGE = (0.2, 1.8)  # [1 - 0.8, 1 + 0.8] for brightness, saturation and contrast
COLORJITTER_HUE_RANGE = (-0.2, 0.2)
# Indices of the original's permutation: 0 brightness, 1 saturation, 2 contrast, 3 hue.
_BRIGHTNESS, _CONTRAST = 0, 2

__all__ = [
    "AUGMENTATIONS",
    "IMAGE_AUGMENTATIONS",
    "SERIES_AUGMENTATIONS",
    "augment_at_loading",
    "copies_per_sample",
    "draw_parameters",
]


def _image():
    """The image augmentations import torch (~2 s): only when one is used, so that series augmentations can
    run on a side thread while the run process imports torch."""
    from tcbench.augment import image

    return image


def _check_name(aug_name: str) -> str:
    if aug_name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {aug_name!r}; valid: {list(AUGMENTATIONS)}")
    return aug_name


def copies_per_sample(aug_name: str, aug_samples: int = DEFAULT_AUG_SAMPLES) -> int:
    """Augmented copies per sample: noaug 0, horizontalflip 1, the others ``aug_samples - 1`` (9 by default)."""
    _check_name(aug_name)
    if aug_samples < 1:
        raise ValueError(f"aug_samples must be >= 1, got {aug_samples}")
    if aug_name == "noaug":
        return 0
    if aug_name == "horizontalflip":
        return 1
    return aug_samples - 1


def draw_parameters(
    aug_name: str, rng: np.random.Generator, copies: int, n: int, last_time: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every random parameter of ``copies`` copies of ``n`` samples, each array ``(copies, n)`` (copy-major).

    colorjitter draws saturation and hue too (no-ops on one channel, kept so every draw of the original has a
    counterpart); packetloss needs ``last_time`` (each flow's last packet time, length n).
    """
    shape = (copies, n)
    if aug_name in ("noaug", "horizontalflip"):
        return {}
    if aug_name == "rotate":
        return {"angle": rng.uniform(*ROTATE_DEGREES, size=shape)}
    if aug_name == "colorjitter":
        order = rng.permuted(np.broadcast_to(np.arange(4), (copies * n, 4)), axis=1)
        brightness = rng.uniform(*COLORJITTER_FACTOR_RANGE, size=shape)
        saturation = rng.uniform(*COLORJITTER_FACTOR_RANGE, size=shape)
        contrast = rng.uniform(*COLORJITTER_FACTOR_RANGE, size=shape)
        hue = rng.uniform(*COLORJITTER_HUE_RANGE, size=shape)
        position = np.argsort(order, axis=1)  # position[j, op] = when op is applied
        brightness_first = (position[:, _BRIGHTNESS] < position[:, _CONTRAST]).reshape(shape)
        return {"order": order.reshape(copies, n, 4), "brightness": brightness, "saturation": saturation,
                "contrast": contrast, "hue": hue, "brightness_first": brightness_first}
    if aug_name == "packetloss":
        if last_time is None or len(last_time) != n:
            raise ValueError("packetloss needs the last packet time of each of the flows")
        return {"centre": rng.uniform(0.0, np.broadcast_to(np.asarray(last_time, dtype=np.float64), shape))}
    if aug_name == "changertt":
        return {"alpha": rng.uniform(_series.CHANGERTT_MIN_ALPHA, _series.CHANGERTT_MAX_ALPHA, size=shape)}
    if aug_name == "timeshift":
        return {"shift": rng.uniform(-_series.TIMESHIFT_MAX, _series.TIMESHIFT_MAX, size=shape)}
    raise ValueError(f"unknown augmentation {aug_name!r}; valid: {list(AUGMENTATIONS)}")


def augment_at_loading(
    aug_name: str,
    flowpics: sp.csr_matrix | None,
    series: PacketSeries | None,
    dim: int,
    block_duration: float,
    seed: int,
    aug_samples: int = DEFAULT_AUG_SAMPLES,
    last_time: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The augmented copies of N flows as a ``(copies * N, dim*dim)`` uint8 CSR matrix, copy-major.

    - ``flowpics``: the N flowpics ``(N, dim*dim)`` at ``dim``; required by the image augmentations, and only
      used to check N for the series ones (may be None there).
    - ``series``: packets of the same N flows, in the same order; required by the series augmentations. It may
      be cut to the packets with ``t < 2 * block_duration + 1`` (everything that can reach the window after any
      of them); the flowpics are rebuilt from it at ``dim`` and ``block_duration``.
    - ``last_time``: time of each flow's last packet over the *whole* flow (packetloss draws its loss window in
      ``U(0, t_last)``). When None it is read from ``series``, which must then hold every packet.
    - ``seed``: the same seed and inputs give identical output (one ``default_rng(seed)`` for all draws).
    """
    _check_name(aug_name)
    check_dim(dim)
    copies = copies_per_sample(aug_name, aug_samples)
    n = _n_flows(aug_name, flowpics, series, dim)
    if copies == 0 or n == 0:
        return sp.csr_matrix((copies * n, dim * dim), dtype=np.uint8)
    rng = np.random.default_rng(seed)

    if aug_name in SERIES_AUGMENTATIONS:
        assert series is not None
        if aug_name == "packetloss" and last_time is None:
            last_time = _series.last_packet_times(series)
        params = draw_parameters(aug_name, rng, copies, n, last_time)
        (values,) = params.values()
        return _series.augmented_flowpics(aug_name, series, values, dim, block_duration)

    matrix = sp.csr_matrix(flowpics, dtype=np.uint8)
    if aug_name == "horizontalflip":
        return _image().horizontal_flip(matrix, dim)
    params = draw_parameters(aug_name, rng, copies, n)
    tiled = _image().tile_rows(matrix, copies)
    if aug_name == "rotate":
        return _image().rotate(tiled, params["angle"].ravel(), dim)
    return _image().colorjitter(
        tiled, params["brightness"].ravel(), params["contrast"].ravel(), params["brightness_first"].ravel(), dim
    )


def _n_flows(aug_name: str, flowpics: sp.csr_matrix | None, series: PacketSeries | None, dim: int) -> int:
    n = None
    if flowpics is not None:
        if flowpics.ndim != 2 or flowpics.shape[1] != dim * dim:
            raise ValueError(f"flowpics must have shape (N, {dim * dim}) for dim {dim}, got {flowpics.shape}")
        if flowpics.dtype != np.uint8:
            raise ValueError(f"flowpics must be uint8 counts, got {flowpics.dtype}")
        n = flowpics.shape[0]
    if aug_name in SERIES_AUGMENTATIONS:
        if series is None:
            raise ValueError(f"{aug_name} augments packet series: series is required")
        if n is not None and series.n_flows != n:
            raise ValueError(f"{n} flowpics but {series.n_flows} packet series")
        return series.n_flows
    if aug_name in IMAGE_AUGMENTATIONS and flowpics is None:
        raise ValueError(f"{aug_name} augments flowpics: flowpics is required")
    return 0 if n is None else n
