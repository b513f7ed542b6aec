"""Image augmentations (rotate, horizontalflip, colorjitter) on flowpic matrices, many images per call.

Images are the rows of a ``(M, dim*dim)`` uint8 CSR matrix (index = size_bin * dim + time_bin, i.e. row-major
``(dim, dim)`` images with rows = size bins and columns = time bins); each function takes one parameter per row
and returns a matrix of the same shape. Nothing here draws random numbers: see ``tcbench.augment``.

The operations replicate what the original obtains from torchvision 0.15 on a ``(1, dim, dim)`` uint8 tensor
(docs/original-behaviour.md, Augmentations) without depending on torchvision:

- rotate: ``torchvision.transforms.functional.rotate(img, -a)`` with its defaults (nearest, same size, fill 0).
  :func:`rotate_dense` is a line-by-line replica of torchvision's tensor path (inverse affine matrix, its own
  affine grid, ``grid_sample(mode="nearest", padding_mode="zeros", align_corners=False)``, round, cast).
  :func:`rotate_sparse` computes the same result from the non-zero pixels only (a nearest-neighbour rotation
  is a gather, so an output pixel is non-zero only when it samples a non-zero source pixel): it is what makes
  rotating 1500x1500 flowpics cheap, and tests check it equals :func:`rotate_dense` pixel for pixel.
- horizontalflip: reversed time axis.
- colorjitter: brightness and contrast in the drawn order (saturation and hue are no-ops on one channel); both
  are pixel-value maps once the image mean is known, so they are applied as per-image 256-entry lookup tables
  computed with torchvision's float32 arithmetic (``_blend``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

# Images rotated per grid_sample call on the dense path (bounds the float32 grid: 32x32 -> 4096 images = 48 MB).
_DENSE_PIXELS_PER_CHUNK = 4 * 2**20
# Non-zero source pixels per chunk on the sparse path (9 candidate output pixels each).
_SPARSE_NNZ_PER_CHUNK = 500_000
# Above this many pixels per image the sparse rotation is used (a dense 1500x1500 rotation costs ~90 ms/image).
_DENSE_ROTATE_MAX_PIXELS = 64 * 64


# --------------------------------------------------------------------------------------------------- helpers
def _rows_of_entries(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


def _csr_from_entries(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """CSR uint8 from (row, col, value) entries with no duplicate (row, col); zeros are dropped."""
    keep = data != 0
    rows, cols, data = rows[keep], cols[keep], data[keep]
    order = np.lexsort((cols, rows))
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix(
        (data[order].astype(np.uint8, copy=False), cols[order].astype(np.int32, copy=False), indptr), shape=shape
    )


def tile_rows(m: sp.csr_matrix, copies: int) -> sp.csr_matrix:
    """``copies`` copies of all rows of ``m``, copy-major (all rows of copy 1, then copy 2, ...)."""
    m = sp.csr_matrix(m)
    if copies == 0:
        return sp.csr_matrix((0, m.shape[1]), dtype=m.dtype)
    nnz = m.indptr[-1]
    indptr = (m.indptr[:-1][None, :] + nnz * np.arange(copies, dtype=np.int64)[:, None]).ravel()
    indptr = np.append(indptr, nnz * copies)
    data, indices = np.tile(m.data[:nnz], copies), np.tile(m.indices[:nnz], copies)
    return sp.csr_matrix((data, indices, indptr), shape=(m.shape[0] * copies, m.shape[1]))


# ---------------------------------------------------------------------------------------------- horizontalflip
def horizontal_flip(m: sp.csr_matrix, dim: int) -> sp.csr_matrix:
    """Every image with its time axis (last image axis) reversed: pixel (s, t) -> (s, dim - 1 - t)."""
    m = sp.csr_matrix(m)
    time_bin = m.indices.astype(np.int64) % dim
    indices = (m.indices + (dim - 1) - 2 * time_bin).astype(m.indices.dtype)
    out = sp.csr_matrix((m.data.copy(), indices, m.indptr.copy()), shape=m.shape)
    out.sort_indices()
    return out


# ------------------------------------------------------------------------------------------------------ rotate
def _rescaled_theta(angles: np.ndarray, dim: int) -> np.ndarray:
    """(M, 3, 2) float32 ``rescaled_theta`` of torchvision's ``_gen_affine_grid`` for ``rotate(img, -a)``.

    ``F.rotate(img, -a)`` asks ``_get_inverse_affine_matrix`` for angle ``-(-a) = a``: with no shear, scale 1 and
    centre 0 that matrix is ``[cos r, sin r, 0, -sin r, cos r, 0]`` (r = radians(a)), built in float64, stored as
    float32, transposed and divided by ``[0.5 * w, 0.5 * h]`` in float32.
    """
    r = np.radians(np.asarray(angles, dtype=np.float64))
    cos, sin = np.cos(r), np.sin(r)
    theta = np.zeros((len(r), 2, 3), dtype=np.float32)
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin
    theta[:, 1, 0], theta[:, 1, 1] = -sin, cos
    return theta.transpose(0, 2, 1) / np.array([0.5 * dim, 0.5 * dim], dtype=np.float32)


def _base_coords(dim: int) -> np.ndarray:
    """Pixel-centre coordinates of ``_gen_affine_grid``'s base grid along one axis (exact in float32)."""
    return np.arange(dim, dtype=np.float32) - np.float32(dim * 0.5 - 0.5)


