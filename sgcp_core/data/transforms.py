# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The paper's augmentation (random scale, pad, crop, flip) and normalisation."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from sgcp_core.classes import UNKNOWN_LABEL

__all__ = ['TrainTransform', 'EvalTransform', 'normalize']


def normalize(rgb: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, ImageNet-style normalised on [0, 1]."""
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255)
    mean_t = torch.tensor(mean).view(3, 1, 1)
    std_t = torch.tensor(std).view(3, 1, 1)
    return image.sub_(mean_t).div_(std_t)


class TrainTransform:
    """Random scale in ``scale_range``, pad to the crop (label padded with ignore), random
    crop of ``crop_size`` (H, W), random horizontal flip, normalise.

    Randomness comes from the ``rng`` passed per call, so a sample's augmentation depends
    only on (seed, epoch, index) and a resumed run sees exactly the crops it would have.
    Returns (3, cropH, cropW) float32 image and (cropH, cropW) int64 label.
    """

    def __init__(self, crop_size: tuple[int, int], scale_range: tuple[float, float],
                 hflip: bool, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.crop_h, self.crop_w = crop_size
        self.scale_range = scale_range
        self.hflip = hflip
        self.mean, self.std = mean, std

    def __call__(self, rgb: np.ndarray, label: np.ndarray,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        scale = rng.uniform(*self.scale_range)
        h, w = label.shape
        new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(label, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
        pad_h, pad_w = max(self.crop_h - new_h, 0), max(self.crop_w - new_w, 0)
        if pad_h or pad_w:
            rgb = cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
            label = cv2.copyMakeBorder(label, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT,
                                       value=UNKNOWN_LABEL)
        top = rng.integers(0, label.shape[0] - self.crop_h + 1)
        left = rng.integers(0, label.shape[1] - self.crop_w + 1)
        rgb = rgb[top:top + self.crop_h, left:left + self.crop_w]
        label = label[top:top + self.crop_h, left:left + self.crop_w]
        if self.hflip and rng.random() < 0.5:
            rgb, label = rgb[:, ::-1], label[:, ::-1]
        return (normalize(rgb, self.mean, self.std),
                torch.from_numpy(np.ascontiguousarray(label)).long())


class EvalTransform:
    """Normalise only; labels stay at full resolution."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.mean, self.std = mean, std

    def __call__(self, rgb: np.ndarray, label: np.ndarray,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return normalize(rgb, self.mean, self.std), torch.from_numpy(label).long()
