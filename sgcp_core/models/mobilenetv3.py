# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The MobileNetV3-Small variant SGCPNet uses as its encoder.

It differs from the official MobileNetV3-Small: squeeze-excite sits on each block's
*projected* output (reduction 4, with BN inside), the last blocks are 48/96 channels wide,
and there is no final 576-channel conv or classifier. That keeps it at about 0.43M
parameters, which is what the paper's 0.61M total assumes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ['BlockSpec', 'MOBILENETV3_SGCP_BLOCKS', 'MobileNetV3Encoder', 'EncoderFeatures']


class BlockSpec(NamedTuple):
    kernel: int
    in_channels: int
    expand_channels: int
    out_channels: int
    activation: str  # 'relu' or 'hswish'
    squeeze_excite: bool
    stride: int


MOBILENETV3_SGCP_BLOCKS = (
    BlockSpec(3, 16, 16, 16, 'relu', True, 2),
    BlockSpec(3, 16, 72, 24, 'relu', False, 2),
    BlockSpec(3, 24, 88, 24, 'relu', False, 1),      # C3: stride 8
    BlockSpec(5, 24, 96, 40, 'hswish', True, 2),
    BlockSpec(5, 40, 240, 40, 'hswish', True, 1),
    BlockSpec(5, 40, 240, 40, 'hswish', True, 1),
    BlockSpec(5, 40, 120, 48, 'hswish', True, 1),
    BlockSpec(5, 48, 144, 48, 'hswish', True, 1),    # C4: stride 16
    BlockSpec(5, 48, 288, 96, 'hswish', True, 2),
    BlockSpec(5, 96, 576, 96, 'hswish', True, 1),
    BlockSpec(5, 96, 576, 96, 'hswish', True, 1),    # C5: stride 32
)
# Index of the last block of each stage whose output the decoder taps.
_TAP_BLOCKS = (2, 7, 10)


class EncoderFeatures(NamedTuple):
    """Encoder taps: c3 (N, C3, H/8, W/8), c4 (N, C4, H/16, W/16), c5 (N, C5, H/32, W/32)."""

    c3: torch.Tensor
    c4: torch.Tensor
    c5: torch.Tensor


def _activation(name: str) -> nn.Module:
    if name == 'relu':
        return nn.ReLU(inplace=True)
    if name == 'hswish':
        return nn.Hardswish(inplace=True)
    raise ValueError(f"unknown activation {name!r}; expected 'relu' or 'hswish'")


class ConvBNAct(nn.Sequential):
    """Conv (no bias) + BN + optional activation, named conv / bn / act."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1,
                 groups: int = 1, activation: str | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2,
                              groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        if activation is not None:
            self.act = _activation(activation)


class SqueezeExcite(nn.Module):
    """SE with BN inside both 1x1 convs and a hard-sigmoid gate (reduction 4)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = channels // reduction
        self.reduce = ConvBNAct(channels, hidden, activation='relu')
        self.expand = ConvBNAct(hidden, channels)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.reduce(pooled)))


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise kxk -> project 1x1 -> SE, residual when stride is 1."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.expand = ConvBNAct(spec.in_channels, spec.expand_channels,
                                activation=spec.activation)
        self.depthwise = ConvBNAct(spec.expand_channels, spec.expand_channels, spec.kernel,
                                   spec.stride, groups=spec.expand_channels,
                                   activation=spec.activation)
        self.project = ConvBNAct(spec.expand_channels, spec.out_channels)
        self.se = SqueezeExcite(spec.out_channels) if spec.squeeze_excite else None
        self.has_residual = spec.stride == 1
        self.shortcut = (ConvBNAct(spec.in_channels, spec.out_channels)
                         if self.has_residual and spec.in_channels != spec.out_channels
                         else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        if self.se is not None:
            out = self.se(out)
        if not self.has_residual:
            return out
        return out + (x if self.shortcut is None else self.shortcut(x))


class MobileNetV3Encoder(nn.Module):
    """Stem + 11 inverted-residual blocks; returns the stride 8/16/32 features.

    Args:
        x: (N, 3, H, W) float images.

    Returns:
        EncoderFeatures with 24, 48 and 96 channels.
    """

    tap_channels = (24, 48, 96)

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, 16, 3, 2, activation='hswish')
        self.blocks = nn.ModuleList(InvertedResidual(s) for s in MOBILENETV3_SGCP_BLOCKS)

    def forward(self, x: torch.Tensor) -> EncoderFeatures:
        x = self.stem(x)
        taps = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in _TAP_BLOCKS:
                taps.append(x)
        return EncoderFeatures(*taps)
