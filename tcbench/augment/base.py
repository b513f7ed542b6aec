"""The contract every augmentation implements, and the numpy helpers its operations share.

An augmentation is one class (registered by name with :func:`tcbench.augment.registry.register_augmentation`)
that says what it operates on, how many augmented copies of a flow it makes, which random parameters it draws
and how it applies them. Everything else (augment-at-loading, the SimCLR views, the runs' name checks) asks the
registry, so adding an augmentation touches no other file. Three families:

- :class:`Augmentation` itself (``operates_on = "none"``): makes no copies (``noaug``);
- :class:`ImageAugmentation` (``"flowpic"``): transforms flowpic images, the rows of a ``(M, dim*dim)`` uint8
  CSR matrix, with one parameter set per row;
- :class:`SeriesAugmentation` (``"packets"``): transforms the packet times/sizes of flows, with one scalar
  parameter per flow copy; the flowpics are then rebuilt from the packets at the run's dim and block duration.

Augmentations are stateless: one instance per class serves every call, and all randomness comes from the
generator passed to :meth:`Augmentation.draw`, so results depend only on (seed, inputs).

Nothing here imports torch: image operations import it inside :meth:`ImageAugmentation.transform` (a run imports
``tcbench.augment`` on a side thread before torch is loaded, and series augmentations never need it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from tcbench.features.flowpic import PacketSeries

Operand = Literal["none", "flowpic", "packets"]
OPERANDS: tuple[Operand, ...] = ("none", "flowpic", "packets")

__all__ = [
    "OPERANDS",
    "Augmentation",
    "ImageAugmentation",
    "Operand",
    "SeriesAugmentation",
    "keep_packets",
    "per_packet",
    "tile_series",
]


class Augmentation(ABC):
    """One augmentation: its name, what it operates on, its copies per sample and its random draws.

    Subclass :class:`ImageAugmentation` or :class:`SeriesAugmentation` for an augmentation that changes flows;
    subclass this class directly only for one that makes no copies (like ``noaug``).
    """

    #: Registry key, as written in configs and on the command line: lowercase letters, digits, ``-`` and ``_``.
    name: ClassVar[str]
    #: What the augmentation transforms: nothing, the flowpic image, or the packet series.
    operates_on: ClassVar[Operand] = "none"
    #: Bounds ``(low, high)`` of each parameter drawn uniformly, in the parameter's unit (documentation, reports,
    #: tests); a parameter drawn relative to each flow's last packet time gives its bounds as fractions of it.
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {}
    #: ``draw`` needs each flow's last packet time (over the whole flow, not only the flowpic window).
    needs_last_time: ClassVar[bool] = False
    #: The version of a plugin augmentation's results: when set, it enters the keys of the runs that use it instead
    #: of the hash of its file (tcbench.runs.provenance). In-tree augmentations leave it unset.
    version: ClassVar[str | int | None] = None

    def copies(self, aug_samples: int) -> int:
        """Augmented copies made per sample at loading, for ``aug_samples`` samples in all (original included).

        The original keeps the sample and adds ``aug_samples - 1`` augmented copies (docs/original-behaviour.md,
        Augment at loading); a deterministic augmentation overrides this (horizontalflip: 1, noaug: 0).
        """
        return aug_samples - 1

    @abstractmethod
    def draw(
        self, rng: np.random.Generator, copies: int, n: int, last_time: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Every random parameter of ``copies`` copies of ``n`` flows, each array of shape ``(copies, n, ...)``.

        Copy-major (row ``[k, i]`` is copy ``k`` of flow ``i``) and drawn with a few vectorised calls on ``rng``,
        so that the stream depends on (seed, copies, n) only. Keep the calls and their order fixed once results
        have been published: any change alters every later draw. ``last_time`` holds each flow's last packet
        time (length ``n``) for augmentations with ``needs_last_time``. Deterministic augmentations return ``{}``.
        """


