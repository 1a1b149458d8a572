# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Confusion matrix, IoU and pixel accuracy for label maps with an ignore value; the IoU
as a table and as a bar chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = ['ConfusionMatrix', 'format_iou_table', 'plot_iou']


class ConfusionMatrix:
    """Accumulates a (C, C) matrix, rows = ground truth, columns = prediction.

    Pixels whose ground truth is ``ignore_index`` (or any id >= C) are not counted.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        # Ground-truth pixels predicted as no class at all (e.g. 255 "unknown"), per class.
        self.missed = torch.zeros(num_classes, dtype=torch.int64)

    def update(self, target: torch.Tensor | np.ndarray,
               prediction: torch.Tensor | np.ndarray) -> None:
        """Add a batch: target and prediction of the same shape, integer class ids."""
        target = torch.as_tensor(target).reshape(-1).long()
        prediction = torch.as_tensor(prediction).reshape(-1).long()
        if target.shape != prediction.shape:
            raise ValueError(f'target has {target.numel()} pixels, prediction '
                             f'{prediction.numel()}')
        n = self.num_classes
        keep = (target != self.ignore_index) & (target >= 0) & (target < n)
        # Predictions outside 0..C-1 (e.g. 255 "unknown") count as wrong for their row.
        prediction = prediction[keep]
        target = target[keep]
        valid_pred = (prediction >= 0) & (prediction < n)
        self.matrix += torch.bincount(n * target[valid_pred] + prediction[valid_pred],
                                      minlength=n * n).reshape(n, n).to(self.matrix.device)
        self.missed += torch.bincount(target[~valid_pred], minlength=n)

    def reduce(self, all_reduce) -> None:
        """Sum over processes with a callable like ``torch.distributed.all_reduce``."""
        all_reduce(self.matrix)
        all_reduce(self.missed)

    def iou(self) -> np.ndarray:
        """(C,) per-class IoU; NaN for classes absent from both ground truth and prediction."""
        m = self.matrix.double()
        true_positive = m.diag()
        union = m.sum(0) + m.sum(1) + self.missed.double() - true_positive
        return (true_positive / union).numpy()

    def miou(self) -> float:
        return float(np.nanmean(self.iou()))

    def pixel_accuracy(self) -> float:
        m = self.matrix.double()
        total = m.sum() + self.missed.sum()
        return float(m.diag().sum() / total) if total > 0 else float('nan')

    def summary(self, class_names: Sequence[str]) -> dict:
        """JSON-ready dict: miou, pixel_accuracy, per_class_iou {name: iou or None}."""
        iou = self.iou()
        return {'miou': self.miou(), 'pixel_accuracy': self.pixel_accuracy(),
                'per_class_iou': {name: (None if np.isnan(v) else float(v))
                                  for name, v in zip(class_names, iou)}}


def format_iou_table(summary: dict) -> str:
    """Aligned text table of per-class IoU, mIoU and pixel accuracy (percent)."""
    rows = [(name, '   n/a' if v is None else f'{100 * v:6.2f}')
            for name, v in summary['per_class_iou'].items()]
    width = max(len(name) for name, _ in rows + [('pixel accuracy', '')])
    lines = [f'{"class":<{width}}  IoU %', '-' * (width + 8)]
    lines += [f'{name:<{width}}  {value}' for name, value in rows]
    lines += ['-' * (width + 8), f'{"mIoU":<{width}}  {100 * summary["miou"]:6.2f}',
              f'{"pixel accuracy":<{width}}  {100 * summary["pixel_accuracy"]:6.2f}']
    return '\n'.join(lines)


def plot_iou(summary: Mapping, path: str | Path, title: str,
             palette: Sequence[Sequence[int]] | None = None) -> Path:
    """Bar chart of per-class IoU (%) with the mIoU as a line; classes without pixels show
    as n/a."""
    import matplotlib
    matplotlib.use('Agg')  # files only; never needs a display
    import matplotlib.pyplot as plt
    names = list(summary['per_class_iou'])
    values = [summary['per_class_iou'][n] for n in names]
    heights = [0.0 if v is None else 100 * v for v in values]
    colours = ([tuple(c / 255 for c in palette[i]) for i in range(len(names))]
               if palette is not None else None)
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(names) + 2), 4.2))
    bars = axes.bar(range(len(names)), heights, color=colours, edgecolor='black',
                    linewidth=0.6)
    for bar, value in zip(bars, values):
        label = 'n/a' if value is None else f'{100 * value:.1f}'
        axes.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 1, label,
                  ha='center', va='bottom', fontsize=8)
    axes.axhline(100 * summary['miou'], color='black', linestyle='--', linewidth=1,
                 label=f'mIoU {100 * summary["miou"]:.2f}%')
    axes.set_xticks(range(len(names)), names, rotation=40, ha='right')
    axes.set_ylim(0, 105)
    axes.set_ylabel('IoU (%)')
    axes.set_title(title)
    axes.legend(loc='upper right')
    figure.tight_layout()
    try:
        from sgcp_core.files import atomic_write
        return atomic_write(path, lambda temp: figure.savefig(temp, format='png', dpi=120))
    finally:
        plt.close(figure)
