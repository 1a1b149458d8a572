# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""node_bench end to end: a real node process, a real publisher process, real DDS.

A few seconds of a small camera, so the figures are only checked for being measured
(frames counted, latencies positive and ordered, CPU and memory sampled), not for speed.
Marked slow (about 30 s on two busy cores, mostly the node's start-up).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
pytest.importorskip('psutil', reason='node_bench samples the node with psutil')

from sgcp_ros import node_bench  # noqa: E402


def test_write_camera_video_resizes_every_frame(tmp_path):
    frames = [np.full((60, 80, 3), value, np.uint8) for value in (0, 128, 255)]
    path = tmp_path / 'camera.avi'
    assert node_bench.write_camera_video(iter(frames), (30, 40), path) == 3
    capture = cv2.VideoCapture(str(path))
    sizes = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        sizes.append(frame.shape)
    assert sizes == [(30, 40, 3)] * 3


def test_bad_arguments_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as raised:
        node_bench.parse_args(['--resolution', '720by960'])
    assert raised.value.code == 2
    assert 'HxW' in capsys.readouterr().err
    for args in (['--model', str(tmp_path / 'missing.onnx')],
                 ['--frames', str(tmp_path / 'no_frames')],
                 ['--video', str(tmp_path / 'missing.mp4')]):
        assert node_bench.main([*args, '--out', str(tmp_path / 'out')]) == 2
        error = capsys.readouterr().err
        assert error.startswith('node_bench: error:') and error.count('\n') == 1
    assert not (tmp_path / 'out').exists()


@pytest.fixture
def random_frames(tmp_path):
    """A folder of four random 120x90 PNG frames for the camera publisher to play."""
    frames = tmp_path / 'frames'
    frames.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        cv2.imwrite(str(frames / f'{index:03d}.png'),
                    rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
    return frames


@pytest.mark.slow
def test_node_bench_measures_a_short_run(tmp_path, tiny_onnx, random_frames):
    frames = random_frames
    out = tmp_path / 'out'
    code = node_bench.main(['--model', str(tiny_onnx), '--frames', str(frames),
                            '--resolution', '90x120', '--rate', '10', '--duration', '3',
                            '--startup-timeout', '180', '--out', str(out)])
    assert code == 0
    report = json.loads((out / 'node_bench.json').read_text())
    (case,) = report['cases']
    assert case['resolution'] == [90, 120]
    assert case['precision'] == 'fp32'
    assert case['frames_published'] == 30
    assert 0 < case['labels_received'] <= 30
    assert case['dropped'] == 30 - case['labels_received']
    latency = case['latency_ms']
    assert latency['count'] == case['labels_received']
    assert 0 < latency['p50'] <= latency['p95'] <= latency['p99'] <= latency['max']
    assert case['processed_rate_hz'] > 0
    assert case['node']['cpu_percent'] > 0
    assert case['node']['rss_peak_mb'] > 50        # torch + onnxruntime are loaded
    assert case['node']['exit_code'] == 0
    assert node_bench.format_table(report['cases']).splitlines()[2].startswith(
        f'{tiny_onnx.name:<40} fp32      90x120 ')
    png = (out / 'latency_histogram.png').read_bytes()
    assert png.startswith(b'\x89PNG')


def test_cameras_are_named_and_bounded(capsys):
    assert node_bench.camera_topics(1) == [('', node_bench.CAMERA_TOPIC,
                                            node_bench.LABELS_TOPIC)]
    assert node_bench.camera_topics(2) == [
        ('cam0', '/sgcp_node_bench/cam0/image', '/sgcp_node_bench/sgcp_segmentation/cam0/labels'),
        ('cam1', '/sgcp_node_bench/cam1/image', '/sgcp_node_bench/sgcp_segmentation/cam1/labels')]
    for bad in ('0', '65'):
        with pytest.raises(SystemExit):
            node_bench.parse_args(['--cameras', bad])
        assert '--cameras must be 1 to 64' in capsys.readouterr().err


@pytest.mark.slow
def test_node_bench_measures_one_node_for_two_cameras(tmp_path, tiny_onnx, random_frames):
    frames = random_frames
    out = tmp_path / 'out'
    assert node_bench.main(['--model', str(tiny_onnx), '--frames', str(frames), '--cameras',
                            '2', '--resolution', '90x120', '--rate', '5', '--duration', '3',
                            '--startup-timeout', '180', '--out', str(out)]) == 0
    cases = json.loads((out / 'node_bench.json').read_text())['cases']
    cameras, single = cases
    assert cameras['cameras'] == 2 and 'cameras' not in single
    assert [c['camera'] for c in cameras['per_camera']] == ['cam0', 'cam1']
    for camera in cameras['per_camera']:
        assert camera['frames_published'] == 15
        assert 0 < camera['labels_received'] <= 15
        assert camera['latency_ms']['count'] == camera['labels_received']
    assert cameras['frames_published'] == 30 == 2 * single['frames_published']
    assert cameras['labels_received'] == sum(c['labels_received'] for c in cameras['per_camera'])
    assert cameras['rss_vs_single_camera'] == pytest.approx(
        cameras['node']['rss_peak_mb'] / single['node']['rss_peak_mb'], abs=1e-3)
    assert cameras['node']['exit_code'] == single['node']['exit_code'] == 0
    # Each camera played its own video (a different starting frame).
    assert (out / 'camera_90x120.avi').is_file() and (out / 'camera_90x120_1.avi').is_file()
