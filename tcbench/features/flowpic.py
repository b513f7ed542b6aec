"""Flowpic representation (reference tcbench-behaviour.md 1.2), computed for many flows at once.

The original builds one flowpic per flow with ``np.histogram2d`` inside a process pool and keeps them as Python
objects in pandas. Here a whole dataset is binned in a handful of numpy passes over the flat packet arrays and the
result is a sparse CSR matrix with one row per flow and ``dim * dim`` columns (index = size_bin * dim + time_bin),
so a 1500x1500 flowpic costs its non-zero pixels only and every run can slice the rows it needs.

Binning matches ``np.histogram2d(size / 1500 * dim, t / T * dim, bins=(range(dim + 1),) * 2)`` exactly: packets
with ``t >= T`` or ``t < 0`` are dropped, sizes are clipped to [0, 1500], the last bin of each axis is closed,
counts are clipped to 255 and stored as uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

MAX_PACKET_SIZE = 1500
DEFAULT_BLOCK_DURATION = 15.0
VALID_DIMS = (32, 64, 1500)
MAX_PIXEL_COUNT = 255

# Above this many (flow, pixel) cells a dense bincount would allocate too much; switch to sort-based counting.
_DENSE_CELLS_LIMIT = 64_000_000
# Flows binned per chunk: bounds the temporary arrays whatever the dataset size.
_PACKETS_PER_CHUNK = 8_000_000


@dataclass(frozen=True)
class PacketSeries:
    """Flat packet arrays of many flows: flow ``i`` owns ``times[offsets[i]:offsets[i+1]]``."""

    times: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) < 1:
            raise ValueError("offsets must be a 1-D array of length n_flows + 1")
        if len(self.times) != len(self.sizes):
            raise ValueError(f"times ({len(self.times)}) and sizes ({len(self.sizes)}) differ in length")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.times):
            raise ValueError("offsets must start at 0 and end at the number of packets")

    @property
    def n_flows(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_lists(cls, times: list[np.ndarray], sizes: list[np.ndarray]) -> "PacketSeries":
        """Build from per-flow arrays (tests, augmentations); the hot path reads flat arrays from parquet."""
        lengths = np.fromiter((len(t) for t in times), dtype=np.int64, count=len(times))
        offsets = np.zeros(len(times) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat_t = np.concatenate(times).astype(np.float64, copy=False) if times else np.zeros(0)
        flat_s = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int16)
        return cls(flat_t, flat_s, offsets)


def check_dim(dim: int) -> int:
    if dim not in VALID_DIMS:
        raise ValueError(f"flowpic_dim {dim!r} is not supported; valid values: {list(VALID_DIMS)}")
    return dim


def _bin_index(values: np.ndarray, dim: int) -> np.ndarray:
    """Histogram bin of values already scaled to [0, dim]; the right-most edge belongs to the last bin."""
    idx = values.astype(np.int32)  # truncation == floor for the non-negative values kept
    np.minimum(idx, dim - 1, out=idx)
    return idx


def _chunk_cells(series: PacketSeries, first: int, last: int, dim: int, block_duration: float) -> tuple[np.ndarray, np.ndarray]:
    """(local flow index, pixel index) of every packet of flows [first, last) that falls inside the window."""
    lo, hi = series.offsets[first], series.offsets[last]
    t = series.times[lo:hi]
    keep = (t < block_duration) & (t >= 0)
    lengths = np.diff(series.offsets[first : last + 1])
    flow = np.repeat(np.arange(last - first, dtype=np.int64), lengths)[keep]
    t = t[keep]
    s = np.clip(series.sizes[lo:hi][keep], 0, MAX_PACKET_SIZE).astype(np.float64)
    size_bin = _bin_index(s / MAX_PACKET_SIZE * dim, dim)
    time_bin = _bin_index(t / block_duration * dim, dim)
    return flow, size_bin.astype(np.int64) * dim + time_bin


def _chunk_to_csr(flow: np.ndarray, pixel: np.ndarray, n_flows: int, dim: int) -> sp.csr_matrix:
    n_pixels = dim * dim
    if n_flows * n_pixels <= _DENSE_CELLS_LIMIT:
        counts = np.bincount(flow * n_pixels + pixel, minlength=n_flows * n_pixels)
        np.minimum(counts, MAX_PIXEL_COUNT, out=counts)
        return sp.csr_matrix(counts.astype(np.uint8).reshape(n_flows, n_pixels))
    keys = np.sort(flow * n_pixels + pixel)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    counts = np.diff(np.append(starts, len(keys)))
    unique = keys[starts]
    rows = unique // n_pixels
    indptr = np.zeros(n_flows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_flows), out=indptr[1:])
    data = np.minimum(counts, MAX_PIXEL_COUNT).astype(np.uint8)
    return sp.csr_matrix((data, (unique % n_pixels).astype(np.int32), indptr), shape=(n_flows, n_pixels))


def flowpic_matrix(series: PacketSeries, dim: int, block_duration: float = DEFAULT_BLOCK_DURATION) -> sp.csr_matrix:
    """Flowpics of every flow in ``series`` as a (n_flows, dim*dim) uint8 CSR matrix."""
    check_dim(dim)
    if block_duration <= 0:
        raise ValueError(f"flowpic_block_duration must be > 0, got {block_duration}")
    offsets = series.offsets
    parts: list[sp.csr_matrix] = []
    first = 0
    while first < series.n_flows:
        # Greedy chunk of flows holding about _PACKETS_PER_CHUNK packets (at least one flow).
        last = int(np.searchsorted(offsets, offsets[first] + _PACKETS_PER_CHUNK, side="right")) - 1
        last = min(max(last, first + 1), series.n_flows)
        flow, pixel = _chunk_cells(series, first, last, dim, block_duration)
        parts.append(_chunk_to_csr(flow, pixel, last - first, dim))
        first = last
    if not parts:
        return sp.csr_matrix((0, dim * dim), dtype=np.uint8)
    matrix = sp.vstack(parts, format="csr", dtype=np.uint8)
    matrix.sort_indices()
    return matrix


def flowpic(times: np.ndarray, sizes: np.ndarray, dim: int, block_duration: float = DEFAULT_BLOCK_DURATION) -> np.ndarray:
    """The (dim, dim) uint8 flowpic of one flow; rows are size bins, columns time bins."""
    series = PacketSeries.from_lists([np.asarray(times, dtype=np.float64)], [np.asarray(sizes)])
    return flowpic_matrix(series, dim, block_duration).toarray().reshape(dim, dim)
