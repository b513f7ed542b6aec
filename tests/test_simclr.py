"""SimCLR: the NT-Xent loss against a hand computation, view generation, the networks (head freezing), the finetune
data, the training loops and the shared pre-training key."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tcbench.augment import image
from tcbench.augment.views import ViewSource, compose_views, view_input_cutoff
from tcbench.features.flowpic import PacketSeries, flowpic, flowpic_matrix
from tcbench.models.simclr import build_contrastive_net, build_finetune_net, trainable_parameters
from tcbench.training.batches import FlowpicBatches
from tcbench.training.contrastive import AccuracyPatience, nt_xent, train_contrastive, train_linear_probe


# ------------------------------------------------------------------------------------------------------- loss
def _hand_nt_xent(z: np.ndarray, tau: float) -> tuple[float, list[int]]:
    """The loss written out anchor by anchor, as in the SimCLR paper (no vectorisation)."""
    n = len(z)
    b = n // 2
    losses, ranks = [], []
    for i in range(n):
        p = (i + b) % n
        sims = {k: float(z[i] @ z[k]) / tau for k in range(n) if k != i}
        denominator = sum(math.exp(s) for s in sims.values())
        losses.append(-math.log(math.exp(sims[p]) / denominator))
        ranks.append(sum(1 for k, s in sims.items() if k != p and s > sims[p]))
    return sum(losses) / n, ranks


@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_nt_xent_equals_a_hand_computation_on_a_tiny_batch(tau):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    loss, rank = nt_xent(torch.tensor(z), temperature=tau, base_temperature=tau)
    expected_loss, expected_rank = _hand_nt_xent(z, tau)
    assert loss.item() == pytest.approx(expected_loss, rel=1e-9)
    assert rank.tolist() == expected_rank


def test_nt_xent_scales_with_the_temperature_ratio_and_ranks_perfect_pairs_first():
    z = torch.eye(4, dtype=torch.float64)[[0, 1, 0, 1]]  # views of a sample coincide, samples are orthogonal
    loss, rank = nt_xent(z, temperature=0.5, base_temperature=0.5)
    halved, _ = nt_xent(z, temperature=0.5, base_temperature=1.0)
    assert halved.item() == pytest.approx(loss.item() / 2)
    assert rank.tolist() == [0, 0, 0, 0]
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))  # positive sim 1/0.5, two negatives at 0
    assert loss.item() == pytest.approx(expected)


def test_nt_xent_rejects_an_odd_number_of_embeddings():
    with pytest.raises(ValueError, match="even"):
        nt_xent(torch.zeros(3, 2))


# ------------------------------------------------------------------------------------------------------ views
def _one_flow() -> tuple[PacketSeries, np.ndarray]:
    series = PacketSeries.from_lists([np.array([0.0, 1.0, 2.0, 20.0])], [np.array([100, 200, 300, 400])])
    return series, np.array([20.0])


def _position(order: list[int]) -> np.ndarray:
    # One view of one flow; order = augmentation indexes in the order they are applied.
    return np.argsort(np.array([order]), axis=1)


def test_series_augmentations_compose_in_the_drawn_order():
    series, last = _one_flow()
    params = {"changertt": {"alpha": np.array([[2.0]])}, "timeshift": {"shift": np.array([[-0.5]])}}
    augs = ("changertt", "timeshift")
    rtt_first = compose_views(augs, _position([0, 1]), params, 1, 32, 15.0, series=series, last_time=last)
    shift_first = compose_views(augs, _position([1, 0]), params, 1, 32, 15.0, series=series, last_time=last)
    sizes = np.array([200, 300])
    # 2t - 0.5 = [-0.5, 1.5, 3.5, 39.5]: the first packet is dropped, the last is past the window
    assert np.array_equal(rtt_first.toarray()[0], flowpic(np.array([1.5, 3.5]), sizes, 32).ravel())
    # 2 (t - 0.5) = [-1, 1, 3, 39]
    assert np.array_equal(shift_first.toarray()[0], flowpic(np.array([1.0, 3.0]), sizes, 32).ravel())


def test_image_augmentation_drawn_before_a_series_one_is_applied_not_discarded():
    series, last = _one_flow()
    params = {"horizontalflip": {}, "changertt": {"alpha": np.array([[0.5]])}}
    augs = ("horizontalflip", "changertt")
    views = compose_views(augs, _position([0, 1]), params, 1, 32, 15.0, series=series, last_time=last)
    rebuilt = flowpic_matrix(PacketSeries.from_lists([np.array([0.0, 0.5, 1.0, 10.0])], [np.array([100, 200, 300, 400])]), 32, 15.0)
    assert (views != image.horizontal_flip(rebuilt, 32)).nnz == 0
    assert (views != rebuilt).nnz > 0


def test_packetloss_window_follows_the_time_scale_of_earlier_augmentations():
    series, last = _one_flow()
    # changertt x2 first: the flow now ends at 40 s; u = 0.05 centres the loss window on 2 s, deleting t' = 2.
    params = {"changertt": {"alpha": np.array([[2.0]])}, "packetloss": {"centre": np.array([[0.05]])}}
    views = compose_views(("changertt", "packetloss"), _position([0, 1]), params, 1, 32, 15.0, series=series, last_time=last)
    expected = flowpic(np.array([0.0, 4.0]), np.array([100, 300]), 32).ravel()
    assert np.array_equal(views.toarray()[0], expected)


def _flows(n: int, seed: int = 0) -> tuple[PacketSeries, np.ndarray]:
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.uniform(0, 40, size=rng.integers(20, 200))) for _ in range(n)]
    sizes = [rng.integers(40, 1500, size=len(t)) for t in times]
    series = PacketSeries.from_lists(times, sizes)
    return series, series.last_times()


@pytest.mark.parametrize("dim", [32, 64])
def test_views_are_built_at_the_run_dim_and_fresh_at_every_draw(dim):
    series, last = _flows(7)
    source = ViewSource(("changertt", "timeshift"), dim, 15.0, np.random.default_rng(1), series=series, last_time=last)
    first, second = source.draw(), source.draw()
    assert first.shape == (14, dim * dim) and first.dtype == np.uint8
    assert (first[:7] != first[7:]).nnz > 0  # the two views of a flow differ
    assert (first != second).nnz > 0  # new views every epoch
    again = ViewSource(("changertt", "timeshift"), dim, 15.0, np.random.default_rng(1), series=series, last_time=last)
    assert (again.draw() != first).nnz == 0  # same seed, same views


def test_cut_series_give_the_same_views_as_whole_flows():
    series, last = _flows(5, seed=3)
    cut = series.take(np.arange(5), view_input_cutoff(("changertt", "timeshift"), 15.0))
    whole = ViewSource(("changertt", "timeshift"), 32, 15.0, np.random.default_rng(2), series=series, last_time=last)
    part = ViewSource(("changertt", "timeshift"), 32, 15.0, np.random.default_rng(2), series=cut, last_time=last)
    assert (whole.draw() != part.draw()).nnz == 0


def test_image_only_views_start_from_the_stored_flowpics():
    series, _ = _flows(4)
    pics = flowpic_matrix(series, 32, 15.0)
    source = ViewSource(("rotate", "colorjitter"), 32, 15.0, np.random.default_rng(0), flowpics=pics)
    assert source.draw().shape == (8, 32 * 32)


@pytest.mark.parametrize("augs, match", [(("noaug",), "not valid"), ((), "at least one"), (("rotate", "rotate"), "repeat")])
def test_bad_view_augmentations_are_rejected(augs, match):
    series, last = _flows(2)
    with pytest.raises(ValueError, match=match):
        ViewSource(augs, 32, 15.0, np.random.default_rng(0), series=series, last_time=last)


# ------------------------------------------------------------------------------------------------------ models
def test_contrastive_net_matches_the_original_parameter_count():
    torch.manual_seed(0)
    net = build_contrastive_net(32, with_dropout=False, projection_dim=30)
    assert sum(p.numel() for p in net.parameters()) == 68_842  # docs/original-behaviour.md, SimCLR
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 30)


@pytest.mark.parametrize("dim, rep", [(32, 120), (64, 120), (1500, 64)])
def test_finetune_net_freezes_the_backbone_and_trains_only_the_head(dim, rep):
    torch.manual_seed(0)
    pretrained = build_contrastive_net(dim, with_dropout=True, projection_dim=84)
    net = build_finetune_net(pretrained, 5)
    trainable = trainable_parameters(net)
    assert [p.shape for p in trainable] == [torch.Size([5, rep]), torch.Size([5])]
    if dim == 32:
        assert sum(p.numel() for p in net.parameters()) == 51_297  # docs/original-behaviour.md, SimCLR
    assert all(p.requires_grad for p in pretrained.parameters())  # the pre-trained net itself is untouched


def test_linear_probe_changes_only_the_head_and_keeps_its_best_epoch():
    torch.manual_seed(0)
    net = build_finetune_net(build_contrastive_net(32, with_dropout=True, projection_dim=30), 3)
    backbone = {k: v.clone() for k, v in net.features.state_dict().items()}
    head = net.classifier.weight.detach().clone()
    rng = np.random.default_rng(0)
    pics = (rng.random((30, 32 * 32)) < 0.05).astype(np.uint8) * 50
    data = FlowpicBatches(pics, np.repeat(np.arange(3), 10), 32)
    result = train_linear_probe(net, data, epochs=12, batch_size=8, learning_rate=0.5, patience_steps=50, seed=1, patience_min_delta=1e-3)
    assert all(torch.equal(backbone[k], v) for k, v in net.features.state_dict().items())
    assert not torch.equal(head, net.classifier.weight)
    losses = [e.loss for e in result.history]
    assert result.best_loss == min(losses) and result.best_epoch == int(np.argmin(losses))
    assert all(torch.equal(v, result.best_state[k]) for k, v in net.state_dict().items())


# ---------------------------------------------------------------------------------------------------- training
def test_accuracy_patience_needs_a_strict_gain():
    monitor = AccuracyPatience(2)
    assert monitor.update(0, 50.0) and not monitor.update(1, 50.0) and not monitor.expired
    assert not monitor.update(2, 49.0) and monitor.expired
    assert monitor.best_epoch == 0


def test_contrastive_training_restores_the_best_validation_epoch():
    series, last = _flows(12)
    train = ViewSource(("changertt", "timeshift"), 32, 15.0, np.random.default_rng(0), series=series.take(np.arange(8)), last_time=last[:8])
    val = ViewSource(("changertt", "timeshift"), 32, 15.0, np.random.default_rng(0), series=series.take(np.arange(8, 12)), last_time=last[8:])
    torch.manual_seed(0)
    net = build_contrastive_net(32, with_dropout=False, projection_dim=16)
    result = train_contrastive(net, train.draw, val.draw, 32, epochs=4, batch_size=4, patience_steps=10, seed=0, learning_rate=1e-3, temperature=0.07)
    assert len(result.history) == 4
    top5 = [e.val_acc_top_5 for e in result.history]
    assert result.best_acc_top_5 == max(top5) and result.best_epoch == top5.index(max(top5))
    assert all(0 <= e.train_acc_top_1 <= e.train_acc_top_5 <= 100 for e in result.history)
    assert all(torch.equal(v, result.best_state[k]) for k, v in net.state_dict().items())


# -------------------------------------------------------------------------------------------- data and the grid
def test_finetune_partition_counts_match_the_original(tiny_dataset):
    from tcbench.data import ucdavis
    from tcbench.data.labels import read_labels
    from tcbench.data.splits import finetune_partition

    labels = read_labels(tiny_dataset / "ucdavis-icdm19.parquet")
    # (train, test) flows per partition: docs/original-behaviour.md, SimCLR finetuning data
    expected = {ucdavis.PARTITION_HUMAN: (50, 33), ucdavis.PARTITION_SCRIPT: (50, 100)}
    for partition, (n_train, n_test) in expected.items():
        rows = labels.rows_in(partition)
        train, test = finetune_partition(labels, rows, seed=12345)
        assert (len(train), len(test)) == (n_train, n_test)
        assert len(np.intersect1d(train, test)) == 0
        assert np.array_equal(train, finetune_partition(labels, rows, seed=12345)[0])
        assert not np.array_equal(np.sort(train), np.sort(finetune_partition(labels, rows, seed=1)[0]))
    with pytest.raises(ValueError, match="nothing would be left"):
        finetune_partition(labels, labels.rows_in(ucdavis.PARTITION_HUMAN), seed=1, train_samples=15)


def _simclr_config(**grid):
    from tcbench.campaign.compose import complete_config

    config = {"campaign_id": "t", "method": "simclr", "dataset": {"name": "ucdavis-icdm19"},
              "grid": {"split_index": [0, 1], "contrastive_learning_seed": [1, 2], "finetune_seed": [1, 2, 3],
                       "flowpic_dim": [32], "projection_layer_dim": [30], **grid}}
    return complete_config(config)


def test_finetune_seeds_share_one_pretraining_key():
    from tcbench.campaign.grid import campaign_runs, pre_steps

    runs = campaign_runs(_simclr_config())
    assert len(runs) == 12 and len({r.run_key for r in runs}) == 12
    assert len(pre_steps(runs)) == 4
    config = _simclr_config()
    config["simclr"]["ft_learning_rate"] = 0.1  # a finetune setting: new runs, same pre-trainings
    changed = campaign_runs(config)
    assert {r.run_key for r in changed}.isdisjoint(r.run_key for r in runs)
    assert set(pre_steps(changed)) == set(pre_steps(runs))


def test_simclr_config_rejects_axes_of_other_methods_and_too_many_finetune_samples():
    from tcbench.campaign.config import ConfigError

    with pytest.raises(ConfigError, match="aug_name"):
        _simclr_config(aug_name=["noaug"])
    from tcbench.campaign.compose import complete_config

    config = {"campaign_id": "t", "method": "simclr", "dataset": {"name": "ucdavis-icdm19"},
              "grid": {"split_index": [0], "contrastive_learning_seed": [1], "finetune_seed": [1], "flowpic_dim": [32],
                       "projection_layer_dim": [30]}, "simclr": {"ft_train_samples": 15}}
    with pytest.raises(ConfigError, match="ft_train_samples"):
        complete_config(config)
