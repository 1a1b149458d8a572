# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sgcp_core: SGCPNet model, training, evaluation, export and inference engine (no ROS)."""

__version__ = '0.1.0'
