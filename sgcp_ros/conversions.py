# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs Image / CompressedImage <-> numpy arrays, without cv_bridge.

Inputs become (H, W, 3) uint8 RGB, C-contiguous, which is what ``sgcp_core.Segmenter``
takes. Outputs are built from (H, W) uint8 labels (mono8) or (H, W, 3) uint8 RGB (rgb8).
Every malformed message raises ``ImageConversionError`` with a message that names the
encoding or format and the numbers that do not add up, so a log line alone tells a user
what their camera driver sends wrong.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

__all__ = ['ImageConversionError', 'SUPPORTED_ENCODINGS', 'image_to_rgb',
           'compressed_image_to_rgb', 'array_to_image']

# encoding -> (channels, bytes per channel, OpenCV conversion to RGB or None).
_INPUT_LAYOUTS = {
    'rgb8': (3, 1, None),
    'bgr8': (3, 1, cv2.COLOR_BGR2RGB),
    'rgba8': (4, 1, cv2.COLOR_RGBA2RGB),
    'bgra8': (4, 1, cv2.COLOR_BGRA2RGB),
    'mono8': (1, 1, cv2.COLOR_GRAY2RGB),
    'mono16': (1, 2, cv2.COLOR_GRAY2RGB),
}
SUPPORTED_ENCODINGS = tuple(_INPUT_LAYOUTS)

# mono16 is mapped 0..65535 -> 0..255, the fixed scale cv_bridge uses for 16 -> 8 bit, so
# brightness does not flicker with the content of each frame as min/max scaling would.
_MONO16_TO_8_SCALE = 255.0 / 65535.0


class ImageConversionError(ValueError):
    """A message cannot be turned into an RGB frame; the text says why.

    Attributes:
        kind: the kind of fault ('encoding', 'size', 'empty', 'step', 'data', 'decode',
            'output'),
            with ``source`` (the encoding or format) a key to throttle log messages by.
        source: the message's encoding or compressed format.
    """

    def __init__(self, message: str, kind: str, source: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.source = source


def image_to_rgb(msg: Image) -> np.ndarray:
    """Decode a raw Image message, honouring ``step`` row padding and ``is_bigendian``.

    Args:
        msg: sensor_msgs/Image in one of ``SUPPORTED_ENCODINGS``.

    Returns:
        (height, width, 3) uint8 RGB, C-contiguous. For unpadded rgb8 this is a view of
        ``msg.data`` (no copy), valid while the message lives; treat it as read-only.

    Raises:
        ImageConversionError: unsupported encoding, zero size, no data, ``step`` shorter
            than a row, or ``len(data) != step * height``.
    """
    encoding = msg.encoding
    if encoding not in _INPUT_LAYOUTS:
        raise ImageConversionError(
            f'unsupported image encoding {encoding!r}; supported: '
            f'{", ".join(SUPPORTED_ENCODINGS)} (or sensor_msgs/CompressedImage JPEG/PNG)',
            'encoding', encoding)
    channels, channel_bytes, to_rgb = _INPUT_LAYOUTS[encoding]
    height, width, step = msg.height, msg.width, msg.step
    if height == 0 or width == 0:
        raise ImageConversionError(f'{encoding} image has zero size {width}x{height}', 'size',
                                   encoding)
    if len(msg.data) == 0:
        raise ImageConversionError(f'{encoding} image {width}x{height} has no data', 'empty',
                                   encoding)
    row_bytes = width * channels * channel_bytes
    if step < row_bytes:
        raise ImageConversionError(
            f'{encoding} image {width}x{height}: step {step} is shorter than one row '
            f'({width} px * {channels * channel_bytes} bytes = {row_bytes})', 'step', encoding)
    if len(msg.data) != step * height:
        raise ImageConversionError(
            f'{encoding} image {width}x{height}: data has {len(msg.data)} bytes, expected '
            f'step * height = {step} * {height} = {step * height}', 'data', encoding)
    rows = np.frombuffer(msg.data, np.uint8).reshape(height, step)[:, :row_bytes]
    if channel_bytes == 2:
        byte_order = '>' if msg.is_bigendian else '<'
        # Copy into an aligned native array first: the padded rows are a strided view.
        mono16 = np.ascontiguousarray(rows).view(f'{byte_order}u2').reshape(height, width)
        pixels = cv2.convertScaleAbs(mono16.astype(np.uint16), alpha=_MONO16_TO_8_SCALE)
    else:
        pixels = rows.reshape(height, width, channels) if channels > 1 else rows
    if to_rgb is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), to_rgb)


def compressed_image_to_rgb(msg: CompressedImage) -> np.ndarray:
    """Decode a JPEG or PNG CompressedImage (any format string image_transport writes).

    Returns:
        (H, W, 3) uint8 RGB, C-contiguous.

    Raises:
        ImageConversionError: empty data or bytes OpenCV cannot decode.
    """
    if len(msg.data) == 0:
        raise ImageConversionError(f'compressed image (format {msg.format!r}) has no data',
                                   'empty', msg.format)
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(
            f'compressed image (format {msg.format!r}, {len(msg.data)} bytes) could not be '
            'decoded: not a complete JPEG or PNG', 'decode', msg.format)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def array_to_image(pixels: np.ndarray, header: Header, colour_order: str = 'rgb8') -> Image:
    """Wrap (H, W) uint8 as mono8 or (H, W, 3) uint8 as rgb8 / bgr8, reusing ``header``.

    The header object is shared, not copied: outputs carry the input's stamp and frame_id
    unchanged, which is what lets consumers pair them with the camera frame.

    Args:
        pixels: (H, W) or (H, W, 3) uint8, any strides (packed into rows without padding).
        header: the header to publish with.
        colour_order: 'rgb8' or 'bgr8', the channel order of a 3-channel ``pixels``.
    """
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (
            pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ImageConversionError(
            f'can only publish (H, W) uint8 as mono8 or (H, W, 3) uint8 as rgb8/bgr8, got '
            f'shape {pixels.shape} dtype {pixels.dtype}', 'output', str(pixels.dtype))
    if colour_order not in ('rgb8', 'bgr8'):
        raise ImageConversionError(f'colour_order must be rgb8 or bgr8, got {colour_order!r}',
                                   'output', colour_order)
    pixels = np.ascontiguousarray(pixels)
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = 'mono8' if pixels.ndim == 2 else colour_order
    msg.is_bigendian = 0
    msg.step = int(pixels.strides[0])
    # array.array is the field's own type: assigning it skips the per-element check the
    # generated setter would otherwise run on a bytes object.
    data = array.array('B')
    data.frombytes(pixels)
    msg.data = data
    return msg
