"""The Full net (1500x1500 flowpics) computed exactly from the sparse flowpic, never building a dense input.

A 1500x1500 flowpic holds about 1 100 non-zero pixels (0.05 %); the dense path turns each into a 9 MB float image
and convolves it whole. The first two layers are computed here from the non-zero pixels alone, with the same
parameters (same modules, same state-dict keys), forward and backward through autograd:

- conv1 (10x10, stride 5, padding 3): a pixel reaches at most 2x2 outputs; every other output is the bias ``b1``.
- ReLU and MaxPool(2): a pooled cell is ``relu(b1)`` unless one of its 4 positions ("slots") is reached by a pixel.
  For each such cell, conv1 at its 4 slots is ``b1 + sum(value * tap weight)`` over the pixels reaching the slot
  (a sum of weighted rows of W1, ``F.embedding_bag``), and the pooled value is ``relu(b1 + max over the slots)``:
  ReLU and max commute. The cell's correction is that value minus ``relu(b1)``.
- conv2 (10x10, stride 5, padding 3) of "``relu(b1)`` everywhere plus the corrections":
  - conv2 of the constant map is one small template. It differs from a constant only where the padding cuts the
    kernel (``_inside``).
  - A corrected cell reaches at most 2x2 outputs, through 4 taps that its position modulo 5 (its "class") fixes.
    The cells are grouped by class, so each class is one product (cells x 10) @ (10 x 4*20).
  - The 4 products of each cell are summed into the outputs they reach (``F.embedding_bag`` again).
- From conv2's 20x30x30 output on, the net's own modules run (MaxPool2d first, then ReLU and Dropout2d, which
  commute with it: :func:`sparse_forward`), so dropout draws the same random masks as the dense path.

Where each pixel goes (the "layout") depends only on the pixel coordinates:
- It is built with one sort of bit-packed keys per batch (:meth:`SparseLayout.of`).
- For a set trained on every epoch, it is built once per flow (:class:`FlowLayouts`). A batch's layout is then
  assembled from the per-flow parts by concatenating ranges, with no sort.

The result equals the dense forward up to float32 rounding (the sums run in another order); gradients follow
through the same operations, so training is the same computation (tests/test_sparse_full.py checks logits and
every parameter gradient against the dense path). A flowpic whose background is not zero (colorjitter's contrast
can lift every pixel) is not sparse: such rows take the dense layers inside the same batch.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

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


# count / 255 in float32 for every count, as the dense path computes it (``_pixels``).
_PIXEL_VALUES = np.arange(256, dtype=np.float32) / np.float32(255.0)


def _pixels(counts: np.ndarray) -> Tensor:
    # The dense path's conversion (tcbench.training.batches): count / 255 in float32.
    return torch.from_numpy(np.ascontiguousarray(counts)).to(torch.float32).div_(255.0)


# conv2 sees a pooled cell (cy, cx) as tap (ry, rx) of output (qy, qx) and taps (ry + 5a, rx + 5b) of the outputs
# (qy - a, qx - b), a, b in {0, 1}, where (qy, ry) = divmod(cy + 3, 5) (and alike for x): a cell's residue class
# ry * 5 + rx fixes the 4 taps its correction meets. Cells grouped by class meet their taps in one batched product.
CLASSES = STRIDE * STRIDE
REACH = 4  # conv2 outputs a cell reaches (2x2): j = a * 2 + b
_CLASS_TAPS = np.array([[(r // STRIDE + STRIDE * (j // 2)) * KERNEL + r % STRIDE + STRIDE * (j % 2) for j in range(REACH)]
                        for r in range(CLASSES)])  # (class, j) -> conv2 tap ty * 10 + tx
# The sort key of a conv1 entry, as bit fields from the most significant: flow and class (flow first for the
# per-flow layouts, class first for a batch's direct layout), cell position (cy * 150 + cx), slot, tap. Decoded with
# shifts: divisions would cost more than the sort.
TAP_BITS, SLOT_BITS, POSITION_BITS, CLASS_BITS = 7, 2, 15, 5
CELL_SHIFT = TAP_BITS + SLOT_BITS
FLOW_SHIFT = CELL_SHIFT + POSITION_BITS + CLASS_BITS  # of the per-flow layouts

_OUTSIDE = 1 << 61  # a key part for an output outside the map: any key holding one is at least this


@functools.cache
def _axis_keys(class_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts of a conv1 entry's sort key that a pixel's row y (and column x) gives, ``(1500, 2)`` each: for the
    2 outputs o = q - a (a = 0, 1) that coordinate reaches as tap t = r + 5a, (q, r) = divmod(c + 3, 5), the cell
    coordinate o // 2 enters the class (through (o // 2 + 3) % 5, at bit ``class_shift``) and the position, o % 2
    the slot, t the tap. The bit fields never carry into each other, so the row part plus the column part is the
    key (flow part aside)."""
    coord = np.arange(FULL_DIM)[:, None]
    a = np.arange(2)[None, :]
    q, r = np.divmod(coord + PADDING, STRIDE)
    out, tap = q - a, r + STRIDE * a
    cell = out >> 1
    klass = (cell + PADDING) % STRIDE
    inside = (out >= 0) & (out < CONV1_SIDE)
    rows = (klass * STRIDE << class_shift) + (cell * POOL1_SIDE << CELL_SHIFT) + ((out & 1) * 2 << TAP_BITS) + tap * KERNEL
    cols = (klass << class_shift) + (cell << CELL_SHIFT) + ((out & 1) << TAP_BITS) + tap
    return np.where(inside, rows, _OUTSIDE).astype(np.int64), np.where(inside, cols, _OUTSIDE).astype(np.int64)


