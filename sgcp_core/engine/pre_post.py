# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Frame -> network input, logits -> label map, label map -> colours and overlay.

Everything here works on one frame at a time (batch of one), which is what a camera
pipeline sees. Functions take optional ``out`` buffers so the engine can reuse memory
between frames instead of allocating per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from sgcp_core.classes import UNKNOWN_LABEL, ClassInfo
from sgcp_core.config import LABEL_MODES

__all__ = ['LABEL_MODES', 'check_rgb', 'preprocess', 'postprocess', 'confidence',
           'resize_rgb', 'colorize', 'overlay']

# 'upsample_logits': interpolate the class scores to the frame size with the model's own
# interpolation (bilinear for the shipped models), then argmax (smooth boundaries, costs C
# interpolated planes at frame size); 'upsample_logits_bicubic': the same with bicubic
# interpolation, as the SGCPNet authors evaluated; 'argmax_then_nearest': argmax at the
# logits' own resolution, then nearest-neighbour resize of the uint8 label map.
_UPSAMPLING_MODES = ('upsample_logits', 'upsample_logits_bicubic')


def check_rgb(rgb: np.ndarray) -> None:
    """Raise ValueError unless ``rgb`` is an (H, W, 3) uint8 array."""
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f'expected an (H, W, 3) uint8 RGB numpy array, got {type(rgb).__name__}')
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f'expected an (H, W, 3) uint8 RGB array, got shape {rgb.shape} '
                         f'dtype {rgb.dtype}' + (' (convert grey/RGBA/BGR frames to RGB first)'
                                                 if rgb.dtype == np.uint8 else ''))
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f'empty image of shape {rgb.shape}')


def preprocess(rgb: np.ndarray, input_size: tuple[int, int], mean: Sequence[float],
               std: Sequence[float], out: np.ndarray | None = None) -> np.ndarray:
    """Resize to the network input and normalise like training did.

    Args:
        rgb: (H, W, 3) uint8 RGB, any size, any strides.
        input_size: (height, width) the network runs at.
        mean, std: per-channel statistics of [0, 1] RGB (ImageNet's for this package).
        out: optional (1, 3, height, width) float32 C-contiguous array to write into.

    Returns:
        (1, 3, height, width) float32, ``(rgb / 255 - mean) / std``.
    """
    check_rgb(rgb)
    height, width = input_size
    if not rgb.flags.c_contiguous:
        # OpenCV only wraps arrays with positive, row-major strides (flipped views fail).
        rgb = np.ascontiguousarray(rgb)
    if rgb.shape[:2] != (height, width):
        # Bilinear, as the training augmentation rescales frames.
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
    if out is None:
        out = np.empty((1, 3, height, width), np.float32)
    scale = 1.0 / (255.0 * np.asarray(std, np.float64))
    shift = -np.asarray(mean, np.float64) / np.asarray(std, np.float64)
    # Scale and shift each channel plane straight into the CHW output: no float HWC
    # temporary and no transpose copy.
    for channel in range(3):
        np.multiply(rgb[:, :, channel], np.float32(scale[channel]), out=out[0, channel])
        out[0, channel] += np.float32(shift[channel])
    return out


