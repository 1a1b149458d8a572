# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Segmentation datasets (CamVid, Cityscapes, image+label folders) and augmentation."""

from sgcp_core.data.datasets import (DatasetError, SegmentationDataset, build_dataset,
                                     read_label, read_rgb)
from sgcp_core.data.transforms import EvalTransform, TrainTransform

__all__ = ['DatasetError', 'SegmentationDataset', 'build_dataset', 'read_rgb', 'read_label',
           'TrainTransform', 'EvalTransform']