def _sorted_entries(counts: sp.csr_matrix, flow_shift: int, class_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """The conv1 entries of ``(N, 1500*1500)`` flowpic counts (rows above ``DENSE_ROW_PIXELS`` pixels left out):
    their sort keys, ascending, and their pixel counts (uint8). A key holds the flow (at ``flow_shift``), the cell's class
    (at ``class_shift``), the cell's position, the slot and the tap; the keys are unique (an output and a tap fix the
    pixel), so one sort groups the entries by cell and slot, with the cells in the order the two shifts give."""
    counts = sp.csr_matrix(counts)
    n = counts.shape[0]
    lengths = np.diff(counts.indptr)
    light = lengths <= DENSE_ROW_PIXELS
    keep = np.repeat(light, lengths)
    flow = np.repeat(np.arange(n, dtype=np.int64), np.where(light, lengths, 0))
    y, x = np.divmod(counts.indices[keep].astype(np.int32), FULL_DIM)
    count = counts.data[keep]
    # Each pixel's 4 entries (a, b) at once, as keys = flow part + row part + column part (_axis_keys); those outside
    # the 300x300 map sort last and are dropped.
    rows, cols = _axis_keys(class_shift)
    key = ((flow << flow_shift)[:, None, None] + rows[y][:, :, None] + cols[x][:, None, :]).ravel()
    outside = key >= _OUTSIDE
    last = max(n << flow_shift, CLASSES << class_shift)
    key[outside] = last
    key, order = _sort(key, last + 1)
    inside = len(key) - int(outside.sum())
    return key[:inside], count[order[:inside] >> 2]


def _first_of_groups(keys: np.ndarray) -> np.ndarray:
    """True where a run of equal (sorted) keys starts."""
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return first


@functools.cache
def _cell_outputs() -> np.ndarray:
    """``(150 * 150, 4)``: the conv2 output (oy * 30 + ox) that a pooled cell reaches as its j-th, or -1 outside."""
    cy, cx = np.divmod(np.arange(POOL1_SIDE * POOL1_SIDE), POOL1_SIDE)
    j = np.arange(REACH)
    oy, ox = (cy[:, None] + PADDING) // STRIDE - j // 2, (cx[:, None] + PADDING) // STRIDE - j % 2
    inside = (oy >= 0) & (oy < CONV2_SIDE) & (ox >= 0) & (ox < CONV2_SIDE)
    return np.where(inside, oy * CONV2_SIDE + ox, -1)


def _order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for integer keys in ``[0, n_keys)``, the fastest way numpy has."""
    return _sort(keys, n_keys)[1]


def _sort(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """(the keys sorted, their stable argsort) for integer keys in ``[0, n_keys)``: a radix sort of 8- or 16-bit
    keys; else the keys and their positions packed into one int64 and sorted by value (vectorised: 3x faster than
    argsort, and the sorted keys come without a gather), when they fit."""
    if n_keys <= 1 << 16:
        order = np.argsort(keys.astype(np.uint8 if n_keys <= 1 << 8 else np.uint16), kind="stable")
        return keys[order], order
    bits = max(1, (len(keys) - 1).bit_length())
    if n_keys > 1 << (63 - bits):
        order = np.argsort(keys, kind="stable")
        return keys[order], order
    packed = np.sort((keys.astype(np.int64) << bits) | np.arange(len(keys), dtype=np.int64))
    return packed >> bits, packed & ((1 << bits) - 1)


def _starts(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Where each key's group starts among entries grouped by key (length n_keys + 1)."""
    starts = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=starts[1:])
    return starts


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every i, concatenated (no Python loop)."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return offsets + np.arange(total, dtype=np.int64)


