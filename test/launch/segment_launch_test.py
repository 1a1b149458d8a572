# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""launch_testing test of the installed segment.launch.py: a frame in, labels out, clean exit.

Run by test/test_as_ros_user.py as a ROS user would:

    launch_test test/launch/segment_launch_test.py model:=/path/model.pt

(the file name keeps pytest from collecting it directly). It includes the launch file from
the package's share folder (the ament index), so it also proves the install layout.
"""

import os
import time
import unittest

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
import launch_testing
import launch_testing.actions
import launch_testing.asserts
import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

NAMESPACE = '/sgcp_launch_testing'
OUTPUT = f'{NAMESPACE}/sgcp_segmentation'
CAMERA = f'{NAMESPACE}/camera'


@pytest.mark.launch_test
def generate_test_description():
    launch_file = os.path.join(get_package_share_directory('sgcp_ros'), 'launch',
                               'segment.launch.py')
    return LaunchDescription([
        DeclareLaunchArgument('model', default_value=''),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(launch_file), launch_arguments={
            'namespace': NAMESPACE.strip('/'), 'image': CAMERA,
            'model': LaunchConfiguration('model'), 'large_images': 'true'}.items()),
        launch_testing.actions.ReadyToTest(),
    ])


class TestLabelsArrive(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('sgcp_launch_testing_probe')

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def spin_until(self, predicate, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            rclpy.spin_once(self.node, timeout_sec=0.1)
        self.fail(f'timed out after {timeout_s} s waiting for {what}')

    def test_a_frame_gets_labels_with_its_header(self):
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        class_info, labels = [], []
        self.node.create_subscription(String, f'{OUTPUT}/class_info', class_info.append,
                                      latched)
        self.node.create_subscription(Image, f'{OUTPUT}/labels', labels.append, 10)
        publisher = self.node.create_publisher(Image, CAMERA, 1)
        self.spin_until(lambda: class_info, 180.0, 'the launched node to load its model')
        frame = Image(height=120, width=160, encoding='rgb8', step=480,
                      data=np.random.default_rng(0).integers(0, 255, 120 * 480, np.uint8)
                      .tobytes())
        frame.header.frame_id = 'launch_testing'
        frame.header.stamp = self.node.get_clock().now().to_msg()
        last = [0.0]

        def answered():
            if time.monotonic() - last[0] > 1.0:  # best-effort input: send again
                publisher.publish(frame)
                last[0] = time.monotonic()
            return any(m.header.frame_id == 'launch_testing' for m in labels)
        self.spin_until(answered, 60.0, 'labels for the frame')
        reply = next(m for m in labels if m.header.frame_id == 'launch_testing')
        self.assertEqual((reply.encoding, reply.height, reply.width), ('mono8', 120, 160))
        self.assertEqual(reply.header.stamp, frame.header.stamp)


@launch_testing.post_shutdown_test()
class TestCleanExit(unittest.TestCase):

    def test_every_process_exited_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
