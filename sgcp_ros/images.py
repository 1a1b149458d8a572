# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs Image / CompressedImage <-> numpy arrays: the one decoder and encoder.

The node, the bag tools, the demo and the video publisher all turn messages into pixels
here, so a frame one of them accepts every other accepts too. Messages are read by their
fields only (``encoding height width step is_bigendian data``; ``format data`` for
CompressedImage), which rclpy's classes and rosbags' classes share: a frame received live
and the same frame read from a bag decode identically. Nothing here imports rclpy; the
encoders build whichever message class they are given (rclpy's sensor_msgs by default).

Encodings are named as in sensor_msgs/image_encodings.hpp and listed once, in ``ENCODINGS``
(one table, as cv_bridge has one). Bayer names follow cv_bridge: ``bayer_rggb8`` is OpenCV's
``BayerBG`` because OpenCV names the pattern from the second row. Every malformed message
raises ``ImageConversionError`` naming the encoding or format and the numbers that do not
add up, so a log line alone tells a user what their camera driver sends wrong.

One size rule holds for every frame: at most ``max_pixels`` (8000x8000 = 64,000,000 by
default, inclusive). A CompressedImage must be JPEG or PNG, as read from its bytes; its
header's size is checked before decoding, OpenCV's decoders are bounded too (see
``sgcp_ros.MAX_DECODED_PIXELS``), and the decoded size is checked again.
"""

from __future__ import annotations

import array
import re
from dataclasses import dataclass

import cv2
import numpy as np

from sgcp_ros import MAX_DECODED_PIXELS

__all__ = ['ImageConversionError', 'Encoding', 'ENCODINGS', 'SUPPORTED_ENCODINGS',
           'LABEL_ENCODINGS', 'OUTPUT_ENCODINGS', 'COMPRESSED_FORMATS', 'image_to_rgb',
           'compressed_image_to_rgb', 'image_to_labels', 'array_to_image',
           'rgb_to_compressed', 'is_compressed', 'compressed_size', 'sniff_codec',
           'MAX_DECODED_PIXELS',
           'DEPTH_ENCODINGS', 'image_to_depth']


class ImageConversionError(ValueError):
    """A message cannot be turned into pixels (or pixels into a message); the text says why.

    Attributes:
        kind: the kind of fault: 'encoding' (not a format this module reads or writes), or
            a fault of the message itself: 'size', 'empty', 'step', 'data', 'decode';
            'output' for arrays that cannot be published.
        source: the message's encoding or compressed format. ``kind`` and ``source``
            together are a key to throttle log messages by.
    """

    def __init__(self, message: str, kind: str, source: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.source = source

    @property
    def unsupported(self) -> bool:
        """True when the format is not supported; False when the message is damaged."""
        return self.kind == 'encoding'


@dataclass(frozen=True)
class Encoding:
    """How one raw encoding is laid out and turned into RGB.

    Attributes:
        channels: values per pixel.
        channel_bytes: 1 or 2 (16-bit values follow ``is_bigendian``).
        to_rgb: OpenCV colour conversion to RGB, None when already RGB.
    """

    channels: int
    channel_bytes: int
    to_rgb: int | None


# The one table. A new encoding is one line here (and a test); everything that decodes
# frames picks it up.
ENCODINGS: dict[str, Encoding] = {
    'rgb8': Encoding(3, 1, None),
    'bgr8': Encoding(3, 1, cv2.COLOR_BGR2RGB),
    'rgba8': Encoding(4, 1, cv2.COLOR_RGBA2RGB),
    'bgra8': Encoding(4, 1, cv2.COLOR_BGRA2RGB),
    'mono8': Encoding(1, 1, cv2.COLOR_GRAY2RGB),
    'rgb16': Encoding(3, 2, None),
    'bgr16': Encoding(3, 2, cv2.COLOR_BGR2RGB),
    'rgba16': Encoding(4, 2, cv2.COLOR_RGBA2RGB),
    'bgra16': Encoding(4, 2, cv2.COLOR_BGRA2RGB),
    'mono16': Encoding(1, 2, cv2.COLOR_GRAY2RGB),
    'bayer_rggb8': Encoding(1, 1, cv2.COLOR_BayerBG2RGB),
    'bayer_bggr8': Encoding(1, 1, cv2.COLOR_BayerRG2RGB),
    'bayer_gbrg8': Encoding(1, 1, cv2.COLOR_BayerGR2RGB),
    'bayer_grbg8': Encoding(1, 1, cv2.COLOR_BayerGB2RGB),
    # YUV 4:2:2, two bytes a pixel: 'yuv422' is UYVY in image_encodings.hpp (as in cv_bridge),
    # 'uyvy' its newer name; 'yuyv' and 'yuv422_yuy2' are YUYV.
    'yuv422': Encoding(2, 1, cv2.COLOR_YUV2RGB_UYVY),
    'uyvy': Encoding(2, 1, cv2.COLOR_YUV2RGB_UYVY),
    'yuyv': Encoding(2, 1, cv2.COLOR_YUV2RGB_YUYV),
    'yuv422_yuy2': Encoding(2, 1, cv2.COLOR_YUV2RGB_YUYV),
}
SUPPORTED_ENCODINGS = tuple(ENCODINGS)
# Label maps: one 8-bit channel of class ids.
LABEL_ENCODINGS = ('mono8', '8UC1')
# What the encoders write: labels as mono8, colour images as rgb8 or bgr8.
OUTPUT_ENCODINGS = ('mono8', 'rgb8', 'bgr8')
COMPRESSED_FORMATS = ('jpeg', 'png')
# A frame of more pixels than ``max_pixels`` (at most MAX_DECODED_PIXELS, 64 MP: 8 times a 4K
# frame) is refused; a compressed one before it is decoded, from its header: a few KB of
# JPEG or PNG can otherwise demand gigabytes (a decompression bomb).

# 16 -> 8 bit is the fixed 0..65535 -> 0..255 scale cv_bridge uses, so brightness does not
# flicker with the content of each frame as min/max scaling would.
_SIXTEEN_TO_EIGHT_BIT = 255.0 / 65535.0


def is_compressed(msg) -> bool:
    """True for a CompressedImage (it has ``format``), False for an Image."""
    return hasattr(msg, 'format')


def _rows(msg, channels: int, channel_bytes: int) -> np.ndarray:
    """(H, W*C*B) uint8 view of an Image's pixel bytes, row padding (``step``) cut off."""
    encoding = msg.encoding
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f'{encoding} image has zero size {width}x{height}', 'size',
                                   encoding)
    data = np.frombuffer(msg.data, np.uint8) if len(msg.data) else None
    if data is None:
        raise ImageConversionError(f'{encoding} image {width}x{height} has no data', 'empty',
                                   encoding)
    row_bytes = width * channels * channel_bytes
    if step < row_bytes:
        raise ImageConversionError(
            f'{encoding} image {width}x{height}: step {step} is shorter than one row '
            f'({width} px * {channels * channel_bytes} bytes = {row_bytes})', 'step', encoding)
    if data.size != step * height:
        raise ImageConversionError(
            f'{encoding} image {width}x{height}: data has {data.size} bytes, expected '
            f'step * height = {step} * {height} = {step * height}', 'data', encoding)
    return data.reshape(height, step)[:, :row_bytes]


