"""The Full net computed from sparse 1500x1500 flowpics equals the dense computation: logits and every parameter
gradient, for the supervised net and the SimCLR backbone, on random pixels (borders, corners, repeated values), on
the real augmentations' outputs, on empty flowpics and on colorjitter rows whose background is not zero."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tcbench.models.cnn import build_flowpic_cnn
from tcbench.models.simclr import build_contrastive_net, build_finetune_net
from tcbench.models.sparse_full import DENSE_ROW_PIXELS, FULL_DIM, FlowLayouts, SparseFlowpics, _sort, full_net_path

PIXELS = FULL_DIM * FULL_DIM
LOGIT_TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 1e-4  # relative: |g_sparse - g_dense| / |g_dense| per parameter tensor


def _random_batch(n: int, seed: int, per_flow: int = 1100, edges: bool = False, same_value: bool = False) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        idx = rng.choice(PIXELS, size=per_flow, replace=False)
        if edges and i == 0:  # the four corners, every border, and pixels next to them
            last = FULL_DIM - 1
            border = [0, last, last * FULL_DIM, PIXELS - 1, 750 * FULL_DIM, 750 * FULL_DIM + last, 750, last * FULL_DIM + 750,
                      1, FULL_DIM, FULL_DIM + 1, 2 * FULL_DIM - 2, PIXELS - 2, PIXELS - FULL_DIM - 1, 3 * FULL_DIM + 4]
            idx = np.concatenate([idx, border])
        if i == n - 1:  # a clustered flow: a block of neighbouring pixels, as real flowpics have
            y, x = np.meshgrid(np.arange(40, 60), np.arange(100, 140), indexing="ij")
            idx = np.concatenate([idx[: per_flow // 2], (y * FULL_DIM + x).ravel()])
        idx = np.unique(idx)
        values = np.full(len(idx), 7, np.uint8) if same_value else rng.integers(1, 256, len(idx)).astype(np.uint8)
        rows.append(sp.csr_matrix((values, idx, [0, len(idx)]), shape=(1, PIXELS)))
    return sp.vstack(rows, format="csr")


def _dense(counts: sp.csr_matrix) -> torch.Tensor:
    return (torch.from_numpy(counts.toarray()).float() / 255.0).reshape(-1, 1, FULL_DIM, FULL_DIM)


def _run(net: torch.nn.Module, x, seed: int = 3) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits and parameter gradients of one training step (dropout masks from the same seed)."""
    torch.manual_seed(seed)
    net.zero_grad()
    logits = net(x)
    n = logits.shape[0]
    torch.nn.functional.cross_entropy(logits, torch.arange(n) % logits.shape[1]).backward()
    return logits.detach(), {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}


def _assert_same(net: torch.nn.Module, counts: sp.csr_matrix) -> None:
    dense_logits, dense_grads = _run(net, _dense(counts))
    sparse_logits, sparse_grads = _run(net, SparseFlowpics.from_csr(counts))
    assert (dense_logits - sparse_logits).abs().max().item() <= LOGIT_TOLERANCE
    assert dense_grads.keys() == sparse_grads.keys() and dense_grads
    for name, grad in dense_grads.items():
        relative = ((grad - sparse_grads[name]).norm() / grad.norm().clamp_min(1e-12)).item()
        assert relative <= GRADIENT_TOLERANCE, (name, relative)


@pytest.mark.parametrize("with_dropout", [True, False])
def test_supervised_full_net_logits_and_gradients_match_the_dense_path(with_dropout):
    torch.manual_seed(0)
    net = build_flowpic_cnn(5, FULL_DIM, with_dropout).train()
    _assert_same(net, _random_batch(5, seed=1, edges=True))
    _assert_same(net, _random_batch(4, seed=2, same_value=True))  # one pixel value repeated everywhere


def test_simclr_backbone_and_finetune_net_match_the_dense_path():
    torch.manual_seed(0)
    net = build_contrastive_net(FULL_DIM, True, 30).train()
    _assert_same(net, _random_batch(4, seed=5, edges=True))
    finetune = build_finetune_net(net, 5).train()
    _assert_same(finetune, _random_batch(3, seed=6))


def test_empty_flowpics_and_a_single_pixel_in_each_corner():
    torch.manual_seed(0)
    net = build_flowpic_cnn(5, FULL_DIM, True).train()
    corners = [0, FULL_DIM - 1, (FULL_DIM - 1) * FULL_DIM, PIXELS - 1]
    rows = [sp.csr_matrix((1, PIXELS), dtype=np.uint8)] + [
        sp.csr_matrix((np.array([255], np.uint8), np.array([c]), [0, 1]), shape=(1, PIXELS)) for c in corners]
    _assert_same(net, sp.vstack(rows, format="csr"))


def test_the_real_augmentations_outputs_match_the_dense_path():
    """Flowpics of synthetic flows at 1500 and their augmented copies (each of the seven augmentations)."""
    from tcbench.augment import augment_at_loading, augmentation_names, get_augmentation
    from tcbench.data.synthetic import generate_synthetic_ucdavis
    from tcbench.features.flowpic import PacketSeries, flowpic_matrix

    flows = generate_synthetic_ucdavis(seed=3, scale=0.01).slice(0, 3)
    series = PacketSeries.from_lists([np.asarray(t, np.float64) for t in flows.column("timetofirst").to_pylist()],
                                     [np.asarray(s, np.int16) for s in flows.column("pkts_size").to_pylist()])
    flowpics = flowpic_matrix(series, FULL_DIM, 15.0)
    copies = [flowpics]
    for name in augmentation_names():
        if get_augmentation(name).copies(2):
            copies.append(augment_at_loading(name, flowpics, series, FULL_DIM, 15.0, seed=4, aug_samples=2))
    batch = sp.vstack(copies, format="csr")
    assert batch.shape[0] == 3 * 7 and batch.nnz > 0
    torch.manual_seed(0)
    net = build_flowpic_cnn(5, FULL_DIM, True).train()
    for start in range(0, batch.shape[0], 7):
        _assert_same(net, batch[start : start + 7])


