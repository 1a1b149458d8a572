# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The segmentation node: camera images in; labels, colour mask, overlay and diagnostics out.

Threads: the executor only stores each incoming frame in a one-slot ``LatestFrame``; a
worker thread takes the newest one, converts, segments and publishes it. A frame that
arrives while the previous one waits is replaced (counted as dropped), so a slow model
never builds a queue and the outputs are always about the latest image.

Topics (relative, so namespaces and remapping place them):
    in:  image (sensor_msgs/Image), image/compressed (CompressedImage, when
         subscribe_compressed is true)
    out: ~/labels (mono8, 255 = unknown), ~/color_mask (rgb8), ~/overlay (rgb8), all with
         the input header unchanged; ~/class_info (std_msgs/String JSON, latched);
         ~/label_info (vision_msgs/LabelInfo, latched, where vision_msgs is installed);
         /diagnostics (diagnostic_msgs/DiagnosticArray).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
import warnings

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from sgcp_core.classes import UNKNOWN_LABEL
from sgcp_core.config import ConfigError, EngineConfig
from sgcp_core.engine import EngineError, Segmenter
from sgcp_core.resources import default_model_path
from sgcp_ros.images import (ImageConversionError, array_to_image,
                             compressed_image_to_rgb, image_to_rgb)
from sgcp_ros.diagnostics import DiagnosticsReporter, FrameStatistics, summarize
from sgcp_ros.latest_frame import LatestFrame
from sgcp_ros.log_throttle import KeyedThrottle
from sgcp_ros.parameters import (ENGINE_PARAMETERS, NODE_PARAMETERS, NodeConfig,
                                 check_node_config, declare_config)

try:  # vision_msgs is optional: a real ROS install usually has it, the PyPI wheels do not.
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError:
    LabelInfo = VisionClass = None

__all__ = ['NODE_NAME', 'SegmentationNode', 'main']

NODE_NAME = 'sgcp_segmentation'
# Outputs: reliable writers match reliable and best-effort readers (RViz, rosbag, tools);
# depth 1 because only the newest result matters.
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
_NODE_FIELDS = frozenset(f.name for f in dataclasses.fields(NodeConfig))
# Errors that mean "this configuration or model cannot work": reported in one line.
STARTUP_ERRORS = (FileNotFoundError, ValueError, EngineError, ParameterException)


