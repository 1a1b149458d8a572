# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One camera of the segmentation node: its input, outputs, robot outputs and statistics.

The node serves one camera per ``CameraStream``, all through one model and one worker.
The unnamed camera ('') is the node's only one when its ``cameras`` parameter is empty,
with the topic names the node always had; a named camera NAME reads NAME/image and
publishes under ~/NAME/:

    in:  NAME/image (or <NAME/image>/compressed), NAME/camera_info, NAME/depth
    out: ~/NAME/labels, ~/NAME/color_mask, ~/NAME/overlay, ~/NAME/overlay/compressed and
         ~/NAME/camera_info, ~/NAME/confidence, ~/NAME/points, ~/NAME/label_info
         (``sgcp_ros.robot_outputs``); ~/NAME/class_info is the node's, with the model.
"""

from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from sgcp_ros.diagnostics import FrameStatistics
from sgcp_ros.images import array_to_image, rgb_to_compressed
from sgcp_ros.parameters import NodeConfig
from sgcp_ros.robot_outputs import RobotOutputs

__all__ = ['CameraStream', 'OUTPUT_QOS', 'input_qos', 'topic_prefix']

# Outputs: reliable writers match reliable and best-effort readers (RViz, rosbag, tools);
# depth 1 because only the newest result matters.
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.RELIABLE)


def input_qos(config: NodeConfig) -> QoSProfile:
    """The QoS of the image (and camera_info and depth) subscriptions."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=config.input_qos_depth,
                      reliability=(ReliabilityPolicy.BEST_EFFORT
                                   if config.input_qos_reliability == 'best_effort'
                                   else ReliabilityPolicy.RELIABLE))


def topic_prefix(camera: str) -> str:
    """What a camera's topic names start with: 'front/' for camera front, '' for the only
    camera of a node without a cameras parameter."""
    return f'{camera}/' if camera else ''


class CameraStream:
    """Publishers, subscription, robot outputs and statistics of one camera.

    Args:
        node: the segmentation node, owner of every publisher and subscription.
        name: the camera's name, '' for the node's only camera.
        config: the node's configuration (input QoS, image transport).
        segmenter: the node's model (the robot outputs describe its classes).
        robot_config: ``read_outputs_config(node)``: the output size and cloud choices.
        statistics: where this camera's frames are counted.
        on_frame: the node's subscription callback, called with (camera, message).
        log_problem: the node's throttled error log, ``(key, text)``.
    """

    def __init__(self, node: Node, name: str, config: NodeConfig, segmenter, robot_config,
                 statistics: FrameStatistics, on_frame, log_problem) -> None:
        self.name = name
        self.stats = statistics
        self._node = node
        self._on_frame = on_frame
        prefix = topic_prefix(name)
        self.image_topic = node.resolve_topic_name(f'{prefix}image')
        # image_transport's convention: the compressed stream of topic T is T/compressed,
        # after remapping (-r image:=/camera/image_raw -> /camera/image_raw/compressed).
        self.compressed = config.image_transport == 'compressed'
        self.input_topic = self.image_topic + ('/compressed' if self.compressed else '')
        # Raw: the relative name, as the node always subscribed it (remapping applies once).
        self._subscribe_as = self.input_topic if self.compressed else f'{prefix}image'
        self._qos = input_qos(config)
        self.subscription = None
        self.outputs = {
            'labels': node.create_publisher(Image, f'~/{prefix}labels', OUTPUT_QOS),
            'color_mask': node.create_publisher(Image, f'~/{prefix}color_mask', OUTPUT_QOS),
            'overlay': node.create_publisher(Image, f'~/{prefix}overlay', OUTPUT_QOS),
            # <overlay>/compressed after remapping, as image_transport names it.
            'overlay_jpeg': node.create_publisher(
                CompressedImage, node.resolve_topic_name(f'~/{prefix}overlay') + '/compressed',
                OUTPUT_QOS),
        }
        outputs, cloud = robot_config
        self.robot_outputs = RobotOutputs(node, segmenter, outputs, cloud, self.image_topic,
                                          self._qos, log_problem, camera=name)
        self.facts = {'camera': name, 'image topic': self.input_topic} if name else {}

    @property
    def label(self) -> str:
        """'camera NAME: ' for log lines about a named camera, else ''."""
        return f'camera {self.name}: ' if self.name else ''

    # -- input (activate / deactivate, ~/enable) -----------------------------------------
    def subscribe(self) -> None:
        message_type = CompressedImage if self.compressed else Image
        self.subscription = self._node.create_subscription(
            message_type, self._subscribe_as, lambda msg: self._on_frame(self, msg), self._qos)
        self.input_topic = self.subscription.topic_name

    def unsubscribe(self) -> None:
        if self.subscription is not None:
            self._node.destroy_subscription(self.subscription)
        self.subscription = None

    def publishers_on_input(self) -> int:
        """Publishers matched on the input topic now (0 while unsubscribed)."""
        return self._node.count_publishers(self.input_topic) if self.subscription else 0

    def close(self) -> None:
        """Unsubscribe and remove every output (the worker no longer publishes)."""
        self.unsubscribe()
        for publisher in self.outputs.values():
            self._node.destroy_publisher(publisher)
        self.outputs = {}
        self.robot_outputs.close()

    # -- worker side ---------------------------------------------------------------------
    def segment_options(self, config: NodeConfig, overlay_alpha: float) -> dict:
        """``Segmenter.segment`` keyword arguments for this camera's next frame: only what
        has subscribers is computed."""
        outputs = self.outputs
        want_overlay = config.publish_overlay and (
            outputs['overlay'].get_subscription_count() > 0
            or outputs['overlay_jpeg'].get_subscription_count() > 0)
        want_color = (config.publish_color_mask
                      and outputs['color_mask'].get_subscription_count() > 0)
        return dict(want_color=want_color, want_overlay=want_overlay,
                    overlay_alpha=overlay_alpha, **self.robot_outputs.segment_options())

    def publish(self, header, result, config: NodeConfig) -> None:
        """Labels, colour mask and overlay of one segmented frame, with its input header."""
        outputs = self.outputs
        if config.publish_labels:
            outputs['labels'].publish(array_to_image(result.labels, header))
        if result.color_mask is not None:
            outputs['color_mask'].publish(array_to_image(result.color_mask, header))
        if result.overlay is not None:
            outputs['overlay'].publish(array_to_image(result.overlay, header))
            if outputs['overlay_jpeg'].get_subscription_count() > 0:
                outputs['overlay_jpeg'].publish(rgb_to_compressed(
                    result.overlay, header, 'jpeg', jpeg_quality=config.overlay_jpeg_quality))
