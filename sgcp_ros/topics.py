# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Topic names the tools agree on, in one place (no rclpy import).

The node's own names are relative (``image`` in; ``~/labels`` ... out) so remapping and
namespaces place them; the absolute names below are where they land with no namespace,
which is what the bag tools talk to by default.
"""

NODE_NAME = 'sgcp_segmentation'
# The node's input and outputs, as seen from outside with no namespace or remapping.
NODE_IMAGE = '/image'
NODE_LABELS = f'/{NODE_NAME}/labels'
# Where make_bag puts camera frames and ground truth, and the other tools look first.
BAG_IMAGE = '/camera/image_raw'
BAG_LABELS = '/camera/ground_truth'
# What evaluate_bag --write-bag adds beside the input topics.
BAG_PREDICTIONS = '/sgcp/labels'
BAG_OVERLAY = '/sgcp/overlay'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)


def class_info_topic(labels_topic: str) -> str:
    """The node's class_info topic beside its labels topic (same namespace)."""
    return labels_topic.rsplit('/', 1)[0] + '/class_info'
