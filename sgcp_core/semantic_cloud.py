# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Labelled points from a registered depth image, and camera intrinsics at another size.

The back-projection is depth_image_proc's (``point_cloud_xyz``): a depth pixel (u, v) with
depth z becomes ``x = (u - cx) z / fx, y = (v - cy) z / fy, z`` in the depth image's
optical frame; invalid depth (0 in 16UC1 millimetres, NaN/inf or <= 0 in 32FC1 metres)
gives no point, or a NaN point in an organised cloud. Each point takes the label (and
optionally colour and confidence) of the pixel at the same position in the label map,
whatever its resolution: the map pixel whose area contains the depth pixel's centre (the
rule of ``cv2.INTER_NEAREST_EXACT``, computed exactly: a centre on a border takes the
later pixel, where OpenCV's fixed point sometimes picks the earlier).

The points are packed (no padding between fields), each field named and typed as PCL's
point types name them, so ``pcl::fromROSMsg``, which matches fields by name and type, reads
them as ``pcl::PointXYZL`` (x y z float32, label uint32) or, with rgb, ``pcl::PointXYZRGBL``;
``label_type: uint8`` is for consumers that want one byte per label instead. ``split_by_class``
splits one back-projection into the points of each class (a cloud per class).

Intrinsics follow ROS's convention for a resized image (image_proc's resize): fx, cx and
the first row of P scale with the width ratio, fy, cy and the second row with the height
ratio, and so does the region of interest.

Everything is vectorised; per-size index tables are cached, so a frame costs a handful of
numpy passes over the decimated depth image.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sgcp_core.classes import UNKNOWN_LABEL
from sgcp_core.config import CloudConfig

__all__ = ['PinholeIntrinsics', 'scale_intrinsics', 'point_dtype', 'sample_index',
           'SemanticCloudBuilder', 'check_cloud_config', 'pack_rgb', 'split_by_class',
           'LABEL_TYPES', 'RGB_SOURCES']

MILLIMETRE = 0.001
# The label field's type: uint32 is pcl::PointXYZL's (and PointXYZRGBL's) 'label'.
LABEL_TYPES = ('uint32', 'uint8')
# What the rgb field holds: the camera's colour of the pixel, or its class's palette colour.
RGB_SOURCES = ('camera', 'class')
_LABEL_FORMATS = {'uint32': '<u4', 'uint8': 'u1'}


@dataclass(frozen=True)
class PinholeIntrinsics:
    """Focal lengths and principal point, in pixels, of an image of ``size`` (H, W)."""

    fx: float
    fy: float
    cx: float
    cy: float
    size: tuple[int, int]

    @classmethod
    def from_k(cls, k: Sequence[float], size: tuple[int, int]) -> 'PinholeIntrinsics':
        """From a row-major 3x3 camera matrix K (CameraInfo.k)."""
        return cls(float(k[0]), float(k[4]), float(k[2]), float(k[5]),
                   (int(size[0]), int(size[1])))

    def scaled(self, size: tuple[int, int]) -> 'PinholeIntrinsics':
        """The same camera with its image resized to ``size`` (H, W)."""
        sy, sx = size[0] / self.size[0], size[1] / self.size[1]
        return PinholeIntrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy,
                                 (int(size[0]), int(size[1])))


def scale_intrinsics(k: Sequence[float], p: Sequence[float], roi: Sequence[int],
                     source_size: tuple[int, int], target_size: tuple[int, int]
                     ) -> tuple[tuple[float, ...], tuple[float, ...], tuple[int, ...]]:
    """CameraInfo K, P and ROI of an image resized from ``source_size`` to ``target_size``.

    Args:
        k: row-major 3x3 camera matrix (9 values).
        p: row-major 3x4 projection matrix (12 values).
        roi: (x_offset, y_offset, height, width) in pixels; zero width/height = full image.
        source_size, target_size: (H, W).

    Returns:
        (k, p, roi) scaled; D, R and the distortion model do not change with the size.
    """
    sy = target_size[0] / source_size[0]
    sx = target_size[1] / source_size[1]
    k = [float(v) for v in k]
    p = [float(v) for v in p]
    if len(k) != 9 or len(p) != 12 or len(roi) != 4:
        raise ValueError(f'expected 9 K, 12 P and 4 ROI values, got {len(k)}, {len(p)}, '
                         f'{len(roi)}')
    for index in (0, 2):          # fx, cx
        k[index] *= sx
    for index in (4, 5):          # fy, cy
        k[index] *= sy
    for index in (0, 1, 2, 3):    # fx', skew, cx', Tx = -fx' * baseline
        p[index] *= sx
    for index in (4, 5, 6, 7):    # skew row, fy', cy', Ty
        p[index] *= sy
    x_offset, y_offset, height, width = roi
    roi = (int(round(x_offset * sx)), int(round(y_offset * sy)), int(round(height * sy)),
           int(round(width * sx)))
    return tuple(k), tuple(p), roi


