# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The paper's augmentation (random scale, pad, crop, flip), photometric jitter, normalisation.

The geometric part is one ``CropGeometry`` drawn per sample and applied alike to the frame,
its label and, when distilling, the teacher's cached logits, so all three stay aligned
pixel for pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from sgcp_core.classes import UNKNOWN_LABEL

__all__ = ['TrainTransform', 'EvalTransform', 'CropGeometry', 'normalize',
           'INTERPOLATIONS', 'PAD_MODES']

INTERPOLATIONS = {'cubic': cv2.INTER_CUBIC, 'linear': cv2.INTER_LINEAR}
PAD_MODES = ('mean_center', 'zero_corner')


def normalize(rgb: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, ImageNet-style normalised on [0, 1]."""
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255)
    mean_t = torch.tensor(mean).view(3, 1, 1)
    std_t = torch.tensor(std).view(3, 1, 1)
    return image.sub_(mean_t).div_(std_t)


@dataclass(frozen=True)
class CropGeometry:
    """One sample's geometry: resize to (scaled_h, scaled_w), place on a canvas of
    (canvas_h, canvas_w) at (pad_top, pad_left), crop (crop_h, crop_w) at (top, left), flip."""

    scaled_h: int
    scaled_w: int
    canvas_h: int
    canvas_w: int
    pad_top: int
    pad_left: int
    top: int
    left: int
    crop_h: int
    crop_w: int
    flip: bool

    def apply(self, array: np.ndarray, interpolation: int, fill) -> np.ndarray:
        """Resize, pad with ``fill``, crop and flip an (H, W) or (H, W, C) array."""
        channels = array.shape[2:]
        array = cv2.resize(array, (self.scaled_w, self.scaled_h), interpolation=interpolation)
        array = array.reshape((self.scaled_h, self.scaled_w) + channels)  # cv2 drops a 1-axis
        if (self.canvas_h, self.canvas_w) != (self.scaled_h, self.scaled_w):
            canvas = np.empty((self.canvas_h, self.canvas_w) + channels, array.dtype)
            canvas[...] = fill
            canvas[self.pad_top:self.pad_top + self.scaled_h,
                   self.pad_left:self.pad_left + self.scaled_w] = array
            array = canvas
        array = array[self.top:self.top + self.crop_h, self.left:self.left + self.crop_w]
        if self.flip:
            array = array[:, ::-1]
        return np.ascontiguousarray(array)


class TrainTransform:
    """Random scale in ``scale_range``, pad to the crop (label padded with ignore), random
    crop of ``crop_size`` (H, W), random horizontal flip, optional photometric jitter,
    normalise.

    Randomness comes from the ``rng`` passed per call, so a sample's augmentation depends
    only on (seed, epoch, index) and a resumed run sees exactly the crops it would have.
    Returns (3, cropH, cropW) float32 image and (cropH, cropW) int64 label, plus, when
    ``teacher`` (C, H, W) logits are given, (C, cropH, cropW) float32 logits with NaN where
    the crop holds padding.
    """

    def __init__(self, crop_size: tuple[int, int], scale_range: tuple[float, float],
                 hflip: bool, mean: tuple[float, ...], std: tuple[float, ...], *,
                 interpolation: str = 'cubic', pad_mode: str = 'mean_center',
                 jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> None:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'image interpolation must be one of {sorted(INTERPOLATIONS)}, '
                             f'got {interpolation!r}')
        if pad_mode not in PAD_MODES:
            raise ValueError(f'pad mode must be one of {PAD_MODES}, got {pad_mode!r}')
        self.crop_h, self.crop_w = crop_size
        self.scale_range = scale_range
        self.hflip = hflip
        self.mean, self.std = mean, std
        self.interpolation = INTERPOLATIONS[interpolation]
        self.pad_mode = pad_mode
        self.jitter = tuple(jitter)
        # The mean colour as uint8 RGB: normalised, it is zero.
        self.pad_rgb = (np.round(np.asarray(mean) * 255).astype(np.uint8)
                        if pad_mode == 'mean_center' else np.zeros(3, np.uint8))

    def geometry(self, height: int, width: int, rng: np.random.Generator) -> CropGeometry:
        """Draw one sample's geometry (the order of draws is fixed: scale, crop, flip)."""
        scale = rng.uniform(*self.scale_range)
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        canvas_h, canvas_w = max(new_h, self.crop_h), max(new_w, self.crop_w)
        if self.pad_mode == 'mean_center':
            pad_top, pad_left = (canvas_h - new_h) // 2, (canvas_w - new_w) // 2
        else:
            pad_top = pad_left = 0
        top = int(rng.integers(0, canvas_h - self.crop_h + 1))
        left = int(rng.integers(0, canvas_w - self.crop_w + 1))
        flip = bool(self.hflip and rng.random() < 0.5)
        return CropGeometry(new_h, new_w, canvas_h, canvas_w, pad_top, pad_left, top, left,
                            self.crop_h, self.crop_w, flip)

    def _photometric(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        brightness, contrast, saturation, gamma = self.jitter
        image = rgb.astype(np.float32) / 255.0
        if brightness:
            image *= rng.uniform(1 - brightness, 1 + brightness)
        if contrast:
            mean = image.mean()
            image = (image - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
        if saturation:
            grey = image @ np.float32([0.299, 0.587, 0.114])
            image = (image - grey[..., None]) * rng.uniform(1 - saturation, 1 + saturation) \
                + grey[..., None]
        np.clip(image, 0.0, 1.0, out=image)
        if gamma:
            image **= rng.uniform(1 - gamma, 1 + gamma)
        return np.round(image * 255).astype(np.uint8)

    def __call__(self, rgb: np.ndarray, label: np.ndarray, rng: np.random.Generator,
                 teacher: np.ndarray | None = None) -> tuple[torch.Tensor, ...]:
        geometry = self.geometry(*label.shape, rng)
        if any(self.jitter):
            # Drawn after the geometry, so switching jitter on leaves the crops unchanged;
            # applied before it, so padding keeps the exact mean colour.
            rgb = self._photometric(rgb, rng)
        rgb = geometry.apply(rgb, self.interpolation, self.pad_rgb)
        label = geometry.apply(label, cv2.INTER_NEAREST, UNKNOWN_LABEL)
        out = (normalize(rgb, self.mean, self.std), torch.from_numpy(label).long())
        if teacher is None:
            return out
        logits = geometry.apply(np.ascontiguousarray(np.asarray(teacher, np.float32)
                                                     .transpose(1, 2, 0)),
                                cv2.INTER_LINEAR, np.nan)
        return out + (torch.from_numpy(np.ascontiguousarray(logits.transpose(2, 0, 1))),)


class EvalTransform:
    """Normalise only; labels stay at full resolution."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.mean, self.std = mean, std

    def __call__(self, rgb: np.ndarray, label: np.ndarray,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return normalize(rgb, self.mean, self.std), torch.from_numpy(label).long()
