"""Augment-at-loading: every registered augmentation applied to all copies of a dataset at once.

The original's behaviour: docs/original-behaviour.md, Augmentations. An augmentation is one class implementing the
contract of :mod:`tcbench.augment.base` and registered by name in :mod:`tcbench.augment.registry`; this module and
:mod:`tcbench.augment.views` only ask the registry (what it operates on, its copies, its draws, its operation),
never compare names. The seven of the original are in :mod:`tcbench.augment.original` (table there).

Adding one: a new module in this package that defines the class with ``@register_augmentation`` (the package
imports all its modules when imported, see ``_discover_augmentations``: no list to edit), or, out of tree, a
module anywhere doing the same, named under ``plugins:`` of a config (the project's plugin loader imports it).

``augment_at_loading`` returns only the augmented copies of N flows (the caller keeps the originals in front):
``copies_per_sample`` copies, ordered copy-major as in the original (copy 1 of every row, then copy 2, ...), as
one ``(copies * N, dim*dim)`` uint8 CSR matrix. Series augmentations rebuild the flowpics with
``flowpic_matrix`` at the run's dim and block duration.

Name lists: ``AUGMENTATIONS``, ``IMAGE_AUGMENTATIONS`` and ``SERIES_AUGMENTATIONS`` are tuples read from the
registry at each attribute access (module ``__getattr__``), so ``tcbench.augment.AUGMENTATIONS`` includes plugins
registered later; ``from tcbench.augment import AUGMENTATIONS`` binds the tuple of that moment (the built-ins and
in-tree modules, plus the plugins loaded so far). :func:`augmentation_names` is the function form.

Randomness: one ``numpy.random.default_rng(seed)`` draws every parameter of every copy, in a few vectorised calls
(shape ``(copies, N)``, copy-major). The result depends only on (seed, inputs), never on a worker count. The
original seeds one generator per chunk of ``N // workers`` rows and draws parameters row by row (so its output
changes with ``--workers``: docs/original-behaviour.md, Known weaknesses of the original, item 23); our random
stream therefore differs from the original's and augmented datasets are statistically, not bitwise, comparable with
its runs. Given the same parameters, the
operations themselves follow the original (torchvision 0.15 semantics for the image ones, see ``image``).

Importing this package never imports torch: the image operations import it when they run (a run imports
``tcbench.augment`` on a side thread while the main thread imports torch).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import scipy.sparse as sp

from tcbench.augment import series as _series
from tcbench.augment.base import Augmentation, ImageAugmentation, Operand, SeriesAugmentation
from tcbench.augment.original import COLORJITTER_FACTOR_RANGE, COLORJITTER_HUE_RANGE, ROTATE_DEGREES
from tcbench.augment.registry import (
    augmentation_names,
    get_augmentation,
    register_augmentation,
    unregister_augmentation,
)
from tcbench.features.flowpic import PacketSeries, check_dim
from tcbench.plugins import package_modules

DEFAULT_AUG_SAMPLES = 10

__all__ = [
    "AUGMENTATIONS",
    "COLORJITTER_FACTOR_RANGE",
    "COLORJITTER_HUE_RANGE",
    "DEFAULT_AUG_SAMPLES",
    "IMAGE_AUGMENTATIONS",
    "ROTATE_DEGREES",
    "SERIES_AUGMENTATIONS",
    "Augmentation",
    "ImageAugmentation",
    "SeriesAugmentation",
    "augment_at_loading",
    "augmentation_names",
    "copies_per_sample",
    "draw_parameters",
    "get_augmentation",
    "register_augmentation",
    "unregister_augmentation",
]

# The registry-backed name tuples and the operand they select (None: all).
_NAME_TUPLES: dict[str, Operand | None] = {
    "AUGMENTATIONS": None,
    "IMAGE_AUGMENTATIONS": "flowpic",
    "SERIES_AUGMENTATIONS": "packets",
}


def __getattr__(name: str) -> tuple[str, ...]:
    """``AUGMENTATIONS``, ``IMAGE_AUGMENTATIONS``, ``SERIES_AUGMENTATIONS``: the registered names (in
    registration order) at the time of the access, so plugins registered after import are included."""
    if name in _NAME_TUPLES:
        return augmentation_names(_NAME_TUPLES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAME_TUPLES})


def _image() -> ModuleType:
    """The image augmentations import torch (~2 s): only when one is used, so that series augmentations can
    run on a side thread while the run process imports torch."""
    from tcbench.augment import image

    return image


def copies_per_sample(aug_name: str, aug_samples: int = DEFAULT_AUG_SAMPLES) -> int:
    """Augmented copies per sample: noaug 0, horizontalflip 1, the others ``aug_samples - 1`` (9 by default)."""
    aug = get_augmentation(aug_name)
    if aug_samples < 1:
        raise ValueError(f"aug_samples must be >= 1, got {aug_samples}")
    copies = aug.copies(aug_samples)
    if not isinstance(copies, (int, np.integer)) or copies < 0:
        raise ValueError(f"augmentation {aug_name!r} asks for {copies!r} copies; a count >= 0 is needed")
    return int(copies)


def draw_parameters(
    aug_name: str, rng: np.random.Generator, copies: int, n: int, last_time: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every random parameter of ``copies`` copies of ``n`` samples, each array ``(copies, n, ...)`` (copy-major).

    colorjitter draws saturation and hue too (no-ops on one channel, kept so every draw of the original has a
    counterpart); packetloss needs ``last_time`` (each flow's last packet time, length n). The shapes are
    checked here, so that a plugin's mistake is reported where it is made, not as a broadcasting error later.
    """
    aug = get_augmentation(aug_name)
    params = aug.draw(rng, copies, n, last_time)
    for key, value in params.items():
        if not isinstance(value, np.ndarray) or value.shape[:2] != (copies, n):
            raise ValueError(f"augmentation {aug_name!r} drew {key!r} with shape {np.shape(value)}; "
                             f"({copies}, {n}, ...) is needed")
    if isinstance(aug, SeriesAugmentation) and aug.parameter not in params:
        raise ValueError(f"series augmentation {aug_name!r} must draw its parameter {aug.parameter!r}")
    return params


