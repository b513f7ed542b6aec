"""Batch provider, the shared patience monitor and fit loop, supervised loop and evaluation, on small learnable
flowpic-like data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tcbench.models.cnn import build_flowpic_cnn
from tcbench.training.batches import FlowpicBatches
from tcbench.training.contrastive import AccuracyPatience
from tcbench.training.fit import DivergedError, EpochValues, Patience, fit
from tcbench.training.loop import (
    EarlyStopping,
    EpochRecord,
    _eval_batch_size,
    evaluate,
    resolve_device,
    train_supervised,
)

DIM = 32
N_CLASSES = 5


def toy_flowpics(n_per_class: int, seed: int, dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
    """Sparse noise everywhere plus a class-specific band of packet-size rows: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(N_CLASSES), n_per_class)
    counts = rng.poisson(0.3, size=(len(y), dim, dim))
    band = dim // N_CLASSES
    for c in range(N_CLASSES):
        counts[y == c, c * band : (c + 1) * band, :] += rng.poisson(2.0, size=(n_per_class, band, dim))
    return np.clip(counts, 0, 255).astype(np.uint8).reshape(len(y), dim * dim), y


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The net is tiny: one intra-op thread is faster than two on a shared 2-core machine (and deterministic)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def toy_sets() -> tuple[FlowpicBatches, FlowpicBatches]:
    x_tr, y_tr = toy_flowpics(30, seed=1)
    x_va, y_va = toy_flowpics(10, seed=2)
    return FlowpicBatches(x_tr, y_tr, DIM), FlowpicBatches(x_va, y_va, DIM)


# ---------------------------------------------------------------- batches


def test_dense_and_sparse_paths_identical() -> None:
    rng = np.random.default_rng(0)
    counts = (rng.random((40, DIM * DIM)) < 0.05) * rng.integers(1, 256, size=(40, DIM * DIM))
    counts = counts.astype(np.uint8)
    labels = rng.integers(0, 5, size=40)
    dense = FlowpicBatches(counts, labels, DIM)
    from_csr = FlowpicBatches(sp.csr_matrix(counts), labels, DIM)  # densified at construction
    lazy = FlowpicBatches(sp.csr_matrix(counts), labels, DIM, dense_limit_bytes=0)  # densified per batch
    assert dense.is_dense and from_csr.is_dense and not lazy.is_dense
    assert len(dense) == len(lazy) == 40
    for idx in (np.array([5, 0, 39, 5]), torch.tensor([3, 2, 1]), [7], slice(10, 25), slice(30, 100)):
        ref_x, ref_y = dense.batch(idx)
        for other in (from_csr, lazy):
            x, y = other.batch(idx)
            assert x.dtype == torch.float32 and y.dtype == torch.int64
            assert torch.equal(x, ref_x) and torch.equal(y, ref_y)


def test_pixel_layout_and_scale() -> None:
    counts = np.zeros((2, DIM * DIM), dtype=np.uint8)
    counts[1, 3 * DIM + 7] = 255  # size bin 3, time bin 7
    counts[1, 0] = 51
    x, y = FlowpicBatches(counts, np.array([4, 2]), DIM).batch(np.array([1]))
    assert x.shape == (1, 1, DIM, DIM) and y.tolist() == [2]
    assert x[0, 0, 3, 7].item() == 1.0
    assert x[0, 0, 0, 0].item() == pytest.approx(0.2)
    assert x.sum().item() == pytest.approx(1.2)


def test_batches_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        FlowpicBatches(np.zeros((2, DIM * DIM), dtype=np.float32), np.zeros(2, dtype=np.int64), DIM)
    with pytest.raises(ValueError, match="shape"):
        FlowpicBatches(np.zeros((2, 64 * 64), dtype=np.uint8), np.zeros(2, dtype=np.int64), DIM)
    with pytest.raises(ValueError, match="labels"):
        FlowpicBatches(np.zeros((2, DIM * DIM), dtype=np.uint8), np.zeros(3, dtype=np.int64), DIM)


def test_eval_batch_capped_by_memory(monkeypatch) -> None:
    empty = sp.csr_matrix((3, 1500 * 1500), dtype=np.uint8)
    big = FlowpicBatches(empty, np.zeros(3, dtype=np.int64), 1500)
    assert not big.is_dense  # 1500x1500 flowpics always stay sparse
    cpu = torch.device("cpu")
    assert _eval_batch_size(big, 1024, cpu) == 64  # sparse path: batches of 64 are the fastest
    monkeypatch.setenv("TCBENCH_FULL_NET", "dense")
    assert _eval_batch_size(big, 1024, cpu) == 29  # dense path: 256 MB / 9 MB per 1500x1500 float32 sample
    small = FlowpicBatches(np.zeros((3, DIM * DIM), dtype=np.uint8), np.zeros(3, dtype=np.int64), DIM)
    assert _eval_batch_size(small, 1024, cpu) == 1024


