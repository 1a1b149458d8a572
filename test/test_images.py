# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one image module: Image / CompressedImage <-> ndarray on real CamVid frames, padded
rows and bad messages, with rclpy's message classes and with rosbags' alike."""

import io
import os
import resource
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest

pytest.importorskip('sensor_msgs.msg', reason='sensor_msgs (ROS 2) is not installed')

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from sgcp_ros.images import (SUPPORTED_ENCODINGS, ImageConversionError,  # noqa: E402
                             array_to_image, compressed_image_to_rgb, compressed_size,
                             image_to_labels, image_to_rgb, rgb_to_compressed)

PADDING = 13  # odd on purpose: rows then start at unaligned offsets


def make_image(pixels: np.ndarray, encoding: str, padding: int = PADDING,
               bigendian: bool = False) -> Image:
    """An Image with ``padding`` junk bytes after each row, built without the code under test."""
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1).view(np.uint8) if pixels.dtype == np.uint8 else (
        pixels.astype('>u2' if bigendian else '<u2').reshape(height, -1).view(np.uint8))
    junk = np.full((height, padding), 0xAB, np.uint8)
    msg = Image()
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = int(bigendian)
    msg.step = row.shape[1] + padding
    msg.data = np.hstack([row, junk]).tobytes()
    return msg


@pytest.fixture(scope='module')
def rgb(camvid_val_frames):
    return camvid_val_frames[0][1]


def test_rgb8_with_padding_is_exact(rgb):
    out = image_to_rgb(make_image(rgb, 'rgb8'))
    assert out.flags.c_contiguous and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize('encoding, to_wire', [
    ('bgr8', cv2.COLOR_RGB2BGR), ('rgba8', cv2.COLOR_RGB2RGBA), ('bgra8', cv2.COLOR_RGB2BGRA)])
def test_colour_encodings_with_padding_give_the_same_rgb(rgb, encoding, to_wire):
    np.testing.assert_array_equal(image_to_rgb(make_image(cv2.cvtColor(rgb, to_wire),
                                                          encoding)), rgb)


def test_mono8_is_replicated_to_three_channels(rgb):
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    out = image_to_rgb(make_image(grey, 'mono8'))
    assert out.shape == rgb.shape
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], grey)


@pytest.mark.parametrize('bigendian', [False, True])
def test_mono16_is_scaled_to_8_bit_in_either_byte_order(rgb, bigendian):
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # x * 257 spans 0..65535 exactly, so the 8-bit result must be x again.
    msg = make_image(grey.astype(np.uint16) * 257, 'mono16', bigendian=bigendian)
    np.testing.assert_array_equal(image_to_rgb(msg)[:, :, 1], grey)


def test_unknown_encoding_is_named(rgb):
    msg = make_image(rgb, 'rgb8')
    msg.encoding = '32FC1'
    with pytest.raises(ImageConversionError, match="'32FC1'.*supported: rgb8") as caught:
        image_to_rgb(msg)
    assert caught.value.unsupported and caught.value.source == '32FC1'


def test_step_shorter_than_a_row(rgb):
    msg = make_image(rgb, 'rgb8', padding=0)
    msg.step = rgb.shape[1] * 3 - 1
    with pytest.raises(ImageConversionError, match='step 1439 is shorter than one row'):
        image_to_rgb(msg)


@pytest.mark.parametrize('delta', [-1, 5])
def test_data_size_must_equal_step_times_height(rgb, delta):
    msg = make_image(rgb, 'rgb8')
    msg.data = bytes(msg.step * msg.height + delta)
    with pytest.raises(ImageConversionError, match=r'expected step \* height'):
        image_to_rgb(msg)


def test_empty_data_and_zero_size():
    msg = Image(height=4, width=4, encoding='rgb8', step=12)
    with pytest.raises(ImageConversionError, match='rgb8 image 4x4 has no data'):
        image_to_rgb(msg)
    with pytest.raises(ImageConversionError, match='zero size'):
        image_to_rgb(Image(encoding='mono8'))


def test_supported_encodings_include_the_common_camera_ones():
    assert {'rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16', 'rgb16', 'bgr16',
            'bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8', 'bayer_grbg8'} <= set(
                SUPPORTED_ENCODINGS)


def test_png_is_lossless_and_jpeg_is_close(rgb):
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    png = CompressedImage(format='png', data=cv2.imencode('.png', bgr)[1].tobytes())
    np.testing.assert_array_equal(compressed_image_to_rgb(png), rgb)
    jpeg = CompressedImage(format='rgb8; jpeg compressed bgr8',
                           data=cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
                           .tobytes())
    decoded = compressed_image_to_rgb(jpeg)
    assert decoded.shape == rgb.shape
    assert np.abs(decoded.astype(int) - rgb).mean() < 3


def test_corrupt_and_empty_compressed_images(rgb):
    jpeg = cv2.imencode('.jpg', rgb)[1].tobytes()
    with pytest.raises(ImageConversionError, match="format 'jpeg'.*could not be decoded"):
        compressed_image_to_rgb(CompressedImage(format='jpeg', data=jpeg[:len(jpeg) // 2]))
    with pytest.raises(ImageConversionError, match='has no data'):
        compressed_image_to_rgb(CompressedImage(format='jpeg'))


def test_outputs_reuse_the_header_and_pack_rows(rgb):
    header = Header(frame_id='camera_optical')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    labels = np.arange(360 * 480, dtype=np.uint32).reshape(360, 480).astype(np.uint8)
    mono = array_to_image(labels, header)
    assert (mono.encoding, mono.height, mono.width, mono.step) == ('mono8', 360, 480, 480)
    assert mono.header is header
    np.testing.assert_array_equal(np.frombuffer(mono.data, np.uint8).reshape(360, 480), labels)
    # A strided view (every other column) must be packed, not published with its strides.
    colour = array_to_image(rgb[:, ::2], header)
    assert (colour.encoding, colour.step) == ('rgb8', 240 * 3)
    np.testing.assert_array_equal(image_to_rgb(colour), rgb[:, ::2])
    bgr = array_to_image(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), header, colour_order='bgr8')
    assert bgr.encoding == 'bgr8'
    np.testing.assert_array_equal(image_to_rgb(bgr), rgb)


def test_outputs_reject_other_arrays():
    with pytest.raises(ImageConversionError, match='float32'):
        array_to_image(np.zeros((4, 4), np.float32), Header())
    with pytest.raises(ImageConversionError, match=r'\(4, 4, 4\)'):
        array_to_image(np.zeros((4, 4, 4), np.uint8), Header())


def test_sixteen_bit_colour_scales_like_cv_bridge(rgb):
    wide = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    np.testing.assert_array_equal(image_to_rgb(make_image(wide, 'bgr16', bigendian=True)), rgb)


def test_bayer_rggb_demosaics_to_the_right_colours():
    """A flat orange image mosaicked as RGGB must come back orange, not blue-ish."""
    colour = np.array([200, 120, 40], np.uint8)
    mosaic = np.empty((8, 8), np.uint8)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2] = colour[0], colour[1]
    mosaic[1::2, 0::2], mosaic[1::2, 1::2] = colour[1], colour[2]
    result = image_to_rgb(make_image(mosaic, 'bayer_rggb8'))
    np.testing.assert_allclose(result[2:-2, 2:-2].reshape(-1, 3).mean(0), colour, atol=2)


def test_labels_decode_and_colour_images_are_not_labels(rgb, camvid_val_frames):
    labels = camvid_val_frames[0][2]
    np.testing.assert_array_equal(image_to_labels(make_image(labels, 'mono8')), labels)
    np.testing.assert_array_equal(image_to_labels(make_image(labels, '8UC1')), labels)
    png = CompressedImage(format='png', data=cv2.imencode('.png', labels)[1].tobytes())
    np.testing.assert_array_equal(image_to_labels(png), labels)
    with pytest.raises(ImageConversionError, match="label encoding 'rgb8'"):
        image_to_labels(make_image(rgb, 'rgb8'))


def test_depth_compressed_formats_are_unsupported_not_corrupt(rgb):
    depth = rgb_to_compressed(rgb, Header(), 'png')
    depth.format = '16UC1; compressedDepth png'
    with pytest.raises(ImageConversionError, match='depth') as caught:
        image_to_rgb(depth)
    assert caught.value.unsupported


@pytest.mark.parametrize('image_format', ['png', 'jpeg'])
def test_rosbags_messages_encode_and_decode_the_same_as_rclpy(rgb, image_format):
    """Bag tools build rosbags' classes: CDR bytes are rclpy's, pixels the same."""
    from rclpy.serialization import deserialize_message, serialize_message
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.LATEST)
    header = store.types['std_msgs/msg/Header'](
        stamp=store.types['builtin_interfaces/msg/Time'](sec=3, nanosec=4), frame_id='cam')
    bag_image = array_to_image(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), header, 'bgr8',
                               message_class=store.types['sensor_msgs/msg/Image'])
    live_image = deserialize_message(
        bytes(store.serialize_cdr(bag_image, bag_image.__msgtype__)), Image)
    assert live_image.encoding == 'bgr8' and live_image.header.stamp.nanosec == 4
    np.testing.assert_array_equal(image_to_rgb(live_image), rgb)
    round_trip = store.deserialize_cdr(serialize_message(live_image), 'sensor_msgs/msg/Image')
    np.testing.assert_array_equal(image_to_rgb(round_trip), rgb)
    compressed = rgb_to_compressed(
        rgb, header, image_format, message_class=store.types['sensor_msgs/msg/CompressedImage'])
    live = deserialize_message(bytes(store.serialize_cdr(compressed, compressed.__msgtype__)),
                               CompressedImage)
    np.testing.assert_array_equal(image_to_rgb(live), image_to_rgb(compressed))
    assert live.format == f'rgb8; {image_format} compressed bgr8'


@pytest.mark.parametrize('encoding, to_wire', [
    ('yuv422', cv2.COLOR_YUV2RGB_UYVY), ('uyvy', cv2.COLOR_YUV2RGB_UYVY),
    ('yuyv', cv2.COLOR_YUV2RGB_YUYV), ('yuv422_yuy2', cv2.COLOR_YUV2RGB_YUYV)])
def test_yuv422_encodings_decode_like_opencv(rgb, encoding, to_wire):
    """4:2:2 frames built from a real frame (Y from its grey, U/V from its colour) decode
    to OpenCV's conversion of the same bytes, with row padding, and close to the frame."""
    # OpenCV's 4:2:0 planes use the video range its 4:2:2 decoders expect.
    height, width = rgb.shape[:2]
    planes = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    chroma = planes[height:].reshape(2, height // 2, width // 2).repeat(2, axis=1)
    packed = np.empty((height, width, 2), np.uint8)
    luma_first = int(encoding in ('yuyv', 'yuv422_yuy2'))
    packed[:, :, 1 - luma_first] = planes[:height]
    packed[:, 0::2, luma_first] = chroma[0]     # U on even pixels
    packed[:, 1::2, luma_first] = chroma[1]     # V on odd pixels
    decoded = image_to_rgb(make_image(packed, encoding))
    np.testing.assert_array_equal(decoded, cv2.cvtColor(packed, to_wire))
    assert np.abs(decoded.astype(int) - rgb).mean() < 6
    odd = make_image(packed[:, :-1], encoding)
    with pytest.raises(ImageConversionError, match='even width'):
        image_to_rgb(odd)


# -- decompression bombs: a few hundred bytes declaring gigapixels, through every codec ----
def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack('>I', len(payload)) + kind + payload
            + struct.pack('>I', zlib.crc32(kind + payload)))


