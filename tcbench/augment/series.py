"""Packet-series augmentations (packetloss, changertt, timeshift) for many copies of many flows at once.

All copies of all flows are one big :class:`PacketSeries` (flow ``k * N + i`` = copy ``k`` of flow ``i``, so the
order is copy-major) whose times are changed with one parameter per (copy, flow) broadcast to its packets; a
single ``flowpic_matrix`` call then bins them. Copies are processed in groups bounded by a packet budget, so
memory stays flat at dim 1500 whatever the number of copies. Nothing here draws random numbers.

Semantics (reference tcbench-behaviour.md 2.2), times in seconds relative to the flow's first packet:
- changertt: ``t' = alpha * t`` (every packet kept; the flowpic keeps those with ``0 <= t' < T``);
- timeshift: ``t' = t + b``; packets with ``t' < 0`` are dropped (the original drops the first k packets, k the
  number of negative times: the same packets for sorted times), no re-zeroing;
- packetloss: packets with ``centre - delta <= t <= centre + delta`` are deleted (closed interval), others kept.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tcbench.features.flowpic import PacketSeries, flowpic_matrix

PACKETLOSS_DELTA = 0.1
TIMESHIFT_MAX = 1.0
CHANGERTT_MIN_ALPHA = 0.5
CHANGERTT_MAX_ALPHA = 1.5

SERIES_OPERATIONS = ("packetloss", "changertt", "timeshift")

# Packets of all copies handled per flowpic_matrix call (bounds the temporaries: ~40 bytes per packet).
_PACKETS_PER_GROUP = 8_000_000


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
    kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return PacketSeries(series.times[keep], series.sizes[keep], kept_before[series.offsets])


def input_cutoff(operation: str, block_duration: float) -> float:
    """Packets at or after this time cannot land inside the flowpic window after ``operation``.

    changertt: alpha >= 0.5 so alpha * t >= T for t >= 2T; timeshift: b >= -1 so t + b >= T for t >= T + 1;
    packetloss moves no packet.
    """
    if operation == "changertt":
        return block_duration / CHANGERTT_MIN_ALPHA
    if operation == "timeshift":
        return block_duration + TIMESHIFT_MAX
    if operation == "packetloss":
        return block_duration
    raise ValueError(f"unknown series augmentation {operation!r}; valid: {list(SERIES_OPERATIONS)}")


def augmented_series(operation: str, series: PacketSeries, params: np.ndarray) -> PacketSeries:
    """The augmented copies as one PacketSeries of ``copies * N`` flows, copy-major.

    ``params`` is ``(copies, N)``: alpha (changertt), shift b (timeshift) or the loss-window centre t*
    (packetloss, window ``[t* - 0.1, t* + 0.1]``).
    """
    params = np.asarray(params, dtype=np.float64)
    n = series.n_flows
    if params.ndim != 2 or params.shape[1] != n:
        raise ValueError(f"params must be (copies, {n}), got {params.shape}")
    copies = params.shape[0]
    counts = np.diff(series.offsets)
    n_packets = len(series.times)
    flow_of_packet = np.repeat(np.arange(n, dtype=np.int64), counts)
    per_packet = params[:, flow_of_packet].ravel()  # (copies * P,), copy-major like np.tile
    times = np.tile(series.times.astype(np.float64, copy=False), copies)
    sizes = np.tile(series.sizes, copies)
    offsets = np.empty(copies * n + 1, dtype=np.int64)
    offsets[:-1] = (series.offsets[:-1][None, :] + n_packets * np.arange(copies, dtype=np.int64)[:, None]).ravel()
    offsets[-1] = copies * n_packets
    if operation == "changertt":
        times *= per_packet
        return PacketSeries(times, sizes, offsets)
    if operation == "timeshift":
        times += per_packet
        keep = times >= 0
    elif operation == "packetloss":
        keep = ~((times >= per_packet - PACKETLOSS_DELTA) & (times <= per_packet + PACKETLOSS_DELTA))
    else:
        raise ValueError(f"unknown series augmentation {operation!r}; valid: {list(SERIES_OPERATIONS)}")
    kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return PacketSeries(times[keep], sizes[keep], kept_before[offsets])


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