@functools.lru_cache(maxsize=32)
def sample_index(source_length: int, target_length: int, step: int = 1) -> np.ndarray:
    """Index into an axis of ``source_length`` pixels for every ``step``-th of
    ``target_length`` pixels covering the same field of view: the source pixel containing
    each target pixel's centre; a centre on a border takes the later pixel. Read-only int64."""
    # floor((t + 1/2) * source / target) in integers: exact, also where a centre falls on a
    # pixel border.
    targets = np.arange(0, target_length, step, dtype=np.int64)
    index = np.minimum((2 * targets + 1) * source_length // (2 * target_length),
                       source_length - 1)
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=8)
def point_dtype(rgb: bool, confidence: bool, label_type: str = 'uint32') -> np.dtype:
    """The packed point: x y z float32, then rgb float32 and confidence float32 when asked
    for, then label (uint32 or uint8); a uint8 label is padded to a multiple of 4 bytes."""
    names, formats, offsets = ['x', 'y', 'z'], ['<f4'] * 3, [0, 4, 8]
    offset = 12
    for name, wanted in (('rgb', rgb), ('confidence', confidence)):
        if wanted:
            names.append(name)
            formats.append('<f4')
            offsets.append(offset)
            offset += 4
    label = np.dtype(_LABEL_FORMATS[label_type])
    names.append('label')
    formats.append(label)
    offsets.append(offset)
    itemsize = (offset + label.itemsize + 3) // 4 * 4
    return np.dtype({'names': names, 'formats': formats, 'offsets': offsets,
                     'itemsize': itemsize})


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 holding 0x00RRGGBB, PCL's packed 'rgb' field."""
    channels = rgb.astype(np.uint32)
    packed = (channels[..., 0] << 16) | (channels[..., 1] << 8) | channels[..., 2]
    return packed.view(np.float32)


def split_by_class(points: np.ndarray, labels: Iterable[int]) -> dict[int, np.ndarray]:
    """The points of ``points`` (a ``build`` result) with each of ``labels``, by label.

    (N,) valid points give (M,) arrays in their row-major order, from one stable sort by
    label whatever the number of labels (views into one copy); an (H, W) organised grid
    gives a grid per label, NaN at every other class's point.
    """
    labels = list(labels)
    if points.ndim == 1:
        point_labels = points['label'].astype(np.uint8)   # labels are 0..255 in any layout
        ordered = points.take(np.argsort(point_labels, kind='stable'))
        ends = np.cumsum(np.bincount(point_labels, minlength=256))
        return {label: ordered[ends[label - 1] if label else 0:ends[label]]
                for label in labels}
    split = {}
    for label in labels:
        selected = split[label] = points.copy()
        other = selected['label'] != label
        for axis in ('x', 'y', 'z'):
            selected[axis][other] = np.nan
    return split


