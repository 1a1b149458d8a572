# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The segmentation node as its own process, driven over real DDS from this one.

One node process serves most tests (starting torch and the model costs seconds); the
start-up failure tests start their own, and test_node_modes.py the stop-signal ones.
Discovery stays on loopback with a private domain (test/conftest.py) and large images use
the shipped Fast DDS profile.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from sgcp_ros.node_process import start_node, stop  # noqa: E402
from sgcp_ros.ros_client import PrivateRosNode  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

NAMESPACE = '/sgcp_test'
OUTPUT = f'{NAMESPACE}/sgcp_segmentation'
STARTUP_TIMEOUT_S = 180.0   # python + torch + model export on two busy cores
REPLY_TIMEOUT_S = 30.0
STAGE_KEYS = ('convert ms', 'preprocess ms', 'inference ms', 'postprocess ms', 'publish ms')
LATENCY_KEYS = ('latency mean ms', 'latency p50 ms', 'latency p95 ms', 'latency max ms')
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def wait_for_text(path: Path, text: str, timeout_s: float, process=None) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        content = path.read_text(errors='replace')
        if text in content:
            return content
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f'{text!r} not in the node output within {timeout_s} s:\n'
                         + path.read_text(errors='replace')[-3000:])


def padded_image(pixels: np.ndarray, encoding: str, frame_id: str, stamp,
                 padding: int = 7) -> Image:
    """An Image with ``padding`` junk bytes after each row."""
    height = pixels.shape[0]
    rows = np.hstack([pixels.reshape(height, -1),
                      np.full((height, padding), 0xEE, np.uint8)])
    msg = Image(height=height, width=pixels.shape[1], encoding=encoding,
                step=rows.shape[1], data=rows.tobytes())
    msg.header.frame_id = frame_id
    msg.header.stamp = stamp
    return msg


class RosClient:
    """This test process's side of the conversation: publishers, inboxes and spinning."""

    def __init__(self, name: str, image_topic: str = f'{NAMESPACE}/image',
                 output: str = OUTPUT) -> None:
        self.ros = PrivateRosNode(name)
        self.node, self.executor = self.ros.node, self.ros.executor
        self.output = output
        self.image_pub = self.node.create_publisher(Image, image_topic, 1)
        self.jpeg_pub = self.node.create_publisher(CompressedImage,
                                                   f'{image_topic}/compressed', 1)
        self.inbox: dict[str, list] = {}
        self.subscriptions = {}
        self.subscribe('labels', Image)
        self.subscribe('diagnostics', DiagnosticArray, topic='/diagnostics')
        self.subscribe('class_info', String, qos=LATCHED)

    def subscribe(self, name: str, msg_type, topic: str | None = None, qos=10) -> None:
        self.inbox[name] = []
        self.subscriptions[name] = self.node.create_subscription(
            msg_type, topic or f'{self.output}/{name}', self.inbox[name].append, qos)

    def unsubscribe(self, name: str) -> None:
        self.node.destroy_subscription(self.subscriptions.pop(name))

    def spin_until(self, predicate, timeout_s: float, what: str):
        result = self.ros.spin_until(predicate, timeout_s)
        if not result:
            raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')
        return result

    def now(self):
        return self.node.get_clock().now().to_msg()

    def request(self, publish, reply: str, header, timeout_s: float = REPLY_TIMEOUT_S):
        """Publish (again every second: best-effort input) until ``reply`` has ``header``."""
        last = [0.0]

        def answered():
            if time.monotonic() - last[0] > 1.0:
                publish()
                last[0] = time.monotonic()
            return next((m for m in self.inbox[reply]
                         if m.header.stamp == header.stamp
                         and m.header.frame_id == header.frame_id), None)
        return self.spin_until(answered, timeout_s, f'{reply} for frame {header.frame_id}')

    def segment(self, msg: Image, publisher=None) -> Image:
        return self.request(lambda: (publisher or self.image_pub).publish(msg), 'labels',
                            msg.header)

    def latest_diagnostics(self, predicate, timeout_s: float = REPLY_TIMEOUT_S):
        """Key/value dict of the first of our status reports (from now on) that fits."""
        self.inbox['diagnostics'].clear()

        def found():
            for array in self.inbox['diagnostics']:
                for status in array.status:
                    if (status.name, status.hardware_id) == (
                            f'{self.output}: segmentation', self.output):
                        values = {kv.key: kv.value for kv in status.values}
                        values['level'], values['message'] = status.level, status.message
                        if predicate(values):
                            return values
            self.inbox['diagnostics'].clear()
            return None
        return self.spin_until(found, timeout_s, 'a fitting diagnostics report')

    def report_while_streaming(self, frame: np.ndarray, frame_id: str):
        """Publish ``frame`` until a diagnostics window has processed frames; return it."""
        def processed(values):
            # .get: a report of the node before it has a model has no rates.
            if float(values.get('processed rate Hz', 0)) > 0:
                return True
            self.image_pub.publish(padded_image(frame, 'rgb8', frame_id, self.now()))
            return False
        return self.latest_diagnostics(processed)

    def set_parameters(self, **values):
        client = self.node.create_client(SetParameters, f'{self.output}/set_parameters')
        try:
            self.spin_until(lambda: client.service_is_ready(), REPLY_TIMEOUT_S,
                            'the set_parameters service')
            request = SetParameters.Request(parameters=[
                Parameter(name=name, value=_parameter_value(value))
                for name, value in values.items()])
            future = client.call_async(request)
            self.spin_until(future.done, REPLY_TIMEOUT_S, 'set_parameters reply')
            return future.result().results
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.ros.close()