class _Bags:
    """A sparse product as bags: output row ``i`` = the sum of ``weight * table[member]`` over the bag's members
    (``F.embedding_bag``, 1.5-4x faster here than a sparse CSR product and far faster than ``index_add_``), under
    autograd for ``table``. The gradient is the transposed product: on CPU scipy's, elsewhere the transposed bags
    (each member's bags as a bag), built on first use, since only training needs it. Where every member is in one
    bag at most (``once``), the gradient is a gather. Indices are int32 (half the memory of int64, and embedding_bag
    runs faster on them)."""

    def __init__(self, members: np.ndarray, bag: np.ndarray, n_bags: int, n_members: int, device: torch.device,
                 weights: np.ndarray | None = None, once: bool = False) -> None:
        """From the members (row numbers of the table, ``[0, n_members)``) grouped by their ``bag`` (ascending)."""
        members, bag = members.astype(np.int32, copy=False), bag.astype(np.int32, copy=False)
        self.members = torch.from_numpy(members).to(device)
        self.offsets = torch.from_numpy(_starts(bag, n_bags)[:-1].astype(np.int32)).to(device)
        self.weights = torch.from_numpy(weights).to(device) if weights is not None else None
        self.n_bags, self.n_members, self.once = n_bags, n_members, once
        # The host arrays the transposed bags are built from (rebuilding the members' bags from the offsets took
        # 3x longer than the rest of the build).
        self._entries = (members, bag, weights)
        self._transposed: _Bags | Tensor | sp.spmatrix | None = None  # what backward needs, built on first use

    def forward(self, table: Tensor) -> Tensor:
        return F.embedding_bag(self.members, table, self.offsets, mode="sum", per_sample_weights=self.weights)

    def backward(self, grad: Tensor) -> Tensor:
        """The gradient of :meth:`forward` with respect to the table, ``(n_members, D)``."""
        members, bag, weights = self._entries
        if self.once:  # a gather: the member's bag, or the zero row n_bags for a member of none
            if self._transposed is None:
                owner = np.full(self.n_members, self.n_bags, dtype=np.int32)
                owner[members] = bag
                self._transposed = torch.from_numpy(owner).to(grad.device)
            assert isinstance(self._transposed, Tensor)
            return torch.cat([grad, grad.new_zeros(1, grad.shape[1])]).index_select(0, self._transposed)
        if grad.device.type == "cpu":
            # scipy's transposed CSR product runs once over the entries, with no sort: 3x faster than building the
            # transposed bags (1.7 ms vs 5.5 ms for conv1 on a batch of 32).
            if self._transposed is None:
                values = weights if weights is not None else np.ones(len(members), dtype=np.float32)
                indptr = np.append(self.offsets.numpy(), len(members)).astype(np.int32)
                self._transposed = sp.csr_matrix((values, members, indptr), shape=(self.n_bags, self.n_members)).T
            return torch.from_numpy(np.ascontiguousarray(self._transposed @ grad.detach().contiguous().numpy()))
        if self._transposed is None:
            order = _order(members, self.n_members)
            self._transposed = _Bags(bag[order], members[order], self.n_members, self.n_bags, grad.device,
                                     weights[order] if weights is not None else None)
        assert isinstance(self._transposed, _Bags)
        return self._transposed.forward(grad.contiguous())

    @property
    def nbytes(self) -> int:
        return self.offsets.nbytes + sum(a.nbytes for a in self._entries if a is not None)

    def sum(self, table: Tensor) -> Tensor:
        """``(n_bags, D)`` from ``table`` ``(n_members, D)``."""
        return _BagSum.apply(table, self)


