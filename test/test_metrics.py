# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Confusion-matrix metrics on hand-made label maps with known IoU."""

import math

import numpy as np
import pytest

from sgcp_core.metrics import ConfusionMatrix, format_iou_table


def test_known_iou_with_ignored_pixels():
    target = np.array([[0, 0, 1, 1],
                       [2, 2, 255, 255]])
    prediction = np.array([[0, 1, 1, 1],
                           [2, 0, 2, 1]])  # the 255 pixels' predictions must not count
    matrix = ConfusionMatrix(3)
    matrix.update(target, prediction)
    # class 0: TP 1, FP 1 (pixel of class 2), FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3;
    # class 2: TP 1, FN 1 -> 1/2
    np.testing.assert_allclose(matrix.iou(), [1 / 3, 2 / 3, 1 / 2])
    assert matrix.miou() == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert matrix.pixel_accuracy() == pytest.approx(4 / 6)


def test_absent_class_is_nan_and_excluded_from_mean():
    matrix = ConfusionMatrix(3)
    matrix.update(np.array([0, 0, 1]), np.array([0, 0, 1]))
    iou = matrix.iou()
    assert iou[0] == 1 and iou[1] == 1 and math.isnan(iou[2])
    assert matrix.miou() == 1
    summary = matrix.summary(['a', 'b', 'c'])
    assert summary['per_class_iou']['c'] is None
    assert 'n/a' in format_iou_table(summary)


def test_unknown_prediction_counts_as_a_miss():
    matrix = ConfusionMatrix(2)
    matrix.update(np.array([0, 0, 1, 1]), np.array([0, 255, 1, 1]))
    np.testing.assert_allclose(matrix.iou(), [0.5, 1.0])
    assert matrix.pixel_accuracy() == pytest.approx(3 / 4)


def test_accumulates_over_batches_and_rejects_shape_mismatch():
    matrix = ConfusionMatrix(2)
    matrix.update(np.array([0, 1]), np.array([0, 1]))
    matrix.update(np.array([0, 1]), np.array([1, 1]))
    assert matrix.matrix.tolist() == [[1, 1], [0, 2]]
    with pytest.raises(ValueError, match='pixels'):
        matrix.update(np.array([0, 1, 1]), np.array([0, 1]))
