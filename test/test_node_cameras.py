# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One node, many cameras, over real DDS with the node in its own process.

Two cameras of different sizes get their own labels (the model's own labels for their own
frame, with their own header) and nothing crosses over, batched through one network run;
a flooded camera does not starve a slow one (the managed node, one frame per run); each
camera has its own /diagnostics status; bad camera names refuse start-up in one line.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
pytestmark = pytest.mark.heavy   # node processes driven over DDS

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

from sgcp_core.config import EngineConfig  # noqa: E402
from sgcp_core.engine import Segmenter  # noqa: E402
from sgcp_ros.node_process import node_environment, start_node, stop  # noqa: E402
from sgcp_ros.ros_client import PrivateRosNode  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

STARTUP_TIMEOUT_S = 180.0
REPLY_TIMEOUT_S = 30.0
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Two cameras of different resolutions: a batch holds frames of both sizes.
SIZES = {'front': (60, 80), 'rear': (48, 64)}


def image(rgb: np.ndarray, frame_id: str, stamp, compressed: bool = False):
    if compressed:
        msg = CompressedImage(format='jpeg', data=cv2.imencode(
            '.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes())
    else:
        msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding='rgb8',
                    step=rgb.shape[1] * 3, data=rgb.tobytes())
    msg.header.frame_id, msg.header.stamp = frame_id, stamp
    return msg


class Client:
    """Publishes each camera's frames and collects each camera's outputs."""

    def __init__(self, name: str, namespace: str, cameras, compressed: bool = False) -> None:
        self.ros = PrivateRosNode(name)
        self.node = self.ros.node
        self.output = f'{namespace}/sgcp_segmentation'
        self.image_pubs = {c: self.node.create_publisher(
            CompressedImage if compressed else Image,
            f'{namespace}/{c}/image' + ('/compressed' if compressed else ''), 1)
            for c in cameras}
        self.labels = {c: [] for c in cameras}
        self.class_info = {}
        self.diagnostics = []
        for camera in cameras:
            self.node.create_subscription(Image, f'{self.output}/{camera}/labels',
                                          self.labels[camera].append, 50)
            self.node.create_subscription(
                String, f'{self.output}/{camera}/class_info',
                lambda msg, camera=camera: self.class_info.__setitem__(camera, msg.data),
                LATCHED)
        self.node.create_subscription(
            String, f'{self.output}/class_info',
            lambda msg: self.class_info.__setitem__('', msg.data), LATCHED)
        self.node.create_subscription(DiagnosticArray, '/diagnostics',
                                      self.diagnostics.append, 50)

    def spin_until(self, predicate, timeout_s: float, what: str):
        result = self.ros.spin_until(predicate, timeout_s)
        assert result, f'timed out after {timeout_s} s waiting for {what}'
        return result

    def now(self):
        return self.node.get_clock().now().to_msg()

    def labelled(self, camera: str, msg: Image, timeout_s: float = REPLY_TIMEOUT_S):
        """Publish ``msg`` on ``camera`` (again every second: best-effort input) until its
        labels arrive; return them."""
        last = [0.0]

        def answered():
            if time.monotonic() - last[0] > 1.0:
                self.image_pubs[camera].publish(msg)
                last[0] = time.monotonic()
            return next((m for m in self.labels[camera] if m.header == msg.header), None)
        return self.spin_until(answered, timeout_s, f'labels of {msg.header.frame_id}')

    def statuses(self, predicate, timeout_s: float = REPLY_TIMEOUT_S, every=None) -> dict:
        """{status name: key/value dict} once ``predicate`` holds for what has arrived."""
        self.diagnostics.clear()
        latest = {}

        def found():
            for array in self.diagnostics:
                for status in array.status:
                    if status.name.startswith(self.output + ':'):
                        values = {kv.key: kv.value for kv in status.values}
                        values['level'], values['message'] = status.level, status.message
                        latest[status.name] = values
            self.diagnostics.clear()
            if every is not None:
                every()
            return predicate(latest)
        self.spin_until(found, timeout_s, 'fitting diagnostics')
        return latest

    def close(self) -> None:
        self.ros.close()


def wait_until_started(client: Client, process, log, cameras) -> None:
    """The node is up when every camera's latched class_info has arrived."""
    def ready():
        assert process.poll() is None, log.read_text()[-3000:]
        return all(camera in client.class_info for camera in cameras)
    client.spin_until(ready, STARTUP_TIMEOUT_S, 'the node to start')


@pytest.fixture(scope='module')
def frames(camvid_val_frames):
    """Each camera's real CamVid frame at its own size."""
    return {camera: cv2.resize(camvid_val_frames[index][1], size[::-1],
                               interpolation=cv2.INTER_AREA)
            for index, (camera, size) in enumerate(SIZES.items())}


@pytest.fixture(scope='module')
def batched_node(tiny_checkpoint, tmp_path_factory):
    """A plain node with cameras front and rear, batching on (the .pt runs on PyTorch,
    which takes batches); one thread, as the in-process reference below."""
    log = tmp_path_factory.mktemp('cameras') / 'node.log'
    namespace = '/sgcp_cams'
    process = start_node(log, '-r', f'__ns:={namespace}', '-p',
                         f'model_path:={tiny_checkpoint}', '-p', 'cameras:=[front, rear]',
                         '-p', 'camera_batching:=always', '-p', 'threads:=1',
                         '-p', 'diagnostics_period_s:=0.5')
    client = Client('sgcp_cameras_client', namespace, SIZES)
    try:
        wait_until_started(client, process, log, ('', *SIZES))
        yield client, process, log
    finally:
        client.close()
        assert stop(process) == 0, log.read_text()[-3000:]


def test_each_camera_gets_its_own_labels_through_one_batch(batched_node, frames,
                                                           tiny_checkpoint):
    client, _, log = batched_node
    reference = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                       device='cpu', threads=1, warmup_runs=0))
    assert client.class_info['front'] == client.class_info['rear'] == client.class_info['']
    stamps = {}
    for round_index in range(3):
        sent = {camera: image(frames[camera], f'{camera}_optical_{round_index}', client.now())
                for camera in SIZES}
        for camera, msg in sent.items():   # both waiting together: one batch
            client.image_pubs[camera].publish(msg)
        for camera, msg in sent.items():
            labels = client.labelled(camera, msg)
            assert (labels.height, labels.width) == SIZES[camera]
            got = np.frombuffer(labels.data, np.uint8).reshape(SIZES[camera])
            np.testing.assert_array_equal(got, reference.segment(frames[camera]).labels)
            stamps.setdefault(camera, []).append(labels.header.stamp)
    assert stamps['front'] != stamps['rear']
    # Nothing crossed over: every label map on a camera's topic is that camera's.
    for camera, received in client.labels.items():
        assert {m.header.frame_id.split('_optical')[0] for m in received} == {camera}
        assert {(m.height, m.width) for m in received} == {SIZES[camera]}
    text = log.read_text()
    assert '2 cameras (front, rear), one model; camera batching: on' in text, text[-3000:]
    assert text.count('loading model') == 1