def image_to_rgb(msg, max_pixels: int = MAX_DECODED_PIXELS) -> np.ndarray:
    """Decode an Image (any of ``SUPPORTED_ENCODINGS``) or a CompressedImage (JPEG/PNG).

    Honours ``step`` row padding and ``is_bigendian``. A frame of more than ``max_pixels``
    pixels is refused before any conversion (a compressed one from its header, before it
    is decoded).

    Returns:
        (height, width, 3) uint8 RGB, C-contiguous. For unpadded rgb8 this is a view of
        ``msg.data`` (no copy), valid while the message lives; treat it as read-only.

    Raises:
        ImageConversionError: unsupported encoding, zero size, no data, ``step`` shorter
            than a row, ``len(data) != step * height``, or compressed bytes that do not
            decode.
    """
    if is_compressed(msg):
        return compressed_image_to_rgb(msg, max_pixels)
    encoding = msg.encoding
    if int(msg.height) * int(msg.width) > max_pixels:
        raise ImageConversionError(
            f'{encoding} image {msg.width}x{msg.height} has more than the {max_pixels} pixels '
            'accepted (max_image_pixels)', 'size', encoding)
    layout = ENCODINGS.get(encoding)
    if layout is None:
        raise ImageConversionError(
            f'unsupported image encoding {encoding!r}; supported: '
            f'{", ".join(SUPPORTED_ENCODINGS)} (or sensor_msgs/CompressedImage JPEG/PNG)',
            'encoding', encoding)
    rows = _rows(msg, layout.channels, layout.channel_bytes)
    height, width = int(msg.height), int(msg.width)
    shape = (height, width, layout.channels) if layout.channels > 1 else (height, width)
    if layout.channel_bytes == 2:
        byte_order = '>' if msg.is_bigendian else '<'
        # Copy into an aligned array first: the padded rows are a strided view.
        wide = np.ascontiguousarray(rows).view(f'{byte_order}u2').reshape(shape)
        pixels = cv2.convertScaleAbs(wide.astype(np.uint16), alpha=_SIXTEEN_TO_EIGHT_BIT)
    else:
        pixels = rows.reshape(shape)
    if layout.to_rgb is None:
        return np.ascontiguousarray(pixels)
    if layout.channels == 2 and width % 2:
        raise ImageConversionError(f'{encoding} image {width}x{height}: 4:2:2 needs an even '
                                   'width (two pixels share one U and one V)', 'size', encoding)
    return cv2.cvtColor(np.ascontiguousarray(pixels), layout.to_rgb)


