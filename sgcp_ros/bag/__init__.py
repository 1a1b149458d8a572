# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rosbag2 tools, without rclpy except for replaying: make_bag (frames and ground truth
into a bag), evaluate_bag (the engine on a bag, offline), replay_bag (a bag into the running
node over DDS), check_bag (a scenario's criteria, pass or fail). bagfile reads and writes
bags, common holds what the commands share, report the printed tables and contact sheet.
"""