class _BagSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, table: Tensor, bags: _Bags) -> Tensor:
        ctx.bags = bags  # type: ignore[attr-defined]
        return bags.forward(table.contiguous())

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, None]:
        return ctx.bags.backward(grad), None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SparseLayout:
    """Where a batch's pixels go through conv1, the pooling and conv2, as bags (no parameter enters them): built once
    per batch from the pixel coordinates, then used by the forward pass and its gradients.

    The batch's corrected cells (pooled positions some pixel reaches) are numbered class by class.

    - ``conv1``: a bag per slot ``cell * 4 + dy * 2 + dx`` of a cell, of the conv1 taps its pixels meet there,
      weighted by the pixel values: conv1 at every slot = bias + the bags' sums of W1's tap rows (none: bias).
    - ``scatter``: a bag per conv2 output, of the products ``cell * 4 + j`` (a cell's correction through the taps of
      its j-th reached output) that reach it.
    """

    n: int
    conv1: _Bags
    class_bounds: tuple[int, ...]  # class k's cells are class_bounds[k]:class_bounds[k + 1]
    scatter: _Bags

    @property
    def nbytes(self) -> int:
        return self.conv1.nbytes + self.scatter.nbytes

    @classmethod
    def of(cls, batch: SparseFlowpics) -> SparseLayout:
        """The layout of one batch, from its pixel coordinates: one sort puts the entries in the batch's order (by
        class, flow, cell); equal to :meth:`FlowLayouts.assemble` of the batch's flows, without the per-flow parts
        (a batch read once, as a test set's, needs none)."""
        n, dev = batch.n, batch.device
        flow_bits = max(1, n.bit_length())
        key, count = _sorted_entries(batch.counts, CELL_SHIFT + POSITION_BITS, CELL_SHIFT + POSITION_BITS + flow_bits)
        cell_key = key >> CELL_SHIFT
        first = _first_of_groups(cell_key)
        cells = cell_key[first]
        n_slots = len(cells) * 4
        slots = (np.cumsum(first) - 1) << 2 | (key >> TAP_BITS) & 3
        conv1 = _Bags(key & ((1 << TAP_BITS) - 1), slots, n_slots, KERNEL * KERNEL, dev, _PIXEL_VALUES[count])
        bounds = np.searchsorted(cells >> (POSITION_BITS + flow_bits), np.arange(CLASSES + 1))
        out = _cell_outputs()[cells & ((1 << POSITION_BITS) - 1)].ravel()  # (cells, 4) -> conv2 output, or -1
        product = np.flatnonzero(out >= 0)  # cell * 4 + j
        bag = ((cells[product >> 2] >> POSITION_BITS) & ((1 << flow_bits) - 1)) * (CONV2_SIDE * CONV2_SIDE) + out[product]
        bag, by_bag = _sort(bag, n * CONV2_SIDE * CONV2_SIDE)
        scatter = _Bags(product[by_bag], bag, n * CONV2_SIDE * CONV2_SIDE, n_slots, dev, once=True)
        return cls(n, conv1, tuple(bounds.tolist()), scatter)