def _decode_compressed(msg, flags: int, max_pixels: int = MAX_DECODED_PIXELS) -> np.ndarray:
    """The pixels of a JPEG or PNG CompressedImage as OpenCV decodes them with ``flags``.

    One size rule for every frame: the format is read from the bytes (not from the
    ``format`` string, which OpenCV ignores too), anything but JPEG or PNG is refused
    undecoded, the size the header declares must be at most ``max_pixels``, and so must the
    size decoded.
    """
    image_format = str(msg.format)
    if 'compresseddepth' in image_format.lower().replace(' ', ''):
        raise ImageConversionError(
            f'compressed format {image_format!r} is a depth image, not a camera frame',
            'encoding', image_format)
    if len(msg.data) == 0:
        raise ImageConversionError(f'compressed image (format {image_format!r}) has no data',
                                   'empty', image_format)
    data = np.frombuffer(msg.data, np.uint8)
    codec = sniff_codec(data[:_SIGNATURE_BYTES].tobytes())
    if codec not in COMPRESSED_FORMATS:
        if codec is None:
            raise ImageConversionError(
                f'compressed image (format {image_format!r}, {data.size} bytes) could not be '
                'decoded: not a JPEG or PNG', 'decode', image_format)
        raise ImageConversionError(
            f'format {codec} is not accepted: compressed frames must be jpeg or png (format '
            f'field {image_format!r}, {data.size} bytes); not decoded', 'encoding',
            image_format)
    size = compressed_size(data)
    if size is None:
        raise ImageConversionError(
            f'compressed image (format {image_format!r}, {data.size} bytes) could not be '
            f'decoded: no complete {codec.upper()} header with the image size; not decoded',
            'decode', image_format)
    if size[0] * size[1] > max_pixels:
        raise ImageConversionError(
            f'compressed image (format {image_format!r}, {data.size} bytes) declares '
            f'{size[1]}x{size[0]} pixels, more than the {max_pixels} accepted '
            '(max_image_pixels); not decoded', 'size', image_format)
    try:
        pixels = cv2.imdecode(data, flags)
    except cv2.error as error:   # OpenCV's own pixel limit (sgcp_ros sets it) and the like
        reason = str(error).strip().splitlines()[-1]
        raise ImageConversionError(
            f'compressed image (format {image_format!r}, {data.size} bytes) could not be '
            f'decoded: OpenCV refused it ({reason})', 'decode', image_format) from None
    if pixels is None:
        raise ImageConversionError(
            f'compressed image (format {image_format!r}, {data.size} bytes) could not be '
            f'decoded: not a complete {codec.upper()}', 'decode', image_format)
    if pixels.shape[0] * pixels.shape[1] > max_pixels:
        raise ImageConversionError(
            f'compressed image (format {image_format!r}, {data.size} bytes) decoded to '
            f'{pixels.shape[1]}x{pixels.shape[0]} pixels, more than the {max_pixels} accepted '
            '(max_image_pixels)', 'size', image_format)
    return pixels