def rotate_dense(images: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Replica of ``torchvision.transforms.functional.rotate(img, -a)`` (nearest, fill 0) on (B, H, W) uint8 images.

    Positive ``a`` turns the image clockwise. Same arithmetic as torchvision's tensor path: float32 theta, base
    grid of pixel centres, ``bmm``, ``grid_sample`` (nearest, zeros padding, align_corners=False), round, cast.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be (B, dim, dim), got {images.shape}")
    n, dim = images.shape[0], images.shape[1]
    out = np.empty_like(images, dtype=np.uint8)
    if n == 0:
        return out
    coords = torch.from_numpy(_base_coords(dim))
    base = torch.empty(1, dim, dim, 3, dtype=torch.float32)
    base[..., 0].copy_(coords)
    base[..., 1].copy_(coords.unsqueeze(-1))
    base[..., 2].fill_(1)
    base = base.view(1, dim * dim, 3)
    theta = torch.from_numpy(_rescaled_theta(angles, dim))
    step = max(1, _DENSE_PIXELS_PER_CHUNK // (dim * dim))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        grid = base.expand(hi - lo, -1, -1).bmm(theta[lo:hi]).view(hi - lo, dim, dim, 2)
        img = torch.from_numpy(np.ascontiguousarray(images[lo:hi])).to(torch.float32).unsqueeze(1)
        res = F.grid_sample(img, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        out[lo:hi] = torch.round(res).to(torch.uint8).squeeze(1).numpy()
    return out


def _index_image(dim: int) -> torch.Tensor:
    """(1, 1, dim, dim) float32 image whose pixel value is its linear index + 1 (exact: dim*dim < 2**24)."""
    return torch.arange(1, dim * dim + 1, dtype=torch.float32).view(1, 1, dim, dim)


def _rotate_sparse_chunk(m: sp.csr_matrix, theta: np.ndarray, angles: np.ndarray, dim: int, index_img: torch.Tensor):
    rows = _rows_of_entries(m)
    src = m.indices.astype(np.int64)
    src_y, src_x = np.divmod(src, dim)  # image row = size bin, image column = time bin
    # Forward rotation of each source pixel centre about the image centre; the output pixels that sample it lie
    # within 1/sqrt(2) of that point (inverse map is an isometry, nearest = unit square), so the 3x3 block around
    # its rounded position holds all of them.
    r = np.radians(np.asarray(angles, dtype=np.float64))[rows]
    cos, sin = np.cos(r), np.sin(r)
    centre = (dim - 1) * 0.5
    dx, dy = src_x - centre, src_y - centre
    fx = np.rint(cos * dx - sin * dy + centre).astype(np.int64)
    fy = np.rint(sin * dx + cos * dy + centre).astype(np.int64)
    off = np.array([-1, 0, 1], dtype=np.int64)
    cand_x = (fx[:, None, None] + off[None, None, :]).repeat(3, axis=1).ravel()
    cand_y = (fy[:, None, None] + off[None, :, None]).repeat(3, axis=2).ravel()
    entry = np.repeat(np.arange(len(src), dtype=np.int64), 9)
    inside = (cand_x >= 0) & (cand_x < dim) & (cand_y >= 0) & (cand_y < dim)
    cand_x, cand_y, entry = cand_x[inside], cand_y[inside], entry[inside]
    # Exactly the dense path's grid values for these output pixels (bmm with K=3 == (x*r0 + y*r1) + r2 in
    # float32, checked by the tests), then the same grid_sample kernel, on an image of source indices.
    base = _base_coords(dim)
    x, y = base[cand_x], base[cand_y]
    image = rows[entry]
    gx = x * theta[image, 0, 0] + y * theta[image, 1, 0] + theta[image, 2, 0]
    gy = x * theta[image, 0, 1] + y * theta[image, 1, 1] + theta[image, 2, 1]
    grid = torch.from_numpy(np.stack([gx, gy], axis=1)).view(1, 1, -1, 2)
    sampled = F.grid_sample(index_img, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    hit = sampled.view(-1).numpy().astype(np.int64) - 1 == src[entry]
    entry = entry[hit]
    return rows[entry], cand_y[hit] * dim + cand_x[hit], m.data[entry]


def rotate_sparse(m: sp.csr_matrix, angles: np.ndarray, dim: int) -> sp.csr_matrix:
    """Row ``i`` of ``m`` rotated by ``angles[i]`` degrees (clockwise), from its non-zero pixels only.

    Equals :func:`rotate_dense` pixel for pixel (same grid values, same ``grid_sample`` rounding).
    """
    m = sp.csr_matrix(m)
    angles = np.asarray(angles, dtype=np.float64)
    if len(angles) != m.shape[0]:
        raise ValueError(f"{m.shape[0]} images but {len(angles)} angles")
    theta = _rescaled_theta(angles, dim)
    index_img = _index_image(dim)
    parts_r, parts_c, parts_d = [], [], []
    first = 0
    while first < m.shape[0]:
        last = int(np.searchsorted(m.indptr, m.indptr[first] + _SPARSE_NNZ_PER_CHUNK, side="right")) - 1
        last = min(max(last, first + 1), m.shape[0])
        r, c, d = _rotate_sparse_chunk(m[first:last], theta[first:last], angles[first:last], dim, index_img)
        parts_r.append(r + first)
        parts_c.append(c)
        parts_d.append(d)
        first = last
    if not parts_r:
        return sp.csr_matrix(m.shape, dtype=np.uint8)
    return _csr_from_entries(np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_d), m.shape)


def rotate(m: sp.csr_matrix, angles: np.ndarray, dim: int) -> sp.csr_matrix:
    """Row ``i`` of ``m`` (a dim x dim image) rotated by ``angles[i]`` degrees, positive = clockwise."""
    m = sp.csr_matrix(m)
    if dim * dim > _DENSE_ROTATE_MAX_PIXELS:
        return rotate_sparse(m, angles, dim)
    out = rotate_dense(m.toarray().reshape(-1, dim, dim), np.asarray(angles, dtype=np.float64))
    return sp.csr_matrix(out.reshape(-1, dim * dim))


# ------------------------------------------------------------------------------------------------- colorjitter
def _blend_lut(values: np.ndarray, ratio: np.ndarray, other: np.ndarray | float) -> np.ndarray:
    """torchvision ``_blend`` on uint8 values: ``(ratio*x + (1-ratio)*other).clamp(0, 255).to(uint8)``.

    torch evaluates the Python-float scalars in float32: ``float32(ratio) * x`` and ``float32(1.0 - ratio) * other``
    (``1.0 - ratio`` in float64 first), sum in float32, clamp, truncating cast.
    """
    r32 = ratio.astype(np.float32)
    one_minus = (1.0 - ratio).astype(np.float32)
    res = r32 * values.astype(np.float32) + one_minus * np.asarray(other, dtype=np.float32)
    np.clip(res, 0, 255, out=res)
    return res.astype(np.uint8)  # truncation, like torch's float -> uint8 cast


def _image_means(m: sp.csr_matrix, lut: np.ndarray, rows: np.ndarray, dim: int) -> np.ndarray:
    """float32 mean of every image after mapping its pixels through its lut row (background value lut[:, 0]).

    ``torch.mean`` on CPU is ``sum(...) / n`` in float32; pixel sums of flowpics are integers far below 2**24,
    so the float32 sum is exact whatever its order and equals this exact integer sum.
    """
    n_pixels = dim * dim
    mapped = lut[rows, m.data].astype(np.int64)
    sums = np.bincount(rows, weights=mapped, minlength=m.shape[0]).astype(np.int64)
    nnz = np.diff(m.indptr)
    sums += (n_pixels - nnz) * lut[:, 0].astype(np.int64)
    return sums.astype(np.float32) / np.float32(n_pixels)


def colorjitter(
    m: sp.csr_matrix, brightness: np.ndarray, contrast: np.ndarray, brightness_first: np.ndarray, dim: int
) -> sp.csr_matrix:
    """Row ``i`` adjusted by brightness ``brightness[i]`` and contrast ``contrast[i]``, brightness first where
    ``brightness_first[i]`` (saturation and hue are identities on one-channel images, so only the relative
    order of these two matters).

    brightness: ``clamp(b*x, 0, 255)`` -> uint8; contrast: ``clamp(c*x + (1-c)*mean, 0, 255)`` -> uint8 with
    ``mean`` the float32 mean of the image at that point. Contrast can map the zero background to a non-zero
    value (c < 1 and a dense enough image): such rows come back with every pixel stored.
    """
    m = sp.csr_matrix(m)
    n = m.shape[0]
    b = np.asarray(brightness, dtype=np.float64)[:, None]
    c = np.asarray(contrast, dtype=np.float64)[:, None]
    bfirst = np.asarray(brightness_first, dtype=bool)
    if not (len(b) == len(c) == len(bfirst) == n):
        raise ValueError("one brightness, contrast and order flag per image are needed")
    values = np.arange(256, dtype=np.uint8)[None, :]
    rows = _rows_of_entries(m)

    # brightness first: the contrast mean is taken on the brightened image.
    lut_b = _blend_lut(values, b, 0.0)
    lut_bc = _blend_lut(lut_b, c, _image_means(m, lut_b, rows, dim)[:, None])
    # contrast first: mean of the original image, then brightness.
    identity = np.broadcast_to(values, (n, 256))
    lut_cb = _blend_lut(_blend_lut(values, c, _image_means(m, identity, rows, dim)[:, None]), b, 0.0)
    lut = np.where(bfirst[:, None], lut_bc, lut_cb)

    data = lut[rows, m.data]
    background = lut[:, 0]
    out = sp.csr_matrix((data, m.indices.copy(), m.indptr.copy()), shape=m.shape)
    out.eliminate_zeros()
    filled = np.flatnonzero(background)
    if len(filled) == 0:
        return out
    # Rows whose zero pixels become non-zero: dense rows (background value, stored pixels mapped).
    dense = np.repeat(background[filled][:, None], dim * dim, axis=1)
    sub = m[filled]
    dense[_rows_of_entries(sub), sub.indices] = lut[filled][_rows_of_entries(sub), sub.data]
    keep_rows = np.ones(n, dtype=bool)
    keep_rows[filled] = False
    kept = out[keep_rows].tocoo()
    kept_rows = np.flatnonzero(keep_rows)[kept.row]
    dr, dc = np.nonzero(dense)
    return _csr_from_entries(
        np.concatenate([kept_rows, filled[dr]]),
        np.concatenate([kept.col.astype(np.int64), dc]),
        np.concatenate([kept.data, dense[dr, dc]]),
        m.shape,
    )
