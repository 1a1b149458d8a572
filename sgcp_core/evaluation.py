# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluate a model on a dataset at full label resolution (optional flip / multi-scale)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from sgcp_core.data import SegmentationDataset
from sgcp_core.metrics import ConfusionMatrix

__all__ = ['predict_logits', 'evaluate', 'evaluate_engine']


@torch.inference_mode()
def predict_logits(model: nn.Module, image: torch.Tensor, scales: Sequence[float] = (1.0,),
                   flip: bool = False) -> torch.Tensor:
    """Summed softmax-free logits over scales (and flips), at the input's resolution.

    Args:
        image: (N, 3, H, W) normalised float.

    Returns:
        (N, C, H, W) float logits.
    """
    height, width = image.shape[-2:]
    total = None
    for scale in scales:
        scaled = image if scale == 1.0 else F.interpolate(
            image, scale_factor=scale, mode='bilinear', align_corners=False)
        variants = [scaled, scaled.flip(-1)] if flip else [scaled]
        for index, variant in enumerate(variants):
            logits = model(variant)
            if index == 1:
                logits = logits.flip(-1)
            if logits.shape[-2:] != (height, width):
                logits = F.interpolate(logits, size=(height, width), mode='bilinear',
                                       align_corners=False)
            total = logits if total is None else total + logits
    return total


def evaluate(model: nn.Module, dataset: SegmentationDataset, device: torch.device | str = 'cpu',
             scales: Sequence[float] = (1.0,), flip: bool = False, ignore_index: int = 255,
             indices: Sequence[int] | None = None, progress: bool = False,
             all_reduce=None) -> ConfusionMatrix:
    """Confusion matrix of ``model`` over ``dataset`` (whose transform must not crop).

    ``indices`` restricts to a shard (distributed evaluation); ``all_reduce`` then sums the
    shards' matrices.
    """
    was_training = model.training
    model.eval()
    matrix = ConfusionMatrix(len(dataset.classes.names), ignore_index)
    indices = range(len(dataset)) if indices is None else indices
    try:
        for index in tqdm(indices, desc='eval', disable=not progress, leave=False):
            image, label = dataset[index]
            logits = predict_logits(model, image.unsqueeze(0).to(device), scales, flip)
            matrix.update(label, logits.argmax(1).cpu())
    finally:
        model.train(was_training)
    if all_reduce is not None:
        matrix.reduce(all_reduce)
    return matrix


def evaluate_engine(segmenter, dataset: SegmentationDataset,
                    indices: Sequence[int] | None = None,
                    progress: bool = False) -> ConfusionMatrix:
    """Confusion matrix of a ``sgcp_core.engine.Segmenter`` over ``dataset``'s raw frames.

    What a deployed model file (an ONNX export, an int8 model) scores: each frame goes
    through the engine exactly as the node runs it (preprocess, backend, postprocess with
    the segmenter's label mode, at the frame's resolution). ``indices``: a subset.
    """
    if getattr(segmenter, 'class_groups', None) is not None:
        raise ValueError(f'cannot score with class groups ({segmenter.class_groups.source}): '
                         "the ground truth is in the model's classes; leave class_groups_file "
                         'empty')
    matrix = ConfusionMatrix(len(dataset.classes.names), segmenter.meta.ignore_index)
    indices = range(len(dataset)) if indices is None else indices
    for index in tqdm(indices, desc='eval', disable=not progress, leave=False):
        rgb, label = dataset.load_raw(index)
        matrix.update(label, segmenter.segment(rgb).labels)
    return matrix
