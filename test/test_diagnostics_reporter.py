# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""DiagnosticsReporter in-process, both branches: through diagnostic_updater (where
installed) and as a plain DiagnosticArray. Either way the status carries the node's full
name, and reports keep coming with use_sim_time and no /clock (a steady timer).
"""

from __future__ import annotations

import sys
import time

import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.signals import SignalHandlerOptions  # noqa: E402

from sgcp_ros.diagnostics import DiagnosticsReporter  # noqa: E402


def _updater_installed() -> bool:
    try:
        import diagnostic_updater  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize('branch', ['diagnostic_updater', 'plain', 'updater_before_use_fqn'])
def test_status_has_the_full_node_name_and_comes_without_a_clock(branch, monkeypatch):
    if branch != 'plain' and not _updater_installed():
        pytest.skip('diagnostic_updater is not installed (../shared/ros2-tools or a ROS '
                    'install provides it)')
    if branch == 'plain':
        monkeypatch.setitem(sys.modules, 'diagnostic_updater', None)  # import fails
    if branch == 'updater_before_use_fqn':
        # Releases before ros/diagnostics#320 (older Humble ones) have no node_name and
        # name statuses after the bare node name: the reporter must publish the array itself.
        import diagnostic_updater

        class UpdaterBeforeUseFqn(diagnostic_updater.Updater):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                del self.node_name
        monkeypatch.setattr(diagnostic_updater, 'Updater', UpdaterBeforeUseFqn)
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    namespace = f'/sgcp_reporter_{branch}'
    node = rclpy.create_node('sgcp_segmentation', namespace=namespace, context=context,
                             parameter_overrides=[Parameter('use_sim_time', value=True)])
    listener = rclpy.create_node('sgcp_reporter_listener', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(listener)
    received = []
    listener.create_subscription(DiagnosticArray, '/diagnostics', received.append, 10)
    try:
        reporter = DiagnosticsReporter(node, 0.2, node.get_fully_qualified_name(),
                                       lambda: (DiagnosticStatus.OK, 'fine', [('k', 'v')]))
        assert reporter.uses_diagnostic_updater == (branch == 'diagnostic_updater')
        assert node.get_clock().now().nanoseconds == 0  # sim time, and no /clock anywhere
        name = f'{namespace}/sgcp_segmentation: segmentation'
        deadline = time.monotonic() + 20.0
        reports = []
        while time.monotonic() < deadline and len(reports) < 2:
            executor.spin_once(timeout_sec=0.1)
            reports = [s for a in received for s in a.status
                       if s.name == name and s.message == 'fine']
        assert len(reports) >= 2, [s.name for a in received for s in a.status]
        assert reports[0].hardware_id == f'{namespace}/sgcp_segmentation'
        assert {(kv.key, kv.value) for kv in reports[0].values} == {('k', 'v')}
    finally:
        executor.shutdown()
        listener.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


@pytest.mark.parametrize('branch', ['diagnostic_updater', 'plain'])
def test_each_camera_gets_a_status_of_its_own_until_removed(branch, monkeypatch):
    if branch == 'diagnostic_updater' and not _updater_installed():
        pytest.skip('diagnostic_updater is not installed')
    if branch == 'plain':
        monkeypatch.setitem(sys.modules, 'diagnostic_updater', None)
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('sgcp_segmentation', namespace=f'/sgcp_cams_{branch}',
                             context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received = []
    node.create_subscription(DiagnosticArray, '/diagnostics', received.append, 10)
    node_name = node.get_fully_qualified_name()

    def names_within(seconds: float) -> set:
        received.clear()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        return {(s.name, s.message) for a in received for s in a.status}

    try:
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
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
