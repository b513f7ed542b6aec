"""Flowpic CNNs: layer tables, parameter counts and state-dict keys of the original, init, and the dropout fix."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tcbench.models.cnn import build_flowpic_cnn

MINI_KEYS = [
    "features.conv1.0.weight",
    "features.conv1.0.bias",
    "features.conv2.0.weight",
    "features.conv2.0.bias",
    "features.fullyconnected.1.weight",
    "features.fullyconnected.1.bias",
    "features.fullyconnected.3.weight",
    "features.fullyconnected.3.bias",
    "classifier.weight",
    "classifier.bias",
]
# The Full net has the same layers minus the second FC layer of Mini (fullyconnected.3).
FULL_KEYS = MINI_KEYS[:6] + MINI_KEYS[-2:]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("dim", "num_classes", "expected"),
    [(32, 5, 61_281), (64, 5, 337_761), (1500, 5, 309_419), (32, 7, 60_856 + 85 * 7), (1500, 3, 309_094 + 65 * 3)],
)
def test_parameter_counts_match_original(dim: int, num_classes: int, expected: int) -> None:
    assert n_params(build_flowpic_cnn(num_classes, dim)) == expected


@pytest.mark.parametrize(("dim", "keys", "latent"), [(32, MINI_KEYS, 84), (64, MINI_KEYS, 84), (1500, FULL_KEYS, 64)])
def test_state_dict_keys_and_output_shape(dim: int, keys: list[str], latent: int) -> None:
    torch.manual_seed(0)
    for with_dropout in (True, False):
        net = build_flowpic_cnn(5, dim, with_dropout=with_dropout)
        assert list(net.state_dict().keys()) == keys
        assert net.latent_dim == latent
        assert all(v.dtype == torch.float32 for v in net.state_dict().values())
    net.eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, dim, dim))
    assert out.shape == (2, 5)


def test_mini_layer_table() -> None:
    net = build_flowpic_cnn(5, 64)
    conv1, conv2, fc = net.features.conv1, net.features.conv2, net.features.fullyconnected
    assert (conv1[0].in_channels, conv1[0].out_channels, conv1[0].kernel_size) == (1, 6, (5, 5))
    assert isinstance(conv1[1], nn.ReLU) and isinstance(conv1[2], nn.MaxPool2d)
    assert (conv2[0].in_channels, conv2[0].out_channels) == (6, 16)
    assert isinstance(conv2[2], nn.Dropout2d) and conv2[2].p == 0.25
    assert isinstance(conv2[3], nn.MaxPool2d)
    assert (fc[1].in_features, fc[1].out_features) == (16 * 13 * 13, 120)
    assert (fc[3].in_features, fc[3].out_features) == (120, 84)
    assert type(fc[5]) is nn.Dropout and fc[5].p == 0.5


def test_full_layer_table() -> None:
    net = build_flowpic_cnn(5, 1500)
    c1, c2 = net.features.conv1[0], net.features.conv2[0]
    assert (c1.out_channels, c1.kernel_size, c1.stride, c1.padding) == (10, (10, 10), (5, 5), (3, 3))
    assert (c2.in_channels, c2.out_channels) == (10, 20)
    assert (c2.kernel_size, c2.stride, c2.padding) == ((10, 10), (5, 5), (3, 3))
    assert net.features.fullyconnected[1].in_features == 4500
    assert type(net.features.fullyconnected[3]) is nn.Dropout


@pytest.mark.parametrize("dim", [0, 16, 33, 128, 1024])
def test_invalid_dim_rejected(dim: int) -> None:
    with pytest.raises(ValueError, match="32, 64, 1500"):
        build_flowpic_cnn(5, dim)


def test_kaiming_uniform_init_and_zero_bias() -> None:
    torch.manual_seed(1)
    net = build_flowpic_cnn(5, 32)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            w = module.weight.detach()
            fan_in = w[0].numel()
            bound = math.sqrt(6.0 / fan_in)
            assert torch.all(module.bias == 0)
            assert w.abs().max() <= bound
            # Uniform over [-bound, bound]: with >= 150 draws the extremes come close to the bound.
            assert w.abs().max() > 0.8 * bound
            assert abs(w.std().item() - bound / math.sqrt(3)) < 0.25 * bound


def test_same_seed_same_init() -> None:
    torch.manual_seed(7)
    a = build_flowpic_cnn(5, 32).state_dict()
    torch.manual_seed(7)
    b = build_flowpic_cnn(5, 32).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fc_dropout_drops_features_not_whole_samples() -> None:
    """Bug 2 of the original: Dropout1d on (N, F) zeroed whole rows. Ours zeroes features inside every row."""
    torch.manual_seed(3)
    net = build_flowpic_cnn(5, 32, with_dropout=True).train()
    drop = net.features.fullyconnected[5]
    out = drop(torch.ones(64, 84))
    zeros_per_row = (out == 0).sum(dim=1)
    assert torch.all(zeros_per_row > 0) and torch.all(zeros_per_row < 84)
    assert 0.4 < (out == 0).float().mean().item() < 0.6
    assert set(out.unique().tolist()) == {0.0, 2.0}
    # In eval mode dropout is the identity.
    net.eval()
    assert torch.equal(drop(torch.ones(4, 84)), torch.ones(4, 84))


def test_conv_dropout_is_channelwise() -> None:
    torch.manual_seed(4)
    drop = build_flowpic_cnn(5, 32).train().features.conv2[2]
    out = drop(torch.ones(32, 16, 10, 10))
    per_channel = out.flatten(2)
    # Each (sample, channel) map is either all zero or all scaled: whole channels are dropped.
    all_zero = (per_channel == 0).all(dim=2)
    all_kept = (per_channel != 0).all(dim=2)
    assert torch.all(all_zero | all_kept) and all_zero.any()


@pytest.mark.parametrize(("dim", "fc_drop_idx"), [(32, 5), (1500, 3)])
def test_no_dropout_uses_identity_at_same_indexes(dim: int, fc_drop_idx: int) -> None:
    net = build_flowpic_cnn(5, dim, with_dropout=False)
    assert isinstance(net.features.conv2[2], nn.Identity)
    assert isinstance(net.features.fullyconnected[fc_drop_idx], nn.Identity)
    assert not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in net.modules())
    # Without dropout, train mode is deterministic.
    if dim == 32:
        net.train()
        x = torch.rand(4, 1, dim, dim)
        assert torch.equal(net(x), net(x))
