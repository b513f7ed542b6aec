"""The Full net (1500x1500 flowpics) computed exactly from the sparse flowpic, never building a dense input.

A 1500x1500 flowpic holds about 1 100 non-zero pixels (0.05 %); the dense path turns each into a 9 MB float image
and convolves it whole. The first two layers are computed here from the non-zero pixels alone, with the same
parameters (same modules, same state-dict keys), forward and backward through autograd:

- conv1 (10x10, stride 5, padding 3): a pixel reaches at most 2x2 outputs; every other output is the bias ``b1``.
  The outputs some pixel reaches ("touched") get ``b1 + sum(value * tap weight)``, scattered from the pixels.
- ReLU and MaxPool(2): a pooled cell is ``relu(b1)`` unless one of its 4 positions is touched; then it is the max of
  its touched positions, and of ``relu(b1)`` if some position is untouched.
- conv2 (10x10, stride 5, padding 3) of "``relu(b1)`` everywhere plus a sparse correction at the touched cells":
  conv2 of the constant map is one small template (it differs only where the padding cuts the kernel), computed
  with ``F.conv2d`` on a single 150x150 map, and each corrected cell adds its correction through at most 2x2
  outputs, gathered tap by tap.
- From conv2's 20x30x30 output on, the net's own modules run unchanged (ReLU, Dropout2d, MaxPool, FC layers),
  so dropout draws the same random masks as the dense path.

The result equals the dense forward up to float32 rounding (the sums run in another order); gradients follow
through the same operations, so training is the same computation (tests/test_sparse_full.py checks logits and
every parameter gradient against the dense path). A flowpic whose background is not zero (colorjitter's contrast
can lift every pixel) is not sparse: such rows take the dense layers inside the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import functools
import os

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

FULL_DIM = 1500
KERNEL, STRIDE, PADDING = 10, 5, 3
CONV1_SIDE = (FULL_DIM + 2 * PADDING - KERNEL) // STRIDE + 1  # 300
POOL1_SIDE = CONV1_SIDE // 2  # 150
CONV2_SIDE = (POOL1_SIDE + 2 * PADDING - KERNEL) // STRIDE + 1  # 30
# A row with more stored pixels than this (colorjitter lifting the background) takes the dense layers.
DENSE_ROW_PIXELS = FULL_DIM * FULL_DIM // 20
# Which path the Full net takes on a device type: `TCBENCH_FULL_NET=sparse|dense` overrides. On CPU the sparse path
# is 20x faster per training step (benchmarks/RESULTS.md, issue 10). On CUDA the dense path stays the default until
# the two are measured on a GPU (none was available when the sparse path was written); both are correct there.
PATH_ENV = "TCBENCH_FULL_NET"
DEFAULT_PATHS = {"cpu": "sparse", "cuda": "dense"}


def full_net_record(dim: int, device: torch.device | str) -> dict[str, dict[str, str]]:
    """What a run's marker records about the Full net's path (nothing below dim 1500)."""
    if dim != FULL_DIM:
        return {}
    return {"full_net": {"path": full_net_path(device), "device": str(device),
                         "rule": f"{PATH_ENV} or the default of {torch.device(device).type}"}}


def full_net_path(device: torch.device | str) -> str:
    """``"sparse"`` or ``"dense"``: how 1500x1500 batches are computed on ``device``."""
    chosen = os.environ.get(PATH_ENV) or DEFAULT_PATHS.get(torch.device(device).type, "dense")
    if chosen not in ("sparse", "dense"):
        raise ValueError(f"{PATH_ENV}={chosen!r}; valid values: ['sparse', 'dense']")
    return chosen


@dataclass(frozen=True)
class SparseFlowpics:
    """A batch of 1500x1500 flowpics as their pixel counts (``(N, 1500*1500)`` uint8 CSR, index = size_bin * 1500 +
    time_bin; value / 255 is the dense path's pixel), with its layout when it was assembled from cached per-flow
    parts. ``dense_rows`` / ``dense`` hold the samples that are not sparse, as dense ``(k, 1, 1500, 1500)`` images."""

    counts: sp.csr_matrix
    device: torch.device
    layout: SparseLayout | None = None
    dense_rows: Tensor | None = None
    dense: Tensor | None = None

    @property
    def n(self) -> int:
        return int(self.counts.shape[0])

    @classmethod
    def from_csr(cls, counts: sp.csr_matrix, device: torch.device | str = "cpu",
                 layout: SparseLayout | None = None) -> SparseFlowpics:
        counts = sp.csr_matrix(counts)
        dev = torch.device(device)
        heavy = np.flatnonzero(np.diff(counts.indptr) > DENSE_ROW_PIXELS)
        dense_rows = dense = None
        if len(heavy):
            dense_rows = torch.from_numpy(heavy).to(dev)
            dense = _pixels(counts[heavy].toarray()).reshape(-1, 1, FULL_DIM, FULL_DIM).to(dev)
        return cls(counts, dev, layout, dense_rows, dense)

    def to_dense(self) -> Tensor:
        """The same batch as dense ``(N, 1, 1500, 1500)`` images (tests, and the dense path)."""
        return _pixels(self.counts.toarray()).reshape(-1, 1, FULL_DIM, FULL_DIM).to(self.device)


def _pixels(counts: np.ndarray) -> Tensor:
    # The dense path's conversion (tcbench.training.batches): count / 255 in float32.
    return torch.from_numpy(np.ascontiguousarray(counts)).to(torch.float32).div_(255.0)


def _reached(coord: np.ndarray, side_out: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The two outputs along one axis that input coordinates reach through a 10-wide, stride-5, padding-3 window,
    with the kernel tap of each: ((output, tap), (output - 1, tap + 5)); an output may fall outside [0, side_out).

    Output o covers inputs 5o - 3 .. 5o + 6, so with q, r = divmod(c + 3, 5) the input c is tap r of output q and
    tap r + 5 of output q - 1, and of no other output."""
    q, r = np.divmod(coord + PADDING, STRIDE)
    return (q, r), (q - 1, r + STRIDE)


def _pairs(row: np.ndarray, y: np.ndarray, x: np.ndarray, side_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (input point, output position) pair of a 10x10 / stride 5 / padding 3 convolution over points
    ``(row, y, x)`` (at most 4 per point): (point index, flat output index ``(row * side + oy) * side + ox``,
    kernel tap ``ty * 10 + tx``)."""
    point, flat, tap = [], [], []
    for oy, ty in _reached(y, side_out):
        for ox, tx in _reached(x, side_out):
            keep = np.flatnonzero((oy >= 0) & (oy < side_out) & (ox >= 0) & (ox < side_out))
            point.append(keep)
            flat.append((row[keep] * side_out + oy[keep]) * side_out + ox[keep])
            tap.append(ty[keep] * KERNEL + tx[keep])
    return np.concatenate(point), np.concatenate(flat), np.concatenate(tap)


def _csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int], device: torch.device) -> Tensor:
    return torch.sparse_csr_tensor(torch.from_numpy(indptr), torch.from_numpy(indices), torch.from_numpy(values), shape,
                                   device=device)


def _rows(keys: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, indptr) of a CSR matrix whose i-th entry lies in row ``keys[i]``: entries grouped by row, kept in
    their order within a row (a stable sort), so column indices that increase with i stay sorted."""
    # numpy sorts 8- and 16-bit integers stably with a radix sort, in linear time: the keys are row numbers.
    small = np.uint8 if n_rows <= 1 << 8 else np.uint16 if n_rows <= 1 << 16 else None
    order = np.argsort(keys.astype(small) if small is not None else keys, kind="stable")
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_rows), out=indptr[1:])
    return order, indptr


