# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sgcp_ros: the ROS 2 glue around sgcp_core (segmentation node, image module, bag tools, demo)."""

import os

# The most pixels a frame may have (max_image_pixels is at most this; 8000x8000 is
# accepted). OpenCV reads the most pixels its image decoders may produce once, when cv2 is
# first imported, and every sgcp_ros process imports this package before cv2: setting it
# here bounds the decoders themselves, whatever a header parser might misread.
MAX_DECODED_PIXELS = 64_000_000
os.environ.setdefault('OPENCV_IO_MAX_IMAGE_PIXELS', str(MAX_DECODED_PIXELS))
