# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sgcp_ros: the ROS 2 glue around sgcp_core (segmentation node, image module, bag tools, demo)."""
