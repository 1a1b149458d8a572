# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What a robot stack consumes beside the labels: camera_info, confidence, label_info and
the semantic point cloud.

The node segments a frame and hands the result to ``RobotOutputs.publish``; everything here
is computed only while someone subscribes, and nothing here can hold up the labels: a
missing camera_info or depth image only means these outputs are not published.

Topics (relative; the node's namespace and remapping place them):
    in:  camera_info (sensor_msgs/CameraInfo): image_transport's sibling of the image
         topic unless camera_info itself is remapped, so ``-r image:=/cam/image_raw`` reads
         /cam/camera_info; depth (sensor_msgs/Image 16UC1 mm or 32FC1 m, registered to the
         camera, any resolution).
    out: ~/camera_info (the camera's, with the label header, scaled to the label size),
         ~/confidence (mono8, top class probability x 255), ~/points (PointCloud2: x y z
         float32 in the depth image's optical frame, optional rgb and confidence, label
         uint32 or uint8: ``sgcp_core.semantic_cloud``), ~/points/<class> with
         ``cloud.per_class`` (one cloud per output class, ROS names of the class names),
         ~/label_info (vision_msgs/LabelInfo, latched; where installed).
    A named camera NAME of the node (its ``cameras`` parameter) reads NAME/depth and
    publishes ~/NAME/camera_info, ~/NAME/confidence, ~/NAME/points, ~/NAME/points/<class>
    and ~/NAME/label_info.

Depth and segmented frames are paired by header stamp with ``StampMatcher`` (the bag tools
pair frames with labels the same way); a segmented frame that finds no depth image within
``cloud.stamp_tolerance_s`` publishes no cloud and is counted in /diagnostics. The clouds
are packed with numpy here: sensor_msgs_py and message_filters are not on PyPI, so a pip
install has neither.
"""

from __future__ import annotations

import array
import dataclasses
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from sgcp_core.classes import UNKNOWN_LABEL
from sgcp_core.config import CloudConfig, ConfigError
from sgcp_core.semantic_cloud import (LABEL_TYPES, RGB_SOURCES, PinholeIntrinsics,
                                      SemanticCloudBuilder, check_cloud_config, scale_intrinsics,
                                      split_by_class)
from sgcp_ros.images import ImageConversionError, array_to_image, image_to_depth
from sgcp_ros.parameters import ParameterSpec, declare_config, read_config
from sgcp_ros.stamp_matching import MATCHED, StampMatcher

try:  # vision_msgs is optional: a ROS install usually has it, the PyPI wheels do not.
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError:
    LabelInfo = VisionClass = None

__all__ = ['OutputsConfig', 'OUTPUT_SIZES', 'OUTPUTS_PARAMETERS', 'CLOUD_PARAMETERS',
           'CLOUD_PREFIX', 'PARAMETER_NAMES', 'declare_outputs_config', 'read_outputs_config',
           'camera_info_topic', 'scaled_camera_info', 'cloud_message', 'class_topic_names',
           'DepthPairing', 'RobotOutputs']

OUTPUT_SIZES = ('input', 'depth')
CLOUD_PREFIX = 'cloud.'
# A camera_info received longer ago than this is not republished: "only while it arrives".
CAMERA_INFO_TIMEOUT_S = 1.0
# Depth images held while their frame is being segmented: one second of a 30 Hz camera,
# i.e. the longest segmentation latency the cloud still pairs across.
DEPTH_QUEUE = 30
# A segmented frame still without a depth image this long after it was done is unmatched.
UNMATCHED_AFTER_S = 1.0
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclass(frozen=True)
class OutputsConfig:
    """Node-side choices for the robot outputs (the cloud's own are ``CloudConfig``)."""

    output_size: str = 'input'   # labels/confidence at the input or the depth resolution


OUTPUTS_PARAMETERS = {
    'output_size': ParameterSpec("Resolution of labels, colour mask, overlay and confidence: "
                                 "'input' (the camera image's) or 'depth' (the registered "
                                 "depth image's, once one has arrived), so the mask lines up "
                                 'with the depth pixels.', choices=OUTPUT_SIZES),
}
CLOUD_PARAMETERS = {
    'decimation': ParameterSpec('~/points uses every n-th depth pixel in rows and columns.',
                                range=(1, 64)),
    'min_range_m': ParameterSpec('~/points leaves out depth below this (metres).',
                                 range=(0.0, 1000.0)),
    'max_range_m': ParameterSpec('~/points leaves out depth above this (metres); 0 = no limit.',
                                 range=(0.0, 1000.0)),
    'keep_unknown': ParameterSpec('~/points keeps points labelled 255 (unknown or dropped '
                                  'classes).'),
    'organized': ParameterSpec('~/points as the depth grid (H x W, NaN where no point) instead '
                               'of valid points only.'),
    'rgb': ParameterSpec("~/points carries a colour (PCL's packed float32 'rgb'): "
                         'cloud.rgb_source says which.'),
    'rgb_source': ParameterSpec("The colour in the rgb field: 'camera' (the pixel's) or "
                                "'class' (its class's palette colour, as in ~/color_mask).",
                                choices=RGB_SOURCES),
    'confidence': ParameterSpec('~/points carries the top class probability (float32 0..1).'),
    'label_type': ParameterSpec("Type of the label field: 'uint32' (pcl::PointXYZL's, "
                                "PointXYZRGBL's with rgb) or 'uint8'.", choices=LABEL_TYPES),
    'per_class': ParameterSpec('Also publish ~/points/<class> for every output class (class '
                               'group names, else model class names; lower case, _ for '
                               'other characters), built only while subscribed, split from '
                               "~/points' points; ~/labels is unchanged."),
    'stamp_tolerance_s': ParameterSpec('Largest difference between the depth and the image '
                                       'stamps that still pairs them into a cloud.',
                                       range=(0.0, 10.0)),
    'image_stamp': ParameterSpec("~/points takes the camera image's stamp instead of the depth "
                                 "image's (its frame_id stays the depth's), so consumers that "
                                 'pair by exact stamp (nav2 semantic segmentation layer) match '
                                 'it with ~/labels and ~/confidence.'),
}

# Every ROS parameter name this module declares (all start-up parameters).
PARAMETER_NAMES = frozenset(OUTPUTS_PARAMETERS) | frozenset(
    CLOUD_PREFIX + field.name for field in dataclasses.fields(CloudConfig))


def _checked(outputs: OutputsConfig, cloud: CloudConfig) -> tuple[OutputsConfig, CloudConfig]:
    if outputs.output_size not in OUTPUT_SIZES:
        raise ConfigError(f'parameter output_size must be one of {OUTPUT_SIZES}, got '
                          f'{outputs.output_size!r}')
    check_cloud_config(cloud)   # raises ValueError naming a bad choice or range
    return outputs, cloud


def declare_outputs_config(node: Node) -> tuple[OutputsConfig, CloudConfig]:
    """Declare ``output_size`` and the ``cloud.*`` parameters; return their values.

    Raises:
        ConfigError, ValueError: a value outside its choices, a contradictory range.
    """
    return _checked(declare_config(node, OutputsConfig, OUTPUTS_PARAMETERS),
                    declare_config(node, CloudConfig, CLOUD_PARAMETERS, prefix=CLOUD_PREFIX))


def read_outputs_config(node: Node) -> tuple[OutputsConfig, CloudConfig]:
    """The current values of the parameters ``declare_outputs_config`` declared.

    Raises:
        ConfigError, ValueError: as ``declare_outputs_config``.
    """
    return _checked(read_config(node, OutputsConfig),
                    read_config(node, CloudConfig, prefix=CLOUD_PREFIX))


def camera_info_topic(image_topic: str) -> str:
    """image_transport's camera_info beside a resolved image topic: last name replaced."""
    namespace = image_topic.rsplit('/', 1)[0]
    return f'{namespace}/camera_info'


def scaled_camera_info(info: CameraInfo, header: Header, size: tuple[int, int],
                       image_size: tuple[int, int] | None = None) -> CameraInfo:
    """``info`` with ``header``, describing the image resized to ``size`` (H, W).

    An info without width/height (0) describes the camera image, of ``image_size`` (H, W;
    default ``size``).
    """
    height, width = size
    roi = info.roi
    image_height, image_width = image_size or size
    source = (info.height or image_height, info.width or image_width)
    if source == (height, width):
        k, p = info.k, info.p
        roi_values = (roi.x_offset, roi.y_offset, roi.height, roi.width)
    else:
        k, p, roi_values = scale_intrinsics(
            info.k, info.p, (roi.x_offset, roi.y_offset, roi.height, roi.width), source, size)
    scaled = CameraInfo(header=header, height=height, width=width,
                        distortion_model=info.distortion_model, d=info.d, k=k, r=info.r,
                        p=p, binning_x=info.binning_x, binning_y=info.binning_y)
    scaled.roi.x_offset, scaled.roi.y_offset, scaled.roi.height, scaled.roi.width = (
        int(v) for v in roi_values)
    scaled.roi.do_rectify = roi.do_rectify
    return scaled


_POINT_FIELD_TYPES = {np.dtype('<f4'): PointField.FLOAT32, np.dtype('u1'): PointField.UINT8,
                      np.dtype('<u2'): PointField.UINT16, np.dtype('<u4'): PointField.UINT32}


def _point_fields(dtype: np.dtype) -> list[PointField]:
    return [PointField(name=name, offset=offset, datatype=_POINT_FIELD_TYPES[field], count=1)
            for name, (field, offset) in ((n, dtype.fields[n][:2]) for n in dtype.names)]


def cloud_message(header: Header, points: np.ndarray) -> PointCloud2:
    """PointCloud2 of a structured point array: (H, W) organised (row-major, as PointCloud2
    defines it) or (N,) dense, fields named, offset and typed as the array's."""
    height, width = points.shape if points.ndim == 2 else (1, points.shape[0])
    step = points.dtype.itemsize
    data = array.array('B')
    data.frombytes(np.ascontiguousarray(points).tobytes())
    cloud = PointCloud2(header=header, height=int(height), width=int(width),
                        fields=_point_fields(points.dtype), point_step=step,
                        row_step=int(width) * step, is_bigendian=sys.byteorder != 'little',
                        is_dense=points.ndim == 1)   # a dense cloud holds valid points only
    cloud.data = data
    return cloud


def class_topic_names(names) -> list[str]:
    """One ROS topic name token per class name: lower case, '_' for every run of other
    characters, 'class_' before a leading digit; a name that would repeat an earlier one gets
    its class id appended."""
    tokens = []
    for index, name in enumerate(names):
        token = re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_') or f'class_{index}'
        if token[0].isdigit():
            token = f'class_{token}'
        if token in tokens:
            token = f'{token}_{index}'
        tokens.append(token)
    return tokens


@dataclass
class SegmentedFrame:
    """What a cloud needs of one segmented frame."""

    header: Header
    labels: np.ndarray
    rgb: np.ndarray
    confidence: np.ndarray | None
    camera_info: CameraInfo | None
    input_size: tuple[int, int]


def _stamp_ns(header: Header) -> int:
    return Time.from_msg(header.stamp).nanoseconds


class DepthPairing:
    """Pairs segmented frames with depth images by stamp and counts the frames left unpaired.

    Pairing is ``StampMatcher``'s (nearest stamp within the tolerance, each used once). A
    frame is unmatched once a depth image newer than its stamp plus the tolerance has
    arrived without pairing it, or ``UNMATCHED_AFTER_S`` after it was added.

    Args:
        tolerance_s: largest stamp difference that pairs.
        on_pair: called with (frame, depth message), from whichever thread added the second.
    """

    def __init__(self, tolerance_s: float, on_pair) -> None:
        self._tolerance_ns = int(round(tolerance_s * 1e9))
        self._on_pair = on_pair
        self._lock = threading.Lock()
        self._pending: dict[int, float] = {}     # frame stamp -> monotonic time added
        self._newest_depth_ns: int | None = None
        self._unmatched = 0
        self._matcher = StampMatcher(self._tolerance_ns, window_ns=int(UNMATCHED_AFTER_S * 1e9))

    def add_frame(self, frame: SegmentedFrame) -> None:
        stamp = _stamp_ns(frame.header)
        with self._lock:
            self._pending[stamp] = time.monotonic()
            pairs = self._matched(self._matcher.add_frame(stamp, time.monotonic_ns(), frame))
            newest = self._newest_depth_ns
            if stamp in self._pending and newest is not None and (
                    newest > stamp + self._tolerance_ns):
                del self._pending[stamp]
                self._unmatched += 1
        self._publish(pairs)

    def add_depth(self, depth: Image) -> None:
        stamp = _stamp_ns(depth.header)
        with self._lock:
            if self._newest_depth_ns is None or stamp > self._newest_depth_ns:
                self._newest_depth_ns = stamp
            pairs = self._matched(self._matcher.add_label(stamp, time.monotonic_ns(), depth))
            passed = [s for s in self._pending if s + self._tolerance_ns < stamp]
            for frame_stamp in passed:
                del self._pending[frame_stamp]
            self._unmatched += len(passed)
        self._publish(pairs)

    def _matched(self, events) -> list:
        """The pairs among ``events``, their frames no longer pending (call holding the lock)."""
        pairs = [(event.frame, event.label) for event in events if event.kind == MATCHED]
        for frame, _ in pairs:
            self._pending.pop(_stamp_ns(frame.header), None)
        return pairs

    def _publish(self, pairs: list) -> None:
        # Outside the lock: a cloud takes milliseconds, and the other thread adds meanwhile.
        for frame, depth in pairs:
            self._on_pair(frame, depth)

    def take_unmatched(self) -> int:
        """Frames found unmatched since the last call (old pending ones expire now)."""
        now = time.monotonic()
        with self._lock:
            expired = [s for s, added in self._pending.items()
                       if now - added > UNMATCHED_AFTER_S]
            for stamp in expired:
                del self._pending[stamp]
            count, self._unmatched = self._unmatched + len(expired), 0
        return count


class _CloudStatistics:
    """Per-window cloud cost and counters (thread-safe: worker and executor both build)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.window_ms: list[float] = []
        self.window_points: list[int] = []
        self.totals = {'clouds': 0, 'stamp mismatches': 0, 'bad depth': 0, 'failed': 0}
        self.last_problem = ''

    def record_cloud(self, milliseconds: float, points: int) -> None:
        with self._lock:
            self.window_ms.append(milliseconds)
            self.window_points.append(points)
            self.totals['clouds'] += 1

    def record(self, kind: str, count: int = 1, problem: str = '') -> None:
        with self._lock:
            self.totals[kind] += count
            if problem:
                self.last_problem = problem

    def take(self) -> tuple[list[float], list[int], dict[str, int], str]:
        with self._lock:
            window = (self.window_ms, self.window_points, dict(self.totals), self.last_problem)
            self.window_ms, self.window_points = [], []
        return window


class RobotOutputs:
    """camera_info, confidence, label_info and the semantic cloud of one segmentation node.

    Args:
        node: owns the publishers and subscriptions.
        segmenter: its classes (output classes) and min_confidence describe the labels.
        outputs: output size choice.
        cloud: the point cloud's configuration.
        image_topic: the resolved image topic (camera_info is its sibling unless remapped).
        input_qos: the QoS of the image subscription, used for camera_info and depth too.
        log_problem: ``(key, text)`` throttled error logging of the node.
        camera: the node's camera these outputs belong to ('' = its only one): a named
            camera's topics are NAME/depth in and ~/NAME/... out.
    """

    def __init__(self, node: Node, segmenter, outputs: OutputsConfig, cloud: CloudConfig,
                 image_topic: str, input_qos: QoSProfile, log_problem,
                 camera: str = '') -> None:
        self._node = node
        self._outputs = outputs
        self._cloud_config = cloud
        self._log_problem = log_problem
        self._classes = segmenter.classes
        self._threshold = float(segmenter.config.min_confidence)
        self._builder = SemanticCloudBuilder(cloud, segmenter.classes.palette_array())
        self._stats = _CloudStatistics()
        self._camera_info: tuple[CameraInfo, float] | None = None   # (message, received at)
        self._depth_size: tuple[int, int] | None = None
        self._label_info_frame: str | None = None

        prefix = f'{camera}/' if camera else ''
        remapped = node.resolve_topic_name(f'{prefix}camera_info')
        self.camera_info_topic = (
            remapped if remapped != node.resolve_topic_name(f'{prefix}camera_info',
                                                            only_expand=True)
            else camera_info_topic(image_topic))
        self._info_pub = node.create_publisher(CameraInfo, f'~/{prefix}camera_info', OUTPUT_QOS)
        self._confidence_pub = node.create_publisher(Image, f'~/{prefix}confidence', OUTPUT_QOS)
        self._points_pub = node.create_publisher(PointCloud2, f'~/{prefix}points', OUTPUT_QOS)
        # Output class id -> its cloud's publisher.
        self._class_pubs = {
            label: node.create_publisher(PointCloud2, f'~/{prefix}points/{token}', OUTPUT_QOS)
            for label, token in enumerate(class_topic_names(self._classes.names))
        } if cloud.per_class else {}
        self._label_info_pub = (node.create_publisher(LabelInfo, f'~/{prefix}label_info',
                                                      LATCHED_QOS)
                                if LabelInfo is not None else None)
        if LabelInfo is None:
            node.get_logger().info(f'vision_msgs is not installed: no ~/{prefix}label_info')
        self._pairing = DepthPairing(cloud.stamp_tolerance_s, self._publish_cloud_or_report)
        self._subscriptions = [
            node.create_subscription(CameraInfo, self.camera_info_topic, self._on_camera_info,
                                     input_qos),
            node.create_subscription(Image, f'{prefix}depth', self._on_depth, input_qos)]
        self.depth_topic = self._subscriptions[1].topic_name
        self._publish_label_info('')
        node.get_logger().info(
            f'robot outputs{" of camera " + camera if camera else ""}: camera_info from '
            f'{self.camera_info_topic}, depth from {self.depth_topic} (tolerance '
            f'{cloud.stamp_tolerance_s:g} s), labels at the {outputs.output_size} size'
            + (f', clouds per class {", ".join(p.topic_name for p in self._class_pubs.values())}'
               if self._class_pubs else ''))

    def close(self) -> None:
        """Remove the publishers and subscriptions (the worker no longer publishes)."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        for publisher in (self._info_pub, self._confidence_pub, self._points_pub,
                          self._label_info_pub, *self._class_pubs.values()):
            if publisher is not None:
                self._node.destroy_publisher(publisher)
        self._subscriptions = []

    # -- executor side -------------------------------------------------------------------
    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = (msg, time.monotonic())

    def _on_depth(self, msg: Image) -> None:
        self._depth_size = (int(msg.height), int(msg.width))
        if self._wants_cloud():
            self._pairing.add_depth(msg)

    def _wants_cloud(self) -> bool:
        return self._points_pub.get_subscription_count() > 0 or any(
            publisher.get_subscription_count() > 0 for publisher in self._class_pubs.values())

    # -- worker side ---------------------------------------------------------------------
    def segment_options(self) -> dict:
        """Keyword arguments for ``Segmenter.segment`` of the next frame."""
        want_cloud = self._wants_cloud()
        options = {'want_confidence': self._confidence_pub.get_subscription_count() > 0
                   or (want_cloud and self._cloud_config.confidence)}
        if self._outputs.output_size == 'depth' and self._depth_size is not None:
            options['output_size'] = self._depth_size
        return options

    def publish(self, header: Header, rgb: np.ndarray, result) -> None:
        """Publish what has subscribers for one segmented frame (labels already out)."""
        size = tuple(result.labels.shape)
        if header.frame_id != self._label_info_frame:
            self._publish_label_info(header.frame_id)
        info = self._fresh_camera_info()
        if info is not None:
            self._info_pub.publish(scaled_camera_info(info, header, size, rgb.shape[:2]))
        if result.confidence is not None and self._confidence_pub.get_subscription_count():
            self._confidence_pub.publish(array_to_image(result.confidence, header))
        if self._wants_cloud():
            if info is None:
                self._log_problem('cloud:camera_info',
                                  f'no ~/points: no camera_info on {self.camera_info_topic} '
                                  f'in the last {CAMERA_INFO_TIMEOUT_S:g} s')
                return
            self._pairing.add_frame(SegmentedFrame(header, result.labels, rgb,
                                                   result.confidence, info, rgb.shape[:2]))

    def _fresh_camera_info(self) -> CameraInfo | None:
        latest = self._camera_info
        if latest is None or time.monotonic() - latest[1] > CAMERA_INFO_TIMEOUT_S:
            return None
        return latest[0]

    def _publish_cloud_or_report(self, frame: SegmentedFrame, depth_msg: Image) -> None:
        # Called from the worker or the executor, whichever added the second of the pair:
        # an error escaping here would end that thread's callback, not only this cloud.
        try:
            self._publish_cloud(frame, depth_msg)
        except Exception as error:  # noqa: BLE001 - the cloud is lost, the node goes on
            self._stats.record('failed', problem=repr(error))
            self._log_problem(f'cloud:unexpected:{type(error).__name__}',
                              f'no ~/points: the cloud failed unexpectedly: {error!r}')

    def _publish_cloud(self, frame: SegmentedFrame, depth_msg: Image) -> None:
        start = time.perf_counter()
        try:
            depth = image_to_depth(depth_msg)
        except ImageConversionError as error:
            self._stats.record('bad depth', problem=str(error))
            self._log_problem(f'depth:{error.kind}:{error.source}', f'no ~/points: {error}')
            return
        info = frame.camera_info
        # The camera_info describes the camera image; the registered depth image sees the
        # same view at its own resolution.
        source = (info.height or frame.input_size[0], info.width or frame.input_size[1])
        intrinsics = PinholeIntrinsics.from_k(info.k, source).scaled(depth.shape)
        if intrinsics.fx <= 0 or intrinsics.fy <= 0:
            self._stats.record('bad depth', problem='camera_info has no focal length')
            self._log_problem('cloud:intrinsics',
                              f'no ~/points: camera_info on {self.camera_info_topic} has '
                              f'K = {list(info.k)} (no focal length)')
            return
        points = self._builder.build(depth, intrinsics, frame.labels, frame.rgb,
                                     frame.confidence)
        header = depth_msg.header
        if self._cloud_config.image_stamp:
            header = Header(stamp=frame.header.stamp, frame_id=depth_msg.header.frame_id)
        if self._points_pub.get_subscription_count() > 0:
            self._points_pub.publish(cloud_message(header, points))
        wanted = {label: publisher for label, publisher in self._class_pubs.items()
                  if publisher.get_subscription_count() > 0}
        if wanted:   # the split sorts every point: only for clouds someone reads
            for label, class_cloud in split_by_class(points, wanted).items():
                wanted[label].publish(cloud_message(header, class_cloud))
        self._stats.record_cloud(1e3 * (time.perf_counter() - start),
                                 int(np.count_nonzero(np.isfinite(points['z']))))

    def _publish_label_info(self, frame_id: str) -> None:
        self._label_info_frame = frame_id
        if self._label_info_pub is None:
            return
        classes = [VisionClass(class_id=index, class_name=name)
                   for index, name in enumerate(self._classes.names)]
        classes.append(VisionClass(class_id=UNKNOWN_LABEL, class_name='unknown'))
        msg = LabelInfo(class_map=classes, threshold=self._threshold)
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.header.frame_id = frame_id
        self._label_info_pub.publish(msg)

    # -- diagnostics ---------------------------------------------------------------------
    def diagnostic_values(self) -> list[tuple[str, str]]:
        """Key/value pairs for the node's /diagnostics status (one window per call)."""
        unmatched = self._pairing.take_unmatched()
        if unmatched:
            self._stats.record('stamp mismatches', unmatched)
            self._log_problem('cloud:stamps', f'no ~/points for {unmatched} frame(s): no depth '
                              f'image on {self.depth_topic} within '
                              f'{self._cloud_config.stamp_tolerance_s:g} s of their stamp '
                              '(cloud.stamp_tolerance_s)')
        window_ms, points, totals, problem = self._stats.take()
        info = self._camera_info
        values = [
            ('camera_info', 'none received' if info is None else
             f'{time.monotonic() - info[1]:.1f} s ago on {self.camera_info_topic}'),
            ('cloud ms', f'{statistics.fmean(window_ms):.2f}' if window_ms else 'not run'),
            ('cloud points', f'{statistics.fmean(points):.0f}' if points else 'not run'),
        ]
        values += [(f'cloud {name} total', str(count)) for name, count in totals.items()]
        if problem:
            values.append(('cloud last problem', problem))
        return values