# The formats OpenCV can decode, by their first bytes, so a refusal names what was sent.
_SIGNATURES = (
    ('jpeg', (b'\xff\xd8\xff',)),
    ('png', (b'\x89PNG\r\n\x1a\n',)),
    ('tiff', (b'II*\x00', b'MM\x00*', b'II+\x00', b'MM\x00+')),
    ('bmp', (b'BM',)),
    ('gif', (b'GIF87a', b'GIF89a')),
    ('jpeg2000', (b'\x00\x00\x00\x0cjP  \r\n\x87\n', b'\xff\x4f\xff\x51')),
    ('openexr', (b'\x76\x2f\x31\x01',)),
    ('radiance hdr', (b'#?RADIANCE', b'#?RGBE')),
    ('sun raster', (b'\x59\xa6\x6a\x95',)),
    ('pfm', (b'PF', b'Pf')),
    ('pnm', (b'P1', b'P2', b'P3', b'P4', b'P5', b'P6', b'P7')),
)
_SIGNATURE_BYTES = 16


def sniff_codec(head: bytes) -> str | None:
    """The image format the first bytes announce ('jpeg', 'png', 'webp', ...), or None."""
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    if head[4:8] == b'ftyp' and head[8:12] in (b'avif', b'avis', b'heic', b'heix', b'mif1'):
        return 'avif' if head[8:11] == b'avi' else 'heif'
    for codec, signatures in _SIGNATURES:
        if head.startswith(signatures):
            return codec
    return None


# JPEG markers followed by no length field: TEM and RST0..7 (SOI and EOI are handled
# on their own).
_JPEG_STANDALONE = frozenset((0x01, *range(0xD0, 0xD8)))
# SOF0..SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_FILL = re.compile(rb'\xff+')
_JPEG_MAX_SEGMENTS = 1000


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    """(height, width) of the first frame header, walking markers as libjpeg does.

    libjpeg skips any bytes before a marker's 0xFF, any number of 0xFF fill bytes, and
    0xFF00 pairs; a size read more strictly than the decoder reads it lets a bomb through.
    Real files have a few dozen segments before the frame header; a file that has not
    reached it after ``_JPEG_MAX_SEGMENTS`` is refused rather than walked on in Python.
    """
    position = 2                                       # after SOI
    for _ in range(_JPEG_MAX_SEGMENTS):
        start = raw.find(b'\xff', position)              # garbage before the marker
        if start < 0:
            return None
        position = _JPEG_FILL.match(raw, start).end()   # 0xFF and any fill bytes after it
        if position >= len(raw):
            return None
        marker = raw[position]
        position += 1
        if marker == 0x00 or marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA):               # SOI again, EOI or SOS before a frame
            return None
        if position + 2 > len(raw):
            return None
        length = int.from_bytes(raw[position:position + 2], 'big')
        if marker in _JPEG_FRAME_MARKERS:
            if length < 8 or position + 7 > len(raw):
                return None
            return (int.from_bytes(raw[position + 3:position + 5], 'big'),
                    int.from_bytes(raw[position + 5:position + 7], 'big'))
        if length < 2:
            return None
        position += length
    return None