@functools.lru_cache(maxsize=8)
def _rays(intrinsics: PinholeIntrinsics, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(1, w) x / z and (h, 1) y / z of every ``step``-th depth pixel, float32."""
    height, width = intrinsics.size
    columns = np.arange(0, width, step, dtype=np.float64)
    rows = np.arange(0, height, step, dtype=np.float64)
    x = ((columns - intrinsics.cx) / intrinsics.fx).astype(np.float32)[None, :]
    y = ((rows - intrinsics.cy) / intrinsics.fy).astype(np.float32)[:, None]
    x.flags.writeable = y.flags.writeable = False
    return x, y


def check_cloud_config(config: CloudConfig) -> None:
    """Raise ValueError naming what in ``config`` cannot work (a choice, a range)."""
    for name, value, choices in (('label_type', config.label_type, LABEL_TYPES),
                                 ('rgb_source', config.rgb_source, RGB_SOURCES)):
        if value not in choices:
            raise ValueError(f'cloud {name} must be one of {choices}, got {value!r}')
    if config.decimation < 1:
        raise ValueError(f'cloud decimation must be >= 1, got {config.decimation}')
    if config.min_range_m < 0 or config.max_range_m < 0 or (
            0 < config.max_range_m <= config.min_range_m):
        raise ValueError(f'cloud range must satisfy 0 <= min < max (max 0 = no limit), got '
                         f'min {config.min_range_m} max {config.max_range_m}')


class SemanticCloudBuilder:
    """Builds labelled point arrays from registered depth images.

    Args:
        config: decimation, range limits, unknown handling, layout and optional fields.
        palette: (256, 3) uint8 colour of every label (``ClassInfo.palette_array``), for
            ``rgb_source: class``.
    """

    def __init__(self, config: CloudConfig | None = None,
                 palette: np.ndarray | None = None) -> None:
        config = config or CloudConfig()
        check_cloud_config(config)
        self.config = config
        self.dtype = point_dtype(config.rgb, config.confidence, config.label_type)
        self._class_rgb = None
        if config.rgb and config.rgb_source == 'class':
            if palette is None or np.shape(palette) != (256, 3):
                raise ValueError('cloud rgb_source class needs the (256, 3) class palette')
            self._class_rgb = pack_rgb(np.asarray(palette, np.uint8))

    def build(self, depth: np.ndarray, intrinsics: PinholeIntrinsics, labels: np.ndarray,
              rgb: np.ndarray | None = None, confidence: np.ndarray | None = None
              ) -> np.ndarray:
        """Points of one depth image.

        Args:
            depth: (Hd, Wd) uint16 millimetres (0 = no reading) or float32 metres
                (NaN/inf/<= 0 = no reading), registered to the camera the labels are of.
            intrinsics: of the depth image (its ``size`` must be (Hd, Wd)).
            labels: (H, W) uint8 label map of the same view, any resolution.
            rgb: (H', W', 3) uint8 camera frame, needed when ``config.rgb`` with
                ``rgb_source: camera``.
            confidence: (H'', W'') uint8 confidence map, needed when ``config.confidence``.

        Returns:
            Structured array of ``self.dtype``: (ceil(Hd / n), ceil(Wd / n)) with NaN x y z
            where there is no point when ``config.organized``, else (N,) valid points in
            row-major order.
        """
        config = self.config
        if depth.ndim != 2 or depth.dtype not in (np.uint16, np.float32):
            raise ValueError(f'expected (H, W) uint16 (mm) or float32 (m) depth, got shape '
                             f'{depth.shape} dtype {depth.dtype}')
        if tuple(depth.shape) != intrinsics.size:
            raise ValueError(f'depth is {depth.shape[0]}x{depth.shape[1]} but its intrinsics '
                             f'are for {intrinsics.size[0]}x{intrinsics.size[1]}')
        camera_rgb = config.rgb and self._class_rgb is None
        for name, wanted, source in (('rgb', camera_rgb, rgb),
                                     ('confidence', config.confidence, confidence)):
            if wanted and source is None:
                raise ValueError(f'the cloud has a {name} field but no {name} was given')
        step = config.decimation
        height, width = depth.shape
        sampled = depth[::step, ::step]
        if depth.dtype == np.uint16:
            z = sampled.astype(np.float32)
            z *= np.float32(MILLIMETRE)
            valid = sampled != 0
        else:
            z = np.array(sampled, np.float32)
            with np.errstate(invalid='ignore'):
                valid = np.isfinite(z) & (z > 0)
        with np.errstate(invalid='ignore'):
            if config.min_range_m > 0:
                valid &= z >= np.float32(config.min_range_m)
            if config.max_range_m > 0:
                valid &= z <= np.float32(config.max_range_m)

        def sample(image: np.ndarray) -> np.ndarray:
            rows = sample_index(image.shape[0], height, step)
            columns = sample_index(image.shape[1], width, step)
            return image[rows[:, None], columns[None, :]]

        point_labels = sample(labels)
        if not config.keep_unknown:
            valid &= point_labels != UNKNOWN_LABEL
        x_ray, y_ray = _rays(intrinsics, step)
        # Filled as the organised grid, then either NaN-marked or masked down to the valid
        # points in one structured copy (cheaper than gathering each field).
        points = np.empty(z.shape, self.dtype)
        np.multiply(z, x_ray, out=points['x'])
        np.multiply(z, y_ray, out=points['y'])
        points['z'] = z
        points['label'] = point_labels
        if camera_rgb:
            points['rgb'] = pack_rgb(sample(rgb))
        elif config.rgb:
            points['rgb'] = self._class_rgb[point_labels]
        if config.confidence:
            points['confidence'] = sample(confidence) * np.float32(1 / 255)
        if not config.organized:
            return points[valid]
        invalid = ~valid
        for axis in ('x', 'y', 'z'):
            points[axis][invalid] = np.nan
        return points
