"""The epoch loop shared by the supervised trainer, the SimCLR pre-training and the linear probe.

The three trainers of the original (`SimpleTrainer`, the SimCLR trainer and its finetune; docs/original-behaviour.md,
Training and early stopping, SimCLR) repeat one skeleton, kept here once so the three cannot drift apart: for each
epoch, stop if the patience monitor has expired; run the epoch (the trainer's own function: shuffled train batches,
validation if any); check that its losses are finite; update the monitor; copy the weights when they are the new best; record the epoch and hand
the record to ``on_epoch``. At the end the best weights are loaded back and the model is put in eval mode.

Patience follows the original's ``PatienceMonitorLoss`` / ``PatienceMonitorAccuracy``: an epoch improves iff it
beats the best so far by strictly more than ``min_delta`` (lower is better on a loss, higher on an accuracy; NaN
never improves); ``patience_steps`` consecutive non-improving epochs expire the monitor, and expiry is checked at
the start of the next epoch, so with patience 5 and a last improvement at epoch 35 the last trained epoch is 40.

Deliberate differences from the original (numbers of docs/deviations.md), all in this loop:
- a NaN or infinite loss stops the run at that epoch with :class:`DivergedError`, before the monitor sees it and
  before the epoch is reported (41), where the original trained on and logged garbage metrics;
- every trainer, the finetune included, ends with the weights of its best epoch, kept in memory and loaded back
  (4; 28: the original's finetune kept its last epoch); when no epoch improved (``best_epoch == -1``) the last
  weights are kept.

``fit`` draws no random numbers and passes the trainer's values on unchanged: every random draw (batch order,
dropout, views) and every computation happens in the trainer's epoch function, in the order the trainer makes them,
so moving a trainer onto ``fit`` changed none of its results (checked bit for bit against the previous loops).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from torch import Tensor, nn

RecordT = TypeVar("RecordT")
Mode = Literal["min", "max"]


class Patience:
    """Patience monitor on one value per epoch: ``mode="min"`` for a loss, ``"max"`` for an accuracy.

    An epoch improves iff its gain over the best so far (``best - value`` in min mode, ``value - best`` in max mode)
    is strictly above ``min_delta``, so NaN never improves and, with ``min_delta = 0``, max mode is exactly
    ``value > best`` (a difference of two doubles is positive iff the first is larger). ``expired`` turns true after
    ``patience_steps`` consecutive non-improving epochs; the loop checks it before starting the next epoch.
    """

    def __init__(self, patience_steps: int, min_delta: float = 0.0, mode: Mode = "min") -> None:
        if patience_steps < 1:
            raise ValueError(f"patience_steps must be >= 1, got {patience_steps}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience_steps = patience_steps
        self.min_delta = min_delta
        self.mode: Mode = mode
        self.best = math.inf if mode == "min" else -math.inf  # the first finite value always improves
        self.best_epoch = -1
        self.steps_left = patience_steps

    def update(self, epoch: int, value: float) -> bool:
        """Record one epoch's value; True when it is the new best (NaN never improves)."""
        gain = self.best - value if self.mode == "min" else value - self.best
        if gain > self.min_delta:
            self.best, self.best_epoch, self.steps_left = value, epoch, self.patience_steps
            return True
        self.steps_left -= 1
        return False

    @property
    def expired(self) -> bool:
        return self.steps_left <= 0


class DivergedError(FloatingPointError):
    """A loss became NaN or infinite: the run cannot produce a meaningful result, so it stops at that epoch (and
    no marker is written) rather than training on, reporting garbage metrics, or keeping a last-resort state."""


def check_losses(epoch: int, learning_rate: float, **losses: float) -> None:
    """Raise :class:`DivergedError` naming the non-finite loss(es) and the epoch."""
    bad = {name: value for name, value in losses.items() if not math.isfinite(value)}
    if bad:
        what = ", ".join(f"{name} {value}" for name, value in bad.items())
        raise DivergedError(f"training diverged at epoch {epoch}: {what} (learning rate {learning_rate:g}); "
                            "stopping, no result is written (a lower learning rate may help)")


def state_copy(model: nn.Module) -> dict[str, Tensor]:
    """CPU copies of the model's weights and buffers, detached from later training steps."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class EpochValues:
    """What a trainer's epoch function hands back to :func:`fit`."""

    fields: Mapping[str, float]  # the record's fields other than epoch, improved and seconds, by name
    monitored: float  # the value the patience monitor watches (val loss, val top-5, train loss)
    losses: Mapping[str, float]  # the losses that must be finite, named as the DivergedError message shows them


@dataclass
class FitResult(Generic[RecordT]):
    best_state: dict[str, Tensor]  # CPU copies, already loaded back; the last weights if no epoch improved
    best_epoch: int  # 0-based; -1 if no epoch improved
    best_value: float  # the monitor's best (inf / -inf in min / max mode if no epoch improved)
    history: list[RecordT] = field(default_factory=list)
    stopped_early: bool = False  # True when patience ran out before `epochs` epochs


def fit(
    model: nn.Module,
    run_epoch: Callable[[int], EpochValues],
    make_record: Callable[..., RecordT],
    monitor: Patience,
    *,
    epochs: int,
    learning_rate: float,
    on_epoch: Callable[[RecordT], None] | None = None,
) -> FitResult[RecordT]:
    """Run up to ``epochs`` epochs of ``run_epoch(epoch)`` under ``monitor``; load the best weights back into
    ``model`` and leave it in eval mode.

    ``run_epoch`` trains (and validates) one epoch and sets the model's mode itself. Each epoch's record is
    ``make_record(epoch=..., **fields, improved=..., seconds=...)`` (a record dataclass), built after the best-state
    copy and passed to ``on_epoch``; ``seconds`` is the epoch's wall time from before ``run_epoch`` to then.
    ``learning_rate`` is only named in the :class:`DivergedError` message. An exception from ``run_epoch`` or the
    loss check propagates; the failing epoch is not recorded.
    """
    history: list[RecordT] = []
    best_state: dict[str, Tensor] | None = None
    stopped_early = False
    for epoch in range(epochs):
        if monitor.expired:
            stopped_early = True
            break
        t0 = time.perf_counter()
        values = run_epoch(epoch)
        check_losses(epoch, learning_rate, **values.losses)
        improved = monitor.update(epoch, values.monitored)
        if improved:
            best_state = state_copy(model)
        record = make_record(epoch=epoch, **values.fields, improved=improved, seconds=time.perf_counter() - t0)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)

    if best_state is None:
        best_state = state_copy(model)
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_state, monitor.best_epoch, monitor.best, history, stopped_early)
