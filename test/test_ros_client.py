# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS client side the tools share (``sgcp_ros.ros_client``), in one process, with the
rclpy differences it bridges: message info in callbacks and matched publisher counts
arrived after Humble."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from sensor_msgs.msg import Image  # noqa: E402

from sgcp_ros import ros_client  # noqa: E402


@pytest.fixture
def ros():
    with ros_client.PrivateRosNode('sgcp_ros_client_unit') as ros:
        yield ros


@pytest.mark.parametrize('message_info', [True, False])   # False: Humble's rclpy
def test_label_listener_times_arrivals_with_or_without_message_info(
        ros, monkeypatch, message_info):
    if not message_info:
        monkeypatch.setattr(ros_client, 'rclpy_gives_message_info', lambda: False)
    assert ros_client.rclpy_gives_message_info() == message_info
    topic = f'/sgcp_listener_{message_info}/labels'
    listener = ros_client.LabelListener(ros, topic)
    publisher = ros.node.create_publisher(Image, topic, 10)
    labels = Image(height=1, width=1, encoding='mono8', step=1, data=b'\x03')
    labels.header.stamp.sec = 7
    before = time.time_ns()
    assert ros.spin_until(lambda: publisher.publish(labels) or listener.arrivals, 10.0)
    arrival = listener.arrivals[0]
    assert arrival.stamp_ns == 7 * 10**9 and before <= arrival.received_ns <= time.time_ns()


def test_matched_publishers_with_and_without_rclpys_matched_count(ros):
    matched_publishers = ros_client.matched_publishers
    topic = '/sgcp_matched_publishers/labels'
    subscription = ros.node.create_subscription(Image, topic, lambda msg: None, 10)
    before_iron = SimpleNamespace(topic_name=subscription.topic_name)   # no matched count
    assert matched_publishers(ros.node, subscription) == 0
    assert matched_publishers(ros.node, before_iron) == 0
    ros.node.create_publisher(Image, topic, 10)
    assert ros.spin_until(lambda: matched_publishers(ros.node, subscription) == 1, 10.0)
    assert matched_publishers(ros.node, before_iron) == 1
