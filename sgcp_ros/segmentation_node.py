# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The segmentation node: camera images in; labels, colour mask, overlay and diagnostics out.

Threads: the executor only stores each incoming frame in its camera's one-slot mailbox
(``LatestFrames``); a worker thread takes the newest one, converts, segments and publishes
it. A frame that arrives while the previous one of its camera waits is replaced (counted
as dropped), so a slow model never builds a queue and the outputs are always about the
latest image.

One node serves several cameras (``cameras`` parameter, one ``CameraStream`` each) with one
model: the worker takes the cameras' frames round-robin, so none starves another, and with
``camera_batching`` runs the frames waiting from several cameras as one network batch.

Two nodes share this work (``SegmentationWork``): ``SegmentationNode`` loads the model and
runs from start-up (``~/enable`` pauses and resumes it without unloading), and
``SegmentationLifecycleNode`` is a managed node: configure loads the model, activate
subscribes and publishes, deactivate stops, cleanup frees the model.

Topics (relative, so namespaces and remapping place them):
    in:  image (sensor_msgs/Image) with image_transport 'raw', or
         <resolved image>/compressed (CompressedImage) with 'compressed': exactly one
    out: ~/labels (mono8, 255 = unknown), ~/color_mask (rgb8), ~/overlay (rgb8),
         ~/overlay/compressed (JPEG), all with the input header unchanged;
         ~/class_info (std_msgs/String JSON, latched); /diagnostics (DiagnosticArray);
         and from ``sgcp_ros.robot_outputs``: ~/camera_info, ~/confidence, ~/points
         (semantic cloud from the depth input), ~/label_info (vision_msgs/LabelInfo).
    With cameras [front, ...]: front/image in (front/image/compressed), front/camera_info,
    front/depth; ~/front/labels ... ~/front/label_info and ~/front/class_info out, a
    /diagnostics status per camera beside the node's; ~/class_info stays.
    Labels are never sent as JPEG: its lossy compression changes pixel values, and a changed
    class id is a wrong class, not a slightly different shade.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
import time
import warnings

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from rclpy.utilities import try_shutdown
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import SetBool

from sgcp_core.classes import UNKNOWN_LABEL
from sgcp_core.config import ConfigError, EngineConfig
from sgcp_core.engine import EngineError, Segmenter
from sgcp_core.resources import resolve_model_path
from sgcp_ros.camera_stream import CameraStream, topic_prefix
from sgcp_ros.diagnostics import DiagnosticsReporter, FrameStatistics, summarize
from sgcp_ros.images import ImageConversionError, image_to_rgb
from sgcp_ros.latest_frame import LatestFrames
from sgcp_ros.log_throttle import KeyedThrottle
from sgcp_ros.parameters import (EFFECTIVE_PARAMETERS, ENGINE_PARAMETERS, LIVE_PARAMETERS,
                                 NODE_PARAMETERS, NodeConfig, check_camera_remaps, check_choice,
                                 check_node_config, declare_config, read_config)
from sgcp_ros.robot_outputs import (PARAMETER_NAMES as ROBOT_OUTPUT_PARAMETERS,
                                    declare_outputs_config, read_outputs_config)
from sgcp_ros.ros_logging import library_logs_to

__all__ = ['NODE_NAME', 'SegmentationWork', 'SegmentationNode', 'SegmentationLifecycleNode',
           'main']

NODE_NAME = 'sgcp_segmentation'
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
_NODE_FIELDS = frozenset(f.name for f in dataclasses.fields(NodeConfig))
_CONFIG_PARAMETERS = (frozenset(ENGINE_PARAMETERS) | frozenset(NODE_PARAMETERS)
                      | ROBOT_OUTPUT_PARAMETERS)
# Errors that mean "this configuration or model cannot work": reported in one line, also
# through a managed node's configure (OSError: a model path that is a folder, a file this
# user may not read).
STARTUP_ERRORS = (OSError, ValueError, EngineError, ParameterException)


