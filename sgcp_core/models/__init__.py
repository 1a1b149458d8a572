# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SGCPNet and its building blocks."""

from sgcp_core.errors import CheckpointMismatchError
from sgcp_core.models.authors_checkpoints import (authors_state_dict, load_authors_checkpoint,
                                                  load_authors_imagenet_backbone)
from sgcp_core.models.complexity import count_conv_macs, count_parameters
from sgcp_core.models.sgcpnet import BACKBONE_CHOICES, SGCPNet, build_sgcpnet
from sgcp_core.models.state_dict import load_state_dict_strict, load_torch_file

__all__ = ['SGCPNet', 'build_sgcpnet', 'BACKBONE_CHOICES', 'CheckpointMismatchError',
           'load_authors_checkpoint', 'load_authors_imagenet_backbone', 'authors_state_dict',
           'load_state_dict_strict', 'load_torch_file', 'count_parameters', 'count_conv_macs']
