# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one image module: Image / CompressedImage <-> ndarray on real CamVid frames, padded
rows and bad messages, with rclpy's message classes and with rosbags' alike."""

import cv2
import numpy as np
import pytest

pytest.importorskip('sensor_msgs.msg', reason='sensor_msgs (ROS 2) is not installed')

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from sgcp_ros.images import (SUPPORTED_ENCODINGS, ImageConversionError,  # noqa: E402
                             array_to_image, compressed_image_to_rgb, image_to_labels,
                             image_to_rgb, rgb_to_compressed)

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


@pytest.mark.parametrize('image_format', ['png', 'jpeg'])
def test_compressed_bomb_is_refused_from_its_header(rgb, image_format):
    """A frame whose header declares 100000x100000 pixels is refused before decoding."""
    from sgcp_ros.images import MAX_DECODED_PIXELS, compressed_size
    small = rgb_to_compressed(rgb, Header(), image_format)
    data = bytearray(small.data)
    assert compressed_size(np.frombuffer(bytes(data), np.uint8)) == rgb.shape[:2]
    if image_format == 'png':
        data[16:24] = (100_000).to_bytes(4, 'big') * 2
    else:
        sof = next(i for i in range(2, len(data) - 1)
                   if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
        data[sof + 5:sof + 9] = (60_000).to_bytes(2, 'big') * 2
    bomb = CompressedImage(format=image_format, data=bytes(data))
    with pytest.raises(ImageConversionError, match=f'more than the {MAX_DECODED_PIXELS}'):
        image_to_rgb(bomb)
