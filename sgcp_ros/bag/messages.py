# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs Image / CompressedImage <-> ndarray for rosbags' message classes (no rclpy).

rosbags' CDR bytes are the ones rclpy publishes, so a message built here can be written to a
bag or published raw, and a message read from a bag or received raw decodes here.

Encodings follow sensor_msgs/image_encodings.hpp; the Bayer mapping follows cv_bridge
(``bayer_rggb8`` is OpenCV's ``BayerBG``, OpenCV names the pattern from the second row).
"""

from __future__ import annotations

import cv2
import numpy as np
from rosbags.typesys import Stores, get_typestore

__all__ = ['TYPESTORE', 'IMAGE_TYPE', 'COMPRESSED_IMAGE_TYPE', 'IMAGE_TYPES', 'FrameError',
           'UnsupportedEncodingError', 'CorruptFrameError', 'RGB_ENCODINGS', 'LABEL_ENCODINGS',
           'stamp_to_ns', 'make_header', 'rgb_to_image', 'rgb_to_compressed',
           'labels_to_image', 'image_to_rgb', 'image_to_labels', 'deserialize',
           'serialize']

# Kilted is the distribution rclpy comes from here; Image and CompressedImage are unchanged
# since Foxy, so the bags read on any ROS 2 distribution.
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)

_Image = TYPESTORE.types[IMAGE_TYPE]
_CompressedImage = TYPESTORE.types[COMPRESSED_IMAGE_TYPE]
_Header = TYPESTORE.types['std_msgs/msg/Header']
_Time = TYPESTORE.types['builtin_interfaces/msg/Time']

# encoding -> (channels, cv2 conversion to RGB or None when already RGB)
_COLOR_CONVERSIONS = {
    'rgb8': (3, None),
    'bgr8': (3, cv2.COLOR_BGR2RGB),
    'rgba8': (4, cv2.COLOR_RGBA2RGB),
    'bgra8': (4, cv2.COLOR_BGRA2RGB),
    'mono8': (1, cv2.COLOR_GRAY2RGB),
    'bayer_rggb8': (1, cv2.COLOR_BayerBG2RGB),
    'bayer_bggr8': (1, cv2.COLOR_BayerRG2RGB),
    'bayer_gbrg8': (1, cv2.COLOR_BayerGR2RGB),
    'bayer_grbg8': (1, cv2.COLOR_BayerGB2RGB),
}
_SIXTEEN_BIT = {'rgb16': 'rgb8', 'bgr16': 'bgr8', 'rgba16': 'rgba8', 'bgra16': 'bgra8',
                'mono16': 'mono8'}
RGB_ENCODINGS = tuple(_COLOR_CONVERSIONS) + tuple(_SIXTEEN_BIT)
LABEL_ENCODINGS = ('mono8', '8UC1')


class FrameError(ValueError):
    """One message cannot be turned into a frame; the message says why."""


class UnsupportedEncodingError(FrameError):
    """The frame's encoding (or compressed format) is not one this tool decodes."""


class CorruptFrameError(FrameError):
    """The frame's fields disagree with its data (size, step) or its bytes do not decode."""


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def make_header(stamp_ns: int, frame_id: str):
    """std_msgs/Header with the stamp ``stamp_ns`` (integer nanoseconds since the epoch)."""
    seconds, nanoseconds = divmod(int(stamp_ns), 1_000_000_000)
    return _Header(stamp=_Time(sec=seconds, nanosec=nanoseconds), frame_id=frame_id)


def rgb_to_image(rgb: np.ndarray, header, encoding: str = 'rgb8'):
    """sensor_msgs/Image from rgb (H, W, 3) uint8, stored as ``rgb8`` or ``bgr8``."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}')
    if encoding == 'bgr8':
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif encoding == 'rgb8':
        pixels = rgb
    else:
        raise UnsupportedEncodingError(f'cannot write encoding {encoding!r}; use rgb8 or bgr8')
    height, width = rgb.shape[:2]
    return _Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
                  step=width * 3, data=np.ascontiguousarray(pixels).reshape(-1))


def rgb_to_compressed(rgb: np.ndarray, header, image_format: str = 'jpeg',
                      jpeg_quality: int = 95):
    """sensor_msgs/CompressedImage (``jpeg`` or ``png``) from rgb (H, W, 3) uint8."""
    if image_format not in ('jpeg', 'png'):
        raise UnsupportedEncodingError(f'cannot write format {image_format!r}; use jpeg or png')
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if image_format == 'jpeg' else []
    ok, encoded = cv2.imencode('.jpg' if image_format == 'jpeg' else '.png',
                               cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f'OpenCV could not encode a {rgb.shape} frame as {image_format}')
    # image_transport's compressed plugin writes "<encoding>; <format> compressed <encoding>".
    return _CompressedImage(header=header, format=f'rgb8; {image_format} compressed bgr8',
                            data=encoded.reshape(-1))


def labels_to_image(labels: np.ndarray, header):
    """mono8 sensor_msgs/Image from labels (H, W) uint8 (class ids, 255 = unknown)."""
    if labels.dtype != np.uint8 or labels.ndim != 2:
        raise ValueError(f'expected (H, W) uint8 labels, got {labels.shape} {labels.dtype}')
    height, width = labels.shape
    return _Image(header=header, height=height, width=width, encoding='mono8', is_bigendian=0,
                  step=width, data=np.ascontiguousarray(labels).reshape(-1))


def _pixels(msg, channels: int, bytes_per_channel: int) -> np.ndarray:
    """(H, W, C) or (H, W) view of an Image's data, honouring row padding in ``step``."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * bytes_per_channel
    data = np.asarray(msg.data, np.uint8).reshape(-1)
    if height == 0 or width == 0:
        raise CorruptFrameError(f'{msg.encoding} frame is {width}x{height}')
    if step < row_bytes:
        raise CorruptFrameError(f'{msg.encoding} frame {width}x{height}: step {step} is less '
                                f'than a row ({row_bytes} bytes)')
    if data.size < step * height:
        raise CorruptFrameError(f'{msg.encoding} frame {width}x{height}: {data.size} data '
                                f'bytes, expected step*height = {step * height}')
    rows = data[:step * height].reshape(height, step)[:, :row_bytes]
    if bytes_per_channel == 2:
        dtype = np.dtype('>u2' if msg.is_bigendian else '<u2')
        rows = np.ascontiguousarray(rows).view(dtype).astype(np.float32)
        # The fixed 0..65535 -> 0..255 scale of cv_bridge (and of the node's conversions),
        # so a frame looks the same offline and live and never flickers with its content.
        rows = np.rint(rows * (255.0 / 65535.0)).astype(np.uint8)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rows.reshape(shape)


def image_to_rgb(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a rosbags Image or CompressedImage.

    Raises:
        UnsupportedEncodingError: the encoding or compressed format is not decodable here.
        CorruptFrameError: the data does not match the declared size or does not decode.
    """
    if hasattr(msg, 'format'):
        return _compressed_to_rgb(msg)
    encoding = str(msg.encoding)
    bytes_per_channel = 1
    if encoding in _SIXTEEN_BIT:
        encoding, bytes_per_channel = _SIXTEEN_BIT[encoding], 2
    if encoding not in _COLOR_CONVERSIONS:
        raise UnsupportedEncodingError(f'image encoding {msg.encoding!r} is not supported; '
                                       f'supported: {", ".join(RGB_ENCODINGS)}')
    channels, conversion = _COLOR_CONVERSIONS[encoding]
    pixels = _pixels(msg, channels, bytes_per_channel)
    if conversion is None:
        # A copy: the message's buffer is read-only and may be reused by its owner.
        return np.array(pixels, copy=True, order='C')
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def _compressed_to_rgb(msg) -> np.ndarray:
    image_format = str(msg.format)
    if 'compresseddepth' in image_format.lower().replace(' ', ''):
        raise UnsupportedEncodingError(f'compressed format {image_format!r} is a depth image, '
                                       'not a camera frame')
    data = np.asarray(msg.data, np.uint8).reshape(-1)
    if data.size == 0:
        raise CorruptFrameError(f'compressed frame ({image_format!r}) has no data')
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise CorruptFrameError(f'compressed frame ({image_format!r}, {data.size} bytes) '
                                'does not decode')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_to_labels(msg) -> np.ndarray:
    """(H, W) uint8 class ids from a mono8/8UC1 Image or a single-channel PNG CompressedImage.

    Raises:
        UnsupportedEncodingError: not a single-channel 8-bit label image.
        CorruptFrameError: the data does not match the declared size or does not decode.
    """
    if hasattr(msg, 'format'):
        data = np.asarray(msg.data, np.uint8).reshape(-1)
        labels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if labels is None:
            raise CorruptFrameError(f'compressed label ({msg.format!r}) does not decode')
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise UnsupportedEncodingError(f'compressed label ({msg.format!r}) decodes to '
                                           f'{labels.shape} {labels.dtype}; expected one '
                                           '8-bit channel of class ids')
        return labels
    if str(msg.encoding) not in LABEL_ENCODINGS:
        raise UnsupportedEncodingError(f'label encoding {msg.encoding!r} is not supported; '
                                       f'expected {" or ".join(LABEL_ENCODINGS)} class ids')
    return np.array(_pixels(msg, 1, 1), copy=True, order='C')


def deserialize(data: bytes | memoryview, msgtype: str):
    """A rosbags message from CDR bytes (as stored in a bag or received raw)."""
    return TYPESTORE.deserialize_cdr(data, msgtype)


def serialize(msg) -> bytes:
    """CDR bytes of a rosbags message, byte-identical to rclpy's serialisation."""
    return bytes(TYPESTORE.serialize_cdr(msg, msg.__msgtype__))