class _SparseProduct(torch.autograd.Function):
    """``matrix @ dense`` with a sparse CSR ``matrix`` that needs no gradient; the backward multiplies by its
    transpose (``transposed @ grad``): both are sparse-dense products, where gathers and scatters of rows would run
    an index loop per row."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, matrix: Tensor, sparse: _Sparse, dense: Tensor) -> Tensor:
        ctx.sparse = sparse  # type: ignore[attr-defined]
        return matrix @ dense

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[None, None, Tensor]:
        return None, None, ctx.sparse.transposed @ grad  # type: ignore[attr-defined]


class _Sparse:
    """A sparse matrix multiplied with dense tensors (``@``) under autograd, CSR on its device. Its transpose, which
    only a backward pass needs, is built on first use (from ``transposed_order``, the entries grouped by column, when
    the caller knows it without sorting)."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int],
                 device: torch.device, transposed_order: np.ndarray | None = None) -> None:
        """From entries with ``rows`` ascending and ``cols`` ascending within a row, none repeated."""
        indptr = np.zeros(shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        self.matrix = _csr(indptr, cols, values, shape, device)
        self._parts = (rows, cols, values, shape, device, transposed_order)
        self._transposed: Tensor | None = None

    @property
    def transposed(self) -> Tensor:
        if self._transposed is None:
            rows, cols, values, shape, device, order = self._parts
            if order is None:
                order, indptr = _rows(cols, shape[1])
            else:
                indptr = np.zeros(shape[1] + 1, dtype=np.int64)
                np.cumsum(np.bincount(cols, minlength=shape[1]), out=indptr[1:])
            self._transposed = _csr(indptr, rows[order], values[order], (shape[1], shape[0]), device)
        return self._transposed

    def __matmul__(self, dense: Tensor) -> Tensor:
        return _SparseProduct.apply(self.matrix, self, dense)


@dataclass(frozen=True)
class SparseLayout:
    """Where a batch's pixels go through conv1, the pooling and conv2, as sparse matrices (no parameter enters them):
    built once per batch from the pixel coordinates, then used by the forward pass and its gradients.

    - ``conv1`` (touched conv1 outputs x 100 taps): pixel values; conv1 at the touched outputs = bias + conv1 @ W1.
    - ``slot``: each touched output's slot among the 4 of its pooled cell, cell * 4 + dy * 2 + dx.
    - ``gather`` and ``scatter``: 0/1 matrices between the corrected cells and the conv2 outputs, through the
      (cell, output) pairs grouped by conv2 tap and padded to ``per_tap`` pairs per tap: ``gather`` (100 * per_tap x
      cells) brings each pair's cell row, a batched product applies each tap's weights to its group, ``scatter``
      (conv2 outputs x 100 * per_tap) adds the products into the outputs.
    """

    n: int
    conv1: _Sparse
    n_touched: int
    slot: Tensor
    n_cells: int
    gather: _Sparse
    scatter: _Sparse
    per_tap: int

    @classmethod
    def of(cls, batch: SparseFlowpics) -> SparseLayout:
        """The layout of one batch (its pixel coordinates)."""
        return FlowLayouts.of(batch.counts).assemble(np.arange(batch.n), batch.device)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every i, concatenated (no Python loop)."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return offsets + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class FlowLayouts:
    """The part of the layout that belongs to each flow alone (a flow's pixels reach only its own conv1 outputs,
    cells and conv2 outputs), for many flows: computed once for a set of flowpics that is trained on every epoch,
    then assembled into the layout of any batch of them (:meth:`assemble`) without sorting the pixels again.

    Arrays are grouped by flow; ``*_start`` give each flow's first index (length flows + 1).
    """

    touched_start: np.ndarray  # flow -> its touched conv1 outputs
    entry_start: np.ndarray  # touched output -> its conv1 entries (pixel value at a tap)
    entry_tap: np.ndarray  # uint8
    entry_value: np.ndarray  # float32
    touched_cell: np.ndarray  # the touched output's cell, numbered within its flow
    touched_slot: np.ndarray  # uint8, its slot in the cell: dy * 2 + dx
    cell_start: np.ndarray  # flow -> its cells
    pair_start: np.ndarray  # flow -> its (cell, conv2 output) pairs
    pair_cell: np.ndarray  # the pair's cell, numbered within its flow
    pair_out: np.ndarray  # the pair's conv2 output within its flow's 30x30 map (oy * 30 + ox)
    pair_tap: np.ndarray  # uint8

    @property
    def n_flows(self) -> int:
        return len(self.touched_start) - 1

    @classmethod
    def of(cls, counts: sp.csr_matrix) -> FlowLayouts:
        """From ``(N, 1500*1500)`` flowpic counts (rows above ``DENSE_ROW_PIXELS`` pixels are left empty)."""
        counts = sp.csr_matrix(counts)
        n = counts.shape[0]
        light = np.diff(counts.indptr) <= DENSE_ROW_PIXELS
        row = np.repeat(np.arange(n, dtype=np.int64), np.where(light, np.diff(counts.indptr), 0))
        keep = np.repeat(light, np.diff(counts.indptr))
        y, x = np.divmod(counts.indices[keep].astype(np.int64), FULL_DIM)
        value = counts.data[keep].astype(np.float32) / np.float32(255.0)
        taps = KERNEL * KERNEL
        # conv1: one sort of (output, tap) groups the entries by flow, touched output and tap.
        pixel, pos, tap1 = _pairs(row, y, x, CONV1_SIDE)
        order = np.argsort(pos * taps + tap1)  # unique keys: the tap fixes the pixel of an output
        pos, tap1, pixel = pos[order], tap1[order], pixel[order]
        first = np.empty(len(pos), dtype=bool)
        first[:1] = True
        np.not_equal(pos[1:], pos[:-1], out=first[1:])
        outputs = pos[first]
        sample, rest = np.divmod(outputs, CONV1_SIDE * CONV1_SIDE)
        oy, ox = np.divmod(rest, CONV1_SIDE)
        cells, cell_of = np.unique((sample * POOL1_SIDE + oy // 2) * POOL1_SIDE + ox // 2, return_inverse=True)
        cell_sample, cell_rest = np.divmod(cells, POOL1_SIDE * POOL1_SIDE)
        cell_start = np.searchsorted(cell_sample, np.arange(n + 1))
        cy, cx = np.divmod(cell_rest, POOL1_SIDE)
        cell, out, tap2 = _pairs(cell_sample, cy, cx, CONV2_SIDE)
        by_cell = np.argsort(cell, kind="stable")  # pairs grouped by flow (cells are numbered in flow order)
        cell, out, tap2 = cell[by_cell], out[by_cell], tap2[by_cell]
        pair_sample = cell_sample[cell]
        return cls(
            touched_start=np.searchsorted(sample, np.arange(n + 1)),
            entry_start=np.append(np.flatnonzero(first), len(pos)),
            entry_tap=tap1.astype(np.uint8),
            entry_value=value[pixel],
            touched_cell=(cell_of - cell_start[sample]).astype(np.int32),
            touched_slot=((oy % 2) * 2 + ox % 2).astype(np.uint8),
            cell_start=cell_start,
            pair_start=np.searchsorted(pair_sample, np.arange(n + 1)),
            pair_cell=(cell - cell_start[pair_sample]).astype(np.int32),
            pair_out=(out - pair_sample * CONV2_SIDE * CONV2_SIDE).astype(np.int16),
            pair_tap=tap2.astype(np.uint8),
        )

    @classmethod
    def of_chunks(cls, counts: sp.csr_matrix, chunk: int = 256) -> FlowLayouts:
        """:meth:`of` for many flows, ``chunk`` at a time (the pixel pairs of thousands of flows at once would take
        gigabytes before they are reduced to the layout)."""
        parts = [cls.of(counts[i : i + chunk]) for i in range(0, counts.shape[0], chunk)]
        if len(parts) == 1:
            return parts[0]

        def starts(name: str, size: str) -> np.ndarray:
            offsets = np.cumsum([0] + [len(getattr(p, size)) for p in parts[:-1]])
            return np.concatenate([getattr(p, name)[:-1] + o for p, o in zip(parts, offsets)]
                                  + [[sum(len(getattr(p, size)) for p in parts)]])

        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        cells = np.cumsum([0] + [int(p.cell_start[-1]) for p in parts[:-1]])
        cell_start = np.concatenate([p.cell_start[:-1] + o for p, o in zip(parts, cells)]
                                    + [[cells[-1] + parts[-1].cell_start[-1]]])
        return cls(touched_start=starts("touched_start", "touched_cell"), entry_start=starts("entry_start", "entry_tap"),
                   entry_tap=joined("entry_tap"), entry_value=joined("entry_value"), touched_cell=joined("touched_cell"),
                   touched_slot=joined("touched_slot"), cell_start=cell_start, pair_start=starts("pair_start", "pair_cell"),
                   pair_cell=joined("pair_cell"), pair_out=joined("pair_out"), pair_tap=joined("pair_tap"))

    def assemble(self, flows: np.ndarray, device: torch.device | str = "cpu") -> SparseLayout:
        """The layout of a batch of these flows (``flows``: their positions here, in batch order)."""
        flows = np.asarray(flows, dtype=np.int64)
        n, taps, dev = len(flows), KERNEL * KERNEL, torch.device(device)
        # conv1: the batch's touched outputs, each with its entries.
        t_count = self.touched_start[flows + 1] - self.touched_start[flows]
        touched = _ranges(self.touched_start[flows], t_count)
        e_count = self.entry_start[touched + 1] - self.entry_start[touched]
        entries = _ranges(self.entry_start[touched], e_count)
        rows = np.repeat(np.arange(len(touched), dtype=np.int64), e_count)
        conv1 = _Sparse(rows, self.entry_tap[entries].astype(np.int64), self.entry_value[entries], (len(touched), taps), dev)
        # Pooling: cells renumbered in batch order.
        c_count = self.cell_start[flows + 1] - self.cell_start[flows]
        c_offset = np.concatenate([[0], np.cumsum(c_count)[:-1]])
        touched_flow = np.repeat(np.arange(n, dtype=np.int64), t_count)
        slot = (self.touched_cell[touched] + c_offset[touched_flow]) * 4 + self.touched_slot[touched]
        n_cells = int(c_count.sum())
        # conv2: the pairs, grouped by tap and padded to the same count per tap.
        p_count = self.pair_start[flows + 1] - self.pair_start[flows]
        pairs = _ranges(self.pair_start[flows], p_count)
        pair_flow = np.repeat(np.arange(n, dtype=np.int64), p_count)
        cell = self.pair_cell[pairs] + c_offset[pair_flow]
        out = pair_flow * (CONV2_SIDE * CONV2_SIDE) + self.pair_out[pairs]
        tap2 = self.pair_tap[pairs].astype(np.int64)
        by_tap, starts = _rows(tap2, taps)
        per_tap = max(1, int(np.diff(starts).max()))
        tap_sorted = tap2[by_tap]
        padded = tap_sorted * per_tap + (np.arange(len(by_tap)) - starts[tap_sorted])
        ones = np.ones(len(by_tap), dtype=np.float32)
        gather = _Sparse(padded, cell[by_tap], ones, (taps * per_tap, n_cells), dev)
        outputs2 = out[by_tap]
        out_order, _ = _rows(outputs2, n * CONV2_SIDE * CONV2_SIDE)
        # scatter's columns are the padded pair slots: ascending in tap order, so its transpose needs no sort.
        back = np.empty_like(out_order)
        back[out_order] = np.arange(len(out_order))
        scatter = _Sparse(outputs2[out_order], padded[out_order], ones, (n * CONV2_SIDE * CONV2_SIDE, taps * per_tap), dev,
                          transposed_order=back)
        return SparseLayout(n, conv1, len(touched), torch.from_numpy(slot).to(dev), n_cells, gather, scatter, per_tap)


@functools.cache
def _inside(device: torch.device) -> Tensor:
    """(100 taps x 900 conv2 outputs): 1 where the tap of the output's window lies inside the 150x150 map (not in
    the zero padding), so that conv2 of a per-channel constant map is one small product."""
    tap = torch.arange(KERNEL)
    out = torch.arange(CONV2_SIDE)
    coord = STRIDE * out[:, None] - PADDING + tap[None, :]  # (output, tap) -> input coordinate
    ok = ((coord >= 0) & (coord < POOL1_SIDE)).float()  # (30, 10)
    return torch.einsum("iu,jv->uvij", ok, ok).reshape(KERNEL * KERNEL, CONV2_SIDE * CONV2_SIDE).to(device)


def conv2_input_free(features: nn.Sequential, batch: SparseFlowpics, layout: SparseLayout | None = None) -> Tensor:
    """conv2's output (before its ReLU), ``(N, 20, 30, 30)``, computed from the sparse pixels (module docstring)."""
    conv1: nn.Conv2d = features.conv1[0]
    conv2: nn.Conv2d = features.conv2[0]
    layout = layout or batch.layout or SparseLayout.of(batch)
    n, c1, c2 = batch.n, conv1.out_channels, conv2.out_channels
    base = F.relu(conv1.bias)  # every untouched conv1 output after ReLU

    # conv1 at the touched outputs: bias plus each pixel's value times the tap weights it meets there.
    z = conv1.bias + layout.conv1 @ conv1.weight.reshape(c1, KERNEL * KERNEL).t()

    # ReLU and MaxPool(2): a cell's 4 slots (in the dense pooling's scan order, so ties break alike) hold relu(b1)
    # where untouched and the touched outputs' values; the max over the slots is the pooled value.
    slots = base.expand(layout.n_cells * 4, c1).index_copy(0, layout.slot, F.relu(z))
    correction = slots.reshape(layout.n_cells, 4, c1).max(dim=1).values - base

    # conv2: the template of the constant map, plus each corrected cell through the outputs it reaches.
    # conv2 of the constant map relu(b1): at output (i, j) the taps inside the map (``_inside``) see relu(b1_c).
    per_tap = torch.einsum("kcuv,c->kuv", conv2.weight, base).reshape(c2, KERNEL * KERNEL)
    template = (conv2.bias.unsqueeze(1) + per_tap @ _inside(per_tap.device)).reshape(1, c2, CONV2_SIDE, CONV2_SIDE)
    # Per tap, (C_out x C_in) @ (C_in x pairs): the pairs as the long last dimension is 3x faster than as rows.
    taps_w = conv2.weight.permute(2, 3, 0, 1).reshape(KERNEL * KERNEL, c2, c1)  # [tap] = (C_out, C_in)
    grouped = (layout.gather @ correction).reshape(KERNEL * KERNEL, layout.per_tap, c1).transpose(1, 2)
    products = torch.bmm(taps_w, grouped).transpose(1, 2).reshape(KERNEL * KERNEL * layout.per_tap, c2)
    flat = layout.scatter @ products
    # (N, 30, 30, 20) seen as (N, 20, 30, 30) is the channels-last layout the dense path's tensors have (the layers
    # after conv2 run fastest on it); adding the template to it keeps that layout.
    out = flat.reshape(n, CONV2_SIDE, CONV2_SIDE, c2).permute(0, 3, 1, 2) + template
    if batch.dense_rows is not None and batch.dense is not None:
        dense_out = features.conv2[0](features.conv1(batch.dense))
        out = out.index_copy(0, batch.dense_rows, dense_out.to(out.dtype))
    return out


def sparse_forward(net: nn.Module, batch: SparseFlowpics) -> Tensor:
    """``net(x)`` for a Full net (``FlowpicNet`` at dim 1500, supervised or SimCLR) on a sparse batch."""
    features = net.features
    hidden = features.conv2[1:](conv2_input_free(features, batch))
    return net.classifier(features.fullyconnected(hidden))
