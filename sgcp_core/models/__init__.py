# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SGCPNet and its building blocks."""

from sgcp_core.models.checkpoints import (CheckpointMismatchError, authors_state_dict,
                                          load_authors_checkpoint,
                                          load_authors_imagenet_backbone)
from sgcp_core.models.complexity import count_conv_macs, count_parameters
from sgcp_core.models.sgcpnet import BACKBONE_CHOICES, SGCPNet, build_sgcpnet

__all__ = ['SGCPNet', 'build_sgcpnet', 'BACKBONE_CHOICES', 'CheckpointMismatchError',
           'load_authors_checkpoint', 'load_authors_imagenet_backbone', 'authors_state_dict',
           'count_parameters', 'count_conv_macs']
