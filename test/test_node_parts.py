# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's parts without a process: parameters, newest-frame slot, throttling, statuses."""

import dataclasses
import threading
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from sgcp_core.config import EngineConfig  # noqa: E402
from sgcp_ros.diagnostics import (LATENCY_KEYS, STAGES, FrameStatistics,  # noqa: E402
                                  summarize)
from sgcp_ros.latest_frame import LatestFrames  # noqa: E402
from sgcp_ros.log_throttle import KeyedThrottle  # noqa: E402
from sgcp_ros.parameters import (ENGINE_PARAMETERS, NODE_PARAMETERS, NodeConfig,  # noqa: E402
                                 check_camera_names, check_node_config)

REPO = Path(__file__).resolve().parents[1]
FACTS = {'backend': 'onnx', 'device': 'cpu'}


def test_every_config_field_has_a_described_parameter():
    assert {f.name for f in dataclasses.fields(EngineConfig)} == set(ENGINE_PARAMETERS)
    assert {f.name for f in dataclasses.fields(NodeConfig)} == set(NODE_PARAMETERS)
    assert all(spec.description for spec in {**ENGINE_PARAMETERS, **NODE_PARAMETERS}.values())


def test_engine_parameters_describe_themselves_with_the_command_lines_text():
    """Description, choices and range come from EngineConfig's FieldDoc, which the engine
    options of sgcp and evaluate_bag print too: written once."""
    from sgcp_core.config import field_doc
    for field in dataclasses.fields(EngineConfig):
        doc, spec = field_doc(field), ENGINE_PARAMETERS[field.name]
        assert spec.description.startswith(doc.help), field.name
        assert (spec.choices, spec.range) == (doc.choices, doc.range), field.name


def test_only_runtime_safe_parameters_are_live():
    live = {name for name, spec in {**ENGINE_PARAMETERS, **NODE_PARAMETERS}.items()
            if spec.live}
    assert live == {'overlay_alpha', 'publish_labels', 'publish_color_mask', 'publish_overlay',
                    'latency_warn_ms', 'latency_error_ms', 'min_rate_warn_hz',
                    'min_rate_error_hz', 'overlay_jpeg_quality', 'max_image_pixels'}


def test_shipped_params_file_sets_declared_parameters_with_their_types():
    document = yaml.safe_load((REPO / 'config' / 'segmentation.yaml').read_text())
    values = document['/**']['ros__parameters']
    defaults = {**dataclasses.asdict(EngineConfig()), **dataclasses.asdict(NodeConfig())}
    for name, value in values.items():
        assert name in defaults, f'{name} is not a parameter of the node'
        assert type(value) is type(defaults[name]), name
    assert check_node_config(dataclasses.replace(NodeConfig(), **values)) is None


def test_contradicting_thresholds_are_named():
    assert 'latency_error_ms' in check_node_config(NodeConfig(latency_warn_ms=900.0,
                                                              latency_error_ms=800.0))
    assert 'min_rate_warn_hz' in check_node_config(NodeConfig(min_rate_warn_hz=2.0,
                                                              min_rate_error_hz=5.0))
    assert check_node_config(NodeConfig(min_rate_error_hz=5.0)) is None  # warn level off


def test_latest_frame_keeps_only_the_newest_and_counts_what_it_replaced():
    slot = LatestFrames()
    assert slot.put(None, 'frame 1') is False
    assert slot.put(None, 'frame 2') is True          # frame 1 was never taken: dropped
    assert slot.take(timeout_s=0.1) == [(None, 'frame 2')]
    assert slot.take(timeout_s=0.05) == []


def test_latest_frame_wakes_a_waiting_taker_on_put_and_on_close():
    slot = LatestFrames()
    taken = []
    worker = threading.Thread(target=lambda: taken.append(slot.take(timeout_s=10.0)))
    worker.start()
    time.sleep(0.05)
    slot.put(None, 'frame')
    worker.join(timeout=5.0)
    assert taken == [[(None, 'frame')]]
    worker = threading.Thread(target=lambda: taken.append(slot.take(timeout_s=10.0)))
    start = time.monotonic()
    worker.start()
    slot.close()
    worker.join(timeout=5.0)
    assert taken[-1] == [] and time.monotonic() - start < 5.0


def test_cameras_are_served_round_robin_and_a_busy_one_never_starves_another():
    slots = LatestFrames(['fast', 'slow', 'third'])
    served = []
    for tick in range(12):
        slots.put('fast', f'fast {tick}')          # always has a frame waiting
        if tick % 4 == 0:
            assert slots.put('slow', f'slow {tick}') is False
        served += [key for key, _ in slots.take(timeout_s=0.0)]
    assert served.count('slow') == 3               # every slow frame was served...
    slow_turns = [i for i, key in enumerate(served) if key == 'slow']
    assert all(turn - tick * 4 <= 1 for turn, tick in zip(slow_turns, range(3)))  # ...at once
    # A batch takes one frame per camera, starting after the last camera served.
    slots = LatestFrames(['fast', 'slow', 'third'])
    slots.put('fast', 'first')
    assert slots.take(0.0, limit=3) == [('fast', 'first')]
    for key in ('fast', 'slow', 'third'):
        slots.put(key, key)
    assert [key for key, _ in slots.take(0.0, limit=2)] == ['slow', 'third']
    assert slots.take(0.0, limit=3) == [('fast', 'fast')]
    with pytest.raises(ValueError, match='distinct'):
        LatestFrames(['a', 'a'])