def test_each_camera_has_its_own_status_beside_the_nodes(batched_node, frames):
    client, _, _ = batched_node
    output = client.output
    names = {camera: f'{output}: segmentation {camera}' for camera in SIZES}

    def stream():
        for camera in SIZES:
            client.image_pubs[camera].publish(image(frames[camera], f'{camera}_optical',
                                                    client.now()))

    def complete(latest):
        return all(float(latest.get(name, {}).get('processed rate Hz', 0)) > 0
                   for name in [*names.values(), f'{output}: segmentation'])
    latest = client.statuses(complete, every=stream)
    for camera, name in names.items():
        status = latest[name]
        assert status['camera'] == camera
        assert status['image topic'] == f'/sgcp_cams/{camera}/image'
        assert float(status['latency p95 ms']) > 0
        assert 'dropped frames' in status and 'camera_info' in status   # robot outputs too
    overall = latest[f'{output}: segmentation']
    assert overall['cameras'] == 'front, rear'
    assert overall['camera batching'].startswith('on: up to 2 frames')
    assert 1.0 <= float(overall['frames per network run']) <= 2.0
    assert 'camera_info' not in overall   # those are per camera


def test_enable_pauses_and_resumes_every_camera(batched_node, frames):
    client, _, _ = batched_node
    enable = client.node.create_client(SetBool, f'{client.output}/enable')

    def call(value: bool) -> str:
        client.spin_until(enable.service_is_ready, REPLY_TIMEOUT_S, 'the enable service')
        future = enable.call_async(SetBool.Request(data=value))
        client.spin_until(future.done, REPLY_TIMEOUT_S, 'the enable reply')
        return future.result().message

    try:
        assert call(False).startswith('paused')
        paused = image(frames['rear'], 'rear_optical_paused', client.now())
        client.image_pubs['rear'].publish(paused)
        client.ros.spin_until(lambda: False, 1.5)
        assert not [m for m in client.labels['rear'] if m.header == paused.header]
        assert call(True) == ('resumed: listening on /sgcp_cams/front/image, '
                              '/sgcp_cams/rear/image')
        for camera in SIZES:
            client.labelled(camera, image(frames[camera], f'{camera}_optical_resumed',
                                          client.now()))
    finally:
        client.node.destroy_client(enable)


