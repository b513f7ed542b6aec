"""Flowpic CNNs: "Mini" LeNet-5 for 32x32 / 64x64 flowpics and the "Full" net for 1500x1500 (IMC22 Figs. 6-7).

Module names and indexes follow the original tcbench exactly (`features.conv1.0.weight`, ...,
`classifier.weight`), so state dicts stay interchangeable with its released weights and tools that read them.

Deviation (docs/deviations.md 1; docs/original-behaviour.md, Known weaknesses of the original, item 2): the
original puts `nn.Dropout1d(0.5)` after the last FC ReLU. On the 2-D `(N, F)` activations it receives, PyTorch reads
the input as one unbatched `(C, L)` sample and zeroes *whole rows*, i.e. drops entire samples' latent vectors,
which is why the original's train accuracy sits ~40 points below its val accuracy. We use plain feature dropout `nn.Dropout(0.5)` at the same index; it has no parameters, so state
dicts are unaffected.
"""

from __future__ import annotations

import torch
from torch import nn

from tcbench.models.sparse_full import SparseFlowpics, sparse_forward

VALID_FLOWPIC_DIMS: tuple[int, ...] = (32, 64, 1500)
FULL_NET_DIM = 1500


class FlowpicNet(nn.Module):
    """`forward = classifier(features(x))`; input `(N, 1, dim, dim)` float32 in [0, 1]."""

    def __init__(self, features: nn.Sequential, classifier: nn.Linear) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier

    @property
    def latent_dim(self) -> int:
        """Width of the representation fed to the classifier (84 Mini, 64 Full): what a new head must accept."""
        return self.classifier.in_features

    def forward(self, x: torch.Tensor | SparseFlowpics) -> torch.Tensor:
        if isinstance(x, SparseFlowpics):  # a 1500x1500 batch as its non-zero pixels: the exact sparse path
            return sparse_forward(self, x)
        return self.classifier(self.features(x))


def _dropout(layer: nn.Module, enabled: bool) -> nn.Module:
    # Identity keeps the block's indexes (and thus the state-dict keys) identical with and without dropout.
    return layer if enabled else nn.Identity()


def _named_sequential(**blocks: nn.Module) -> nn.Sequential:
    seq = nn.Sequential()
    for name, block in blocks.items():
        seq.add_module(name, block)
    return seq


def _mini_fc_input(flowpic_dim: int) -> int:
    # conv 5x5 (valid) -> pool 2 -> conv 5x5 (valid) -> pool 2, 16 channels. Computed in closed form rather than
    # by a dummy forward pass, so building a net consumes no RNG beyond the layers' own initialisation.
    side = ((flowpic_dim - 4) // 2 - 4) // 2
    return 16 * side * side


def _mini_features(flowpic_dim: int, with_dropout: bool) -> nn.Sequential:
    conv1 = nn.Sequential(nn.Conv2d(1, 6, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2))
    conv2 = nn.Sequential(
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        _dropout(nn.Dropout2d(0.25), with_dropout),
        nn.MaxPool2d(2),
    )
    fullyconnected = nn.Sequential(
        nn.Flatten(),
        nn.Linear(_mini_fc_input(flowpic_dim), 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        _dropout(nn.Dropout(0.5), with_dropout),
    )
    return _named_sequential(conv1=conv1, conv2=conv2, fullyconnected=fullyconnected)


def _full_features(with_dropout: bool) -> nn.Sequential:
    conv1 = nn.Sequential(nn.Conv2d(1, 10, kernel_size=10, stride=5, padding=3), nn.ReLU(), nn.MaxPool2d(2))
    conv2 = nn.Sequential(
        nn.Conv2d(10, 20, kernel_size=10, stride=5, padding=3),
        nn.ReLU(),
        _dropout(nn.Dropout2d(0.25), with_dropout),
        nn.MaxPool2d(2),
    )
    fullyconnected = nn.Sequential(
        nn.Flatten(),
        nn.Linear(20 * 15 * 15, 64),
        nn.ReLU(),
        _dropout(nn.Dropout(0.5), with_dropout),
    )
    return _named_sequential(conv1=conv1, conv2=conv2, fullyconnected=fullyconnected)


def init_weights(module: nn.Module) -> None:
    """Kaiming-uniform weights (bound sqrt(6/fan_in)) and zero biases, as the original (docs/original-behaviour.md,
    Initialisation).

    Convs use `nonlinearity="relu"` and Linears the default arguments, exactly as the original calls them; both
    yield the same bound.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_flowpic_cnn(num_classes: int, flowpic_dim: int, with_dropout: bool = True) -> FlowpicNet:
    """Build the float32 CNN the original pairs with `flowpic_dim` (Mini for 32/64, Full for 1500).

    Seed the global torch RNG (`torch.manual_seed`) before calling: initialisation draws from it.
    The conv weights are in channels-last memory layout: with it oneDNN's CPU kernels train these nets 20-35 %
    faster and infer 25-45 % faster at every dim on the reference machine (flowpics have one channel, so inputs
    need no conversion). Values and state-dict keys are unaffected.
    """
    if flowpic_dim not in VALID_FLOWPIC_DIMS:
        raise ValueError(f"flowpic_dim must be one of {VALID_FLOWPIC_DIMS}, got {flowpic_dim!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
    if flowpic_dim == FULL_NET_DIM:
        features, latent = _full_features(with_dropout), 64
    else:
        features, latent = _mini_features(flowpic_dim, with_dropout), 84
    net = FlowpicNet(features, nn.Linear(latent, num_classes))
    init_weights(net)
    return net.float().to(memory_format=torch.channels_last)
