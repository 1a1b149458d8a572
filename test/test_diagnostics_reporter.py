# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""DiagnosticsReporter in-process: the status carries the node's full name, reports keep
coming with use_sim_time and no /clock (a steady timer), and each camera gets its own."""

from __future__ import annotations

import time

import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.signals import SignalHandlerOptions  # noqa: E402

from sgcp_ros.diagnostics import DiagnosticsReporter  # noqa: E402


@pytest.fixture
def ros():
    """(context, executor) of a private context; nodes made with it are destroyed after."""
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor(context=context)
    nodes = []

    def make_node(name: str, **options):
        node = rclpy.create_node(name, context=context, **options)
        executor.add_node(node)
        nodes.append(node)
        return node
    try:
        yield make_node, executor
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_status_has_the_full_node_name_and_comes_without_a_clock(ros):
    make_node, executor = ros
    namespace = '/sgcp_reporter'
    node = make_node('sgcp_segmentation', namespace=namespace,
                     parameter_overrides=[Parameter('use_sim_time', value=True)])
    listener = make_node('sgcp_reporter_listener')
    arrivals = []   # (time received, status)
    listener.create_subscription(
        DiagnosticArray, '/diagnostics',
        lambda array: arrivals.extend((time.monotonic(), s) for s in array.status), 10)
    DiagnosticsReporter(node, 0.2, node.get_fully_qualified_name(),
                        lambda: (DiagnosticStatus.WARN, 'fine', [('k', 'v')]))
    assert node.get_clock().now().nanoseconds == 0  # sim time, and no /clock anywhere
    name = f'{namespace}/sgcp_segmentation: segmentation'
    deadline = time.monotonic() + 20.0
    reports = []
    while time.monotonic() < deadline and len(reports) < 4:
        executor.spin_once(timeout_sec=0.1)
        reports = [(t, s) for t, s in arrivals if s.name == name]
    assert len(reports) >= 4, [s.name for _, s in arrivals]
    period = (reports[-1][0] - reports[0][0]) / (len(reports) - 1)
    assert 0.1 < period < 0.6, f'one report every {period:.2f} s, not every 0.2 s'
    report = reports[0][1]
    assert (report.level, report.message) == (DiagnosticStatus.WARN, 'fine')
    assert report.hardware_id == f'{namespace}/sgcp_segmentation'
    assert [(kv.key, kv.value) for kv in report.values] == [('k', 'v')]


def test_each_camera_gets_a_status_of_its_own_until_removed(ros):
    make_node, executor = ros
    node = make_node('sgcp_segmentation', namespace='/sgcp_cams')
    received = []
    node.create_subscription(DiagnosticArray, '/diagnostics', received.append, 10)
    node_name = node.get_fully_qualified_name()

    def names_within(seconds: float) -> set:
        received.clear()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        return {(s.name, s.message) for a in received for s in a.status}

    reporter = DiagnosticsReporter(node, 0.2, node_name,
                                   lambda: (DiagnosticStatus.OK, 'node', []))
    reporter.set_cameras({camera: (lambda camera=camera: (DiagnosticStatus.WARN, camera,
                                                          [('camera', camera)]))
                          for camera in ('front', 'rear')})
    assert {(f'{node_name}: segmentation', 'node'),
            (f'{node_name}: segmentation front', 'front'),
            (f'{node_name}: segmentation rear', 'rear')} <= names_within(2.0)
    reporter.set_cameras({})
    names_within(0.5)   # a report in flight may still name them
    assert names_within(1.0) == {(f'{node_name}: segmentation', 'node')}