@dataclass(frozen=True)
class FlowLayouts:
    """The part of the layout that belongs to each flow alone (a flow's pixels reach only its own conv1 outputs,
    cells and conv2 outputs), for many flows: computed once for a set of flowpics that is trained on every epoch,
    then assembled into the layout of any batch of them (:meth:`assemble`) by concatenating ranges, without sorting.

    Within a flow, cells are ordered by (class, cy, cx) and numbered from 0; arrays are grouped by flow, and
    ``*_start`` give each flow's first index (length flows + 1).
    """

    class_count: np.ndarray  # (flows, 25) the flow's cells per class
    class_entries: np.ndarray  # (flows, 25) its conv1 entries per class
    entry_start: np.ndarray  # flow -> its conv1 entries (a pixel value at a tap of a slot), by (cell, slot, tap)
    entry_slot: np.ndarray  # int32, the entry's slot: cell * 4 + slot
    entry_tap: np.ndarray  # uint8
    entry_count: np.ndarray  # uint8, the pixel's count (its value is count / 255: _PIXEL_VALUES)
    product_start: np.ndarray  # flow -> its products (cell, j) that reach an output inside the map, by output
    product_ref: np.ndarray  # int32, cell * 4 + j
    product_class: np.ndarray  # uint8, the cell's class
    product_out: np.ndarray  # int16, the conv2 output it reaches, oy * 30 + ox

    @property
    def n_flows(self) -> int:
        return len(self.entry_start) - 1

    @classmethod
    def of(cls, counts: sp.csr_matrix) -> FlowLayouts:
        """From ``(N, 1500*1500)`` flowpic counts (rows above ``DENSE_ROW_PIXELS`` pixels are left empty)."""
        n = counts.shape[0]
        key, count = _sorted_entries(counts, FLOW_SHIFT, CELL_SHIFT + POSITION_BITS)  # by (flow, class, cell)
        cell_key = key >> CELL_SHIFT
        first = _first_of_groups(cell_key)
        cells = cell_key[first]
        cell_flow = cells >> (POSITION_BITS + CLASS_BITS)
        cell_class = (cells >> POSITION_BITS) & ((1 << CLASS_BITS) - 1)
        cell_start = _starts(cell_flow, n)
        entry_flow = key >> FLOW_SHIFT
        local = np.arange(len(cells)) - cell_start[cell_flow]  # the cell's number within its flow
        # conv2: each cell's products (cell, j) that reach an output inside the 30x30 map, ordered by (flow, output).
        out = _cell_outputs()[cells & ((1 << POSITION_BITS) - 1)].ravel()  # (cells, 4) -> conv2 output, or -1
        product = np.flatnonzero(out >= 0)  # cell * 4 + j
        out = out[product]
        by_out = _order(cell_flow[product >> 2] * (CONV2_SIDE * CONV2_SIDE) + out, n * CONV2_SIDE * CONV2_SIDE)
        product, out = product[by_out], out[by_out]
        product_cell = product >> 2
        return cls(
            class_count=np.bincount(cells >> POSITION_BITS, minlength=n << CLASS_BITS).reshape(n, -1)[:, :CLASSES],
            class_entries=np.bincount(key >> (CELL_SHIFT + POSITION_BITS),
                                      minlength=n << CLASS_BITS).reshape(n, -1)[:, :CLASSES],
            entry_start=_starts(entry_flow, n),
            entry_slot=((np.cumsum(first) - 1 - cell_start[entry_flow]) << 2 | (key >> TAP_BITS) & 3).astype(np.int32),
            entry_tap=(key & ((1 << TAP_BITS) - 1)).astype(np.uint8),
            entry_count=count,
            product_start=_starts(cell_flow[product_cell], n),
            product_ref=(local[product_cell] << 2 | product & 3).astype(np.int32),
            product_class=cell_class[product_cell].astype(np.uint8),
            product_out=out.astype(np.int16),
        )

    @classmethod
    def of_chunks(cls, counts: sp.csr_matrix, chunk: int = 64) -> FlowLayouts:
        """:meth:`of` for many flows, ``chunk`` at a time (the sort keys of a chunk take 50 times its layout), each
        chunk's layout written into the joined arrays as soon as it is computed: those are allocated at an upper
        bound of their length, which costs no memory until written, and cut to length at the end. (Joining the
        chunks' layouts at the end would double the peak memory of a run: the chunks' freed memory stays with the
        process.)"""
        counts = sp.csr_matrix(counts)
        n = counts.shape[0]
        if n <= chunk:
            return cls.of(counts)
        bound = {"entry": 4 * counts.nnz, "product": 16 * counts.nnz}  # 4 outputs per pixel, 4 products per cell
        joined: dict[str, np.ndarray] = {}
        filled: dict[str, int] = {}
        for first in range(0, n, chunk):
            part = vars(cls.of(counts[first : first + chunk]))
            for name, array in part.items():
                if name not in joined:
                    length = n + 1 if name.endswith("_start") else bound.get(name.split("_")[0], n)
                    joined[name] = np.empty((length, *array.shape[1:]), dtype=array.dtype)
                    filled[name] = 0
                at = filled[name]
                if name.endswith("_start"):  # offsets into the grouped arrays: shifted by what is already there
                    joined[name][first : first + len(array)] = array + (joined[name][first] if first else 0)
                else:
                    joined[name][at : at + len(array)] = array
                    filled[name] = at + len(array)
        for name, array in joined.items():
            if not name.endswith("_start"):
                array.resize((filled[name], *array.shape[1:]), refcheck=False)  # in place: frees the unused tail
        return cls(**joined)

    def assemble(self, flows: np.ndarray, device: torch.device | str = "cpu") -> SparseLayout:
        """The layout of a batch of these flows (``flows``: their positions here, in batch order)."""
        flows = np.asarray(flows, dtype=np.int64)
        n, dev = len(flows), torch.device(device)
        # Batch cell number = (cells of the classes before) + (the class's cells of the flows before) + (rank in the
        # flow's class) = the cell's number in its flow + shift[flow, class].
        counts = self.class_count[flows]
        bounds = np.concatenate([[0], np.cumsum(counts.sum(axis=0))])
        shift = (bounds[:-1] + np.cumsum(counts, axis=0) - counts) - (np.cumsum(counts, axis=1) - counts)
        n_slots = int(bounds[-1]) * 4
        # conv1: the entries in batch slot order, block by block: class by class, and within a class flow by flow.
        entries = self.class_entries[flows]
        first = self.entry_start[flows][:, None] + np.cumsum(entries, axis=1) - entries
        entry = _ranges(first.T.ravel(), entries.T.ravel())
        slots = self.entry_slot[entry] + np.repeat(4 * shift.T.ravel(), entries.T.ravel())
        conv1 = _Bags(self.entry_tap[entry], slots, n_slots, KERNEL * KERNEL, dev, _PIXEL_VALUES[self.entry_count[entry]])
        # conv2: the products of each output (the flows' products, ordered by output within a flow), as bags.
        p_count = self.product_start[flows + 1] - self.product_start[flows]
        product = _ranges(self.product_start[flows], p_count)
        p_flow = np.repeat(np.arange(n, dtype=np.int64), p_count)
        members = self.product_ref[product] + 4 * shift.ravel()[p_flow * CLASSES + self.product_class[product]]
        bag = p_flow * (CONV2_SIDE * CONV2_SIDE) + self.product_out[product]
        scatter = _Bags(members, bag, n * CONV2_SIDE * CONV2_SIDE, n_slots, dev, once=True)
        return SparseLayout(n, conv1, tuple(bounds.tolist()), scatter)


