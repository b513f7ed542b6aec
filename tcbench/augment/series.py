"""Packet-series augmentations for many copies of many flows at once (the operations themselves are the
:class:`~tcbench.augment.base.SeriesAugmentation` classes of the registry, e.g. ``original``).

All copies of all flows are one big :class:`PacketSeries` (flow ``k * N + i`` = copy ``k`` of flow ``i``, so the
order is copy-major) whose packets are changed with one parameter per (copy, flow) broadcast to its packets; a
single ``flowpic_matrix`` call then bins them. Copies are processed in groups bounded by a packet budget, so
memory stays flat at dim 1500 whatever the number of copies. Nothing here draws random numbers.

Semantics of the built-ins (docs/original-behaviour.md, Augmentations), times in seconds relative to the flow's first
packet:
- changertt: ``t' = alpha * t`` (every packet kept; the flowpic keeps those with ``0 <= t' < T``);
- timeshift: ``t' = t + b``; packets with ``t' < 0`` are dropped (the original drops the first k packets, k the
  number of negative times: the same packets for sorted times), no re-zeroing;
- packetloss: packets with ``centre - delta <= t <= centre + delta`` are deleted (closed interval), others kept.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tcbench.augment.base import SeriesAugmentation, keep_packets, tile_series
from tcbench.augment.original import CHANGERTT_MAX_ALPHA, CHANGERTT_MIN_ALPHA, PACKETLOSS_DELTA, TIMESHIFT_MAX
from tcbench.augment.registry import augmentation_names, get_augmentation
from tcbench.features.flowpic import PacketSeries, flowpic_matrix

__all__ = [
    "CHANGERTT_MAX_ALPHA",
    "CHANGERTT_MIN_ALPHA",
    "PACKETLOSS_DELTA",
    "TIMESHIFT_MAX",
    "augmented_flowpics",
    "augmented_series",
    "input_cutoff",
    "last_packet_times",
    "series_augmentation",
    "tile_series",
    "window",
]

# Packets of all copies handled per flowpic_matrix call (bounds the temporaries: ~40 bytes per packet).
_PACKETS_PER_GROUP = 8_000_000


def series_augmentation(operation: str) -> SeriesAugmentation:
    """The registered series augmentation ``operation``; ValueError naming the valid ones otherwise."""
    try:
        aug = get_augmentation(operation)
    except ValueError:
        aug = None
    if not isinstance(aug, SeriesAugmentation):
        raise ValueError(f"unknown series augmentation {operation!r}; valid: {list(augmentation_names('packets'))}")
    return aug


def last_packet_times(series: PacketSeries) -> np.ndarray:
    """Time of each flow's last packet (0 for a flow without packets)."""
    counts = np.diff(series.offsets)
    last = np.zeros(series.n_flows, dtype=np.float64)
    has = counts > 0
    last[has] = series.times[series.offsets[1:][has] - 1]
    return last


def window(series: PacketSeries, cutoff: float) -> PacketSeries:
    """Only the packets with ``t < cutoff`` (per flow, order kept)."""
    keep = series.times < cutoff
    if keep.all():
        return series
    return keep_packets(series, keep)


def input_cutoff(operation: str, block_duration: float) -> float:
    """Packets at or after this time cannot land inside the flowpic window after ``operation``.

    changertt: alpha >= 0.5 so alpha * t >= T for t >= 2T; timeshift: b >= -1 so t + b >= T for t >= T + 1;
    packetloss moves no packet.
    """
    return series_augmentation(operation).input_cutoff(block_duration)


def augmented_series(operation: str, series: PacketSeries, params: np.ndarray) -> PacketSeries:
    """The augmented copies as one PacketSeries of ``copies * N`` flows, copy-major.

    ``params`` is ``(copies, N)``, the augmentation's one parameter per copy: alpha (changertt), shift b
    (timeshift) or the loss-window centre t* (packetloss, window ``[t* - 0.1, t* + 0.1]``).
    """
    aug = series_augmentation(operation)
    params = np.asarray(params, dtype=np.float64)
    n = series.n_flows
    if params.ndim != 2 or params.shape[1] != n:
        raise ValueError(f"params must be (copies, {n}), got {params.shape}")
    return aug.transform(tile_series(series, params.shape[0]), params.ravel())


def augmented_flowpics(
    operation: str, series: PacketSeries, params: np.ndarray, dim: int, block_duration: float
) -> sp.csr_matrix:
    """Flowpics ``(copies * N, dim*dim)`` uint8 of the augmented copies, copy-major.

    ``series`` may hold only the packets before :func:`input_cutoff` (the result is the same); copies are
    binned in groups of about ``_PACKETS_PER_GROUP`` packets.
    """
    params = np.asarray(params, dtype=np.float64)
    series = window(series, input_cutoff(operation, block_duration))
    copies = params.shape[0]
    per_copy = max(1, len(series.times))
    step = max(1, _PACKETS_PER_GROUP // per_copy)
    parts = [
        flowpic_matrix(augmented_series(operation, series, params[lo : lo + step]), dim, block_duration)
        for lo in range(0, copies, step)
    ]
    if not parts:
        return sp.csr_matrix((0, dim * dim), dtype=np.uint8)
    return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr", dtype=np.uint8)
