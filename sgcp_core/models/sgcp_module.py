# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The Spatial-detail Guided Context Propagation (SGCP) module.

A first top-down path (TD1) brings stride-128 context down to stride 8, a bottom-up path
(BU) carries the refined stride-8 detail back up, and a second top-down path (TD2, its own
weights) brings it down again. Every merge is a scalar-weighted sum (SW-Sum) followed by a
separable conv. Each path can be switched off for the paper's Table VI ablation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['SGCPModule', 'POOLING_CHOICES']

POOLING_CHOICES = ('max3', 'avg3', 'max5')
_BN_EPS = 1e-3       # the released code's BiFPN-style BN settings
_BN_MOMENTUM = 0.01


def _resize_to(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Nearest resize of x to reference's H, W (a no-op in eager mode when they match)."""
    exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
    if not exporting and x.shape[-2:] == reference.shape[-2:]:
        return x
    return F.interpolate(x, size=reference.shape[-2:], mode='nearest')


def _make_pool(pooling: str) -> nn.Module:
    if pooling == 'max3':
        return nn.MaxPool2d(3, 2, 1)
    if pooling == 'max5':
        return nn.MaxPool2d(5, 2, 2)
    if pooling == 'avg3':
        return nn.AvgPool2d(3, 2, 1, count_include_pad=False)
    raise ValueError(f'pooling must be one of {POOLING_CHOICES}, got {pooling!r}')


class WeightedSum(nn.Module):
    """SW-Sum: swish(sum_i w_i x_i / (sum_i w_i + 1e-4)), w = relu(learned scalars).

    With ``weighted=False`` it is the plain-sum ablation: swish(sum_i x_i).
    """

    def __init__(self, num_inputs: int, weighted: bool = True) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.ones(num_inputs)) if weighted else None

    def normalized_weights(self) -> torch.Tensor:
        """w_i / (sum_i w_i + 1e-4) with w = relu(learned scalars); weighted sums only."""
        w = F.relu(self.weights)
        return w / (w.sum() + 1e-4)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.weights is None:
            total = inputs[0]
            for x in inputs[1:]:
                total = total + x
        else:
            w = self.normalized_weights()
            total = w[0] * inputs[0]
            for i, x in enumerate(inputs[1:], start=1):
                total = total + w[i] * x
        return F.silu(total)


class SeparableConv(nn.Module):
    """Depthwise 3x3 (no bias) -> pointwise 1x1 (bias) -> BN, no activation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, channels, 1)
        self.bn = nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pointwise(self.depthwise(x)))


class FusionNode(nn.Module):
    """One merge point of a path: SeparableConv(WeightedSum(inputs))."""

    def __init__(self, channels: int, num_inputs: int, weighted: bool) -> None:
        super().__init__()
        self.fuse = WeightedSum(num_inputs, weighted)
        self.conv = SeparableConv(channels)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(self.fuse(inputs))


class Lateral(nn.Sequential):
    """1x1 conv (bias) + BN taking an encoder/HFR map to the module's width."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 1)
        self.bn = nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class SGCPModule(nn.Module):
    """Builds P3..P7 from three feature maps and returns the stride-8 output map.

    Args:
        c3, c4, c5: (N, C_i, H/8, W/8), (N, C_i, H/16, W/16), (N, C_i, H/32, W/32) features.

    Returns:
        (N, channels, H/8, W/8) float: P3' with TD2, otherwise P3 after TD1.
    """

    def __init__(self, in_channels: tuple[int, int, int], channels: int = 64, *,
                 bottom_up: bool = True, second_top_down: bool = True,
                 weighted_sum: bool = True, pooling: str = 'max3') -> None:
        super().__init__()
        if second_top_down and not bottom_up:
            raise ValueError('TD2 refines the bottom-up path: td2=True needs bu=True')
        c3, c4, c5 = in_channels
        self.pool = _make_pool(pooling)
        self.lateral = nn.ModuleDict({
            'p3': Lateral(c3, channels), 'p4': Lateral(c4, channels),
            'p5': Lateral(c5, channels), 'p6': Lateral(c5, channels)})
        node = lambda n: FusionNode(channels, n, weighted_sum)  # noqa: E731
        self.td1 = nn.ModuleDict({'p6': node(2), 'p5': node(2), 'p4': node(2), 'p3': node(2)})
        self.bu = None
        self.td2 = None
        if bottom_up:
            self.lateral['p4_bu'] = Lateral(c4, channels)
            self.lateral['p5_bu'] = Lateral(c5, channels)
            self.bu = nn.ModuleDict({'p4': node(3), 'p5': node(3), 'p6': node(3),
                                     'p7': node(2)})
        if second_top_down:
            self.td2 = nn.ModuleDict({'p6': node(2), 'p5': node(2), 'p4': node(2),
                                      'p3': node(2)})

    def _down(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return _resize_to(self.pool(x), reference)

    @staticmethod
    def _top_down(nodes: nn.ModuleDict, p3: torch.Tensor, p4: torch.Tensor, p5: torch.Tensor,
                  p6: torch.Tensor, p7: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p6 = nodes['p6']([p6, _resize_to(p7, p6)])
        p5 = nodes['p5']([p5, _resize_to(p6, p5)])
        p4 = nodes['p4']([p4, _resize_to(p5, p4)])
        p3 = nodes['p3']([p3, _resize_to(p4, p3)])
        return p3, p4, p5, p6

    def forward(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor,
                taps: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``taps``, when a dict, receives the intermediate maps by name: 'p3_td1' (stride 8),
        and with TD2 'p4_td2' (stride 16) and 'p5_td2' (stride 32)."""
        p3_in = self.lateral['p3'](c3)
        p4_in = self.lateral['p4'](c4)
        p5_in = self.lateral['p5'](c5)
        p6_in = self.pool(self.lateral['p6'](c5))
        p7_in = self.pool(p6_in)

        p3_1, p4_td, p5_td, p6_td = self._top_down(self.td1, p3_in, p4_in, p5_in, p6_in, p7_in)
        if taps is not None:
            taps['p3_td1'] = p3_1
        if self.bu is None:
            return p3_1

        p4_bu = self.bu['p4']([self.lateral['p4_bu'](c4), p4_td, self._down(p3_1, p4_td)])
        p5_bu = self.bu['p5']([self.lateral['p5_bu'](c5), p5_td, self._down(p4_bu, p5_td)])
        p6_bu = self.bu['p6']([p6_in, p6_td, self._down(p5_bu, p6_td)])
        p7_bu = self.bu['p7']([p7_in, self._down(p6_bu, p7_in)])
        if self.td2 is None:
            # The paper's "+BU" row: BU runs (its cost counts) but only TD2 would bring it
            # back to stride 8. The zero term keeps BU in the graph so DDP sees a gradient
            # for every parameter.
            return p3_1 + 0.0 * p7_bu.sum()
        p3_2, p4_2, p5_2, _ = self._top_down(self.td2, p3_1, p4_bu, p5_bu, p6_bu, p7_bu)
        if taps is not None:
            taps['p4_td2'] = p4_2
            taps['p5_td2'] = p5_2
        return p3_2
