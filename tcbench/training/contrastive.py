"""SimCLR training (docs/original-behaviour.md, SimCLR): contrastive pre-training with the NT-Xent loss and
early stopping on validation top-5 accuracy, then a linear probe on the frozen representation.

Both trainers run the epoch loop shared with the supervised trainer, ``tcbench.training.fit.fit`` (patience,
divergence check, best-state copy and restore); its deviations are listed there, among them that the finetune
keeps the weights of its best epoch (lowest train loss) where the original kept the last epoch.

Deliberate differences of these trainers from the original (docs/deviations.md):
- epoch metrics are per-anchor (per-sample) means, not means of per-batch means (as the supervised loop);
- the batch order comes from a ``torch.Generator`` seeded with the stage's seed (as the supervised loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from tcbench.models.simclr import trainable_parameters
from tcbench.training.adam import Adam
from tcbench.training.batches import FlowpicBatches
from tcbench.training.fit import EpochValues, Patience, fit
from tcbench.training.loop import EarlyStopping, resolve_device, train_epoch

DEFAULT_TEMPERATURE = 0.07
TOP_K = (1, 5)


def nt_xent(z: Tensor, temperature: float = DEFAULT_TEMPERATURE, base_temperature: float = DEFAULT_TEMPERATURE
            ) -> tuple[Tensor, Tensor]:
    """NT-Xent over ``z`` (2B, d) L2-normalised embeddings where rows ``i`` and ``i + B`` are the two views of one
    sample: (mean loss over the 2B anchors, per-anchor rank of the positive among the 2B - 1 other embeddings).

    ``loss_i = -(t / t_base) * (s_ip - log sum_{k != i} exp(s_ik))`` with ``s = z z^T / t``; this is SupContrast's
    SimCLR loss (``contrast_mode="all"``). Rank 0 means the positive is the most similar embedding (top-1 hit);
    ties count against the positive (only strictly more similar negatives push it down).
    """
    n = z.shape[0]
    if n % 2 or n == 0:
        raise ValueError(f"expected an even, non-zero number of embeddings (2 views per sample), got {n}")
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), -math.inf)
    positive = (torch.arange(n, device=z.device) + n // 2) % n
    loss = nn.functional.cross_entropy(sim, positive) * (temperature / base_temperature)
    with torch.no_grad():
        positive_sim = sim.gather(1, positive[:, None])
        rank = (sim > positive_sim).sum(dim=1)
    return loss, rank


@dataclass
class ContrastiveEpoch:
    epoch: int  # 0-based
    train_loss: float
    train_acc_top_1: float  # percent
    train_acc_top_5: float
    val_loss: float
    val_acc_top_1: float
    val_acc_top_5: float
    improved: bool  # val acc_top_5 strictly above the best so far: these weights are the new best
    seconds: float


@dataclass
class ContrastiveResult:
    best_state: dict[str, Tensor]
    best_epoch: int  # 0-based
    best_acc_top_5: float
    history: list[ContrastiveEpoch] = field(default_factory=list)
    stopped_early: bool = False


class AccuracyPatience(Patience):
    """The original's ``PatienceMonitorAccuracy``, the shared :class:`Patience` in max mode with no min-delta:
    improvement = strictly greater; expires after ``patience_steps`` epochs without one (checked before the next
    epoch)."""

    def __init__(self, patience_steps: int) -> None:
        super().__init__(patience_steps, 0.0, mode="max")


class _Sums:
    """Per-anchor sums of loss and top-k hits, on the device (no host sync per batch)."""

    def __init__(self, dev: torch.device) -> None:
        self.loss = torch.zeros((), dtype=torch.float64, device=dev)
        self.hits = torch.zeros(len(TOP_K), dtype=torch.int64, device=dev)
        self.anchors = 0

    def add(self, loss: Tensor, rank: Tensor) -> None:
        self.loss += loss.detach().double() * rank.shape[0]
        self.hits += torch.stack([(rank < k).sum() for k in TOP_K])
        self.anchors += rank.shape[0]

    def values(self) -> tuple[float, float, float]:
        hits = (100.0 * self.hits.double() / max(self.anchors, 1)).tolist()
        return self.loss.item() / max(self.anchors, 1), hits[0], hits[1]


def _view_batches(views: sp.csr_matrix, dim: int) -> FlowpicBatches:
    # Views are drawn anew every epoch and read once: no per-flow layouts to keep (dim 1500).
    return FlowpicBatches(views, np.zeros(views.shape[0], dtype=np.int64), dim, cache_layouts=False)


def _pair_indices(idx: Tensor, n: int) -> Tensor:
    # Rows idx of view 1 then the same samples' view 2: positives sit B apart, as nt_xent expects.
    return torch.cat([idx, idx + n])


def _embed(model: nn.Module, data: FlowpicBatches, idx: Tensor, n: int, dev: torch.device) -> Tensor:
    x, _ = data.batch(_pair_indices(idx, n), device=dev)
    return nn.functional.normalize(model(x), dim=1)


def train_contrastive(
    model: nn.Module,
    draw_train: Callable[[], sp.csr_matrix],
    draw_val: Callable[[], sp.csr_matrix],
    dim: int,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    temperature: float,
    patience_steps: int,
    seed: int,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[ContrastiveEpoch], None] | None = None,
) -> ContrastiveResult:
    """Pre-train ``model`` in place; the weights of the best validation top-5 epoch are loaded back at the end.

    ``draw_train`` / ``draw_val`` return fresh two-view flowpics ``(2N, dim*dim)`` (view-major) for each epoch, as
    the original regenerates its views every epoch for both sets. The next epoch's views are drawn on a side
    thread while the current epoch trains (numpy and scipy release the GIL); each source owns its generator, so
    the views are the same as when drawn in line.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    model.to(dev)
    optimizer = Adam(model.parameters(), lr=learning_rate)
    order_rng = torch.Generator(device="cpu").manual_seed(seed)
    monitor = AccuracyPatience(patience_steps)

    def draw() -> tuple[FlowpicBatches, FlowpicBatches]:
        return _view_batches(draw_train(), dim), _view_batches(draw_val(), dim)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="views") as pool:
        pending = pool.submit(draw)

        def run_epoch(epoch: int) -> EpochValues:
            nonlocal pending
            train, val = pending.result()
            if epoch + 1 < epochs:
                pending = pool.submit(draw)
            n_train, n_val = len(train) // 2, len(val) // 2
            if n_train == 0:
                raise ValueError("empty pre-training set")

            model.train()
            sums = _Sums(dev)
            perm = torch.randperm(n_train, generator=order_rng)
            for start in range(0, n_train, batch_size):
                loss, rank = nt_xent(_embed(model, train, perm[start : start + batch_size], n_train, dev), temperature)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                sums.add(loss, rank)
            train_loss, train_top1, train_top5 = sums.values()

            model.eval()
            sums = _Sums(dev)
            with torch.inference_mode():
                for start in range(0, n_val, batch_size):
                    idx = torch.arange(start, min(start + batch_size, n_val))
                    sums.add(*nt_xent(_embed(model, val, idx, n_val, dev), temperature))
            val_loss, val_top1, val_top5 = sums.values() if n_val else (math.nan, math.nan, math.nan)
            return EpochValues(
                fields={"train_loss": train_loss, "train_acc_top_1": train_top1, "train_acc_top_5": train_top5,
                        "val_loss": val_loss, "val_acc_top_1": val_top1, "val_acc_top_5": val_top5},
                monitored=val_top5,
                losses={"train_loss": train_loss, **({"val_loss": val_loss} if n_val else {})},
            )

        try:
            fitted = fit(model, run_epoch, ContrastiveEpoch, monitor, epochs=epochs, learning_rate=learning_rate,
                         on_epoch=on_epoch)
        finally:
            pending.cancel()  # the draw for an epoch that will not run (stopped early, or an error)

    return ContrastiveResult(fitted.best_state, fitted.best_epoch, fitted.best_value, fitted.history,
                             fitted.stopped_early)


