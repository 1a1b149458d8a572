# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the bag commands share: error handling, topic options, skip reasons, scoring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sgcp_core.cli import run_command
from sgcp_core.cli.arg_types import in_range, non_negative_int
from sgcp_core.errors import CommandError
from sgcp_ros import topics
from sgcp_ros.images import ImageConversionError

__all__ = ['run_command', 'new_output', 'add_bag_topic_arguments', 'skip_reason', 'Scorer']


def new_output(path: Path | None, option: str) -> Path | None:
    """``path`` if it does not exist yet; CommandError naming ``option`` otherwise."""
    if path is not None and path.exists():
        raise CommandError(f'{option} {path} exists already; choose another path or remove it')
    return path


def add_bag_topic_arguments(parser) -> None:
    """--image-topic, --label-topic, --stamp-tolerance-ms and --max-frames, as every
    command that reads frames and ground truth from a bag takes them."""
    parser.add_argument('--image-topic', help=f'camera topic (default: {topics.BAG_IMAGE}, '
                        'or the bag\'s only Image/CompressedImage topic)')
    parser.add_argument('--label-topic', help='ground-truth mono8 topic (default: '
                        f'{topics.BAG_LABELS} if present; "" for none)')
    parser.add_argument('--stamp-tolerance-ms', type=in_range(float, 0, 3.6e6),
                        default=1.0, help='largest stamp difference that pairs a label with '
                                          'a frame (default: %(default)s)')
    parser.add_argument('--max-frames', type=non_negative_int, default=0,
                        help='stop after N frames (default: all)')


def skip_reason(error: Exception) -> str:
    """Why a frame was skipped, as every bag command counts it."""
    if isinstance(error, ImageConversionError):
        return 'unsupported encoding' if error.unsupported else 'corrupt frame'
    return 'undecodable record'


class Scorer:
    """IoU over a run (one confusion matrix) and a small per-frame summary.

    Args:
        class_names: the predicted classes, in label-id order.
        ignore_index: ground-truth value that is not scored.
        truth_groups: the class groups (``sgcp_core.class_groups.ClassGroups``) the
            predictions went through, or None: ground truth in the model's classes is mapped
            through them, so both sides are scored in the output classes.
    """

    def __init__(self, class_names: Sequence[str], ignore_index: int = 255,
                 truth_groups=None) -> None:
        from sgcp_core.metrics import ConfusionMatrix
        self._matrix_type = ConfusionMatrix
        self.class_names = list(class_names)
        self.ignore_index = ignore_index
        self.truth_groups = truth_groups
        self.matrix = ConfusionMatrix(len(self.class_names), ignore_index)
        self.frames = 0

    def add(self, target: np.ndarray, prediction: np.ndarray) -> dict | None:
        """Score one frame: target and prediction (H, W) uint8 class ids.

        Returns:
            {'miou': percent over the classes in this frame, 'pixel_accuracy': percent},
            or None when the shapes differ (not scored).
        """
        if target.shape != prediction.shape:
            return None
        if self.truth_groups is not None:
            target = self.truth_groups.apply(target)
        frame = self._matrix_type(len(self.class_names), self.ignore_index)
        frame.update(target, prediction)
        self.matrix.update(target, prediction)
        self.frames += 1
        return {'miou': _percent(frame.miou()), 'pixel_accuracy':
                _percent(frame.pixel_accuracy())}

    def summary(self) -> dict | None:
        """The run's mIoU, per-class IoU and pixel accuracy; None before the first frame."""
        return self.matrix.summary(self.class_names) if self.frames else None


def _percent(value: float) -> float | None:
    return round(100 * float(value), 3) if np.isfinite(value) else None