# ---------------------------------------------------------------- early stopping


def run_monitor(losses: list[float], patience: int = 5, min_delta: float = 1e-3, epochs: int = 50):
    """Drive the monitor the way the trainer does: check expiry at the start of each epoch."""
    monitor, trained = EarlyStopping(patience, min_delta), []
    for epoch in range(epochs):
        if monitor.expired:
            break
        trained.append(epoch)
        monitor.update(epoch, losses[epoch])
    return monitor, trained


def test_early_stopping_reference_run_epoch_count() -> None:
    """Reference run: last improvement at epoch 35, stopped after epoch 40 (docs/original-behaviour.md, Training and
    early stopping)."""
    losses = [1.0 - 0.02 * e for e in range(36)] + [0.3] * 14
    monitor, trained = run_monitor(losses)
    assert monitor.best_epoch == 35 and monitor.best_loss == pytest.approx(0.3)
    assert trained[-1] == 40


def test_early_stopping_requires_strictly_more_than_min_delta() -> None:
    monitor = EarlyStopping(patience_steps=2, min_delta=0.5)
    assert monitor.update(0, 1.0)
    assert not monitor.update(1, 0.5)  # 1.0 - 0.5 == min_delta: not an improvement
    assert monitor.steps_left == 1 and not monitor.expired
    assert monitor.update(2, 0.25)  # resets patience
    assert monitor.steps_left == 2 and monitor.best_epoch == 2
    assert not monitor.update(3, float("nan"))
    assert not monitor.update(4, 0.2)
    assert monitor.expired


def test_early_stopping_never_expiring_runs_all_epochs() -> None:
    monitor, trained = run_monitor([1.0 - 0.01 * e for e in range(50)])
    assert trained[-1] == 49 and monitor.best_epoch == 49 and not monitor.expired


def test_shared_patience_monitor_in_both_modes() -> None:
    """One monitor for the loss (min) and the accuracy (max) trainers: strict gain over min_delta, NaN never
    improves, expiry after `patience_steps` non-improving epochs (seen before the next epoch)."""
    loss = Patience(3, min_delta=0.1, mode="min")
    assert loss.best == math.inf and loss.best_epoch == -1
    assert loss.update(0, 1.0)
    assert not loss.update(1, 0.9)  # gain 0.1 is not strictly above min_delta (1.0 - 0.9 < 0.1 in floats too)
    assert not loss.update(2, float("nan"))
    assert loss.steps_left == 1 and not loss.expired
    assert loss.update(3, 0.8) and loss.steps_left == 3 and (loss.best, loss.best_epoch) == (0.8, 3)
    assert [loss.update(e, 5.0) for e in (4, 5, 6)] == [False] * 3 and loss.expired

    acc = Patience(2, mode="max")
    assert acc.best == -math.inf and acc.min_delta == 0.0
    assert acc.update(0, 50.0) and not acc.update(1, 50.0)  # equal is not a gain
    assert acc.update(2, math.nextafter(50.0, math.inf))  # the smallest gain is one
    assert not acc.update(3, float("nan")) and not acc.update(4, 10.0) and acc.expired and acc.best_epoch == 2

    margin = Patience(1, min_delta=5.0, mode="max")
    assert margin.update(0, 10.0) and not margin.update(1, 15.0) and margin.expired  # needs more than +5
    assert not Patience(1, min_delta=math.inf).update(0, 1.0)  # an infinite margin: nothing ever improves

    # The trainers' monitors are this class with their original signatures and attribute names.
    stopping, accuracy = EarlyStopping(4, 0.01), AccuracyPatience(4)
    assert isinstance(stopping, Patience) and isinstance(accuracy, Patience)
    assert (stopping.mode, stopping.min_delta, accuracy.mode, accuracy.min_delta) == ("min", 0.01, "max", 0.0)
    assert stopping.update(7, 0.5) and stopping.best_loss == stopping.best == 0.5 and stopping.best_epoch == 7
    with pytest.raises(ValueError, match="patience_steps"):
        Patience(0)
    with pytest.raises(ValueError, match="mode"):
        Patience(1, mode="up")  # type: ignore[arg-type]


