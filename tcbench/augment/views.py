"""Multi-view augmentation for contrastive pre-training (SimCLR; docs/original-behaviour.md, Multi-view
augmentation for SimCLR).

Every flow gets two views; each view is the composition of *all* configured augmentations (default changertt +
timeshift) in an order drawn per view. Views are drawn anew at every call (one call per epoch), for all flows at
once: the series augmentations transform one big copy-major ``PacketSeries`` of ``2 N`` flows and a single
``flowpic_matrix`` call bins it, so the cost is a few numpy passes over the packets, not a Python loop per flow.

Two deliberate fixes of the original (docs/deviations.md):
- the views are built at the run's flowpic dim and block duration; the original rebuilt them at a hard-coded
  dim 32 and 15 s, whatever the run asked for;
- the series augmentations (which rebuild the flowpic from the packets) are applied first, in their drawn
  relative order, and the image augmentations after them, in theirs; in the original an image augmentation
  drawn before a series one was silently discarded, because the flowpic was rebuilt from the packets after it.

Randomness: one ``numpy.random.Generator`` per view source (the original gives train and validation one
``default_rng(seed)`` each). Every call draws, in this order: the augmentation order of every (view, flow), then
each augmentation's parameters in config order, each of shape ``(views, N)`` (view-major, like the copies of
augment-at-loading). packetloss draws ``u ~ U(0, 1)`` and centres its loss window on ``u * t_last`` with
``t_last`` the flow's last time *after* the augmentations applied before it: numpy's ``uniform(0, t)`` is exactly
``t * u``, so this is the original's ``U(0, t_last)`` of the current series.

Nothing here knows an augmentation by name: each comes from the registry, and a series one supplies what the
composition needs (``identity``, ``input_cutoff``, ``last_time_after``, ``view_parameter``; see
:class:`tcbench.augment.base.SeriesAugmentation`), so a plugin composes like a built-in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.sparse as sp

from tcbench.augment import _image, draw_parameters
from tcbench.augment import series as _series
from tcbench.augment.base import ImageAugmentation, SeriesAugmentation, tile_series
from tcbench.augment.registry import augmentation_names, get_augmentation
from tcbench.features.flowpic import PacketSeries, check_dim, flowpic_matrix

N_VIEWS = 2
DEFAULT_VIEW_AUGMENTATIONS = ("changertt", "timeshift")


def check_view_augmentations(augmentations: Sequence[str]) -> tuple[str, ...]:
    """The configured augmentations, validated: at least one, no repeats, none that operates on nothing (as the
    original drops ``noaug``)."""
    augs = tuple(augmentations)
    valid = [a for a in augmentation_names() if get_augmentation(a).operates_on != "none"]
    bad = [a for a in augs if a not in valid]
    if bad:
        raise ValueError(f"view augmentation(s) {bad} not valid; valid values: {valid}")
    if not augs:
        raise ValueError(f"at least one view augmentation is needed; valid values: {valid}")
    if len(set(augs)) != len(augs):
        raise ValueError(f"view augmentations {list(augs)} repeat a name")
    return augs


def view_input_cutoff(augmentations: Sequence[str], block_duration: float) -> float:
    """Packets at or after this time cannot reach the flowpic window whatever the composition and its order.

    Applying ``a`` then ``b`` can bring into ``[0, T)`` only packets before ``a.input_cutoff(b.input_cutoff(T))``
    (the cutoffs are non-decreasing), so the bound is the largest such chain over the orders of the series
    augmentations (image ones move no packet). For the built-ins the worst case is change-RTT then time-shift:
    ``alpha t + b < T`` with alpha >= 0.5 and b >= -1 needs ``t < (T + 1) / 0.5``; packetloss moves no packet.
    """
    steps = tuple(aug for aug in map(get_augmentation, augmentations) if isinstance(aug, SeriesAugmentation))

    @cache
    def worst(remaining: frozenset[int]) -> float:
        """Largest cutoff over the orders of ``remaining`` (the first applied is the outermost cutoff)."""
        if not remaining:
            return block_duration
        return max(steps[k].input_cutoff(worst(remaining - {k})) for k in sorted(remaining))

    return worst(frozenset(range(len(steps))))


def needs_series(augmentations: Sequence[str]) -> bool:
    """Whether one of the augmentations transforms packet series (the views then start from the packets)."""
    series_augs = augmentation_names("packets")
    return any(a in series_augs for a in augmentations)


@dataclass
class ViewSource:
    """The flows of one set (train or validation) and the generator their views are drawn from.

    ``flowpics`` (N, dim*dim) are the stored flowpics at the run's dim, the starting point when every
    augmentation is an image one; ``series`` holds the same flows' packets (at least those before
    :func:`view_input_cutoff`) and ``last_time`` each flow's last packet time over the whole flow, both needed
    as soon as one augmentation is a series one.
    """

    augmentations: tuple[str, ...]
    dim: int
    block_duration: float
    rng: np.random.Generator
    flowpics: sp.csr_matrix | None = None
    series: PacketSeries | None = None
    last_time: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.augmentations = check_view_augmentations(self.augmentations)
        check_dim(self.dim)
        if needs_series(self.augmentations):
            if self.series is None or self.last_time is None:
                raise ValueError(f"{list(self.augmentations)} include a series augmentation: series and last_time are needed")
            self.series = _series.window(self.series, view_input_cutoff(self.augmentations, self.block_duration))
        elif self.flowpics is None:
            raise ValueError(f"{list(self.augmentations)} are image augmentations: the flowpics are needed")

    @property
    def n_flows(self) -> int:
        return self.series.n_flows if self.series is not None else self.flowpics.shape[0]  # type: ignore[union-attr]

    def draw(self, views: int = N_VIEWS) -> sp.csr_matrix:
        """``(views * N, dim*dim)`` uint8 flowpics, view-major: row ``v * N + i`` is view ``v`` of flow ``i``."""
        n, augs = self.n_flows, self.augmentations
        m = views * n
        order = self.rng.permuted(np.broadcast_to(np.arange(len(augs)), (m, len(augs))), axis=1)
        position = np.argsort(order, axis=1)  # position[j, a]: step at which augmentation a is applied to view j
        ones = np.ones(n)
        params = {a: draw_parameters(a, self.rng, views, n, last_time=ones if get_augmentation(a).needs_last_time else None)
                  for a in augs}
        return compose_views(augs, position, params, views, self.dim, self.block_duration, flowpics=self.flowpics,
                             series=self.series, last_time=self.last_time)


def compose_views(augmentations: Sequence[str], position: np.ndarray, params: Mapping[str, Mapping[str, np.ndarray]],
                  views: int, dim: int, block_duration: float, *, flowpics: sp.csr_matrix | None = None,
                  series: PacketSeries | None = None, last_time: np.ndarray | None = None) -> sp.csr_matrix:
    """The views for given draws (deterministic): ``position[j, a]`` is the step at which augmentation ``a`` is
    applied to view ``j`` (view-major, ``views * N`` rows); ``params[a]`` are :func:`draw_parameters` arrays of
    shape ``(views, N, ...)``, packetloss's ``centre`` being the fraction ``u`` of the current last time."""
    augs = tuple(augmentations)
    if needs_series(augs):
        assert series is not None and last_time is not None
        matrix = _series_views(augs, position, params, views, series, last_time, dim, block_duration)
    else:
        matrix = _image().tile_rows(sp.csr_matrix(flowpics, dtype=np.uint8), views)
    for step in range(len(augs)):
        for k, name in enumerate(augs):
            aug = get_augmentation(name)
            rows = np.flatnonzero(position[:, k] == step)
            if isinstance(aug, ImageAugmentation) and len(rows):
                chosen = {key: _by_row(value)[rows] for key, value in params[name].items()}
                matrix = _replace_rows(matrix, rows, aug.transform(matrix[rows], chosen, dim))
    return matrix