class ImageAugmentation(Augmentation):
    """An augmentation of flowpic images (``(dim, dim)`` uint8, rows = size bins, columns = time bins)."""

    operates_on: ClassVar[Operand] = "flowpic"

    @abstractmethod
    def transform(self, images: sp.csr_matrix, params: Mapping[str, np.ndarray], dim: int) -> sp.csr_matrix:
        """The images (rows of a ``(M, dim*dim)`` uint8 CSR matrix) transformed; same shape and dtype.

        ``params`` are the arrays of :meth:`draw` with their ``(copies, n)`` axes flattened into one axis of
        length ``M`` (row ``j`` of ``images`` uses ``params[key][j]``). Must not modify ``images``. Import torch
        (or any heavy library) here, not at module level.
        """

    def augment_copies(
        self, flowpics: sp.csr_matrix, params: Mapping[str, np.ndarray], copies: int, dim: int
    ) -> sp.csr_matrix:
        """The ``copies`` augmented copies of the ``n`` flowpics, copy-major ``(copies * n, dim*dim)``.

        ``params`` are :meth:`draw`'s ``(copies, n, ...)`` arrays. The default tiles the images and calls
        :meth:`transform` once for all copies (one vectorised pass instead of one per copy).
        """
        from tcbench.augment import image  # torch: only once an image augmentation runs

        rows = copies * flowpics.shape[0]
        flat = {key: np.asarray(value).reshape(rows, *np.shape(value)[2:]) for key, value in params.items()}
        return self.transform(image.tile_rows(flowpics, copies), flat, dim)


class SeriesAugmentation(Augmentation):
    """An augmentation of packet series with one scalar parameter per flow copy (times in seconds from the
    flow's first packet, sorted); the flowpic is rebuilt from the transformed packets.

    Besides :meth:`transform`, the SimCLR views compose several augmentations per view and need: the value of
    the parameter that leaves a flow unchanged (``identity``: a vectorised step applies every augmentation to
    all views, with this value where the augmentation is not the view's current step), how the flow's last
    packet time moves (:meth:`last_time_after`), and how a draw made with ``last_time = 1`` becomes the
    parameter for the current flow (:meth:`view_parameter`).
    """

    operates_on: ClassVar[Operand] = "packets"
    #: Key of the one parameter in :meth:`draw`'s result (e.g. ``"alpha"``).
    parameter: ClassVar[str]
    #: Parameter value under which :meth:`transform` returns the flow unchanged.
    identity: ClassVar[float]

    @abstractmethod
    def transform(self, series: PacketSeries, values: np.ndarray) -> PacketSeries:
        """The flows of ``series`` transformed, flow ``j`` with parameter ``values[j]`` (float64, length M).

        ``series`` is a private copy made for this call (float64 times, :func:`tile_series`): the operation may
        reuse and modify its arrays in place, which keeps memory flat for millions of packets. Use
        :func:`per_packet` to broadcast ``values`` to the packets and :func:`keep_packets` to drop packets.
        """

    @abstractmethod
    def input_cutoff(self, block_duration: float) -> float:
        """Packets at or after this time cannot land in ``[0, block_duration)`` after the operation, whatever
        the parameter: runs read only the packets before it. Must be non-decreasing in ``block_duration``
        (compositions of views chain the cutoffs)."""

    def last_time_after(self, last_time: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Each flow's last packet time after the operation with ``values`` (default: unchanged)."""
        return last_time

    def view_parameter(self, drawn: np.ndarray, last_time: np.ndarray) -> np.ndarray:
        """The parameter of a view step from its draw, given each flow's current last time.

        Views draw every parameter up front with ``last_time = 1`` (the last time depends on the steps before,
        which differ per view); an augmentation whose draw scales with the last time rescales here. Default:
        the draw itself.
        """
        return drawn


# ------------------------------------------------------------------------------------------- series helpers
def tile_series(series: PacketSeries, copies: int) -> PacketSeries:
    """``copies`` copies of every flow as one series, copy-major (flow ``k * N + i`` = copy ``k`` of flow ``i``),
    with float64 times: the fresh arrays a :meth:`SeriesAugmentation.transform` may modify."""
    n = series.n_flows
    n_packets = len(series.times)
    times = np.tile(series.times.astype(np.float64, copy=False), copies)
    sizes = np.tile(series.sizes, copies)
    offsets = np.empty(copies * n + 1, dtype=np.int64)
    offsets[:-1] = (series.offsets[:-1][None, :] + n_packets * np.arange(copies, dtype=np.int64)[:, None]).ravel()
    offsets[-1] = copies * n_packets
    return PacketSeries(times, sizes, offsets)


def per_packet(series: PacketSeries, values: np.ndarray) -> np.ndarray:
    """``values`` (one per flow) repeated for each packet of its flow (float64, length = packets)."""
    return np.repeat(np.asarray(values, dtype=np.float64), np.diff(series.offsets))


def keep_packets(series: PacketSeries, keep: np.ndarray) -> PacketSeries:
    """Only the packets where ``keep`` (per flow, order kept); ``series.times`` may already hold new times."""
    kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return PacketSeries(series.times[keep], series.sizes[keep], kept_before[series.offsets])