def compressed_size(data: np.ndarray) -> tuple[int, int] | None:
    """(height, width) a PNG or JPEG declares in its header, None when neither is found.

    The PNG size is its IHDR chunk's, which must come first; the JPEG size is its first
    frame header's (any SOFn marker), found as libjpeg finds it. Only the first
    ``_HEADER_BYTES`` are copied unless the header runs past them (a size is only ever
    read from bytes that were there, so the answer is the whole buffer's).
    """
    size = _declared_size(data[:_HEADER_BYTES].tobytes())
    if size is None and data.size > _HEADER_BYTES:
        size = _declared_size(data.tobytes())
    return size


# Enough for the segments real JPEGs have before their frame header (EXIF included).
_HEADER_BYTES = 65536


def _declared_size(raw: bytes) -> tuple[int, int] | None:
    if raw[:8] == b'\x89PNG\r\n\x1a\n':
        if len(raw) < 24 or raw[12:16] != b'IHDR':
            return None
        return int.from_bytes(raw[20:24], 'big'), int.from_bytes(raw[16:20], 'big')
    if raw[:2] != b'\xff\xd8':
        return None
    return _jpeg_size(raw)


def compressed_image_to_rgb(msg, max_pixels: int = MAX_DECODED_PIXELS) -> np.ndarray:
    """Decode a JPEG or PNG CompressedImage (any format string image_transport writes).

    Returns:
        (H, W, 3) uint8 RGB, C-contiguous.

    Raises:
        ImageConversionError: a depth format, empty data, a format other than JPEG or PNG,
            a header declaring more than ``max_pixels`` pixels, or bytes OpenCV cannot
            decode.
    """
    return cv2.cvtColor(_decode_compressed(msg, cv2.IMREAD_COLOR, max_pixels),
                        cv2.COLOR_BGR2RGB)


def image_to_labels(msg) -> np.ndarray:
    """(H, W) uint8 class ids from a mono8/8UC1 Image or a one-channel PNG CompressedImage.

    Raises:
        ImageConversionError: not one 8-bit channel of class ids, or a damaged message.
    """
    if is_compressed(msg):
        labels = _decode_compressed(msg, cv2.IMREAD_UNCHANGED)
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise ImageConversionError(
                f'compressed label ({msg.format!r}) decodes to {labels.shape} {labels.dtype}; '
                'expected one 8-bit channel of class ids', 'encoding', str(msg.format))
        return labels
    if msg.encoding not in LABEL_ENCODINGS:
        raise ImageConversionError(
            f'label encoding {msg.encoding!r} is not supported; expected '
            f'{" or ".join(LABEL_ENCODINGS)} class ids', 'encoding', msg.encoding)
    return np.array(_rows(msg, 1, 1), copy=True, order='C')


# Depth images (REP 118): 16UC1 in millimetres, 32FC1 in metres; mono16 is what some
# drivers call their 16-bit millimetre depth.
DEPTH_ENCODINGS = {'16UC1': 'u2', 'mono16': 'u2', '32FC1': 'f4'}


