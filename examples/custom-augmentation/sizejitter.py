"""A complete tcbench augmentation in one module: packet-size jitter.

Every packet size of an augmented copy is scaled by one factor per copy, ``f ~ U(0.8, 1.2)`` (the flowpic's size
axis stretches or shrinks by up to 20 %; sizes stay integers within 0..1500, the flowpic's range). Times do not
move. A campaign names this file under `plugins:` (config.yaml next to it) and uses `sizejitter` like any of the
original seven: in `grid.aug_name` (augment at loading) or in `simclr.augmentations` (a step of a SimCLR view).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from tcbench.augment import register_augmentation
from tcbench.augment.base import SeriesAugmentation, per_packet
from tcbench.features.flowpic import MAX_PACKET_SIZE, PacketSeries

LOW, HIGH = 0.8, 1.2


@register_augmentation
class SizeJitter(SeriesAugmentation):
    name: ClassVar[str] = "sizejitter"
    parameter: ClassVar[str] = "factor"  # the one parameter drawn per flow copy
    identity: ClassVar[float] = 1.0  # the factor that leaves a flow unchanged (SimCLR views compose steps)
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {"factor": (LOW, HIGH)}

    def draw(self, rng: np.random.Generator, copies: int, n: int,
             last_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
        # One vectorised draw for every copy of every flow, copy-major: the stream depends on (seed, copies, n).
        return {"factor": rng.uniform(LOW, HIGH, size=(copies, n))}

    def transform(self, series: PacketSeries, values: np.ndarray) -> PacketSeries:
        scaled = np.rint(series.sizes * per_packet(series, values))
        sizes = np.clip(scaled, 0, MAX_PACKET_SIZE).astype(series.sizes.dtype)
        return PacketSeries(series.times, sizes, series.offsets)

    def input_cutoff(self, block_duration: float) -> float:
        return block_duration  # moves no packet in time: only the window's packets matter
