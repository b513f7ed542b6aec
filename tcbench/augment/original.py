"""The seven augmentations of the original tcbench (docs/original-behaviour.md, Augmentations), registered in its
order.

| name | operates on | parameter per copy | copies |
|---|---|---|---|
| noaug | - | - | 0 |
| rotate | flowpic | a ~ U(-10, 10) degrees, clockwise | aug_samples - 1 |
| horizontalflip | flowpic | - (time axis reversed) | 1 |
| colorjitter | flowpic | order ~ permutation(4), b, saturation, c ~ U(0.2, 1.8), hue ~ U(-0.2, 0.2) | aug_samples - 1 |
| packetloss | packets | t* ~ U(0, t_last); packets with t* - 0.1 <= t <= t* + 0.1 deleted | aug_samples - 1 |
| changertt | packets | alpha ~ U(0.5, 1.5); t' = alpha * t | aug_samples - 1 |
| timeshift | packets | b ~ U(-1, 1) s; t' = t + b, t' < 0 dropped | aug_samples - 1 |

They live in one module so that their registration order is the original's (the campaign grid's augmentation
axis and every name list follow it). The draws are the project's published random stream: each ``draw`` makes the
same generator calls, in the same order, as before the registry existed, and must not change.

The image operations are in :mod:`tcbench.augment.image` (torch, imported on use); the series ones are a few
numpy passes over all copies of all flows at once (see :mod:`tcbench.augment.series`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from tcbench.augment.base import Augmentation, ImageAugmentation, SeriesAugmentation, keep_packets, per_packet
from tcbench.augment.registry import register_augmentation
from tcbench.features.flowpic import PacketSeries

ROTATE_DEGREES = (-10.0, 10.0)
COLORJITTER_FACTOR_RANGE = (0.2, 1.8)  # [1 - 0.8, 1 + 0.8] for brightness, saturation and contrast
COLORJITTER_HUE_RANGE = (-0.2, 0.2)
PACKETLOSS_DELTA = 0.1
TIMESHIFT_MAX = 1.0
CHANGERTT_MIN_ALPHA = 0.5
CHANGERTT_MAX_ALPHA = 1.5

# Indices of the original's colorjitter permutation: 0 brightness, 1 saturation, 2 contrast, 3 hue.
_BRIGHTNESS, _CONTRAST = 0, 2


@register_augmentation
class NoAugmentation(Augmentation):
    """``noaug``: the flows only, no augmented copy (the baseline of every augmentation campaign)."""

    name: ClassVar[str] = "noaug"

    def copies(self, aug_samples: int) -> int:
        return 0

    def draw(self, rng: np.random.Generator, copies: int, n: int,
             last_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {}


@register_augmentation
class Rotate(ImageAugmentation):
    """``rotate``: the flowpic turned by ``a ~ U(-10, 10)`` degrees, positive = clockwise, as the original's
    ``torchvision.transforms.functional.rotate(img, -a)`` (nearest, same size, fill 0)."""

    name: ClassVar[str] = "rotate"
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {"angle": ROTATE_DEGREES}

    def draw(self, rng: np.random.Generator, copies: int, n: int,
             last_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {"angle": rng.uniform(*ROTATE_DEGREES, size=(copies, n))}

    def transform(self, images: sp.csr_matrix, params: Mapping[str, np.ndarray], dim: int) -> sp.csr_matrix:
        from tcbench.augment import image

        return image.rotate(images, params["angle"], dim)


@register_augmentation
class HorizontalFlip(ImageAugmentation):
    """``horizontalflip``: the time axis reversed. Deterministic, hence one copy whatever ``aug_samples``."""

    name: ClassVar[str] = "horizontalflip"

    def copies(self, aug_samples: int) -> int:
        return 1

    def draw(self, rng: np.random.Generator, copies: int, n: int,
             last_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {}

    def transform(self, images: sp.csr_matrix, params: Mapping[str, np.ndarray], dim: int) -> sp.csr_matrix:
        from tcbench.augment import image

        return image.horizontal_flip(images, dim)

    def augment_copies(self, flowpics: sp.csr_matrix, params: Mapping[str, np.ndarray], copies: int,
                       dim: int) -> sp.csr_matrix:
        """Its single copy is the flipped flowpics themselves: no tiled copy of the matrix first."""
        if copies != 1:
            return super().augment_copies(flowpics, params, copies, dim)
        return self.transform(flowpics, params, dim)


@register_augmentation
class ColorJitter(ImageAugmentation):
    """``colorjitter``: brightness ``b`` and contrast ``c`` in a random relative order.

    Draws, as the original: ``order = permutation(4)``, then b, saturation, c ~ U(0.2, 1.8) and hue ~ U(-0.2, 0.2).
    Saturation and hue are no-ops on one-channel images (torchvision 0.15), but are still drawn so that every
    draw of the original has its counterpart; ``brightness_first`` is derived from ``order``.
    """

    name: ClassVar[str] = "colorjitter"
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {
        "brightness": COLORJITTER_FACTOR_RANGE, "saturation": COLORJITTER_FACTOR_RANGE,
        "contrast": COLORJITTER_FACTOR_RANGE, "hue": COLORJITTER_HUE_RANGE,
    }

    def draw(self, rng: np.random.Generator, copies: int, n: int,
             last_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
        shape = (copies, n)
        order = rng.permuted(np.broadcast_to(np.arange(4), (copies * n, 4)), axis=1)
        brightness = rng.uniform(*COLORJITTER_FACTOR_RANGE, size=shape)
        saturation = rng.uniform(*COLORJITTER_FACTOR_RANGE, size=shape)
        contrast = rng.uniform(*COLORJITTER_FACTOR_RANGE, size=shape)
        hue = rng.uniform(*COLORJITTER_HUE_RANGE, size=shape)
        position = np.argsort(order, axis=1)  # position[j, op] = when op is applied
        brightness_first = (position[:, _BRIGHTNESS] < position[:, _CONTRAST]).reshape(shape)
        return {"order": order.reshape(copies, n, 4), "brightness": brightness, "saturation": saturation,
                "contrast": contrast, "hue": hue, "brightness_first": brightness_first}

    def transform(self, images: sp.csr_matrix, params: Mapping[str, np.ndarray], dim: int) -> sp.csr_matrix:
        from tcbench.augment import image

        return image.colorjitter(images, params["brightness"], params["contrast"], params["brightness_first"], dim)


@register_augmentation
class PacketLoss(SeriesAugmentation):
    """``packetloss``: the packets of a 0.2 s window deleted, ``t* - 0.1 <= t <= t* + 0.1`` (closed), with the
    centre ``t* ~ U(0, t_last)`` over the whole flow (not only the flowpic window)."""

    name: ClassVar[str] = "packetloss"
    parameter: ClassVar[str] = "centre"
    identity: ClassVar[float] = -np.inf  # a window around -inf deletes nothing
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {"centre": (0.0, 1.0)}  # fractions of t_last
    needs_last_time: ClassVar[bool] = True
    delta: ClassVar[float] = PACKETLOSS_DELTA

    def draw(self, rng: np.random.Generator, copies: int, n: int,
             last_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
        if last_time is None or len(last_time) != n:
            raise ValueError("packetloss needs the last packet time of each of the flows")
        return {"centre": rng.uniform(0.0, np.broadcast_to(np.asarray(last_time, dtype=np.float64), (copies, n)))}

    def transform(self, series: PacketSeries, values: np.ndarray) -> PacketSeries:
        centre = per_packet(series, values)
        times = series.times
        return keep_packets(series, ~((times >= centre - PACKETLOSS_DELTA) & (times <= centre + PACKETLOSS_DELTA)))

    def input_cutoff(self, block_duration: float) -> float:
        return block_duration  # moves no packet

    def view_parameter(self, drawn: np.ndarray, last_time: np.ndarray) -> np.ndarray:
        """``uniform(0, t)`` is exactly ``t * uniform(0, 1)`` in numpy: the view's ``U(0, t_last)`` of the
        current series (a time shift can make ``t_last`` negative: no packet is left there, centre 0)."""
        return drawn * np.maximum(last_time, 0.0)


@register_augmentation
class ChangeRTT(SeriesAugmentation):
    """``changertt``: every time scaled, ``t' = alpha * t`` with ``alpha ~ U(0.5, 1.5)``; every packet kept (the
    flowpic keeps those with ``t' < T``)."""

    name: ClassVar[str] = "changertt"
    parameter: ClassVar[str] = "alpha"
    identity: ClassVar[float] = 1.0
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {"alpha": (CHANGERTT_MIN_ALPHA, CHANGERTT_MAX_ALPHA)}

    def draw(self, rng: np.random.Generator, copies: int, n: int,
             last_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {"alpha": rng.uniform(CHANGERTT_MIN_ALPHA, CHANGERTT_MAX_ALPHA, size=(copies, n))}

    def transform(self, series: PacketSeries, values: np.ndarray) -> PacketSeries:
        times = series.times
        times *= per_packet(series, values)
        return series

    def input_cutoff(self, block_duration: float) -> float:
        return block_duration / CHANGERTT_MIN_ALPHA  # alpha >= 0.5: alpha * t >= T for t >= 2 T

    def last_time_after(self, last_time: np.ndarray, values: np.ndarray) -> np.ndarray:
        return last_time * values


@register_augmentation
class TimeShift(SeriesAugmentation):
    """``timeshift``: ``t' = t + b`` with ``b ~ U(-1, 1)`` s; packets with ``t' < 0`` dropped (the original drops
    the first k packets, k the number of negative times: the same packets for sorted times), no re-zeroing."""

    name: ClassVar[str] = "timeshift"
    parameter: ClassVar[str] = "shift"
    identity: ClassVar[float] = 0.0
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {"shift": (-TIMESHIFT_MAX, TIMESHIFT_MAX)}

    def draw(self, rng: np.random.Generator, copies: int, n: int,
             last_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {"shift": rng.uniform(-TIMESHIFT_MAX, TIMESHIFT_MAX, size=(copies, n))}

    def transform(self, series: PacketSeries, values: np.ndarray) -> PacketSeries:
        times = series.times
        times += per_packet(series, values)
        return keep_packets(series, times >= 0)

    def input_cutoff(self, block_duration: float) -> float:
        return block_duration + TIMESHIFT_MAX  # b >= -1: t + b >= T for t >= T + 1

    def last_time_after(self, last_time: np.ndarray, values: np.ndarray) -> np.ndarray:
        return last_time + values