def image_to_depth(msg) -> np.ndarray:
    """(H, W) depth from a 16UC1/mono16 (uint16 millimetres) or 32FC1 (float32 metres) Image.

    Honours ``step`` row padding and ``is_bigendian``; the values are returned unscaled in
    the message's own unit (0 or NaN = no reading, as the driver wrote them).

    Raises:
        ImageConversionError: another encoding, or a damaged message.
    """
    if is_compressed(msg):
        raise ImageConversionError(
            f'compressed depth ({msg.format!r}) is not supported; subscribe the raw depth '
            'image (16UC1 or 32FC1)', 'encoding', str(msg.format))
    kind = DEPTH_ENCODINGS.get(msg.encoding)
    if kind is None:
        raise ImageConversionError(
            f'depth encoding {msg.encoding!r} is not supported; expected '
            f'{", ".join(DEPTH_ENCODINGS)}', 'encoding', msg.encoding)
    rows = _rows(msg, 1, int(kind[1]))
    byte_order = '>' if msg.is_bigendian else '<'
    depth = np.ascontiguousarray(rows).view(byte_order + kind).reshape(rows.shape[0], -1)
    return depth.astype(np.uint16 if kind == 'u2' else np.float32, copy=byte_order == '>')


def _default_image_class():
    from sensor_msgs.msg import Image
    return Image


def _default_compressed_class():
    from sensor_msgs.msg import CompressedImage
    return CompressedImage


def _byte_field(message_class, buffer: np.ndarray):
    """``data`` as each message flavour stores it: rosbags classes hold a uint8 ndarray;
    rclpy's take array.array('B') without the per-element check a bytes object costs."""
    if hasattr(message_class, '__msgtype__'):
        return buffer.reshape(-1)
    data = array.array('B')
    data.frombytes(buffer)
    return data


def array_to_image(pixels: np.ndarray, header, colour_order: str = 'rgb8',
                   message_class=None):
    """Wrap (H, W) uint8 as mono8 or (H, W, 3) uint8 RGB as rgb8 / bgr8, reusing ``header``.

    The header object is shared, not copied: outputs carry the input's stamp and frame_id
    unchanged, which is what lets consumers pair them with the camera frame.

    Args:
        pixels: (H, W) or (H, W, 3) uint8, any strides (packed into rows without padding).
        header: the header to publish with (of ``message_class``'s flavour).
        colour_order: 'rgb8' or 'bgr8', the channel order of a 3-channel ``pixels``.
        message_class: the Image class to build: rclpy's ``sensor_msgs.msg.Image`` (the
            default) or a rosbags typestore's.
    """
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (
            pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ImageConversionError(
            f'can only publish (H, W) uint8 as mono8 or (H, W, 3) uint8 as rgb8/bgr8, got '
            f'shape {pixels.shape} dtype {pixels.dtype}', 'output', str(pixels.dtype))
    if colour_order not in ('rgb8', 'bgr8'):
        raise ImageConversionError(f'colour_order must be rgb8 or bgr8, got {colour_order!r}',
                                   'output', colour_order)
    message_class = message_class or _default_image_class()
    pixels = np.ascontiguousarray(pixels)
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    return message_class(header=header, height=height, width=width,
                         encoding='mono8' if pixels.ndim == 2 else colour_order,
                         is_bigendian=0, step=int(pixels.strides[0]),
                         data=_byte_field(message_class, pixels))


def rgb_to_compressed(rgb: np.ndarray, header, image_format: str = 'jpeg',
                      jpeg_quality: int = 95, message_class=None):
    """CompressedImage (``jpeg`` or ``png``) from rgb (H, W, 3) uint8, reusing ``header``.

    The format string is the one image_transport's compressed plugin writes.
    """
    if image_format not in COMPRESSED_FORMATS:
        raise ImageConversionError(f'cannot write format {image_format!r}; use jpeg or png',
                                   'encoding', image_format)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageConversionError(f'expected (H, W, 3) uint8 RGB, got shape {rgb.shape} '
                                   f'dtype {rgb.dtype}', 'output', str(rgb.dtype))
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if image_format == 'jpeg' else []
    ok, encoded = cv2.imencode('.jpg' if image_format == 'jpeg' else '.png',
                               cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageConversionError(f'OpenCV could not encode a {rgb.shape} frame as '
                                   f'{image_format}', 'output', image_format)
    message_class = message_class or _default_compressed_class()
    return message_class(header=header, format=f'rgb8; {image_format} compressed bgr8',
                         data=_byte_field(message_class, encoded))