def _parameter_value(value) -> ParameterValue:
    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)


@pytest.fixture(scope='module')
def node_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp('node') / 'node.log'


@pytest.fixture(scope='module')
def node_process(tiny_checkpoint, node_log):
    process = start_node(node_log, '--params-file', str(REPO / 'config' / 'segmentation.yaml'),
                         '-r', f'__ns:={NAMESPACE}', '-p', f'model_path:={tiny_checkpoint}',
                         '-p', 'diagnostics_period_s:=0.5')
    yield process
    if process.poll() is None:
        stop(process)


@pytest.fixture(scope='module')
def client(node_process, node_log):
    client = RosClient('sgcp_node_test_client')
    try:
        client.spin_until(lambda: client.inbox['class_info'] or node_process.poll() is not None,
                          STARTUP_TIMEOUT_S, 'the node to start (latched class_info)')
        assert node_process.poll() is None, node_log.read_text()
        yield client
    finally:
        client.close()


def test_class_info_is_latched_json(client, frame):
    from sgcp_core.classes import CAMVID
    info = json.loads(client.inbox['class_info'][0].data)
    assert info['names'] == list(CAMVID.names)
    assert len(info['palette']) == 11 and info['unknown_label'] == 255
    assert info['input_size'] == [360, 480] and info['device'] == 'cpu'


def test_rgb8_and_bgr8_with_row_padding_give_labels_with_the_input_header(client, frame):
    rgb_msg = padded_image(frame, 'rgb8', 'camera_rgb', client.now())
    bgr_msg = padded_image(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), 'bgr8', 'camera_bgr',
                           client.now(), padding=16)
    results = []
    for msg in (rgb_msg, bgr_msg):
        labels = client.segment(msg)
        assert (labels.encoding, labels.height, labels.width) == ('mono8', 360, 480)
        assert labels.step == 480 and len(labels.data) == 360 * 480
        assert labels.header.stamp == msg.header.stamp
        assert labels.header.frame_id == msg.header.frame_id
        results.append(np.frombuffer(labels.data, np.uint8).reshape(360, 480))
    assert results[0].max() < 11
    # The same picture in either byte order and padding must give the same labels.
    np.testing.assert_array_equal(results[0], results[1])


def test_overlay_and_color_mask_appear_only_with_subscribers(client, frame):
    # Without subscribers the node must not even compute them.
    report = client.report_while_streaming(frame, 'no_viewers')
    assert report['colorize ms'] == 'not run' and report['overlay ms'] == 'not run'

    client.subscribe('overlay', Image)
    client.subscribe('color_mask', Image)
    try:
        msg = padded_image(frame, 'rgb8', 'with_viewers', client.now())
        overlay = client.request(lambda: client.image_pub.publish(msg), 'overlay', msg.header)
        mask = client.request(lambda: client.image_pub.publish(msg), 'color_mask', msg.header)
        for output in (overlay, mask):
            assert (output.encoding, output.height, output.width) == ('rgb8', 360, 480)
            assert output.header.stamp == msg.header.stamp
        colours = np.unique(np.frombuffer(mask.data, np.uint8).reshape(-1, 3), axis=0)
        info = json.loads(client.inbox['class_info'][0].data)
        assert {tuple(c) for c in colours} <= {tuple(c) for c in info['palette']} | {(0, 0, 0)}
        blended = np.frombuffer(overlay.data, np.uint8).reshape(360, 480, 3)
        assert not np.array_equal(blended, frame)
    finally:
        client.unsubscribe('overlay')
        client.unsubscribe('color_mask')