@dataclass
class FinetuneEpoch:
    epoch: int
    loss: float  # per-sample mean train loss
    acc: float  # percent
    improved: bool
    seconds: float


@dataclass
class FinetuneResult:
    best_state: dict[str, Tensor]
    best_epoch: int
    best_loss: float
    history: list[FinetuneEpoch] = field(default_factory=list)
    stopped_early: bool = False


def train_linear_probe(
    model: nn.Module,
    train: FlowpicBatches,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience_steps: int,
    patience_min_delta: float,
    seed: int,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[FinetuneEpoch], None] | None = None,
) -> FinetuneResult:
    """Train the parameters of ``model`` that require grad (the head of a finetune net) with Adam; early-stop on
    the train loss (the finetune has no validation set) and load back the weights of the best epoch.

    The net stays in train mode as in the original, so a backbone built with dropout keeps its Dropout2d active.
    """
    if len(train) == 0:
        raise ValueError("empty finetune training set")
    params = trainable_parameters(model)
    if not params:
        raise ValueError("the model has no trainable parameter")
    dev = resolve_device(device)
    model.to(dev)
    optimizer = Adam(params, lr=learning_rate)
    criterion = nn.CrossEntropyLoss()
    order_rng = torch.Generator(device="cpu").manual_seed(seed)
    stopper = EarlyStopping(patience_steps, patience_min_delta)
    n = len(train)

    def run_epoch(epoch: int) -> EpochValues:
        model.train()
        perm = torch.randperm(n, generator=order_rng).to(dev)
        epoch_loss, epoch_acc = train_epoch(model, train, perm, batch_size, optimizer, criterion, dev)
        return EpochValues(fields={"loss": epoch_loss, "acc": epoch_acc}, monitored=epoch_loss,
                           losses={"train_loss": epoch_loss})

    fitted = fit(model, run_epoch, FinetuneEpoch, stopper, epochs=epochs, learning_rate=learning_rate,
                 on_epoch=on_epoch)
    return FinetuneResult(fitted.best_state, fitted.best_epoch, fitted.best_value, fitted.history,
                          fitted.stopped_early)
