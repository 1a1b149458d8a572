# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rosbag2 tools: make a bag, evaluate the engine on it offline, replay it into the node.

Modules:
    messages: sensor_msgs Image / CompressedImage <-> ndarray for rosbags' message classes.
    bag_io: reading (with salvage of truncated or corrupt bags) and atomic writing.
    matching: pairing frames with ground truth by header stamp.
    report: latency statistics, the printed tables, the JSON report and the plots.
    cli: error reporting (exit status 2 with one line naming the problem), engine options.
    make_bag, evaluate_bag, replay_bag: the three console commands.

Only ``replay_bag`` imports rclpy; everything else runs in a plain venv with ``rosbags``.
"""
