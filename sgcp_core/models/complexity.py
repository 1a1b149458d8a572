# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Parameter and multiply-add counts, the figures the paper's tables compare."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ['count_parameters', 'count_conv_macs']


def count_parameters(module: nn.Module) -> int:
    """Number of learnable parameters (BN running statistics excluded)."""
    return sum(p.numel() for p in module.parameters())


def count_conv_macs(model: nn.Module, height: int, width: int) -> int:
    """Convolution (and matmul) multiply-adds of one forward pass on a (1, 3, H, W) input.

    Counted with torch's FlopCounterMode, which counts 2 FLOPs per multiply-add and ignores
    BN, activations, pooling and interpolation (the paper's own counter adds those).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, height, width))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