def test_patience_expiry_is_seen_before_the_next_epoch() -> None:
    """Patience 2, last gain at epoch 1: epochs 2 and 3 do not improve, so epoch 4 never starts."""
    monitor, trained = Patience(2, mode="max"), []
    for epoch, value in enumerate([1.0, 2.0, 2.0, 1.0, 9.0]):
        if monitor.expired:
            break
        trained.append(epoch)
        monitor.update(epoch, value)
    assert trained == [0, 1, 2, 3] and monitor.best_epoch == 1


@dataclass
class _ToyRecord:
    epoch: int
    value: float
    improved: bool
    seconds: float


def _constant_epochs(net: torch.nn.Module, values: list[float]):
    """An epoch function that sets every weight of `net` to the epoch number and reports `values[epoch]`."""

    def run_epoch(epoch: int) -> EpochValues:
        net.train()
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(float(epoch))
        return EpochValues(fields={"value": values[epoch]}, monitored=values[epoch], losses={"loss": values[epoch]})

    return run_epoch


def test_fit_restores_the_best_state_and_reports_early_stopping() -> None:
    net = torch.nn.Linear(3, 2)
    seen: list[_ToyRecord] = []
    values = [3.0, 2.0, 2.5, 2.4, 1.0, 0.5]  # best at epoch 1; epochs 2 and 3 expire patience 2
    result = fit(net, _constant_epochs(net, values), _ToyRecord, Patience(2, mode="min"), epochs=len(values),
                 learning_rate=0.1, on_epoch=seen.append)
    assert result.stopped_early and result.best_epoch == 1 and result.best_value == 2.0
    assert [(r.epoch, r.value, r.improved) for r in result.history] == [
        (0, 3.0, True), (1, 2.0, True), (2, 2.5, False), (3, 2.4, False)]
    assert seen == result.history and all(r.seconds >= 0 for r in seen)
    assert all(torch.equal(v, torch.full_like(v, 1.0)) for v in net.state_dict().values())  # epoch 1's weights
    assert all(torch.equal(v, result.best_state[k]) for k, v in net.state_dict().items())
    assert not net.training

    # Patience never runs out: all epochs, not stopped early, best state is the last improving epoch.
    net = torch.nn.Linear(3, 2)
    result = fit(net, _constant_epochs(net, values), _ToyRecord, Patience(5), epochs=len(values), learning_rate=0.1)
    assert not result.stopped_early and len(result.history) == 6 and result.best_epoch == 5
    assert torch.equal(net.weight, torch.full_like(net.weight, 5.0))


def test_fit_keeps_the_last_state_when_no_epoch_improves() -> None:
    net = torch.nn.Linear(3, 2)
    result = fit(net, _constant_epochs(net, [1.0, 1.0, 1.0]), _ToyRecord, Patience(5, min_delta=math.inf),
                 epochs=3, learning_rate=0.1)
    assert result.best_epoch == -1 and result.best_value == math.inf and not result.stopped_early
    assert not any(r.improved for r in result.history)
    assert torch.equal(net.weight, torch.full_like(net.weight, 2.0)) and not net.training


def test_fit_stops_on_a_non_finite_loss_before_the_monitor_and_the_record() -> None:
    net = torch.nn.Linear(3, 2)
    monitor, seen = Patience(5), []
    with pytest.raises(DivergedError, match=r"training diverged at epoch 2: loss inf \(learning rate 0\.1\)"):
        fit(net, _constant_epochs(net, [2.0, 1.0, math.inf]), _ToyRecord, monitor, epochs=3, learning_rate=0.1,
            on_epoch=seen.append)
    assert [r.epoch for r in seen] == [0, 1] and monitor.best_epoch == 1 and monitor.steps_left == 5


# ---------------------------------------------------------------- training loop


def test_constant_val_loss_stops_after_patience(toy_sets) -> None:
    """lr=0 freezes the weights (no dropout -> constant val loss): only epoch 0 improves, stop after epoch 5."""
    train, val = toy_sets
    torch.manual_seed(0)
    net = build_flowpic_cnn(N_CLASSES, DIM, with_dropout=False)
    seen: list[EpochRecord] = []
    result = train_supervised(net, train, val, epochs=50, learning_rate=0.0, patience_steps=5, on_epoch=seen.append, batch_size=32, patience_min_delta=1e-3, seed=12345)
    assert [r.epoch for r in result.history] == [0, 1, 2, 3, 4, 5]
    assert seen == result.history
    assert [r.improved for r in result.history] == [True] + [False] * 5
    assert result.stopped_early and result.best_epoch == 0
    # Per-sample mean train loss (90 samples in batches of 32, 32, 26): equals a one-pass evaluation.
    assert result.history[0].train_loss == pytest.approx(evaluate(net, train).loss, rel=1e-5)