def test_a_flooded_camera_does_not_starve_a_slow_one(tiny_onnx, frames, tmp_path):
    """The managed node, one frame per network run, compressed input (NAME/image/compressed):
    a camera publishing as fast as it can beside one at 2 Hz; every slow frame is segmented,
    none dropped."""
    namespace = '/sgcp_flood'
    log = tmp_path / 'node.log'
    process = subprocess.Popen(
        [sys.executable, '-m', 'sgcp_ros.entry_points', '--lifecycle', '--ros-args',
         '-r', f'__ns:={namespace}', '-p', f'model_path:={tiny_onnx}',
         '-p', 'cameras:=[fast, slow]', '-p', 'image_transport:=compressed',
         '-p', 'diagnostics_period_s:=0.5'],
        stdout=log.open('wb'), stderr=subprocess.STDOUT, cwd=REPO, env=node_environment())
    client = Client('sgcp_flood_client', namespace, ('fast', 'slow'), compressed=True)
    change = client.node.create_client(ChangeState, f'{namespace}/sgcp_segmentation/'
                                       'change_state')

    def transition(transition_id: int) -> None:
        client.spin_until(change.service_is_ready, STARTUP_TIMEOUT_S, 'the lifecycle service')
        future = change.call_async(ChangeState.Request(
            transition=Transition(id=transition_id)))
        client.spin_until(future.done, STARTUP_TIMEOUT_S, f'transition {transition_id}')
        assert future.result().success, log.read_text()[-3000:]

    flooding = threading.Event()

    def flood() -> None:
        fast = image(frames['front'], 'fast_optical', client.now(), compressed=True)
        while flooding.is_set():
            fast.header.stamp = client.now()
            client.image_pubs['fast'].publish(fast)
            time.sleep(0.002)

    flooder = threading.Thread(target=flood, daemon=True)
    try:
        transition(Transition.TRANSITION_CONFIGURE)
        transition(Transition.TRANSITION_ACTIVATE)
        wait_until_started(client, process, log, ('', 'fast', 'slow'))
        client.labelled('slow', image(frames['rear'], 'slow_optical_first', client.now(),
                                      compressed=True))
        flooding.set()
        flooder.start()
        slow_sent = []
        client.spin_until(lambda: len(client.labels['fast']) > 5, REPLY_TIMEOUT_S,
                          'the flood to be served')
        for index in range(8):
            msg = image(frames['rear'], f'slow_optical_{index}', client.now(), compressed=True)
            client.image_pubs['slow'].publish(msg)
            slow_sent.append(msg.header)
            client.ros.spin_until(lambda: False, 0.5)
        client.ros.spin_until(lambda: False, 1.0)
        slow_labelled = {m.header.frame_id for m in client.labels['slow']}
        missed = [h.frame_id for h in slow_sent if h.frame_id not in slow_labelled]
        fast_count = len(client.labels['fast'])
        statuses = client.statuses(lambda latest: all(
            f'{client.output}: segmentation {c}' in latest for c in ('fast', 'slow')))
        flooding.clear()
        flooder.join(timeout=5.0)
        # The fast camera overran the node (it dropped frames) and still got served...
        fast_status = statuses[f'{client.output}: segmentation fast']
        assert int(fast_status['dropped frames total']) > 0, fast_status
        assert fast_count > 10
        # ...while every slow frame got its turn: none replaced while waiting.
        assert missed == [], (missed, log.read_text()[-2000:])
        slow_status = statuses[f'{client.output}: segmentation slow']
        assert slow_status['dropped frames total'] == '0'
        assert slow_status['image topic'] == f'{namespace}/slow/image/compressed'
        transition(Transition.TRANSITION_DEACTIVATE)
        assert 'deactivated' in log.read_text()
    finally:
        flooding.clear()
        client.node.destroy_client(change)
        client.close()
        assert stop(process) == 0, log.read_text()[-3000:]


def test_bad_camera_names_refuse_start_up_in_one_line(tmp_path):
    """The process end of check_camera_names (test_node_parts.py checks every kind of bad
    name): an empty one, through the command line's YAML."""
    log = tmp_path / 'node.log'
    code = start_node(log, '-p', "cameras:=[front, '']").wait(timeout=STARTUP_TIMEOUT_S)
    output = log.read_text()
    assert code == 1, output
    problem = [line for line in output.splitlines() if 'cannot start' in line]
    assert len(problem) == 1 and problem[0].endswith(
        'cannot start: parameter cameras: camera 2 has an empty name (give each camera a name '
        'such as front)'), output
    assert 'Traceback' not in output and 'loading model' not in output, output
