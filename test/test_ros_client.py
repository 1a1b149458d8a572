# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS client side the tools share (``sgcp_ros.ros_client``), in one process."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from sgcp_ros import ros_client  # noqa: E402


@pytest.fixture
def ros():
    with ros_client.PrivateRosNode('sgcp_ros_client_unit') as ros:
        yield ros


def test_label_listener_times_arrivals_and_reads_the_class_info_beside_them(ros):
    topic = '/sgcp_listener/labels'
    listener = ros_client.LabelListener(ros, topic, keep_data=True)
    publisher = ros.node.create_publisher(Image, topic, 10)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros.node.create_publisher(String, '/sgcp_listener/class_info', latched).publish(
        String(data=json.dumps({'names': ['road']})))
    labels = Image(height=1, width=1, encoding='mono8', step=1, data=b'\x03')
    labels.header.stamp.sec = 7
    before = time.time_ns()
    assert ros.spin_until(lambda: publisher.publish(labels) or listener.arrivals, 10.0)
    arrival = listener.arrivals[0]
    assert arrival.stamp_ns == 7 * 10**9 and before <= arrival.received_ns <= time.time_ns()
    assert arrival.data is not None and ros_client.header_stamp_ns(arrival.data) == 7 * 10**9
    assert ros.spin_until(lambda: listener.class_info, 10.0) == {'names': ['road']}