@pytest.mark.parametrize('names, problem', [
    (('front', 'front'), "'front' is given twice"),
    (('front', ''), 'camera 2 has an empty name'),
    (('front left',), "'front left' is not a valid camera name"),
    (('2nd',), "'2nd' is not a valid camera name"),
    (('cam/front',), "'cam/front' is not a valid camera name"),
    (('~front',), "'~front' is not a valid camera name"),
])
def test_bad_camera_names_are_named_in_one_line(names, problem):
    reason = check_camera_names(names)
    assert problem in reason and '\n' not in reason
    assert check_node_config(NodeConfig(cameras=names)) == reason
    assert check_camera_names(('front', 'rear_left', '_2')) is None


def test_throttle_is_per_key_and_reports_suppressed_messages():
    throttle = KeyedThrottle(period_s=0.2)
    assert throttle.allow('encoding:yuv422') == 0
    assert throttle.allow('encoding:yuv422') is None
    assert throttle.allow('decode:jpeg') == 0     # another fault is not hidden
    time.sleep(0.25)
    assert throttle.allow('encoding:yuv422') == 1


def window(received=10, processed=10, latencies=(20.0,) * 10, rejected=0, duration=1.0):
    stats = FrameStatistics()
    for index in range(received):
        stats.record_received(replaced_unprocessed=index >= processed)
    for latency in latencies[:processed]:
        stats.record_processed({stage: 1.0 for stage in STAGES}, latency)
    for _ in range(rejected):
        stats.record_problem('rejected', "unsupported image encoding 'yuv422'")
    report = stats.take_window()
    report.duration_s = duration
    return report


def test_status_levels_follow_the_thresholds():
    config = NodeConfig(latency_warn_ms=50.0, latency_error_ms=100.0, min_rate_warn_hz=5.0,
                        min_rate_error_hz=2.0)
    level, message, values = summarize(window(), config, FACTS)
    assert level == DiagnosticStatus.OK and 'segmenting 10.0 of 10.0' in message
    assert dict(values)['backend'] == 'onnx'
    assert summarize(window(latencies=(70.0,) * 10), config, FACTS)[0] == DiagnosticStatus.WARN
    level, message, _ = summarize(window(latencies=(150.0,) * 10), config, FACTS)
    assert level == DiagnosticStatus.ERROR and 'p95 latency 150 ms > 100 ms' in message
    assert summarize(window(processed=3, latencies=(20.0,) * 3), config,
                     FACTS)[0] == DiagnosticStatus.WARN
    level, message, _ = summarize(window(processed=1, latencies=(20.0,)), config, FACTS)
    assert level == DiagnosticStatus.ERROR and 'dropped 9 frames' in message
    # A slow camera is not the node's fault: no drops, no rate warning.
    assert summarize(window(received=3, processed=3, latencies=(20.0,) * 3), config,
                     FACTS)[0] == DiagnosticStatus.OK


def test_status_reports_bad_frames_idle_input_and_every_timing_key():
    config = NodeConfig()
    level, message, values = summarize(window(rejected=2), config, FACTS)
    assert level == DiagnosticStatus.WARN and "'yuv422'" in message
    keys = dict(values)
    for stage in STAGES:
        assert float(keys[f'{stage} ms']) == 1.0
    for key in LATENCY_KEYS:
        assert float(keys[key]) == 20.0
    assert keys['dropped frames'] == '0' and keys['rejected frames total'] == '2'
    level, message, _ = summarize(window(received=0, processed=0), config, FACTS)
    assert (level, message) == (DiagnosticStatus.OK, 'waiting for images')
    stats = FrameStatistics()
    stats.record_received(replaced_unprocessed=False)
    stats.take_window()
    assert summarize(stats.take_window(), config, FACTS)[0] == DiagnosticStatus.WARN


def test_silent_publishers_under_best_effort_warn_with_the_reliable_setting():
    config = NodeConfig()
    idle = window(received=0, processed=0)
    level, message, _ = summarize(idle, config, FACTS, publishers=1)
    assert level == DiagnosticStatus.WARN
    assert 'best-effort' in message and 'input_qos_reliability:=reliable' in message
    reliable = NodeConfig(input_qos_reliability='reliable')
    assert summarize(idle, reliable, FACTS, publishers=1)[1] == 'waiting for images'


def test_latency_from_stamps_the_clock_has_not_reached_is_never_a_number():
    stats = FrameStatistics()
    for _ in range(3):
        stats.record_received(replaced_unprocessed=False)
        stats.record_processed({stage: 1.0 for stage in STAGES}, None, measurable=False)
    level, _, values = summarize(stats.take_window(), NodeConfig(), FACTS)
    keys = dict(values)
    assert keys['frames with unmeasurable latency'] == '3'
    for key in LATENCY_KEYS:
        assert keys[key].startswith('stamps ahead of the node clock'), key
    assert level == DiagnosticStatus.OK


def test_a_failed_configure_says_why(tmp_path, capfd):
    """The managed node's configure fails with the reason in one line (a model path that is
    a folder), stays unconfigured, and a later configure with a good path could follow."""
    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from sgcp_ros.segmentation_node import SegmentationLifecycleNode
    folder = tmp_path / 'folder.pt'
    folder.mkdir()
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = SegmentationLifecycleNode(
            context=context, start_parameter_services=False,
            parameter_overrides=[Parameter('model_path', value=str(folder))])
        try:
            assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    output = capfd.readouterr().err
    assert f'configure failed: model path {folder} is a folder' in output, output
    assert 'Traceback' not in output and 'releasing everything' not in output, output
