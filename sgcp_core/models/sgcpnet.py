# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SGCPNet: encoder -> HFR -> SGCP module -> 1x1 classifier -> logits at input size."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sgcp_core.models.mobilenetv2 import MobileNetV2Encoder
from sgcp_core.models.mobilenetv3 import MobileNetV3Encoder
from sgcp_core.models.sgcp_module import POOLING_CHOICES, SGCPModule

__all__ = ['SGCPNet', 'build_sgcpnet', 'BACKBONE_CHOICES', 'HFR_CHANNELS']

BACKBONE_CHOICES = ('mobilenetv3', 'mobilenetv2')
# Layer-3/4/5 dagger of the paper: the taps are lifted to these widths before the module.
HFR_CHANNELS = (40, 112, 320)
UPSAMPLE_CHOICES = ('bilinear', 'bicubic')


class HigherDimensionFeatures(nn.Module):
    """HFR: a 1x1 conv (bias, no BN, no activation) per tap, 24/48/96 -> 40/112/320."""

    def __init__(self, in_channels: tuple[int, int, int],
                 out_channels: tuple[int, int, int] = HFR_CHANNELS) -> None:
        super().__init__()
        self.c3 = nn.Conv2d(in_channels[0], out_channels[0], 1)
        self.c4 = nn.Conv2d(in_channels[1], out_channels[1], 1)
        self.c5 = nn.Conv2d(in_channels[2], out_channels[2], 1)

    def forward(self, c3: torch.Tensor, c4: torch.Tensor,
                c5: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.c3(c3), self.c4(c4), self.c5(c5)


class SGCPNet(nn.Module):
    """Real-time segmentation network; see ``build_sgcpnet`` for the options.

    Args:
        images: (N, 3, H, W) float, ImageNet-normalised RGB; any H, W.

    Returns:
        (N, num_classes, H, W) float logits.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, *, hfr: bool, td1: bool,
                 bu: bool, td2: bool, weighted_sum: bool, pooling: str, channels: int,
                 upsample: str) -> None:
        super().__init__()
        if upsample not in UPSAMPLE_CHOICES:
            raise ValueError(f'upsample must be one of {UPSAMPLE_CHOICES}, got {upsample!r}')
        self.encoder = encoder
        tap_channels = tuple(encoder.tap_channels)
        self.hfr = HigherDimensionFeatures(tap_channels) if hfr else None
        module_inputs = HFR_CHANNELS if hfr else tap_channels
        if td1:
            self.sgcp = SGCPModule(module_inputs, channels, bottom_up=bu, second_top_down=td2,
                                   weighted_sum=weighted_sum, pooling=pooling)
            head_channels = channels
        else:
            if bu or td2:
                raise ValueError('BU and TD2 build on TD1: td1=False needs bu=False, td2=False')
            # "Backbone only" row of Table VI: classify the stride-32 map directly.
            self.sgcp = None
            head_channels = module_inputs[2]
        self.classifier = nn.Conv2d(head_channels, num_classes, 1)
        self.num_classes = num_classes
        self.upsample = upsample

    def head_features(self, images: torch.Tensor,
                      taps: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """(N, channels, H/8, W/8) features the classifier reads.

        ``taps``, when given, receives the SGCP module's intermediate maps (see
        ``SGCPModule.forward``); training attaches auxiliary heads to them.
        """
        c3, c4, c5 = self.encoder(images)
        if self.hfr is not None:
            c3, c4, c5 = self.hfr(c3, c4, c5)
        if self.sgcp is None:
            return c5
        return self.sgcp(c3, c4, c5, taps)

    def forward(self, images: torch.Tensor, coarse: bool = False,
                taps: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits at the input size, or with ``coarse=True`` at stride 8 (ceil(H/8),
        ceil(W/8)), before the final interpolation: the engine resamples those once, straight
        to the frame's size. ``F.interpolate(model(x, coarse=True), x.shape[-2:],
        mode=model.upsample, align_corners=False)`` is ``model(x)`` exactly. ``taps``: see
        ``head_features``."""
        logits = self.classifier(self.head_features(images, taps))
        if coarse:
            return logits
        return F.interpolate(logits, size=images.shape[-2:], mode=self.upsample,
                             align_corners=False)


def build_sgcpnet(num_classes: int = 19, *, backbone: str = 'mobilenetv3', hfr: bool = True,
                  td1: bool = True, bu: bool = True, td2: bool = True,
                  weighted_sum: bool = True, pooling: str = 'max3', channels: int = 64,
                  upsample: str = 'bilinear',
                  pretrained_backbone: bool | str | Path = False) -> SGCPNet:
    """Build SGCPNet or one of its Table VI ablation variants.

    Args:
        num_classes: output channels of the classifier.
        backbone: 'mobilenetv3' (the paper's small variant) or 'mobilenetv2' (torchvision
            layout, ImageNet weights available offline).
        hfr, td1, bu, td2: switch the HFR convs and the three SGCP paths; BU needs TD1 and
            TD2 needs BU. ``td1=False`` is the paper's "backbone only" row.
        weighted_sum: SW-Sum (True) or the plain-sum ablation.
        pooling: 'max3' (paper), 'avg3' or 'max5', used for P6/P7 and the BU downsampling.
        channels: width of the SGCP module (64 in the paper).
        upsample: interpolation of the stride-8 logits to the input size.
        pretrained_backbone: True loads the packaged ImageNet weights of the backbone, a path
            loads that file (MobileNetV2: torchvision keys; MobileNetV3: the authors'
            ImageNet layout).

    Returns:
        The model, in training mode.
    """
    if pooling not in POOLING_CHOICES:
        raise ValueError(f'pooling must be one of {POOLING_CHOICES}, got {pooling!r}')
    if backbone == 'mobilenetv3':
        encoder: nn.Module = MobileNetV3Encoder()
    elif backbone == 'mobilenetv2':
        encoder = MobileNetV2Encoder()
    else:
        raise ValueError(f'backbone must be one of {BACKBONE_CHOICES}, got {backbone!r}')
    model = SGCPNet(encoder, num_classes, hfr=hfr, td1=td1, bu=bu, td2=td2,
                    weighted_sum=weighted_sum, pooling=pooling, channels=channels,
                    upsample=upsample)
    if pretrained_backbone:
        path = None if pretrained_backbone is True else Path(pretrained_backbone)
        if backbone == 'mobilenetv2':
            model.encoder.load_imagenet(path)
        else:
            if path is None:
                raise FileNotFoundError(
                    'no ImageNet MobileNetV3-Small weights of this variant ship offline; '
                    'pass the path of the authors\' ImageNet file')
            from sgcp_core.models.authors_checkpoints import load_authors_imagenet_backbone
            load_authors_imagenet_backbone(model, path)
    return model