class _SlotMax(torch.autograd.Function):
    """The max over each cell's 4 slots, ``(cells * 4, C) -> (cells, C)``, with MaxPool2d's gradient: all of it to
    the first slot holding the max. (``max(dim=1)`` takes 4x longer here, and ``torch.maximum`` splits ties.)"""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, slots: Tensor) -> Tensor:
        a, b, c, d = slots.reshape(-1, 4, slots.shape[1]).unbind(1)
        top = torch.maximum(torch.maximum(a, b), torch.maximum(c, d))
        ctx.save_for_backward(slots, top)
        return top

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        slots, top = ctx.saved_tensors  # type: ignore[attr-defined]
        a, b, c, _ = slots.reshape(-1, 4, slots.shape[1]).unbind(1)
        # The first slot holding the max: the count of the leading slots below it.
        below = a != top
        first = below.to(torch.uint8)
        below &= b != top
        first += below
        below &= c != top
        first += below
        out = torch.zeros(top.shape[0], 4, top.shape[1], dtype=grad.dtype, device=grad.device)
        return out.scatter_(1, first.long().unsqueeze(1), grad.unsqueeze(1)).reshape(slots.shape)


class _ClassProducts(torch.autograd.Function):
    """Each class's cells times its weights: ``rows[a:b] @ weights[k]`` for the class bounds ``a, b`` of class k,
    written into one tensor (no padding of the classes to one size, no concatenation)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, rows: Tensor, weights: Tensor, bounds: tuple[int, ...]) -> Tensor:
        ctx.save_for_backward(rows, weights)
        ctx.bounds = bounds  # type: ignore[attr-defined]
        out = rows.new_empty(rows.shape[0], weights.shape[2])
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            torch.mm(rows[a:b], weights[k], out=out[a:b])
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        rows, weights = ctx.saved_tensors  # type: ignore[attr-defined]
        bounds = ctx.bounds  # type: ignore[attr-defined]
        grad_rows = rows.new_empty(rows.shape)
        grad_weights = torch.empty_like(weights)
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            torch.mm(grad[a:b], weights[k].t(), out=grad_rows[a:b])
            torch.mm(rows[a:b].t(), grad[a:b], out=grad_weights[k])
        return grad_rows, grad_weights, None


@functools.cache
def _inside(device: torch.device) -> Tensor:
    """(100 taps x 900 conv2 outputs): 1 where the tap of the output's window lies inside the 150x150 map (not in
    the zero padding), so that conv2 of a per-channel constant map is one small product."""
    tap = torch.arange(KERNEL)
    out = torch.arange(CONV2_SIDE)
    coord = STRIDE * out[:, None] - PADDING + tap[None, :]  # (output, tap) -> input coordinate
    ok = ((coord >= 0) & (coord < POOL1_SIDE)).float()  # (30, 10)
    return torch.einsum("iu,jv->uvij", ok, ok).reshape(KERNEL * KERNEL, CONV2_SIDE * CONV2_SIDE).to(device)


@functools.cache
def _class_taps(device: torch.device) -> Tensor:
    return torch.from_numpy(_CLASS_TAPS).to(device)


def conv2_input_free(features: nn.Sequential, batch: SparseFlowpics, layout: SparseLayout | None = None) -> Tensor:
    """conv2's output (before its ReLU), ``(N, 20, 30, 30)``, computed from the sparse pixels (module docstring)."""
    conv1: nn.Conv2d = features.conv1[0]
    conv2: nn.Conv2d = features.conv2[0]
    layout = layout or batch.layout or SparseLayout.of(batch)
    n, c1, c2 = batch.n, conv1.out_channels, conv2.out_channels
    base = F.relu(conv1.bias)  # every untouched conv1 output after ReLU

    # conv1 at every slot of the corrected cells, less its bias: each pixel's value times the tap weights it meets.
    # ReLU and MaxPool(2) of bias + that: relu(b1 + the max over the cell's 4 slots), since both are monotone.
    slots = layout.conv1.sum(conv1.weight.reshape(c1, KERNEL * KERNEL).t())
    correction = F.relu(_SlotMax.apply(slots) + conv1.bias) - base

    # conv2: the template of the constant map, plus each corrected cell through the outputs it reaches.
    # conv2 of the constant map relu(b1): at output (i, j) the taps inside the map (``_inside``) see relu(b1_c).
    per_tap = torch.einsum("kcuv,c->kuv", conv2.weight, base).reshape(c2, KERNEL * KERNEL)
    template = (conv2.bias.unsqueeze(1) + per_tap @ _inside(per_tap.device)).reshape(1, c2, CONV2_SIDE, CONV2_SIDE)
    # Per class, (cells x C_in) @ (C_in x 4 * C_out): a cell's 4 products, one per output it reaches.
    taps_w = conv2.weight.reshape(c2, c1, KERNEL * KERNEL)[:, :, _class_taps(slots.device)]  # (C_out, C_in, class, 4)
    products = _ClassProducts.apply(correction, taps_w.permute(2, 1, 3, 0).reshape(CLASSES, c1, REACH * c2),
                                    layout.class_bounds)
    flat = layout.scatter.sum(products.reshape(-1, c2))
    # (N, 30, 30, 20) seen as (N, 20, 30, 30) is the channels-last layout the dense path's tensors have (the layers
    # after conv2 run fastest on it); adding the template to it keeps that layout.
    out = flat.reshape(n, CONV2_SIDE, CONV2_SIDE, c2).permute(0, 3, 1, 2) + template
    if batch.dense_rows is not None and batch.dense is not None:
        dense_out = features.conv2[0](features.conv1(batch.dense))
        out = out.index_copy(0, batch.dense_rows, dense_out.to(out.dtype))
    return out


def sparse_forward(net: nn.Module, batch: SparseFlowpics) -> Tensor:
    """``net(x)`` for a Full net (``FlowpicNet`` at dim 1500, supervised or SimCLR) on a sparse batch.

    After conv2 the net's own ReLU, Dropout2d and MaxPool2d run with the pooling first: max-pooling commutes with
    ReLU and with Dropout2d's per-channel scaling by 0 or 4/3 (both monotone, and float rounding is monotone too), so
    the values are the same, and the same dropout mask is drawn (one per sample and channel), on a map 4x smaller:
    the tail's forward and backward take half the time (8 ms vs 15 ms per training batch of 32).
    """
    features = net.features
    conv, relu, dropout, pool = features.conv2
    if not (isinstance(relu, nn.ReLU) and isinstance(pool, nn.MaxPool2d)):
        raise TypeError(f"not the Full net's conv2 block (conv, ReLU, dropout, MaxPool2d): {features.conv2}")
    hidden = dropout(relu(pool(conv2_input_free(features, batch))))
    return net.classifier(features.fullyconnected(hidden))
