"""Mini-batches of flowpic tensors from a matrix of flowpic counts, for training and evaluation alike.

Replaces the original's per-sample `Dataset` + `DataLoader` + `ToTensor` chain (one Python call and one tensor per
sample) with whole-batch indexing: the per-batch cost is one gather, which matters because the CNNs are tiny.
Pixel value = count / 255 in float32, as `ToTensor` computes it (docs/original-behaviour.md, Flowpic construction);
we stay in float32 instead of the original's float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from tcbench.models.sparse_full import FULL_DIM, FlowLayouts, SparseFlowpics, SparseLayout, full_net_path

# Above this many bytes of float32 pixels the samples stay sparse and are densified batch by batch (1500x1500
# flowpics: 9 MB each as float32, so a few thousand would not fit in memory).
DENSE_LIMIT_BYTES = 512 * 2**20

# The assembled layouts of in-order batches kept per set (validation at dim 1500: 100 flows take 6 MB; a set with
# augmented copies can take more, and then assembles its later batches again each epoch).
SLICE_CACHE_BYTES = 64 * 2**20

Indices = np.ndarray | torch.Tensor | slice | Sequence[int]


def _to_pixels(counts: np.ndarray) -> torch.Tensor:
    # One conversion routine for both storage paths, so dense and sparse batches are bit-identical.
    return torch.from_numpy(np.ascontiguousarray(counts)).to(torch.float32).div_(255.0)


class FlowpicBatches:
    """Flowpics `(N, dim*dim)` uint8 (dense array or CSR; index = size_bin*dim + time_bin) plus int64 labels."""

    def __init__(
        self,
        matrix: np.ndarray | sp.spmatrix | sp.sparray,
        labels: np.ndarray | Sequence[int],
        dim: int,
        *,
        dense_limit_bytes: int = DENSE_LIMIT_BYTES,
        cache_layouts: bool = True,
    ) -> None:
        labels_np = np.asarray(labels)
        if labels_np.ndim != 1 or not np.issubdtype(labels_np.dtype, np.integer):
            raise ValueError(f"labels must be a 1-D integer array, got shape {labels_np.shape} {labels_np.dtype}")
        if matrix.dtype != np.uint8:
            raise ValueError(f"flowpic matrix must be uint8 counts, got {matrix.dtype}")
        if matrix.ndim != 2 or matrix.shape[1] != dim * dim:
            raise ValueError(f"flowpic matrix must have shape (N, {dim * dim}) for dim {dim}, got {matrix.shape}")
        if matrix.shape[0] != labels_np.shape[0]:
            raise ValueError(f"{matrix.shape[0]} flowpics but {labels_np.shape[0]} labels")

        self.dim = dim
        self.labels = torch.from_numpy(labels_np.astype(np.int64, copy=False))
        n = matrix.shape[0]
        self._csr: sp.csr_matrix | None = None
        # 1500x1500 on the sparse path: the per-flow layouts, computed once for a set that is read every epoch
        # (training and validation), with the assembled layout of each in-order batch (validation reads the same
        # batches every epoch); a set read once (a test set) computes them batch by batch instead.
        self.cache_layouts = cache_layouts
        self._layouts: FlowLayouts | None = None
        self._slice_layouts: dict[tuple[int, int, int, str], SparseLayout] = {}
        self._dense: torch.Tensor | None = None
        self._dense_on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        # 1500x1500 flowpics always stay sparse: the Full net is computed from their pixels (tcbench.models.sparse_full).
        if dim != FULL_DIM and n * dim * dim * 4 <= dense_limit_bytes:
            counts = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
            self._dense = _to_pixels(counts).reshape(n, 1, dim, dim)
        else:
            self._csr = sp.csr_matrix(matrix)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def is_dense(self) -> bool:
        """True when all pixels were densified at construction (batches are then plain gathers)."""
        return self._dense is not None

    def sparse_on(self, device: torch.device | str | None = None) -> bool:
        """Whether batches for ``device`` are ``SparseFlowpics`` (1500x1500, the sparse Full-net path)."""
        return self._csr is not None and self.dim == FULL_DIM and full_net_path(device or "cpu") == "sparse"

    def batch(self, indices: Indices, device: torch.device | str | None = None) -> tuple[torch.Tensor | SparseFlowpics, torch.Tensor]:
        """`(x, y)`: x float32 `(B, 1, dim, dim)` in [0, 1] (or, at dim 1500 on the sparse path, the same batch as
        ``SparseFlowpics``, which the Full net computes exactly), y int64 `(B,)`, on `device` (default CPU).

        With dense storage and a non-CPU device the whole set is copied to the device once and cached, so a
        training epoch does no host-to-device traffic.
        """
        dev = torch.device(device) if device is not None else torch.device("cpu")
        if self._dense is not None:
            x_all, y_all = self._on_device(dev)
            if isinstance(indices, slice):
                return x_all[indices], y_all[indices]
            idx = torch.as_tensor(indices, dtype=torch.long, device=dev)
            return x_all.index_select(0, idx), y_all.index_select(0, idx)

        assert self._csr is not None
        if isinstance(indices, slice):
            rows, y = self._csr[indices], self.labels[indices]
        else:
            idx_np = indices.cpu().numpy() if isinstance(indices, torch.Tensor) else np.asarray(indices, dtype=np.int64)
            rows, y = self._csr[idx_np], self.labels[torch.from_numpy(idx_np.astype(np.int64, copy=False))]
        if self.sparse_on(dev):
            layout = None
            if self.cache_layouts:
                if self._layouts is None:
                    self._layouts = FlowLayouts.of_chunks(self._csr)
                key = (*indices.indices(len(self)), str(dev)) if isinstance(indices, slice) else None
                layout = self._slice_layouts.get(key) if key else None
                if layout is None:
                    flows = np.arange(len(self))[indices] if isinstance(indices, slice) else idx_np
                    layout = self._layouts.assemble(flows, dev)
                    # A set read in order every epoch (validation) reads the same batches: keep them, up to a bound.
                    if key and sum(c.nbytes for c in self._slice_layouts.values()) + layout.nbytes <= SLICE_CACHE_BYTES:
                        self._slice_layouts[key] = layout
            return SparseFlowpics.from_csr(rows, dev, layout), y.to(dev, non_blocking=True)
        x = _to_pixels(rows.toarray()).reshape(-1, 1, self.dim, self.dim)
        return x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)

    def _on_device(self, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        assert self._dense is not None
        if dev.type == "cpu":
            return self._dense, self.labels
        if dev not in self._dense_on:
            self._dense_on[dev] = (self._dense.to(dev), self.labels.to(dev))
        return self._dense_on[dev]
