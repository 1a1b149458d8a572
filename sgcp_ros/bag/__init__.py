# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rosbag2 tools: make a bag, evaluate the engine on it offline, replay it into the node,
check a regression scenario. A thin layer over shared parts:

    sgcp_ros.images: the node's frame decoder and encoder (the tools decode with it too).
    sgcp_ros.topics: topic names; sgcp_ros.stamp_matching: pairing by header stamp.
    sgcp_core.cli.engine_args, sgcp_core.errors: engine options and command-line errors.
    sgcp_ros.ros_client: the node as replay_bag meets it over DDS (LabelListener).
    sgcp_core.timing, sgcp_core.files: latency statistics and histogram, JSON reports.
    bagfile: reading (rosbags AnyReader, CRC check) and atomic writing (chunk CRCs).
    common: one-line errors with exit status 2, per-frame and run scoring.
    report: printed tables, the IoU plot and the contact sheet.
    make_bag, evaluate_bag, replay_bag, check_bag: the console commands.

Only ``replay_bag`` (and ``check_bag`` in live mode) imports rclpy.
"""