class SegmentationNode(Node):
    """Segments every newest camera frame with ``sgcp_core.Segmenter``.

    Raises (from the constructor, before anything is published):
        FileNotFoundError: no model file at model_path (or no shipped model for '').
        ValueError: a corrupt model (CheckpointMismatchError), a bad parameter value.
        EngineError: backend or device unavailable.
    """

    def __init__(self, **node_options) -> None:
        super().__init__(NODE_NAME, **node_options)
        # rclpy destroys every node of the context at shutdown, even one whose __init__ was
        # interrupted (SIGINT while the model loads): destroy_node must work from here on.
        self._stopping = threading.Event()
        self._latest = None
        self._worker = None
        self._segmenter = None
        engine_config = declare_config(self, EngineConfig, ENGINE_PARAMETERS)
        self._config: NodeConfig = declare_config(self, NodeConfig, NODE_PARAMETERS)
        problem = check_node_config(self._config)
        if problem:
            raise ConfigError(problem)
        if not engine_config.model_path:
            # Resolved here so the log names the file and a missing one fails right away.
            engine_config = dataclasses.replace(engine_config,
                                                model_path=str(default_model_path()))
        self._overlay_alpha = engine_config.overlay_alpha
        self.get_logger().info(f'loading model {engine_config.model_path} (backend '
                               f'{engine_config.backend}, device {engine_config.device})')
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            self._segmenter = Segmenter(engine_config)
        for warning in caught:
            self.get_logger().warning(str(warning.message))
        segmenter = self._segmenter

        self._labels_pub = self.create_publisher(Image, '~/labels', OUTPUT_QOS)
        self._color_pub = self.create_publisher(Image, '~/color_mask', OUTPUT_QOS)
        self._overlay_pub = self.create_publisher(Image, '~/overlay', OUTPUT_QOS)
        self._publish_class_info(engine_config.model_path)

        self._stats = FrameStatistics()
        self._throttle = KeyedThrottle(period_s=5.0)
        self._latest = LatestFrame()
        input_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=self._config.input_qos_depth,
            reliability=(ReliabilityPolicy.BEST_EFFORT
                         if self._config.input_qos_reliability == 'best_effort'
                         else ReliabilityPolicy.RELIABLE))
        image_sub = self.create_subscription(Image, 'image', self._on_frame, input_qos)
        topics = [image_sub.topic_name]
        if self._config.subscribe_compressed:
            topics.append(self.create_subscription(CompressedImage, 'image/compressed',
                                                   self._on_frame, input_qos).topic_name)
        height, width = segmenter.input_size
        self._facts = {'backend': segmenter.backend_name, 'device': segmenter.device,
                       'model': engine_config.model_path, 'input size': f'{height}x{width}',
                       'image topics': ', '.join(topics)}
        self._diagnostics = DiagnosticsReporter(self, self._config.diagnostics_period_s,
                                                self.get_fully_qualified_name(),
                                                self._diagnostic_status)

        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._worker = threading.Thread(target=self._run_worker, name='sgcp_inference',
                                        daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'ready: {segmenter.backend_name} on {segmenter.device}, input {height}x{width}, '
            f'{segmenter.classes.num_classes} classes, model {engine_config.model_path}; '
            f'listening on {", ".join(topics)} ({self._config.input_qos_reliability}, depth '
            f'{self._config.input_qos_depth})')

    # -- start-up ------------------------------------------------------------------------
    def _publish_class_info(self, model_path: str) -> None:
        classes = self._segmenter.classes
        info = dict(classes.to_dict(), unknown_label=UNKNOWN_LABEL, model=model_path,
                    backend=self._segmenter.backend_name, device=self._segmenter.device,
                    input_size=list(self._segmenter.input_size))
        self._class_info_pub = self.create_publisher(String, '~/class_info', LATCHED_QOS)
        self._class_info_pub.publish(String(data=json.dumps(info)))
        if LabelInfo is None:
            return
        label_info = LabelInfo(threshold=0.0, class_map=[
            VisionClass(class_id=index, class_name=name)
            for index, name in enumerate(classes.names)])
        label_info.header.stamp = self.get_clock().now().to_msg()
        self._label_info_pub = self.create_publisher(LabelInfo, '~/label_info', LATCHED_QOS)
        self._label_info_pub.publish(label_info)

    # -- executor side -------------------------------------------------------------------
    def _on_frame(self, msg: Image | CompressedImage) -> None:
        self._stats.record_received(replaced_unprocessed=self._latest.put(msg))

    def _diagnostic_status(self):
        return summarize(self._stats.take_window(), self._config, self._facts)

    def _check_parameters(self, parameters) -> SetParametersResult:
        # rclpy has already enforced types, ranges and read-only before this runs.
        changes = {p.name: p.value for p in parameters if p.name in _NODE_FIELDS}
        reason = check_node_config(dataclasses.replace(self._config, **changes))
        return SetParametersResult(successful=reason is None, reason=reason or '')

    def _apply_parameters(self, parameters) -> None:
        changes = {p.name: p.value for p in parameters if p.name in _NODE_FIELDS}
        if changes:
            # One reference swap: the worker reads either the old or the new config whole.
            self._config = dataclasses.replace(self._config, **changes)
        for parameter in parameters:
            if parameter.name == 'overlay_alpha':
                self._overlay_alpha = parameter.value
        self.get_logger().info('parameters changed: ' + ', '.join(
            f'{p.name}={p.value}' for p in parameters))

    # -- worker thread -------------------------------------------------------------------
    def _run_worker(self) -> None:
        while not self._stopping.is_set():
            msg = self._latest.take(timeout_s=0.5)
            if msg is None:
                continue
            try:
                self._process(msg)
            except Exception as error:  # noqa: BLE001 - the camera must keep being served
                if self._stopping.is_set() or not self.context.ok():
                    return  # shutting down: publishers are gone
                self._stats.record_problem('failed', repr(error))
                self._log_problem(f'unexpected:{type(error).__name__}',
                                  f'frame failed unexpectedly: {error!r}')

    def _log_problem(self, key: str, text: str) -> None:
        suppressed = self._throttle.allow(key)
        if suppressed is not None:
            more = f' ({suppressed} more like it since the last report)' if suppressed else ''
            self.get_logger().error(text + more)

    def _process(self, msg: Image | CompressedImage) -> None:
        start = time.perf_counter()
        try:
            rgb = (compressed_image_to_rgb(msg) if isinstance(msg, CompressedImage)
                   else image_to_rgb(msg))
        except ImageConversionError as error:
            self._stats.record_problem('rejected', str(error))
            self._log_problem(f'{error.kind}:{error.source}', f'dropped a frame: {error}')
            return
        converted = time.perf_counter()
        config = self._config
        want_overlay = config.publish_overlay and self._overlay_pub.get_subscription_count() > 0
        want_color = (config.publish_color_mask
                      and self._color_pub.get_subscription_count() > 0)
        try:
            result = self._segmenter.segment(rgb, want_color=want_color,
                                             want_overlay=want_overlay,
                                             overlay_alpha=self._overlay_alpha)
        except (ValueError, EngineError) as error:
            self._stats.record_problem('failed', str(error))
            self._log_problem(f'engine:{type(error).__name__}', f'segmentation failed: {error}')
            return
        segmented = time.perf_counter()
        header = msg.header
        if config.publish_labels:
            self._labels_pub.publish(array_to_image(result.labels, header))
        if result.color_mask is not None:
            self._color_pub.publish(array_to_image(result.color_mask, header))
        if result.overlay is not None:
            self._overlay_pub.publish(array_to_image(result.overlay, header))
        published = time.perf_counter()

        stage_ms = {name: value for name, value in result.timings_ms.items() if name != 'total'}
        stage_ms['convert'] = 1e3 * (converted - start)
        stage_ms['publish'] = 1e3 * (published - segmented)
        stamp = Time.from_msg(header.stamp)
        latency_ms = None
        if stamp.nanoseconds > 0:  # an unstamped header says nothing about latency
            latency_ms = (self.get_clock().now() - stamp).nanoseconds / 1e6
        self._stats.record_processed(stage_ms, latency_ms)

    # -- shutdown ------------------------------------------------------------------------
    def destroy_node(self) -> None:
        """Stop the worker (it finishes the frame in hand), release the model, then the node."""
        self._stopping.set()
        if self._latest is not None:
            self._latest.close()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
        if self._segmenter is not None:
            self._segmenter.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM (exit 0); exit 1 with one clear line on bad setup."""
    rclpy.init(args=args)
    node = None
    try:
        node = SegmentationNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as error:
        if not rclpy.ok():
            return 0  # SIGINT/SIGTERM while loading: whatever failed, it was asked to stop
        if not isinstance(error, STARTUP_ERRORS):
            raise
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {error}')
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        # Stopping already: a second Ctrl-C, or one still pending from a call in C code,
        # must not turn the clean exit into death by SIGINT (status -2).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0


if __name__ == '__main__':
    sys.exit(main())