def bilevel_png(width: int, height: int, complete: bool = True) -> bytes:
    """A real 1-bit PNG of zeros, written by hand (zlib), a few KB at 8000x8000."""
    rows = (b'\x00' + bytes((width + 7) // 8)) * height if complete else b''
    return (b'\x89PNG\r\n\x1a\n'
            + _png_chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 1, 0, 0, 0, 0))
            + _png_chunk(b'IDAT', zlib.compress(rows, 9)) + _png_chunk(b'IEND', b''))


def jpeg_with_fill_bytes(side: int) -> bytes:
    """A 16x16 JPEG whose SOF0 declares side x side, with legal 0xFF fill bytes before it."""
    data = bytearray(cv2.imencode('.jpg', np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = side.to_bytes(2, 'big') * 2
    return bytes(data[:sof]) + b'\xff\xff\xff' + bytes(data[sof:])


def lossless_webp(side: int) -> bytes:
    """A lossless (VP8L) WebP whose header declares side x side."""
    data = bytearray(cv2.imencode('.webp', np.zeros((16, 16, 3), np.uint8),
                                  [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes())
    assert data[12:16] == b'VP8L'
    bits = int.from_bytes(data[21:25], 'little') & ~((1 << 28) - 1)
    data[21:25] = (bits | (side - 1) | (side - 1) << 14).to_bytes(4, 'little')
    return bytes(data)


def deflate_tiff(side: int) -> bytes:
    """A complete 1-bit deflate TIFF of zeros, side x side: one strip per row, all strips
    the same compressed row (the offsets may repeat), so it stays small at any size."""
    row = zlib.compress(bytes((side + 7) // 8), 9)
    tags = [(256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 1), (259, 3, 1, 8),
            (262, 3, 1, 1), (273, 4, side, None), (277, 3, 1, 1), (278, 4, 1, 1),
            (279, 4, side, None)]
    directory_end = 8 + 2 + 12 * len(tags) + 4
    offsets_at, counts_at = directory_end, directory_end + 4 * side
    row_at = counts_at + 4 * side
    entries = b''
    for tag, kind, count, value in tags:
        value = {273: offsets_at, 279: counts_at}.get(tag, value)
        packed = struct.pack('<H', value) + b'\x00\x00' if kind == 3 else struct.pack('<I', value)
        entries += struct.pack('<HHI', tag, kind, count) + packed
    return (b'II*\x00' + struct.pack('<IH', 8, len(tags)) + entries + b'\x00' * 4
            + struct.pack(f'<{side}I', *[row_at] * side)
            + struct.pack(f'<{side}I', *[len(row)] * side) + row)


# name: (bytes, the width x height its header declares, what the error says)
BOMBS = {
    'jpeg-fill-bytes-20000': (lambda: jpeg_with_fill_bytes(20_000), 20_000 * 20_000,
                              'declares 20000x20000 pixels, more than the 64000000'),
    'jpeg-fill-bytes-30000': (lambda: jpeg_with_fill_bytes(30_000), 30_000 * 30_000,
                              'declares 30000x30000 pixels, more than the 64000000'),
    'webp-lossless-12000': (lambda: lossless_webp(12_000), 12_000 * 12_000,
                            'format webp is not accepted: compressed frames must be jpeg '
                            'or png'),
    'tiff-deflate-12000': (lambda: deflate_tiff(12_000), 12_000 * 12_000,
                           'format tiff is not accepted'),
    'png-1-bit-8001x8000': (lambda: bilevel_png(8001, 8000), 8001 * 8000,
                            'declares 8001x8000 pixels, more than the 64000000'),
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize('name', list(BOMBS))
def test_crafted_bombs_are_refused_fast_without_memory(name):
    """Refused in well under a second, before OpenCV allocates anything."""
    make, _, words = BOMBS[name]
    data = make()
    peak_before = peak_rss_mib()
    start = time.perf_counter()
    with pytest.raises(ImageConversionError, match=words):
        image_to_rgb(CompressedImage(format='rgb8; jpeg compressed bgr8', data=data))
    assert time.perf_counter() - start < 1.0
    assert peak_rss_mib() - peak_before < 50


@pytest.mark.parametrize('make, side', [(jpeg_with_fill_bytes, 16), (lossless_webp, 16),
                                        (deflate_tiff, 40), (bilevel_png, 40)])
def test_the_crafted_files_are_real(make, side):
    """Made small, each crafted file decodes in OpenCV as what it says it is."""
    data = make(side) if make is not bilevel_png else make(side, side)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (side, side, 3)


def test_the_crafted_bombs_declare_their_size(monkeypatch):
    """PIL reads each header on its own and finds the size the bomb declares."""
    pil_image = pytest.importorskip('PIL.Image', reason='Pillow is not installed')
    monkeypatch.setattr(pil_image, 'MAX_IMAGE_PIXELS', None)   # PIL's own bomb check: off
    for name, (make, pixels, _) in BOMBS.items():
        width, height = pil_image.open(io.BytesIO(make())).size   # the header only
        assert width * height == pixels, name


def test_the_limit_is_inclusive(rgb):
    """max_pixels pixels pass, one more does not: raw and compressed alike."""
    height, width = rgb.shape[:2]
    png = rgb_to_compressed(rgb, Header(), 'png')
    assert image_to_rgb(png, max_pixels=height * width).shape == rgb.shape
    assert image_to_rgb(make_image(rgb, 'rgb8'), max_pixels=height * width).shape == rgb.shape
    with pytest.raises(ImageConversionError, match=f'more than the {height * width - 1}'):
        image_to_rgb(png, max_pixels=height * width - 1)
    with pytest.raises(ImageConversionError, match=f'more than the {height * width - 1}'):
        image_to_rgb(make_image(rgb, 'rgb8'), max_pixels=height * width - 1)


def test_8000x8000_passes_the_default_size_rule():
    """At the default limit exactly: not refused for its size. The PNG has no pixel rows, so
    OpenCV gets it and fails on the data (no 192 MB decode in a unit test)."""
    with pytest.raises(ImageConversionError, match='not a complete PNG') as caught:
        image_to_rgb(CompressedImage(format='png', data=bilevel_png(8000, 8000, False)))
    assert caught.value.kind == 'decode'


def test_the_decoded_size_is_checked_too(rgb, monkeypatch):
    """Should a header ever be misread, the size OpenCV decoded is checked again."""
    import sgcp_ros.images
    monkeypatch.setattr(sgcp_ros.images, 'compressed_size', lambda data: (1, 1))
    with pytest.raises(ImageConversionError, match='decoded to 480x360 pixels, more than'):
        image_to_rgb(rgb_to_compressed(rgb, Header(), 'jpeg'), max_pixels=1000)


@pytest.mark.parametrize('marker', [0xC1, 0xC2, 0xC3, 0xC5, 0xC9, 0xCA, 0xCB, 0xCD, 0xCF])
def test_every_jpeg_frame_marker_carries_the_size(marker):
    """Progressive, lossless, arithmetic...: any SOFn, found after garbage, fill bytes and
    stuffed zeros as libjpeg finds it; DHT (C4) and DAC (CC) are not frames."""
    sof = bytes([0xFF, marker]) + struct.pack('>HBHHB', 11, 8, 30_000, 20_000, 1) + b'\x11\x00'
    data = (b'\xff\xd8' + b'\xff\xe0\x00\x04ab' + b'junk\xff\x00' + b'\xff\xd0'
            + b'\xff\xcc\x00\x03x' + b'\xff\xff' + sof)
    assert compressed_size(np.frombuffer(data, np.uint8)) == (30_000, 20_000)
    with pytest.raises(ImageConversionError, match='declares 20000x30000 pixels'):
        image_to_rgb(CompressedImage(format='jpeg', data=data))


def test_a_frame_header_after_large_segments_is_found():
    """Two full-size APP segments (as an EXIF block with a thumbnail can be) before the
    frame header: the size is read past the first bytes the reader looks at."""
    segment = b'\xff\xe1\xff\xff' + bytes(0xFFFF - 2)
    sof = b'\xff\xc0' + struct.pack('>HBHHB', 11, 8, 9000, 9000, 1) + b'\x11\x00'
    data = b'\xff\xd8' + segment * 2 + sof
    assert compressed_size(np.frombuffer(data, np.uint8)) == (9000, 9000)
    with pytest.raises(ImageConversionError, match='declares 9000x9000 pixels'):
        image_to_rgb(CompressedImage(format='jpeg', data=data))


@pytest.mark.parametrize('data, words', [
    (b'\xff\xd8\xff\xe0\x00\x10' + bytes(14) + b'\xff\xda\x00\x08', 'no complete JPEG header'),
    (b'\xff\xd8\xff' + b'\xff\xe0\x00\x02' * 2000, 'no complete JPEG header'),
    (b'\x89PNG\r\n\x1a\n\x00\x00\x00\x0dtEXt' + bytes(13), 'no complete PNG header'),
    (b'GIF89a' + bytes(64), 'format gif is not accepted'),
    (b'BM' + bytes(64), 'format bmp is not accepted'),
    (b'\x00\x00\x00\x1cftypavif' + bytes(64), 'format avif is not accepted'),
    (bytes(range(64)), 'not a JPEG or PNG'),
])
def test_frames_without_a_readable_size_are_not_decoded(data, words):
    """No frame header before the scan, endless segments, IHDR not first, other formats."""
    with pytest.raises(ImageConversionError, match=words):
        image_to_rgb(CompressedImage(format='jpeg', data=data))


def test_opencv_decoders_are_bounded_in_sgcp_ros_processes(tmp_path):
    """sgcp_ros sets OpenCV's own limit before cv2 loads: cv2.imdecode alone refuses one
    pixel over 8000x8000 (its header, before any allocation)."""
    script = ('import sgcp_ros, cv2, numpy, sys\n'
              'data = numpy.frombuffer(sys.stdin.buffer.read(), numpy.uint8)\n'
              'try:\n'
              '    cv2.imdecode(data, cv2.IMREAD_COLOR)\n'
              'except cv2.error as error:\n'
              '    print(str(error).strip().splitlines()[-1])\n')
    env = {key: value for key, value in os.environ.items()
           if key != 'OPENCV_IO_MAX_IMAGE_PIXELS'}
    result = subprocess.run([sys.executable, '-c', script], input=bilevel_png(8001, 8000),
                            capture_output=True, env=env, timeout=120, check=True)
    assert b'CV_IO_MAX_IMAGE_PIXELS' in result.stdout, result.stdout + result.stderr
