# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Bag tools' message <-> array conversions and stamp matching, on small real-valued frames."""

import cv2
import numpy as np
import pytest

from sgcp_ros.bag.matching import StampMatcher
from sgcp_ros.bag.messages import (TYPESTORE, CorruptFrameError, UnsupportedEncodingError,
                                   deserialize, image_to_labels, image_to_rgb,
                                   labels_to_image, make_header, rgb_to_compressed,
                                   rgb_to_image, serialize, stamp_to_ns)

Image = TYPESTORE.types['sensor_msgs/msg/Image']


@pytest.fixture()
def rgb():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def _raw(pixels: np.ndarray, encoding: str, step: int | None = None, bigendian: int = 0):
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1).view(np.uint8)
    step = step or row.shape[1]
    padded = np.zeros((height, step), np.uint8)
    padded[:, :row.shape[1]] = row
    return Image(header=make_header(5, 'f'), height=height, width=width, encoding=encoding,
                 is_bigendian=bigendian, step=step, data=padded.reshape(-1))


def test_header_stamp_round_trip():
    header = make_header(1_700_000_000_123_456_789, 'camera')
    assert (header.stamp.sec, header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert stamp_to_ns(header.stamp) == 1_700_000_000_123_456_789


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8'])
def test_rgb_and_bgr_images_survive_cdr_round_trip(rgb, encoding):
    msg = deserialize(serialize(rgb_to_image(rgb, make_header(7, 'cam'), encoding)),
                      'sensor_msgs/msg/Image')
    assert msg.encoding == encoding and msg.step == 24
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


@pytest.mark.parametrize('encoding,convert', [
    ('rgba8', cv2.COLOR_RGB2RGBA), ('bgra8', cv2.COLOR_RGB2BGRA)])
def test_four_channel_images_with_row_padding(rgb, encoding, convert):
    msg = _raw(cv2.cvtColor(rgb, convert), encoding, step=40)
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_mono16_big_endian_scales_like_cv_bridge():
    values = np.array([[0, 65535, 257 * 128]], np.uint16)
    msg = _raw(values.astype('>u2'), 'mono16', bigendian=1)
    np.testing.assert_array_equal(image_to_rgb(msg)[0, :, 0], [0, 255, 128])


def test_bayer_rggb_demosaics_to_the_right_colours():
    """A flat orange RGB image mosaicked as RGGB must come back orange, not blue-ish."""
    height, width = 8, 8
    colour = np.array([200, 120, 40], np.uint8)
    mosaic = np.empty((height, width), np.uint8)
    mosaic[0::2, 0::2] = colour[0]
    mosaic[0::2, 1::2] = colour[1]
    mosaic[1::2, 0::2] = colour[1]
    mosaic[1::2, 1::2] = colour[2]
    result = image_to_rgb(_raw(mosaic, 'bayer_rggb8'))
    np.testing.assert_allclose(result[2:-2, 2:-2].reshape(-1, 3).mean(0), colour, atol=2)


@pytest.mark.parametrize('image_format', ['jpeg', 'png'])
def test_compressed_images_decode(rgb, image_format):
    big = cv2.resize(rgb, (64, 48), interpolation=cv2.INTER_NEAREST)
    msg = rgb_to_compressed(big, make_header(1, 'cam'), image_format)
    decoded = image_to_rgb(deserialize(serialize(msg), 'sensor_msgs/msg/CompressedImage'))
    if image_format == 'png':
        np.testing.assert_array_equal(decoded, big)
    else:
        assert np.abs(decoded.astype(int) - big).mean() < 12


def test_labels_round_trip_and_wrong_label_encoding(rgb):
    labels = np.arange(48, dtype=np.uint8).reshape(6, 8)
    labels[0, 0] = 255
    msg = labels_to_image(labels, make_header(1, 'cam'))
    np.testing.assert_array_equal(image_to_labels(msg), labels)
    with pytest.raises(UnsupportedEncodingError, match="'rgb8'"):
        image_to_labels(rgb_to_image(rgb, make_header(1, 'cam')))


def test_bad_frames_name_the_problem(rgb):
    with pytest.raises(UnsupportedEncodingError, match="'32FC1'.*supported: rgb8"):
        image_to_rgb(_raw(np.zeros((2, 2), np.float32), '32FC1'))
    short = rgb_to_image(rgb, make_header(1, 'cam'))
    short.data = short.data[:-1]
    with pytest.raises(CorruptFrameError, match='143 data bytes, expected step\\*height = 144'):
        image_to_rgb(short)
    narrow = rgb_to_image(rgb, make_header(1, 'cam'))
    narrow.step = 10
    with pytest.raises(CorruptFrameError, match='step 10 is less than a row'):
        image_to_rgb(narrow)
    garbage = rgb_to_compressed(rgb, make_header(1, 'cam'))
    garbage.data = np.frombuffer(b'not a jpeg at all', np.uint8)
    with pytest.raises(CorruptFrameError, match='does not decode'):
        image_to_rgb(garbage)
    depth = rgb_to_compressed(rgb, make_header(1, 'cam'))
    depth.format = '16UC1; compressedDepth png'
    with pytest.raises(UnsupportedEncodingError, match='depth'):
        image_to_rgb(depth)


def test_matcher_pairs_nearest_within_tolerance_and_reports_leftovers():
    matcher = StampMatcher(tolerance_ns=5, window_ns=1_000)
    events = matcher.add_frame(100, 100, 'f100')
    events += matcher.add_label(103, 100, 'l103')          # 3 ns away: pairs
    events += matcher.add_label(200, 200, 'l200')
    events += matcher.add_frame(210, 210, 'f210')          # 10 ns away: does not pair
    events += matcher.add_frame(5_000, 5_000, 'f5000')     # pushes the others out of window
    events += matcher.flush()
    kinds = [(e.kind, e.frame, e.label) for e in events]
    assert ('matched', 'f100', 'l103') in kinds
    assert ('label_unmatched', None, 'l200') in kinds
    assert ('frame_unmatched', 'f210', None) in kinds
    assert ('frame_unmatched', 'f5000', None) in kinds
    assert len(kinds) == 4


def test_matcher_uses_each_label_once():
    matcher = StampMatcher(tolerance_ns=10)
    events = matcher.add_label(100, 0, 'l') + matcher.add_frame(101, 0, 'a')
    events += matcher.add_frame(99, 0, 'b') + matcher.flush()
    assert [(e.kind, e.frame) for e in events] == [('matched', 'a'), ('frame_unmatched', 'b')]