def test_diagnostics_carry_rates_stage_times_latency_backend_and_device(client, frame):
    report = client.report_while_streaming(frame, 'diagnosed')
    # The window processed frames: every stage ran and took time, and so did the trip.
    for key in STAGE_KEYS + LATENCY_KEYS:
        assert float(report[key]) > 0.0, key
    mean, p50, p95, worst = (float(report[key]) for key in LATENCY_KEYS)
    assert p50 <= p95 <= worst and mean <= worst
    assert report['backend'] in ('onnx', 'openvino', 'torch') and report['device'] == 'cpu'
    assert float(report['input rate Hz']) > 0
    totals = {key: int(report[f'{key} frames total'])
              for key in ('received', 'dropped', 'rejected', 'failed', 'processed')}
    assert totals['processed'] > 0
    assert sum(totals.values()) - totals['received'] <= totals['received'], totals


@pytest.mark.parametrize('name, make_bad, logged', [
    ('unknown encoding', lambda f, s: padded_image(f, '32FC1', 'bad', s),
     "unsupported image encoding '32FC1'"),
    ('step shorter than a row',
     lambda f, s: Image(header=padded_image(f, 'rgb8', 'bad', s).header, height=360, width=480,
                        encoding='rgb8', step=1000, data=bytes(360 * 1000)),
     'step 1000 is shorter than one row'),
    ('size mismatch',
     lambda f, s: Image(header=padded_image(f, 'rgb8', 'bad', s).header, height=360, width=480,
                        encoding='rgb8', step=1440, data=bytes(1440 * 359)),
     'expected step * height = 1440 * 360'),
    ('empty data', lambda f, s: Image(height=360, width=480, encoding='bgr8', step=1440),
     'bgr8 image 480x360 has no data'),
])
def test_bad_frames_are_logged_and_the_next_good_frame_is_processed(
        client, node_process, node_log, frame, name, make_bad, logged):
    client.image_pub.publish(make_bad(frame, client.now()))
    wait_for_text(node_log, logged, REPLY_TIMEOUT_S, node_process)
    good = padded_image(frame, 'rgb8', f'after {name}', client.now())
    assert client.segment(good).header.frame_id == f'after {name}'
    assert node_process.poll() is None


def test_parameters_change_live_and_bad_values_are_refused(client, frame):
    accepted = client.set_parameters(overlay_alpha=0.0)
    assert accepted[0].successful, accepted[0].reason
    refused = client.set_parameters(overlay_alpha=1.5)
    assert not refused[0].successful
    read_only = client.set_parameters(model_path='/elsewhere.pt')
    assert not read_only[0].successful
    contradiction = client.set_parameters(latency_warn_ms=5000.0)
    assert not contradiction[0].successful and 'latency_error_ms' in contradiction[0].reason
    # alpha 0 shows the camera frame only: the live change reached the worker.
    client.subscribe('overlay', Image)
    try:
        msg = padded_image(frame, 'rgb8', 'alpha_zero', client.now())
        overlay = client.request(lambda: client.image_pub.publish(msg), 'overlay', msg.header)
        blended = np.frombuffer(overlay.data, np.uint8).reshape(360, 480, 3)
        assert np.abs(blended.astype(int) - frame).max() <= 1
    finally:
        client.unsubscribe('overlay')
        client.set_parameters(overlay_alpha=0.5)


def test_missing_and_corrupt_models_fail_fast_with_a_clear_message(tmp_path):
    corrupt = tmp_path / 'corrupt.pt'
    corrupt.write_bytes(b'definitely not a torch checkpoint' * 100)
    folder = tmp_path / 'folder.pt'
    folder.mkdir()
    cases = {'missing': (tmp_path / 'nowhere' / 'model.pt', 'model file not found'),
             'corrupt': (corrupt, 'not a readable checkpoint'),
             'folder': (folder, 'is a folder; pass a .pt or .onnx file')}
    processes = {name: start_node(tmp_path / f'{name}.log', '-p', f'model_path:={path}')
                 for name, (path, _) in cases.items()}
    for name, process in processes.items():
        path, reason = cases[name]
        return_code = process.wait(timeout=STARTUP_TIMEOUT_S)
        output = (tmp_path / f'{name}.log').read_text()
        assert return_code != 0, output
        assert 'cannot start' in output and str(path) in output and reason in output, output
        assert 'Traceback' not in output, output