class SegmentationWork:
    """What both nodes do, in the steps a managed node takes them.

    Mixed into an rclpy ``Node`` or ``LifecycleNode``: ``_declare`` (constructor),
    ``_load`` / ``_unload`` (the model: configure / cleanup), ``_start`` / ``_stop``
    (outputs, input and worker: activate / deactivate), ``_subscribe`` / ``_unsubscribe``
    (the input only: ``~/enable``). Each camera's topics and statistics are a
    ``CameraStream``; the model, the worker and the overall statistics are the node's.
    """

    def _declare(self) -> None:
        # rclpy destroys every node of the context at shutdown, even one whose __init__ was
        # interrupted (SIGINT while the model loads): destroy_node must work from here on.
        self._segmenter = None
        self._worker = None
        self._latest = None
        self._stopping = threading.Event()
        self._cameras: dict[str, CameraStream] = {}
        self._batch_limit = 1         # frames per network run: cameras batched, or 1
        self._latched = []
        self._state = 'unconfigured'
        self._startup_open = True     # start-up parameters may change (no model loaded)
        self._writing_effective = False
        self._facts = {}
        declare_config(self, EngineConfig, ENGINE_PARAMETERS)
        self._config: NodeConfig = declare_config(self, NodeConfig, NODE_PARAMETERS)
        problem = (check_node_config(self._config)
                   or check_camera_remaps(self, self._config.cameras))
        if problem:
            raise ConfigError(problem)
        declare_outputs_config(self)
        self._overlay_alpha = self.get_parameter('overlay_alpha').value
        self._stats = FrameStatistics()
        self._throttle = KeyedThrottle(period_s=5.0)
        self._diagnostics = DiagnosticsReporter(self, self._config.diagnostics_period_s,
                                                self.get_fully_qualified_name(),
                                                self._diagnostic_status)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # -- the model (configure / cleanup) --------------------------------------------------
    def _load(self) -> None:
        """Load the model from the current parameters; then they hold the values in effect.

        Raises:
            FileNotFoundError, ValueError, EngineError: as ``Segmenter``.
        """
        engine_config = read_config(self, EngineConfig)
        # Resolved here ('' = the shipped model) so the log names the file and a missing
        # one fails right away.
        engine_config = dataclasses.replace(
            engine_config, model_path=str(resolve_model_path(engine_config.model_path)))
        self.get_logger().info(f'loading model {engine_config.model_path} (backend '
                               f'{engine_config.backend}, device {engine_config.device})')
        with warnings.catch_warnings(record=True) as caught, library_logs_to(self.get_logger()):
            warnings.simplefilter('always')
            self._segmenter = Segmenter(engine_config)
        for warning in caught:
            self.get_logger().warning(str(warning.message))
        self._startup_open = False
        segmenter = self._segmenter
        height, width = segmenter.input_size
        self._write_effective_values(model_path=str(segmenter.model_path),
                                     backend=segmenter.backend_name, device=segmenter.device,
                                     input_height=height, input_width=width)
        self._publish_class_info(str(segmenter.model_path))
        self._facts = {'backend': segmenter.backend_name, 'device': segmenter.device,
                       'backend choice': segmenter.backend_reason,
                       'model': str(segmenter.model_path), 'input size': f'{height}x{width}'}
        cameras = self._config.cameras
        if cameras:
            self._batch_limit, batching = self._choose_batching()
            self._facts.update({'cameras': ', '.join(cameras), 'camera batching': batching})
            self.get_logger().info(f'{len(cameras)} cameras ({", ".join(cameras)}), one model; '
                                   f'camera batching: {batching}')
            # TensorRT builds an engine per batch shape: build it now, not on camera frames.
            self._segmenter.prepare_batches(self._batch_limit)
        self._state = 'inactive'

    def _choose_batching(self) -> tuple[int, str]:
        """(frames per network run, the reason) from camera_batching, the cameras and the
        model. 'auto' batches on CUDA only: on the CPU a batch runs no faster than its frames
        one by one (docs/performance.md, Many cameras)."""
        count, mode = len(self._config.cameras), self._config.camera_batching
        segmenter = self._segmenter
        if count < 2 or mode == 'never':
            return 1, 'off (never)' if count > 1 else 'one camera'
        if mode == 'auto' and segmenter.device != 'cuda':
            return 1, 'off (auto: batching does not pay on the CPU)'
        if not segmenter.takes_batches:
            why = (f'{segmenter.model_path.name} takes one frame per run (export it with '
                   '"sgcp export --dynamic-batch", or run the .pt)')
            if mode == 'always':
                self.get_logger().warning(f'camera_batching always, but {why}')
            return 1, f'off: {why}'
        return count, f'on: up to {count} frames per network run ({mode})'

    def _write_effective_values(self, **values) -> None:
        # 'auto', '' and 0 mean "let the node choose": after loading, `ros2 param get` shows
        # what it chose. Only this write gets past the start-up guard in _on_set_parameters.
        assert set(values) == set(EFFECTIVE_PARAMETERS)
        self._writing_effective = True
        try:
            results = self.set_parameters([Parameter(name, value=value)
                                           for name, value in values.items()])
        finally:
            self._writing_effective = False
        for name, result in zip(values, results):
            if not result.successful:
                self.get_logger().warning(f'could not show {name}={values[name]!r} as a '
                                          f'parameter: {result.reason}')

    def _publish_class_info(self, model_path: str) -> None:
        segmenter = self._segmenter
        info = dict(segmenter.classes.to_dict(), unknown_label=UNKNOWN_LABEL, model=model_path,
                    backend=segmenter.backend_name, device=segmenter.device,
                    backend_choice=segmenter.backend_reason,
                    input_size=list(segmenter.input_size),
                    min_confidence=segmenter.config.min_confidence)
        if segmenter.class_groups is not None:
            # names/palette above are the output classes; this says what each one gathers.
            info['class_groups'] = segmenter.class_groups.to_dict()
            info['model_classes'] = segmenter.model_classes.to_dict()
        # One beside each camera's labels too, where tools look for it (class_info_topic).
        self._latched = []
        for camera in ('', *self._config.cameras):
            class_info_pub = self.create_publisher(
                String, f'~/{topic_prefix(camera)}class_info', LATCHED_QOS)
            class_info_pub.publish(String(data=json.dumps(info)))
            self._latched.append(class_info_pub)

    def _unload(self) -> None:
        """Free the model; start-up parameters may change again."""
        for publisher in self._latched:
            self.destroy_publisher(publisher)
        self._latched = []
        if self._segmenter is not None:
            self._segmenter.close()
        self._segmenter = None
        self._facts = {}
        self._startup_open = True
        self._state = 'unconfigured'

    # -- outputs, input and worker (activate / deactivate) -------------------------------
    def _start(self) -> None:
        """Create every camera's outputs, start the worker, subscribe the inputs."""
        config = self._config
        robot_config = read_outputs_config(self)
        named = bool(config.cameras)
        self._cameras = {
            # A single camera's statistics are the node's; each named one feeds them.
            name: CameraStream(self, name, config, self._segmenter, robot_config,
                               FrameStatistics(overall=self._stats) if named else self._stats,
                               self._on_frame, self._log_problem)
            for name in (config.cameras or ('',))}
        if named:
            self._diagnostics.set_cameras({
                name: (lambda camera=camera: self._camera_status(camera))
                for name, camera in self._cameras.items()})
        self._stopping = threading.Event()
        self._latest = LatestFrames(self._cameras)
        self._worker = threading.Thread(
            target=self._run_worker, name='sgcp_inference',
            args=(self._stopping, self._latest, self._cameras, self._batch_limit), daemon=True)
        self._worker.start()
        self._subscribe()

    def _subscribe(self) -> None:
        config = self._config
        for camera in self._cameras.values():
            camera.subscribe()
        topics = ', '.join(camera.input_topic for camera in self._cameras.values())
        if not config.cameras:
            self._facts['image topic'] = topics
        self._state = 'active'
        self.get_logger().info(
            f'ready: {self._facts["backend"]} on {self._facts["device"]}, input '
            f'{self._facts["input size"]}, {self._segmenter.classes.num_classes} classes, '
            f'model {self._facts["model"]}; listening on {topics} '
            f'({config.image_transport}, {config.input_qos_reliability}, depth '
            f'{config.input_qos_depth})')

    def _unsubscribe(self, state: str) -> None:
        for camera in self._cameras.values():
            camera.unsubscribe()
        self._state = state

    def _stop(self) -> None:
        """Unsubscribe, let the worker finish the frames in hand, remove the outputs."""
        self._unsubscribe('inactive')
        self._stopping.set()
        if self._latest is not None:
            self._latest.close()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
        self._worker = self._latest = None
        self._diagnostics.set_cameras({})
        for camera in self._cameras.values():
            camera.close()
        self._cameras = {}

    def _release(self) -> None:
        """Everything, from any state: used when the node is destroyed."""
        if self._worker is not None or self._cameras:
            self._stop()
        if self._segmenter is not None:
            self._unload()

    # -- executor side -------------------------------------------------------------------
    def _on_frame(self, camera: CameraStream, msg: Image | CompressedImage) -> None:
        latest = self._latest
        if latest is not None:
            camera.stats.record_received(replaced_unprocessed=latest.put(camera.name, msg))

    _STATE_MESSAGES = {'unconfigured': 'unconfigured: no model loaded',
                       'inactive': 'inactive: model loaded, not subscribed',
                       'paused': 'paused (~/enable false): model loaded, not subscribed'}

    def _diagnostic_status(self):
        """The node's status: all its cameras together."""
        window = self._stats.take_window()
        if self._state != 'active':
            return DiagnosticStatus.OK, self._STATE_MESSAGES[self._state], list(
                self._facts.items())
        cameras = list(self._cameras.values())
        publishers = sum(camera.publishers_on_input() for camera in cameras)
        level, message, values = summarize(window, self._config, self._facts, publishers)
        if not self._config.cameras and cameras:
            values += cameras[0].robot_outputs.diagnostic_values()
        elif window.network_runs:
            values.append(('frames per network run',
                           f'{sum(window.network_runs) / len(window.network_runs):.2f}'))
        return level, message, values

    def _camera_status(self, camera: CameraStream):
        """One named camera's status: its own rates, drops, latency and robot outputs."""
        window = camera.stats.take_window()
        if self._state != 'active':
            return DiagnosticStatus.OK, self._STATE_MESSAGES[self._state], list(
                camera.facts.items())
        level, message, values = summarize(window, self._config, camera.facts,
                                           camera.publishers_on_input())
        return level, message, values + camera.robot_outputs.diagnostic_values()

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        # rclpy has already enforced types and ranges before this runs. This is the node's
        # only set-parameters callback (Humble has no post-set callback), so what it accepts
        # is applied here.
        ours = [p for p in parameters if p.name in _CONFIG_PARAMETERS]
        if not self._writing_effective:
            for parameter in ours:
                if parameter.name not in LIVE_PARAMETERS and not self._startup_open:
                    return SetParametersResult(successful=False, reason=(
                        f'{parameter.name} is a start-up parameter: it cannot change while the '
                        'model is loaded (restart the node; the managed node takes it after '
                        'cleanup)'))
        for parameter in ours:
            reason = check_choice(parameter.name, parameter.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        # String arrays arrive as lists; the config holds tuples.
        changes = {p.name: tuple(p.value) if isinstance(p.value, list) else p.value
                   for p in ours if p.name in _NODE_FIELDS}
        config = dataclasses.replace(self._config, **changes)
        reason = check_node_config(config)
        if reason:
            return SetParametersResult(successful=False, reason=reason)
        # One reference swap: the worker reads either the old or the new config whole.
        self._config = config
        for parameter in ours:
            if parameter.name == 'overlay_alpha':
                self._overlay_alpha = parameter.value
        if ours and not self._writing_effective:
            self.get_logger().info('parameters changed: ' + ', '.join(
                f'{p.name}={p.value}' for p in ours))
        return SetParametersResult(successful=True)

    # -- worker thread -------------------------------------------------------------------
    def _run_worker(self, stopping: threading.Event, latest: LatestFrames,
                    cameras: dict[str, CameraStream], batch_limit: int) -> None:
        while not stopping.is_set():
            # The next camera(s) in turn with a frame waiting: one, or one per camera when
            # batching, so every camera gets its turn however fast another one publishes.
            taken = [(cameras[name], msg) for name, msg in latest.take(0.5, batch_limit)]
            if not taken:
                continue
            try:
                self._process(taken)
            except Exception as error:  # noqa: BLE001 - the cameras must keep being served
                if stopping.is_set() or not self.context.ok():
                    return  # shutting down: publishers are gone
                for camera, _ in taken:
                    camera.stats.record_problem('failed', repr(error))
                self._log_problem(f'unexpected:{type(error).__name__}',
                                  f'frame failed unexpectedly: {error!r}')

    def _log_problem(self, key: str, text: str) -> None:
        suppressed = self._throttle.allow(key)
        if suppressed is not None:
            more = f' ({suppressed} more like it since the last report)' if suppressed else ''
            self.get_logger().error(text + more)

    def _process(self, taken: list[tuple[CameraStream, Image | CompressedImage]]) -> None:
        """Convert, segment (one network run for all of them) and publish cameras' frames."""
        config = self._config
        frames = []   # (camera, header, rgb, convert ms, segment options)
        for camera, msg in taken:
            start = time.perf_counter()
            try:
                rgb = image_to_rgb(msg, max_pixels=config.max_image_pixels)
            except ImageConversionError as error:
                camera.stats.record_problem('rejected', str(error))
                self._log_problem(f'{camera.name}:{error.kind}:{error.source}',
                                  f'{camera.label}dropped a frame: {error}')
                continue
            frames.append((camera, msg.header, rgb, 1e3 * (time.perf_counter() - start),
                           camera.segment_options(config, self._overlay_alpha)))
        if not frames:
            return
        try:
            results = self._segmenter.segment_batch([frame[2] for frame in frames],
                                                    [frame[4] for frame in frames])
        except (ValueError, EngineError) as error:
            for camera, *_ in frames:
                camera.stats.record_problem('failed', str(error))
            self._log_problem(f'engine:{type(error).__name__}', f'segmentation failed: {error}')
            return
        batch = results[0].batch_size
        for _ in range(len(results) // batch):
            self._stats.record_network_run(batch)
        for (camera, header, rgb, convert_ms, _), result in zip(frames, results):
            before = time.perf_counter()
            camera.publish(header, result, config)
            publish_ms = 1e3 * (time.perf_counter() - before)
            # Timed on their own in /diagnostics ('cloud ms'): the cloud waits for its depth.
            camera.robot_outputs.publish(header, rgb, result)
            stage_ms = {name: value for name, value in result.timings_ms.items()
                        if name != 'total'}
            stage_ms['convert'] = convert_ms
            stage_ms['publish'] = publish_ms
            camera.stats.record_processed(stage_ms, *self._latency_ms(header))

    def _latency_ms(self, header) -> tuple[float | None, bool]:
        """(latency from the header stamp to now on the node's clock, measurable).

        An unstamped header says nothing (None, True). With use_sim_time the node's clock
        is /clock's time (zero before the first /clock message) and the stamps must be too;
        a stamp the clock has not reached (no /clock yet, wall-time stamps against sim time,
        another machine's clock ahead) cannot give a latency: (None, False).
        """
        now = self.get_clock().now()
        stamp = Time.from_msg(header.stamp, clock_type=now.clock_type)
        if stamp.nanoseconds == 0:
            return None, True
        if now.nanoseconds == 0 or stamp > now:
            return None, False
        return (now - stamp).nanoseconds / 1e6, True

    # -- shutdown ------------------------------------------------------------------------
    def destroy_node(self) -> None:
        """Stop the worker (it finishes the frame in hand), release the model, then the node."""
        self._release()
        super().destroy_node()


class SegmentationNode(SegmentationWork, Node):
    """Segments every newest camera frame with ``sgcp_core.Segmenter``, from start-up.

    ``~/enable`` (std_srvs/SetBool) false unsubscribes the input and keeps the model
    loaded; true subscribes again.

    Raises (from the constructor, before anything is published):
        FileNotFoundError: no model file at model_path (or no shipped model for '').
        ValueError: a corrupt model (CheckpointMismatchError), a bad parameter value.
        EngineError: backend or device unavailable.
    """

    def __init__(self, **node_options) -> None:
        super().__init__(NODE_NAME, **node_options)
        self._declare()
        self._startup_open = False  # the plain node's start-up values are the launch's
        self._load()
        self._start()
        self._enable_service = self.create_service(SetBool, '~/enable', self._on_enable)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response):
        if request.data and self._state == 'paused':
            self._subscribe()
            response.message = 'resumed: listening on ' + ', '.join(
                camera.input_topic for camera in self._cameras.values())
        elif not request.data and self._state == 'active':
            self._unsubscribe('paused')
            response.message = 'paused: not subscribed, model kept loaded'
        else:
            response.message = f'already {self._state}'
        self.get_logger().info(f'~/enable {request.data}: {response.message}')
        response.success = True
        return response


class SegmentationLifecycleNode(SegmentationWork, LifecycleNode):
    """The managed variant: configure loads, activate runs, deactivate stops, cleanup frees.

    Like ros2/demos lifecycle_py's talker. A failed configure (missing model, bad value)
    logs why and returns FAILURE, staying unconfigured so the parameters can be fixed.
    """

    def __init__(self, **node_options) -> None:
        super().__init__(NODE_NAME, **node_options)
        self._declare()

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._load()
        except STARTUP_ERRORS as error:
            self.get_logger().error(f'configure failed: {error}')
            self._unload()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self._start()
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop()
        self.get_logger().info('deactivated: not subscribed, model kept loaded')
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._unload()
        self.get_logger().info('cleaned up: model freed')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self.get_logger().error(f'error while {state.label}: releasing everything')
        self._release()
        return TransitionCallbackReturn.SUCCESS


def main(args: list[str] | None = None, lifecycle: bool = False) -> int:
    """Run the node until SIGINT or SIGTERM (exit 0); exit 1 with one clear line on bad setup.

    ``rclpy.init`` installs rclpy's handlers: either signal shuts the context down, so spin
    ends (ExternalShutdownException), and SIGINT also raises KeyboardInterrupt.
    """
    try:
        rclpy.init(args=args)
    except RuntimeError as error:   # ROS arguments rcl refuses, e.g. a missing --params-file
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {error}')
        return 1
    # Made before the node, so that a signal right after the node is ready never cuts the
    # executor's __init__ short (its __del__ would then print a traceback at exit).
    executor = SingleThreadedExecutor()
    node = None
    try:
        node = SegmentationLifecycleNode() if lifecycle else SegmentationNode()
        rclpy.spin(node, executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as error:
        if not rclpy.ok():
            # Asked to stop: whatever failed did so because the context went down under it
            # (a signal while the model loads, or while the executor builds its wait set).
            return 0
        if not isinstance(error, STARTUP_ERRORS):
            raise
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {error}')
        return 1
    finally:
        # Stopping: a second SIGINT or SIGTERM (`timeout` and `ros2 launch` each send one)
        # must not cut the clean-up short, so both are ignored to the end of the process.
        # rclpy.utilities.try_shutdown leaves them so on every distro; rclpy.try_shutdown
        # from Kilted on also uninstalls rclpy's handlers, which puts back the ones that
        # rclpy.init replaced (Python's KeyboardInterrupt, SIGTERM's default).
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        try_shutdown()
    return 0