def test_rows_with_a_lifted_background_take_the_dense_layers_inside_the_batch():
    """colorjitter's contrast can give every pixel a value: such a row is computed densely, the others sparsely."""
    counts = _random_batch(3, seed=8)
    lifted = np.full(PIXELS, 2, np.uint8)
    lifted[:: 1000] = 200
    counts = sp.vstack([counts[0], sp.csr_matrix(lifted), counts[1:]], format="csr")
    batch = SparseFlowpics.from_csr(counts)
    assert batch.dense_rows is not None and batch.dense_rows.tolist() == [1]
    layouts = FlowLayouts.of(counts)
    assert counts[1].nnz > DENSE_ROW_PIXELS and layouts.entry_start[2] == layouts.entry_start[1]  # no pixel of row 1
    assert torch.equal(batch.to_dense(), _dense(counts))
    torch.manual_seed(0)
    _assert_same(build_flowpic_cnn(5, FULL_DIM, True).train(), counts)


def test_layouts_assembled_from_cached_per_flow_parts_equal_a_batch_computed_directly():
    """A training set's per-flow layouts are computed once (in chunks) and assembled into any batch of its flows."""
    counts = _random_batch(9, seed=11, per_flow=400)
    cached = FlowLayouts.of_chunks(counts, chunk=4)
    torch.manual_seed(0)
    net = build_flowpic_cnn(5, FULL_DIM, True).eval()
    for flows in ([0, 1, 2], [8, 3, 5, 0], list(range(9))[::-1]):
        batch = counts[flows]
        assembled = SparseFlowpics.from_csr(batch, layout=cached.assemble(np.array(flows)))
        direct = SparseFlowpics.from_csr(batch)
        with torch.no_grad():
            assert torch.equal(net(assembled), net(direct))
    assert cached.n_flows == 9 and cached.entry_start[-1] == len(cached.entry_slot)
    assert cached.class_entries.sum() == len(cached.entry_tap) and cached.product_start[-1] == len(cached.product_ref)
    whole = FlowLayouts.of(counts)  # chunks written into the joined arrays: the same arrays as one computation
    for name, array in vars(whole).items():
        assert np.array_equal(getattr(cached, name), array), name


@pytest.mark.parametrize("n_keys", [200, 60_000, 1 << 40, 1 << 62])
def test_the_sorts_are_stable_argsorts_on_every_path(n_keys):
    """Radix (8/16-bit keys), packed keys and positions, and the argsort fallback all give numpy's stable order."""
    keys = np.random.default_rng(n_keys % 1000).integers(0, min(n_keys, 5000) if n_keys < 1 << 20 else n_keys, 20_000)
    keys[::7] = keys[0]  # ties
    sorted_keys, order = _sort(keys, n_keys)
    assert np.array_equal(order, np.argsort(keys, kind="stable")) and np.array_equal(sorted_keys, keys[order])


def test_batches_at_1500_are_sparse_on_cpu_and_training_follows_the_dense_path(monkeypatch):
    """FlowpicBatches hands the Full net sparse batches on CPU; two epochs of training on either path end with
    the same weights up to float rounding (relative to each tensor's norm: Adam turns a rounding difference of a
    near-zero gradient into a step of up to ~1e-5), and a model is interchangeable between the paths."""
    from tcbench.training.batches import FlowpicBatches
    from tcbench.training.loop import evaluate, train_supervised

    counts = _random_batch(12, seed=9, per_flow=300)
    labels = np.arange(12) % 3
    data = FlowpicBatches(counts, labels, FULL_DIM)
    assert full_net_path("cpu") == "sparse" and isinstance(data.batch([0, 1])[0], SparseFlowpics)

    def train() -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
        torch.manual_seed(0)
        net = build_flowpic_cnn(3, FULL_DIM, True)
        train_supervised(net, data, data, epochs=2, batch_size=4, seed=1, patience_steps=5, learning_rate=1e-3, patience_min_delta=1e-3)
        return {k: v.clone() for k, v in net.state_dict().items()}, net

    sparse_state, net = train()
    sparse_eval = evaluate(net, data)
    monkeypatch.setenv("TCBENCH_FULL_NET", "dense")
    assert isinstance(data.batch([0, 1])[0], torch.Tensor)
    dense_eval = evaluate(net, data)  # the sparse-trained model on the dense path
    assert np.array_equal(dense_eval.y_pred, sparse_eval.y_pred) and abs(dense_eval.loss - sparse_eval.loss) < 1e-5
    dense_state, _ = train()
    assert dense_state.keys() == sparse_state.keys()
    for name, value in dense_state.items():
        relative = ((value - sparse_state[name]).norm() / value.norm().clamp_min(1e-12)).item()
        assert relative <= 1e-4, (name, relative)