def _series_views(augs: tuple[str, ...], position: np.ndarray, params: Mapping[str, Mapping[str, np.ndarray]],
                  views: int, series: PacketSeries, last_time: np.ndarray, dim: int, block_duration: float) -> sp.csr_matrix:
    """Apply the series augmentations to every view in its drawn relative order, then bin the flowpics.

    One step at a time for all views: the step's augmentation transforms every view, with its drawn parameter
    where it is the view's step and its ``identity`` elsewhere (one vectorised pass instead of one per view).
    """
    tiled = tile_series(series, views)  # copy-major: view v of flow i is flow v * N + i
    last = np.tile(np.asarray(last_time, dtype=np.float64), views)
    for step in range(len(augs)):
        for k, name in enumerate(augs):
            aug = get_augmentation(name)
            active = position[:, k] == step
            if not isinstance(aug, SeriesAugmentation) or not active.any():
                continue
            value = aug.view_parameter(_by_row(params[name][aug.parameter]), last)
            value = np.where(active, value, aug.identity)
            tiled = _series.augmented_series(name, tiled, value[None, :])
            last = aug.last_time_after(last, value)
    return flowpic_matrix(tiled, dim, block_duration)


def _by_row(value: np.ndarray) -> np.ndarray:
    """A drawn ``(views, N, ...)`` array with one entry per view row (``views * N``, view-major)."""
    value = np.asarray(value)
    return value.reshape(-1, *value.shape[2:])


def _replace_rows(matrix: sp.csr_matrix, rows: np.ndarray, new: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with ``matrix[rows]`` replaced by ``new`` (rows sorted, unique)."""
    keep = np.ones(matrix.shape[0], dtype=bool)
    keep[rows] = False
    kept = np.flatnonzero(keep)
    stacked = sp.vstack([matrix[kept], new], format="csr", dtype=np.uint8)
    return stacked[np.argsort(np.concatenate([kept, rows]), kind="stable")]
