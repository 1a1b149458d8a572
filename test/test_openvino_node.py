# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node with backend:=openvino as its own process over real DDS: the shipped 0.61M
model's labels of a real CamVid frame match ONNX Runtime's, and class_info, the effective
parameters and /diagnostics say which backend runs and why."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
pytest.importorskip('openvino', reason="openvino not installed (pip install '.[openvino]')")

from sgcp_ros.node_process import start_node, stop  # noqa: E402
from test_node import STARTUP_TIMEOUT_S, RosClient, padded_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

NAMESPACE = '/sgcp_openvino'
SMALL_ONNX = REPO / 'models' / 'camvid' / 'sgcpnet_camvid_mobilenetv3.onnx'


@pytest.fixture(scope='module')
def openvino_node(tmp_path_factory):
    log = tmp_path_factory.mktemp('openvino_node') / 'node.log'
    process = start_node(log, '-r', f'__ns:={NAMESPACE}', '-p', f'model_path:={SMALL_ONNX}',
                         '-p', 'backend:=openvino', '-p', 'precision:=f32',
                         '-p', 'threads:=1', '-p', 'diagnostics_period_s:=0.5')
    client = RosClient('sgcp_openvino_client', image_topic=f'{NAMESPACE}/image',
                       output=f'{NAMESPACE}/sgcp_segmentation')
    try:
        client.spin_until(lambda: client.inbox['class_info'] or process.poll() is not None,
                          STARTUP_TIMEOUT_S, 'the node to start (latched class_info)')
        assert process.poll() is None, log.read_text()
        yield client, log
    finally:
        client.close()
        assert stop(process) == 0, log.read_text()[-3000:]


def test_openvino_node_labels_match_onnx_runtime_and_it_says_what_runs(openvino_node,
                                                                       frame):
    from sgcp_core.config import EngineConfig
    from sgcp_core.engine import Segmenter
    client, log = openvino_node
    info = json.loads(client.inbox['class_info'][0].data)
    assert info['backend'] == 'openvino' and info['device'] == 'cpu'
    assert info['backend_choice'] == 'openvino (configured)'
    assert 'openvino' in log.read_text() and 'f32' in log.read_text()

    msg = padded_image(frame, 'rgb8', 'openvino', client.now())
    labels = client.request(lambda: client.image_pub.publish(msg), 'labels', msg.header)
    received = np.frombuffer(labels.data, np.uint8).reshape(labels.height, labels.step)
    expected = Segmenter(dataclasses.replace(
        EngineConfig(), model_path=str(SMALL_ONNX), backend='onnx', threads=1,
        warmup_runs=0)).segment(frame).labels
    assert np.mean(received[:, :labels.width] == expected) > 0.999

    report = client.report_while_streaming(frame, 'openvino_diagnosed')
    assert report['backend'] == 'openvino' and report['device'] == 'cpu'
    assert report['backend choice'] == 'openvino (configured)'
