# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's modes as their own processes over real DDS: compressed transport, ~/enable,
sim time without /clock, and stop signals once it runs.

test_node.py covers the default (raw) node; test_as_ros_user.py the same node through
`ros2 launch` and the ROS command-line tools.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from sensor_msgs.msg import CompressedImage  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

from sgcp_ros.node_process import start_node, stop  # noqa: E402
from test_node import (REPLY_TIMEOUT_S, STARTUP_TIMEOUT_S, RosClient,  # noqa: E402
                       padded_image, wait_for_text)

REPEATS = 2


def started(client: RosClient, process, log) -> RosClient:
    client.spin_until(lambda: client.inbox['class_info'] or process.poll() is not None,
                      STARTUP_TIMEOUT_S, 'the node to start (latched class_info)')
    assert process.poll() is None, log.read_text()
    return client


def unanswered(client: RosClient, publish, header, within_s: float = 3.0) -> bool:
    try:
        client.request(publish, 'labels', header, timeout_s=within_s)
    except AssertionError:
        return True
    return False


# -- image_transport:=compressed -------------------------------------------------------
COMPRESSED_NS = '/sgcp_compressed'
CAMERA = f'{COMPRESSED_NS}/front_camera/image_raw'


@pytest.fixture(scope='module')
def compressed_node(tiny_checkpoint, tmp_path_factory):
    log = tmp_path_factory.mktemp('compressed') / 'node.log'
    # The remap moves the compressed subscription along: <image>/compressed after remapping.
    process = start_node(log, '-r', f'__ns:={COMPRESSED_NS}', '-r', f'image:={CAMERA}',
                         '-p', f'model_path:={tiny_checkpoint}',
                         '-p', 'image_transport:=compressed')
    client = RosClient('sgcp_compressed_client', image_topic=CAMERA,
                       output=f'{COMPRESSED_NS}/sgcp_segmentation')
    try:
        yield started(client, process, log), process, log
    finally:
        client.close()
        assert stop(process) == 0, log.read_text()[-3000:]


