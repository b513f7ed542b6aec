"""Supervised training with early stopping on validation loss, and single-pass evaluation.

Follows the original's `SimpleTrainer` (docs/original-behaviour.md, Training and early stopping): CrossEntropyLoss,
Adam, shuffled train batches, validation in eval mode, early stopping with patience on val loss, best weights
restored at the end. The epoch loop (patience, divergence check, best-state copy and restore) is
`tcbench.training.fit.fit`, shared with the SimCLR trainers; its own deviations are listed there. Deviations of this
trainer, each deliberate (items of docs/original-behaviour.md, Known weaknesses of the original):
- float32 instead of float64 (item 20);
- epoch loss is the per-*sample* mean (batch losses weighted by batch size) instead of the mean of per-batch means,
  so a short last batch no longer counts as much as a full one (item 27);
- the train order is drawn from a `torch.Generator` seeded with `seed`, independent of the global RNG (which still
  drives dropout masks), so the batch order does not depend on how much RNG model construction consumed;
- evaluation runs inference once and returns the predictions for the reports as well (item 22);
- runs on CPU by default, on CUDA when asked (item 26).

Reproducibility is the caller's job: call `torch.manual_seed(seed)` before building the model (weight init and
dropout masks come from the global RNG). On CUDA also set `torch.use_deterministic_algorithms(True)` and
`CUBLAS_WORKSPACE_CONFIG=":4096:8"` for bitwise repeatability. CPU runs with a fixed thread count are bitwise
repeatable as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from tcbench.training.adam import Adam
from tcbench.training.batches import FlowpicBatches
from tcbench.training.fit import DivergedError, EpochValues, Patience, check_losses, fit, state_copy  # noqa: F401  (re-exported: lived here)

# Evaluation batches are capped to this many bytes of float32 input: at dim 1500 one sample is 9 MB, so the
# default of 1024 samples per batch would need 9 GB.
EVAL_BATCH_BYTES = 256 * 2**20


@dataclass
class EpochRecord:
    epoch: int  # 0-based
    train_loss: float  # per-sample mean, dropout active
    train_acc: float  # percent, dropout active (as the original logs it)
    val_loss: float
    val_acc: float  # percent
    improved: bool  # val loss improved by more than min_delta: these weights are the new best
    seconds: float  # wall time of this epoch (train + val)


@dataclass
class TrainResult:
    best_state: dict[str, Tensor]  # CPU copies of the best weights (already loaded back into the model)
    best_epoch: int  # 0-based; -1 if no epoch ever improved (e.g. NaN losses), then best_state = last weights
    best_loss: float
    history: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False  # True when patience ran out before `epochs` epochs


@dataclass
class EvalResult:
    loss: float  # per-sample mean cross-entropy
    y_true: np.ndarray  # int64
    y_pred: np.ndarray  # int64, argmax of the logits

    @property
    def acc(self) -> float:
        """Accuracy in percent (0-100), the scale the original logs."""
        return 100.0 * float(np.mean(self.y_true == self.y_pred)) if len(self.y_true) else math.nan


class EarlyStopping(Patience):
    """Patience monitor on a loss, as the original's `PatienceMonitorLoss`: the shared :class:`Patience` in min mode.

    An epoch improves iff `best_loss - loss > min_delta` (strict); `patience_steps` consecutive non-improving
    epochs expire the monitor. The trainer checks `expired` at the start of the next epoch, so with patience 5 and
    a last improvement at epoch 35 the last trained epoch is 40.
    """

    def __init__(self, patience_steps: int = 5, min_delta: float = 1e-3) -> None:
        super().__init__(patience_steps, min_delta, mode="min")

    @property
    def best_loss(self) -> float:
        return self.best

    @best_loss.setter
    def best_loss(self, value: float) -> None:
        self.best = value


def resolve_device(device: str | torch.device) -> torch.device:
    """Validate a device request; a CUDA request without a usable GPU is an error, never a silent CPU fallback."""
    dev = torch.device(device)
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise RuntimeError(f"unsupported device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available (torch {torch.__version__})")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if index >= count:
        raise RuntimeError(f"device {device!r} requested but only {count} CUDA device(s) are visible")
    return torch.device("cuda", index)


def _eval_batch_size(data: FlowpicBatches, batch_size: int, dev: torch.device) -> int:
    # A sparse 1500x1500 sample needs no 9 MB image. 64 per batch keeps the batch's conv2 outputs within a 16-bit
    # radix sort (64 * 900 < 2**16), the fastest: 0.65 ms per test flow on the reference machine, layout included;
    # 256 per batch is 15 % slower.
    per_sample = 4 * 2**20 if data.sparse_on(dev) else data.dim * data.dim * 4
    return max(1, min(batch_size, EVAL_BATCH_BYTES // per_sample))


def _infer(model: nn.Module, data: FlowpicBatches, batch_size: int, dev: torch.device) -> tuple[float, Tensor]:
    """(per-sample mean loss, predictions on `dev`); model must already be on `dev` and in eval mode."""
    n = len(data)
    bs = _eval_batch_size(data, batch_size, dev)
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    preds = torch.empty(n, dtype=torch.int64, device=dev)
    with torch.inference_mode():
        for start in range(0, n, bs):
            x, y = data.batch(slice(start, start + bs), device=dev)
            logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").double()
            preds[start : start + len(y)] = logits.argmax(dim=1)
    return (loss_sum.item() / n if n else math.nan), preds


def evaluate(
    model: nn.Module, data: FlowpicBatches, *, batch_size: int = 1024, device: str | torch.device = "cpu"
) -> EvalResult:
    """One inference pass over `data` (eval mode, no grad): loss for the metrics, predictions for the reports."""
    dev = resolve_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    try:
        loss, preds = _infer(model, data, batch_size, dev)
    finally:
        model.train(was_training)
    return EvalResult(loss=loss, y_true=data.labels.numpy().copy(), y_pred=preds.cpu().numpy())


def train_epoch(model: nn.Module, data: FlowpicBatches, perm: Tensor, batch_size: int, optimizer: torch.optim.Optimizer,
                criterion: nn.Module, dev: torch.device) -> tuple[float, float]:
    """One pass over ``data`` in the order ``perm``: (per-sample mean loss, accuracy in percent), as trained
    (train mode, dropout active). Sums stay on the device: no host sync per batch (matters on GPU)."""
    n = len(data)
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    for start in range(0, n, batch_size):
        x, y = data.batch(perm[start : start + batch_size], device=dev)
        logits = model(x)
        loss = criterion(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().double() * y.shape[0]
        correct += (logits.detach().argmax(dim=1) == y).sum()
    return loss_sum.item() / n, 100.0 * correct.item() / n


def train_supervised(
    model: nn.Module,
    train: FlowpicBatches,
    val: FlowpicBatches,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience_steps: int,
    patience_min_delta: float,
    seed: int,
    device: str | torch.device = "cpu",
    eval_batch_size: int = 1024,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train `model` in place, early-stopping on val loss; the best weights are loaded back before returning.

    The hyper-parameters have no defaults here: they are the method's declared parameters (one declaration, in
    tcbench.methods.supervised), passed by the caller.

    `on_epoch` is called after every epoch (the caller tracks train/val loss and acc, and best_loss/best_epoch
    when `record.improved`). Seed the global torch RNG before building `model`; see the module docstring.
    """
    if len(train) == 0:
        raise ValueError("empty training set")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    model.to(dev)
    criterion = nn.CrossEntropyLoss()
    optimizer = Adam(model.parameters(), lr=learning_rate)
    order_rng = torch.Generator(device="cpu").manual_seed(seed)
    stopper = EarlyStopping(patience_steps, patience_min_delta)
    n_train = len(train)
    val_labels = val.labels.to(dev)

    def run_epoch(epoch: int) -> EpochValues:
        model.train()
        perm = torch.randperm(n_train, generator=order_rng).to(dev)
        train_loss, train_acc = train_epoch(model, train, perm, batch_size, optimizer, criterion, dev)

        model.eval()
        val_loss, val_pred = _infer(model, val, eval_batch_size, dev)
        val_acc = 100.0 * (val_pred == val_labels).double().mean().item() if len(val) else math.nan
        return EpochValues(
            fields={"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc},
            monitored=val_loss,
            losses={"train_loss": train_loss, **({"val_loss": val_loss} if len(val) else {})},
        )

    fitted = fit(model, run_epoch, EpochRecord, stopper, epochs=epochs, learning_rate=learning_rate, on_epoch=on_epoch)
    return TrainResult(
        best_state=fitted.best_state,
        best_epoch=fitted.best_epoch,
        best_loss=fitted.best_value,
        history=fitted.history,
        stopped_early=fitted.stopped_early,
    )