_CV2_INTERPOLATION = {'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}


def _argmax_planes(planes, count: int) -> np.ndarray:
    """Index of the largest of ``count`` (H, W) float32 planes, as (H, W) uint8.

    A running maximum over the class planes: contiguous passes, several times faster on the
    CPU than numpy's or torch's argmax over the class axis, whose reductions are strided
    ("sgcp bench" shows the postprocess share). Ties go to the lower id, like argmax.
    ``planes`` is an iterable, so planes can be produced (e.g. upsampled) one at a time.
    The passes are OpenCV's vectorised compare/and/max: about 2-3x numpy's compare, copyto
    and maximum at camera sizes.
    """
    planes = iter(planes)
    first = np.asarray(next(planes), np.float32)
    if first.size == 1:   # OpenCV would read a one-element array as a scalar
        return np.asarray([first] + [np.asarray(p, np.float32) for p in planes]
                          ).argmax(0).astype(np.uint8)
    # (1, N) rows: OpenCV reads an (n <= 4, 1) array as a scalar, never a row.
    best = first.reshape(1, -1).copy()
    labels = np.zeros(best.shape, np.uint8)
    wins = np.empty(best.shape, np.uint8)
    for index in range(1, count):
        plane = np.ascontiguousarray(next(planes), np.float32).reshape(1, -1)
        cv2.compare(plane, best, cv2.CMP_GT, dst=wins)     # 255 where this class wins
        cv2.bitwise_and(wins, index, dst=wins)               # index there, 0 elsewhere
        # A class that wins now has a higher id than every label so far: max keeps it.
        cv2.max(labels, wins, dst=labels)
        cv2.max(best, plane, dst=best)
    return labels.reshape(first.shape)


def postprocess(logits: np.ndarray | torch.Tensor, output_size: tuple[int, int],
                mode: str = 'upsample_logits', upsample: str = 'bilinear') -> np.ndarray:
    """Label map at the frame's resolution from class scores at any resolution.

    Args:
        logits: (1, C, h, w) float class scores (numpy, or a torch tensor on any device).
        output_size: (H, W) of the label map, normally the input frame's size.
        mode: one of ``LABEL_MODES``.
        upsample: interpolation for 'upsample_logits' ('bilinear' or 'bicubic'), the one
            the model was trained with, so that at the model's input size the result is
            the model's own output. 'upsample_logits_bicubic' always uses bicubic.

    Returns:
        (H, W) uint8 labels in 0..C-1 (255 is reserved for "unknown").
    """
    if mode not in LABEL_MODES:
        raise ValueError(f'label mode must be one of {LABEL_MODES}, got {mode!r}')
    if upsample not in _CV2_INTERPOLATION:
        raise ValueError(f'upsample must be one of {sorted(_CV2_INTERPOLATION)}, got '
                         f'{upsample!r}')
    if logits.ndim != 4 or logits.shape[0] != 1:
        raise ValueError(f'expected (1, C, h, w) logits, got shape {tuple(logits.shape)}')
    count = int(logits.shape[1])
    if count >= UNKNOWN_LABEL:
        raise ValueError(f'{count} classes do not fit a uint8 label map with '
                         f'{UNKNOWN_LABEL} reserved')
    height, width = output_size
    same_size = tuple(logits.shape[-2:]) == (height, width)
    if mode == 'upsample_logits_bicubic':
        upsample = 'bicubic'
    if isinstance(logits, torch.Tensor):
        if logits.device.type != 'cpu':
            # On a GPU interpolation and argmax are cheap; copy back only the uint8 map.
            if mode in _UPSAMPLING_MODES and not same_size:
                logits = F.interpolate(logits, size=(height, width), mode=upsample,
                                       align_corners=False)
            labels = logits[0].argmax(0).to(torch.uint8).cpu().numpy()
            if labels.shape != (height, width):
                labels = cv2.resize(labels, (width, height),
                                    interpolation=cv2.INTER_NEAREST_EXACT)
            return labels
        logits = logits.numpy()
    scores = np.asarray(logits, np.float32)[0]
    if mode in _UPSAMPLING_MODES and not same_size:
        # OpenCV's resize uses the same half-pixel sampling as torch's interpolate with
        # align_corners=False (max difference 5e-7 here) at a quarter of the cost.
        interpolation = _CV2_INTERPOLATION[upsample]
        planes = (cv2.resize(plane, (width, height), interpolation=interpolation)
                  for plane in scores)
        return _argmax_planes(planes, count)
    labels = _argmax_planes(scores, count)
    if not same_size:
        # NEAREST_EXACT samples at pixel centres, matching where bilinear interpolation
        # (align_corners=False) places the coarse cells; plain NEAREST shifts by half a cell.
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    return labels


def confidence(logits: np.ndarray | torch.Tensor, output_size: tuple[int, int],
               mode: str = 'upsample_logits') -> np.ndarray:
    """How sure the network is of each pixel's class: the top softmax probability x 255.

    The softmax and its maximum run at the logits' own resolution (C planes there instead
    of at the frame's size); the uint8 map is then resized the way ``postprocess`` brings
    labels to the frame: bilinear for the upsampling modes, nearest for
    'argmax_then_nearest'.

    Args:
        logits: (1, C, h, w) float class scores (numpy, or a torch tensor on any device).
        output_size: (H, W) of the map, the label map's size.
        mode: one of ``LABEL_MODES``.

    Returns:
        (H, W) uint8, round(255 * max_c softmax(logits)_c); at least round(255 / C).
    """
    if mode not in LABEL_MODES:
        raise ValueError(f'label mode must be one of {LABEL_MODES}, got {mode!r}')
    if logits.ndim != 4 or logits.shape[0] != 1:
        raise ValueError(f'expected (1, C, h, w) logits, got shape {tuple(logits.shape)}')
    if isinstance(logits, torch.Tensor):
        scores = logits[0].float()
        # max softmax = 1 / sum_c exp(l_c - max l): no division per class.
        top = 255.0 / torch.exp(scores - scores.amax(0, keepdim=True)).sum(0)
        sure = (top + 0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
    else:
        scores = np.asarray(logits, np.float32)[0]
        shifted = scores - scores.max(axis=0)
        np.exp(shifted, out=shifted)
        sure = (255.0 / shifted.sum(axis=0) + 0.5).astype(np.uint8)
    height, width = output_size
    if sure.shape != (height, width):
        interpolation = (cv2.INTER_LINEAR if mode in _UPSAMPLING_MODES
                         else cv2.INTER_NEAREST_EXACT)
        sure = cv2.resize(sure, (width, height), interpolation=interpolation)
    return sure


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 frame at (h, w) = ``size``: area-averaged down, bilinear up."""
    height, width = size
    shrink = height * width < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(np.ascontiguousarray(rgb), (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def colorize(labels: np.ndarray, classes: ClassInfo | np.ndarray,
             out: np.ndarray | None = None) -> np.ndarray:
    """(H, W) uint8 labels -> (H, W, 3) uint8 RGB; 255 and ids without a class are black.

    ``classes`` is a ClassInfo or its (256, 3) ``palette_array()`` (cache it per model).
    """
    table = classes.palette_array() if isinstance(classes, ClassInfo) else classes
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f'expected (H, W) uint8 labels, got shape {labels.shape} '
                         f'dtype {labels.dtype}')
    return np.take(table, labels, axis=0, out=out)


def overlay(rgb: np.ndarray, color_mask: np.ndarray, labels: np.ndarray | None = None,
            alpha: float = 0.5) -> np.ndarray:
    """Blend the colour mask over the frame; pixels labelled 255 keep the frame's colour.

    Args:
        rgb: (H, W, 3) uint8 frame.
        color_mask: (H, W, 3) uint8 from ``colorize``.
        labels: (H, W) uint8, only needed to leave "unknown" pixels untouched.
        alpha: weight of the mask, 0 (frame only) to 1 (mask only).

    Returns:
        (H, W, 3) uint8.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'overlay alpha must be within [0, 1], got {alpha}')
    if rgb.shape != color_mask.shape:
        raise ValueError(f'frame {rgb.shape} and colour mask {color_mask.shape} differ')
    if not rgb.flags.c_contiguous:
        rgb = np.ascontiguousarray(rgb)
    blended = cv2.addWeighted(rgb, 1.0 - alpha, color_mask, alpha, 0.0)
    if labels is not None:
        unknown = labels == UNKNOWN_LABEL
        if unknown.any():
            blended[unknown] = rgb[unknown]
    return blended