def test_compressed_transport_takes_only_the_remapped_compressed_topic(compressed_node,
                                                                       camvid_val_frames):
    client, process, log = compressed_node
    frame = camvid_val_frames[0][1]
    raw = padded_image(frame, 'rgb8', 'raw_ignored', client.now())
    assert unanswered(client, lambda: client.image_pub.publish(raw), raw.header)
    jpeg = cv2.imencode('.jpg', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()
    corrupt = CompressedImage(format='jpeg', data=jpeg[:len(jpeg) // 3])
    client.jpeg_pub.publish(corrupt)
    wait_for_text(log, "format 'jpeg'", REPLY_TIMEOUT_S, process)
    good = CompressedImage(format='jpeg', data=jpeg)
    good.header.frame_id, good.header.stamp = 'jpeg_after_corrupt', client.now()
    labels = client.segment(good, client.jpeg_pub)
    assert (labels.height, labels.width) == (360, 480)
    assert f'listening on {CAMERA}/compressed (compressed' in log.read_text()


def test_overlay_compressed_is_jpeg_when_subscribed(compressed_node, camvid_val_frames):
    client, _, _ = compressed_node
    frame = camvid_val_frames[1][1]
    jpeg = cv2.imencode('.jpg', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()
    client.subscribe('overlay_jpeg', CompressedImage,
                     topic=f'{COMPRESSED_NS}/sgcp_segmentation/overlay/compressed')
    try:
        msg = CompressedImage(format='jpeg', data=jpeg)
        msg.header.frame_id, msg.header.stamp = 'overlay_jpeg', client.now()
        overlay = client.request(lambda: client.jpeg_pub.publish(msg), 'overlay_jpeg',
                                 msg.header)
        assert overlay.format.startswith('rgb8; jpeg') or overlay.format == 'jpeg'
        decoded = cv2.imdecode(np.frombuffer(bytes(overlay.data), np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (360, 480, 3)
    finally:
        client.unsubscribe('overlay_jpeg')
    report = client.latest_diagnostics(lambda values: 'overlay ms' in values)
    assert report['image topic'] == f'{CAMERA}/compressed'


def test_decompression_bombs_are_dropped_and_good_frames_go_on(compressed_node,
                                                               camvid_val_frames):
    """Each crafted bomb (JPEG with fill bytes, lossless WebP, deflate TIFF, 1-bit PNG one
    pixel over the limit) is dropped with its one-line reason, the node's peak memory does
    not move, and the good frames before and after each are answered."""
    from test_images import BOMBS
    client, process, log = compressed_node
    frame = camvid_val_frames[3][1]
    jpeg = cv2.imencode('.jpg', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()

    def good(name: str) -> None:
        msg = CompressedImage(format='jpeg', data=jpeg)
        msg.header.frame_id, msg.header.stamp = name, client.now()
        assert client.segment(msg, client.jpeg_pub).header.frame_id == name

    def peak_rss_kib() -> int:
        status = Path(f'/proc/{process.pid}/status').read_text()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith('VmHWM:')))

    good('before_bombs')
    peak_before = peak_rss_kib()
    for name, (make, _, words) in BOMBS.items():
        # Its own format string: the node throttles its error lines per format and fault.
        bomb = CompressedImage(format=f'{name}; jpeg compressed bgr8', data=make())
        bomb.header.frame_id, bomb.header.stamp = name, client.now()
        client.jpeg_pub.publish(bomb)
        wait_for_text(log, words, REPLY_TIMEOUT_S, process)
        good(f'after_{name}')
    assert (peak_rss_kib() - peak_before) / 1024 < 50, 'the bombs moved the peak memory'


# -- ~/enable ------------------------------------------------------------------------------
def test_enable_false_pauses_without_unloading_and_true_resumes(tiny_checkpoint, tmp_path):
    namespace = '/sgcp_enable'
    log = tmp_path / 'node.log'
    process = start_node(log, '-r', f'__ns:={namespace}', '-p', f'model_path:={tiny_checkpoint}',
                         '-p', 'diagnostics_period_s:=0.5')
    client = RosClient('sgcp_enable_client', image_topic=f'{namespace}/image',
                       output=f'{namespace}/sgcp_segmentation')
    enable = client.node.create_client(SetBool, f'{namespace}/sgcp_segmentation/enable')

    def call(value: bool) -> SetBool.Response:
        client.spin_until(enable.service_is_ready, REPLY_TIMEOUT_S, 'the enable service')
        future = enable.call_async(SetBool.Request(data=value))
        client.spin_until(future.done, REPLY_TIMEOUT_S, 'the enable reply')
        return future.result()

    frame = np.full((60, 80, 3), 90, np.uint8)
    try:
        started(client, process, log)
        before = padded_image(frame, 'rgb8', 'before_pause', client.now())
        client.segment(before)
        assert call(False).message.startswith('paused')
        paused = padded_image(frame, 'rgb8', 'while_paused', client.now())
        assert unanswered(client, lambda: client.image_pub.publish(paused), paused.header)
        report = client.latest_diagnostics(lambda values: values['message'].startswith('paused'))
        assert report['backend'] in ('onnx', 'openvino', 'torch')  # the model stays loaded
        assert call(True).message.startswith('resumed')
        after = padded_image(frame, 'rgb8', 'after_resume', client.now())
        assert client.segment(after).header.frame_id == 'after_resume'
        assert log.read_text().count('loading model') == 1
    finally:
        client.node.destroy_client(enable)
        client.close()
        assert stop(process) == 0, log.read_text()[-3000:]


# -- use_sim_time without /clock -----------------------------------------------------------
def test_sim_time_without_clock_still_reports_and_never_a_negative_latency(
        tiny_checkpoint, tmp_path):
    namespace = '/sgcp_sim_time'
    log = tmp_path / 'node.log'
    process = start_node(log, '-r', f'__ns:={namespace}', '-p', f'model_path:={tiny_checkpoint}',
                         '-p', 'use_sim_time:=true', '-p', 'diagnostics_period_s:=0.5')
    client = RosClient('sgcp_sim_time_client', image_topic=f'{namespace}/image',
                       output=f'{namespace}/sgcp_segmentation')
    try:
        started(client, process, log)
        # No /clock anywhere: the node's clock is at zero, the frames carry wall time.
        frame = padded_image(np.full((60, 80, 3), 40, np.uint8), 'rgb8', 'wall', client.now())
        client.segment(frame)

        def streamed(values):
            client.image_pub.publish(frame)
            return int(values.get('frames with unmeasurable latency', 0)) > 0
        report = client.latest_diagnostics(streamed)
        assert report['latency mean ms'].startswith('stamps ahead of the node clock')
    finally:
        client.close()
        assert stop(process) == 0, log.read_text()[-3000:]


# -- stop signals once the node runs, node alone -------------------------------------------
# A signal during Python's start-up and imports takes Python's default (a KeyboardInterrupt
# traceback, or death by SIGTERM); from rclpy.init on, the node exits 0 without a traceback.
def _loading(log, process) -> None:
    wait_for_text(log, 'loading model', STARTUP_TIMEOUT_S, process)


def _streaming(log, process) -> None:
    wait_for_text(log, 'ready:', STARTUP_TIMEOUT_S, process)
    client = RosClient('sgcp_signal_client', image_topic='/sgcp_signals/image',
                       output='/sgcp_signals/sgcp_segmentation')
    try:
        frame = padded_image(np.full((60, 80, 3), 7, np.uint8), 'rgb8', 'streaming',
                             client.now())
        client.segment(frame)
        for _ in range(5):
            client.image_pub.publish(frame)
    finally:
        client.close()


CASES = {  # name: (wait for the stage, signals sent with 50 ms between them)
    'SIGINT during model load': (_loading, (signal.SIGINT,)),
    'SIGTERM during model load': (_loading, (signal.SIGTERM,)),
    'SIGINT while streaming': (_streaming, (signal.SIGINT,)),
    'SIGTERM while streaming': (_streaming, (signal.SIGTERM,)),
    'SIGINT twice while streaming': (_streaming, (signal.SIGINT, signal.SIGINT)),
    'SIGINT then SIGTERM during shutdown': (_streaming, (signal.SIGINT, signal.SIGTERM)),
}


@pytest.mark.parametrize('repeat', range(REPEATS))
@pytest.mark.parametrize('case', list(CASES))
def test_stop_signals_exit_zero_without_traceback(tiny_checkpoint, tmp_path, case, repeat):
    wait, signals = CASES[case]
    log = tmp_path / 'node.log'
    start = time.monotonic()
    process = start_node(log, '-r', '__ns:=/sgcp_signals', '-p',
                         f'model_path:={tiny_checkpoint}',
                         # A long model load only where the signal is to land in it.
                         '-p', f'warmup_runs:={20 if wait is _loading else 1}')
    try:
        wait(log, process)
        sent_after_s = time.monotonic() - start
        for sig in signals[:-1]:
            process.send_signal(sig)
            time.sleep(0.05)
    finally:
        return_code = stop(process, signals[-1])
    output = log.read_text()
    what = f'exit {return_code}, first signal {sent_after_s:.2f} s after start:\n{output[-3000:]}'
    assert return_code == 0, what
    assert 'Traceback' not in output, what


def test_max_image_pixels_refuses_a_compressed_frame_from_its_header(compressed_node,
                                                                     camvid_val_frames):
    client, process, log = compressed_node
    frame = camvid_val_frames[2][1]
    png = cv2.imencode('.png', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()
    accepted = client.set_parameters(max_image_pixels=360 * 480 - 1)
    assert accepted[0].successful, accepted[0].reason
    try:
        big = CompressedImage(format='png', data=png)
        big.header.frame_id, big.header.stamp = 'too_big', client.now()
        assert unanswered(client, lambda: client.jpeg_pub.publish(big), big.header)
        wait_for_text(log, 'declares 480x360 pixels, more than the 172799 accepted',
                      REPLY_TIMEOUT_S, process)
    finally:
        client.set_parameters(max_image_pixels=64_000_000)
    fits = CompressedImage(format='png', data=png)
    fits.header.frame_id, fits.header.stamp = 'fits', client.now()
    assert client.segment(fits, client.jpeg_pub).header.frame_id == 'fits'