def augment_at_loading(
    aug_name: str,
    flowpics: sp.csr_matrix | None,
    series: PacketSeries | None,
    dim: int,
    block_duration: float,
    seed: int,
    aug_samples: int = DEFAULT_AUG_SAMPLES,
    last_time: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The augmented copies of N flows as a ``(copies * N, dim*dim)`` uint8 CSR matrix, copy-major.

    - ``flowpics``: the N flowpics ``(N, dim*dim)`` at ``dim``; required by the image augmentations, and only
      used to check N for the series ones (may be None there).
    - ``series``: packets of the same N flows, in the same order; required by the series augmentations. It may
      be cut to the packets before the augmentation's ``input_cutoff(block_duration)`` (``t < 2 *
      block_duration + 1`` covers every built-in); the flowpics are rebuilt from it at ``dim`` and
      ``block_duration``.
    - ``last_time``: time of each flow's last packet over the *whole* flow (packetloss draws its loss window in
      ``U(0, t_last)``). When None it is read from ``series``, which must then hold every packet.
    - ``seed``: the same seed and inputs give identical output (one ``default_rng(seed)`` for all draws).
    """
    aug = get_augmentation(aug_name)
    check_dim(dim)
    copies = copies_per_sample(aug_name, aug_samples)
    n = _n_flows(aug, flowpics, series, dim)
    if copies == 0 or n == 0:
        return sp.csr_matrix((copies * n, dim * dim), dtype=np.uint8)
    rng = np.random.default_rng(seed)

    if isinstance(aug, SeriesAugmentation):
        assert series is not None
        if aug.needs_last_time and last_time is None:
            last_time = _series.last_packet_times(series)
        params = draw_parameters(aug_name, rng, copies, n, last_time)
        return _series.augmented_flowpics(aug_name, series, params[aug.parameter], dim, block_duration)
    if isinstance(aug, ImageAugmentation):
        matrix = sp.csr_matrix(flowpics, dtype=np.uint8)
        return aug.augment_copies(matrix, draw_parameters(aug_name, rng, copies, n), copies, dim)
    raise ValueError(f"augmentation {aug_name!r} operates on {aug.operates_on!r} and cannot make copies")


def _n_flows(aug: Augmentation, flowpics: sp.csr_matrix | None, series: PacketSeries | None, dim: int) -> int:
    n = None
    if flowpics is not None:
        if flowpics.ndim != 2 or flowpics.shape[1] != dim * dim:
            raise ValueError(f"flowpics must have shape (N, {dim * dim}) for dim {dim}, got {flowpics.shape}")
        if flowpics.dtype != np.uint8:
            raise ValueError(f"flowpics must be uint8 counts, got {flowpics.dtype}")
        n = flowpics.shape[0]
    if aug.operates_on == "packets":
        if series is None:
            raise ValueError(f"{aug.name} augments packet series: series is required")
        if n is not None and series.n_flows != n:
            raise ValueError(f"{n} flowpics but {series.n_flows} packet series")
        return series.n_flows
    if aug.operates_on == "flowpic" and flowpics is None:
        raise ValueError(f"{aug.name} augments flowpics: flowpics is required")
    return 0 if n is None else n


# Modules of this package that define no augmentation (the built-ins' ``original`` is imported above, first, so
# that they keep the original's order). Private modules (``_name``) are skipped too: helpers go there.
_INFRASTRUCTURE_MODULES = frozenset({"base", "registry", "original", "image", "series", "views"})


def _discover_augmentations() -> tuple[str, ...]:
    """Import every other module of this package, in name order: each registers the augmentations it defines.

    Runs last in this module, so a discovered module may import anything from ``tcbench.augment``. Such modules
    must not import torch at module level (this package is imported without it; see the module docstring).
    """
    found = package_modules(__name__, skip=_INFRASTRUCTURE_MODULES)
    for module in found:
        importlib.import_module(module)
    return tuple(module.rsplit(".", 1)[1] for module in found)


#: In-tree augmentation modules found besides ``original`` (empty until one is added).
AUGMENTATION_MODULES: tuple[str, ...] = _discover_augmentations()
