# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training losses: cross-entropy, online hard-pixel mining (OHEM) and distillation terms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ['LOSSES', 'segmentation_loss', 'ohem_cross_entropy', 'pixel_kl_divergence',
           'channel_wise_divergence', 'pool_teacher_logits']

LOSSES = ('ce', 'ohem')


def ohem_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int,
                       thresh: float, min_fraction: float) -> torch.Tensor:
    """Mean cross-entropy over the hard pixels only.

    A pixel is hard when the model gives its true class a probability below ``thresh``
    (loss above -log(thresh)). At least ``min_fraction`` of the valid pixels are kept,
    the ones with the highest loss, so a batch the model already gets right still trains.

    Args:
        logits: (N, C, H, W) float.
        labels: (N, H, W) int64 with ``ignore_index`` for pixels without a label.
    """
    losses = F.cross_entropy(logits, labels, ignore_index=ignore_index,
                             reduction='none').flatten()
    valid = losses[labels.flatten() != ignore_index]
    if valid.numel() == 0:
        return logits.sum() * 0.0
    min_kept = max(1, int(min_fraction * valid.numel()))
    hard = valid[valid > -math.log(thresh)]
    if hard.numel() >= min_kept:
        return hard.mean()
    return valid.topk(min_kept).values.mean()


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, *, kind: str,
                      ignore_index: int, ohem_thresh: float = 0.7,
                      ohem_min_fraction: float = 0.0625) -> torch.Tensor:
    """The configured supervised loss ('ce' or 'ohem', see ``LOSSES``)."""
    if kind == 'ce':
        return F.cross_entropy(logits, labels, ignore_index=ignore_index)
    if kind == 'ohem':
        return ohem_cross_entropy(logits, labels, ignore_index, ohem_thresh, ohem_min_fraction)
    raise ValueError(f'loss must be one of {LOSSES}, got {kind!r}')


def pixel_kl_divergence(student: torch.Tensor, teacher: torch.Tensor,
                        temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)) averaged over pixels where the
    teacher is defined (not NaN: its logits are NaN on augmentation padding).

    Args:
        student, teacher: (N, C, H, W) float logits at the same resolution.
    """
    valid = torch.isfinite(teacher[:, 0])
    if not valid.any():
        return student.sum() * 0.0
    s = student.permute(0, 2, 3, 1)[valid] / temperature      # (P, C)
    t = teacher.permute(0, 2, 3, 1)[valid] / temperature
    kl = F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), reduction='none',
                  log_target=True).sum(1)
    return kl.mean() * temperature ** 2


def channel_wise_divergence(student: torch.Tensor, teacher: torch.Tensor,
                            temperature: float) -> torch.Tensor:
    """Channel-wise distillation (Shu et al., 2021): each class map becomes a distribution
    over pixels (softmax over H x W at ``temperature``); T^2 * KL(teacher || student),
    summed over pixels, averaged over images and classes. Pixels where the teacher is
    undefined (NaN) take no part.
    """
    invalid = ~torch.isfinite(teacher[:, :1])                    # (N, 1, H, W)
    # A large finite value rather than -inf keeps 0 * (log p - log q) at 0, not NaN.
    s = (student / temperature).masked_fill(invalid, -1e9).flatten(2)   # (N, C, HW)
    t = (teacher / temperature).masked_fill(invalid, -1e9).flatten(2)
    log_p_t = F.log_softmax(t, 2)
    kl = (log_p_t.exp() * (log_p_t - F.log_softmax(s, 2))).sum(2)     # (N, C)
    return kl.mean() * temperature ** 2


def pool_teacher_logits(teacher: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) teacher logits, NaN on padding, averaged onto an (h, w) grid over their
    defined pixels; a cell with none is NaN.

    Distillation compares logit maps at the student's output stride (8), as channel-wise
    distillation (Shu et al.) and structured KD do: at the input size the same terms cost a
    2-core CPU about half of every training step.
    """
    valid = torch.isfinite(teacher[:, :1]).to(teacher.dtype)
    summed = F.adaptive_avg_pool2d(torch.nan_to_num(teacher, nan=0.0) * valid, size)
    return summed / F.adaptive_avg_pool2d(valid, size)   # 0 / 0 = NaN where none defined
