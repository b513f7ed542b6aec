"""The SimCLR networks (docs/original-behaviour.md, SimCLR): a pre-training net with a projection head, and the
finetune net, a frozen backbone with a linear classifier on its representation.

Module names follow the original so state dicts line up with its released weights: the backbone's first FC layer
gives the representation (ReLU(Linear(fc_in -> 120)) for the Mini net), ``features.fullyconnected.3`` is the
extra ``Linear(120 -> 120)`` of the projection MLP and ``classifier`` the projection ``Linear(120 -> proj)``.

Beyond the original (which crashed at any dim but 32): dims 64 and 1500 work. The Full net (1500) gets the same
structure on its 64-wide representation: ReLU(Linear(4500 -> 64)), Linear(64 -> 64), ReLU, projection.
"""

from __future__ import annotations

import copy

from torch import nn

from tcbench.models.cnn import FlowpicNet, build_flowpic_cnn, init_weights

DEFAULT_PROJECTION_DIM = 30
# Index of the projection MLP's hidden Linear and of the layers after it in `features.fullyconnected`.
_HIDDEN, _HIDDEN_RELU, _LAST = 3, 4, 5


def representation_dim(net: FlowpicNet) -> int:
    """Width of the backbone representation (the first FC layer's output: 120 Mini, 64 Full)."""
    return net.features.fullyconnected[1].out_features


def build_contrastive_net(flowpic_dim: int, with_dropout: bool, projection_dim: int = DEFAULT_PROJECTION_DIM) -> FlowpicNet:
    """conv1, conv2 (Dropout2d if ``with_dropout``), Flatten, Linear -> rep, ReLU, Linear(rep -> rep), ReLU,
    Identity, projection Linear(rep -> projection_dim); Kaiming-initialised from the global torch RNG.

    The feature dropout after the last FC layer is removed as in the original (Identity at index 5).
    """
    if projection_dim < 1:
        raise ValueError(f"projection_dim must be >= 1, got {projection_dim}")
    base = build_flowpic_cnn(1, flowpic_dim, with_dropout)
    rep = representation_dim(base)
    fc = base.features.fullyconnected
    hidden = nn.Linear(rep, rep)
    base.features.fullyconnected = nn.Sequential(fc[0], fc[1], fc[2], hidden, nn.ReLU(), nn.Identity())
    base.classifier = nn.Linear(rep, projection_dim)
    init_weights(hidden)
    init_weights(base.classifier)
    return base


def build_finetune_net(pretrained: FlowpicNet, num_classes: int) -> FlowpicNet:
    """A copy of ``pretrained`` without its projection MLP, a fresh Kaiming ``Linear(rep -> num_classes)`` head and a
    frozen backbone (``requires_grad`` off): only the head trains, the linear probe of the original."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    net = copy.deepcopy(pretrained)
    for index in (_HIDDEN, _HIDDEN_RELU, _LAST):
        net.features.fullyconnected[index] = nn.Identity()
    net.classifier = nn.Linear(representation_dim(net), num_classes)
    init_weights(net.classifier)
    for param in net.features.parameters():
        param.requires_grad_(False)
    return net


def trainable_parameters(net: nn.Module) -> list[nn.Parameter]:
    return [p for p in net.parameters() if p.requires_grad]