def test_training_is_deterministic(toy_sets) -> None:
    train, val = toy_sets
    states = []
    for _ in range(2):
        torch.manual_seed(12345)
        net = build_flowpic_cnn(N_CLASSES, DIM)  # with dropout: masks come from the seeded global RNG
        states.append(train_supervised(net, train, val, epochs=3, seed=12345, batch_size=32, learning_rate=1e-3, patience_steps=5, patience_min_delta=1e-3).best_state)
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    # A different shuffling seed gives different weights.
    torch.manual_seed(12345)
    other = train_supervised(build_flowpic_cnn(N_CLASSES, DIM), train, val, epochs=3, seed=1, batch_size=32, learning_rate=1e-3, patience_steps=5, patience_min_delta=1e-3).best_state
    assert not all(torch.equal(states[0][k], other[k]) for k in other)


def test_learns_toy_problem_and_restores_best_weights(toy_sets) -> None:
    train, val = toy_sets
    torch.manual_seed(12345)
    net = build_flowpic_cnn(N_CLASSES, DIM)
    # A large min_delta makes the run stop early, so the last epoch is never the best one.
    result = train_supervised(net, train, val, epochs=30, batch_size=16, patience_steps=2, patience_min_delta=0.05, learning_rate=1e-3, seed=12345)
    assert result.stopped_early and not result.history[-1].improved
    best = result.history[result.best_epoch]
    assert best.improved and best.val_loss == result.best_loss
    assert best.val_acc >= 90.0
    # The model now holds the best weights, not the last ones.
    assert all(torch.equal(v, result.best_state[k]) for k, v in net.state_dict().items())
    ev = evaluate(net, val)
    assert ev.loss == pytest.approx(result.best_loss, rel=1e-6)
    assert ev.acc == pytest.approx(best.val_acc)
    assert ev.loss != pytest.approx(result.history[-1].val_loss, rel=1e-6)
    np.testing.assert_array_equal(ev.y_true, val.labels.numpy())


def test_evaluate_same_on_dense_and_sparse(toy_sets) -> None:
    _, val = toy_sets
    x, y = toy_flowpics(10, seed=2)
    lazy = FlowpicBatches(sp.csr_matrix(x), y, DIM, dense_limit_bytes=0)
    torch.manual_seed(0)
    net = build_flowpic_cnn(N_CLASSES, DIM)
    a, b = evaluate(net, val, batch_size=7), evaluate(net, lazy)
    assert a.loss == pytest.approx(b.loss, rel=1e-6)
    np.testing.assert_array_equal(a.y_pred, b.y_pred)
    assert net.training  # evaluate restores the previous mode


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_request_without_gpu_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        resolve_device("cuda:1")
    assert resolve_device("cpu") == torch.device("cpu")


def test_adam_is_bit_identical_to_torch_optim_adam() -> None:
    """Our Adam (no torch._dynamo import) must give exactly torch.optim.Adam's weights."""
    from tcbench.models.cnn import build_flowpic_cnn
    from tcbench.training.adam import Adam

    torch.manual_seed(3)
    ours = build_flowpic_cnn(5, 32, with_dropout=False)
    ref = build_flowpic_cnn(5, 32, with_dropout=False)
    ref.load_state_dict(ours.state_dict())
    opt_ours, opt_ref = Adam(ours.parameters(), lr=1e-3), torch.optim.Adam(ref.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(25):
        x = torch.rand(16, 1, 32, 32, generator=gen)
        y = torch.randint(0, 5, (16,), generator=gen)
        for model, opt in ((ours, opt_ours), (ref, opt_ref)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for (name, a), (_, b) in zip(ours.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_diverging_loss_stops_the_run_at_that_epoch(toy_sets) -> None:
    """A NaN/inf loss is an error naming the epoch and the learning rate, not a result computed on garbage."""
    from tcbench.training.loop import DivergedError

    train, val = toy_sets
    torch.manual_seed(12345)
    epochs_seen = []
    with pytest.raises(DivergedError, match=r"training diverged at epoch \d+: train_loss (nan|inf).*learning rate 1e\+30"):
        train_supervised(build_flowpic_cnn(N_CLASSES, DIM), train, val, epochs=10, learning_rate=1e30,
                         on_epoch=epochs_seen.append, batch_size=32, patience_steps=5, patience_min_delta=1e-3, seed=12345)
    assert not epochs_seen  # the diverged epoch is never reported as a result
