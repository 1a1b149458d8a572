# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Per-window frame statistics and their /diagnostics status.

``FrameStatistics`` is filled by the subscription callback and the worker thread and emptied
once per report. ``summarize`` turns one window into a level, a message and key/value pairs;
``DiagnosticsReporter`` publishes them on /diagnostics as a DiagnosticArray, as many drivers
do: diagnostic_updater is not on PyPI, and the node runs in pip installs too.

The status is named after the node's fully qualified name (``/front/sgcp_segmentation:
segmentation``): aggregators key statuses by name, so two cameras' nodes in two namespaces
must not share one. A node serving several cameras adds one status per camera
(``/sgcp_segmentation: segmentation front``) beside the node's overall one. Reports are
timed on the steady clock, not the node's: with use_sim_time a ROS-time timer stops
whenever /clock does (a paused bag, no bag at all), which is exactly when someone looks at
/diagnostics.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node

from sgcp_core.timing import latency_stats
from sgcp_ros.parameters import NodeConfig

__all__ = ['STAGES', 'LATENCY_KEYS', 'WindowReport', 'FrameStatistics', 'summarize',
           'DiagnosticsReporter', 'STATUS_TASK', 'COUNTERS', 'INPUT_RATE_KEY',
           'PROCESSED_RATE_KEY', 'NOT_RUN', 'stage_key', 'total_key', 'status_name',
           'camera_task']

# Per-frame stages, in pipeline order. 'colorize' and 'overlay' only run for subscribers.
STAGES = ('convert', 'preprocess', 'inference', 'postprocess', 'confidence', 'colorize',
          'overlay', 'publish')
LATENCY_KEYS = ('latency mean ms', 'latency p50 ms', 'latency p95 ms', 'latency max ms')
STATUS_TASK = 'segmentation'   # the status is named '<fully qualified node name>: segmentation'
OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
# The status's keys, for ``summarize`` that writes them and for readers such as the demo.
COUNTERS = ('received', 'dropped', 'rejected', 'failed', 'processed')
INPUT_RATE_KEY = 'input rate Hz'
PROCESSED_RATE_KEY = 'processed rate Hz'
NOT_RUN = 'not run'   # the value of a stage that ran on no frame of the window


def stage_key(stage: str) -> str:
    """The key of a stage's mean milliseconds, e.g. 'inference ms'."""
    return f'{stage} ms'


def total_key(counter: str) -> str:
    """The key of a counter since node start, e.g. 'processed frames total'."""
    return f'{counter} frames total'


def camera_task(camera: str) -> str:
    """The task (status name after the node's) of one camera of the node, or of the whole
    node for ''."""
    return f'{STATUS_TASK} {camera}' if camera else STATUS_TASK


def status_name(node_name: str, camera: str = '') -> str:
    """The status name for a node's fully qualified name (and one of its cameras)."""
    return f'{node_name}: {camera_task(camera)}'


@dataclass
class WindowReport:
    """What happened between two reports; totals count from node start."""

    duration_s: float
    received: int = 0
    dropped: int = 0
    rejected: int = 0
    failed: int = 0
    processed: int = 0
    unmeasured: int = 0        # stamped frames whose stamp the node's clock has not reached
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    last_problem: str = ''
    network_runs: list[int] = field(default_factory=list)   # frames in each network run


class FrameStatistics:
    """Thread-safe counters and samples for the current window.

    Args:
        overall: another FrameStatistics that records everything this one records too (a
            camera's statistics feed the node's overall ones).
    """

    def __init__(self, overall: FrameStatistics | None = None) -> None:
        self._overall = overall
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(COUNTERS, 0)
        self._start = time.monotonic()
        self._window = WindowReport(0.0)

    def _count(self, name: str) -> None:
        setattr(self._window, name, getattr(self._window, name) + 1)
        self._totals[name] += 1

    def record_received(self, replaced_unprocessed: bool) -> None:
        """A frame arrived; ``replaced_unprocessed``: it pushed out one never processed."""
        with self._lock:
            self._count('received')
            if replaced_unprocessed:
                self._count('dropped')
        if self._overall is not None:
            self._overall.record_received(replaced_unprocessed)

    def record_problem(self, kind: str, reason: str) -> None:
        """``kind`` 'rejected' (bad message) or 'failed' (engine error) with its reason."""
        with self._lock:
            self._count(kind)
            self._window.last_problem = reason
        if self._overall is not None:
            self._overall.record_problem(kind, reason)

    def record_processed(self, stage_ms: dict[str, float], latency_ms: float | None,
                         measurable: bool = True) -> None:
        """A frame went through all stages.

        Args:
            latency_ms: header stamp to published, None when not known.
            measurable: False when the frame had a stamp but the node's clock could not
                measure it (no /clock yet under use_sim_time, a stamp ahead of the clock).
        """
        with self._lock:
            self._count('processed')
            for stage, value in stage_ms.items():
                self._window.stage_ms.setdefault(stage, []).append(value)
            if latency_ms is not None:
                self._window.latency_ms.append(latency_ms)
            elif not measurable:
                self._window.unmeasured += 1
        if self._overall is not None:
            self._overall.record_processed(stage_ms, latency_ms, measurable)

    def record_network_run(self, frames: int) -> None:
        """The network ran once for ``frames`` frames (several cameras' in a batch)."""
        with self._lock:
            self._window.network_runs.append(frames)

    def take_window(self) -> WindowReport:
        """The window so far, with totals; starts the next one."""
        now = time.monotonic()
        with self._lock:
            report, self._window = self._window, WindowReport(0.0)
            report.duration_s = max(now - self._start, 1e-9)
            report.totals = dict(self._totals)
            self._start = now
        return report


def _ms(values: list[float]) -> str:
    return f'{np.mean(values):.2f}' if values else NOT_RUN


def summarize(report: WindowReport, config: NodeConfig, facts: dict[str, str],
              publishers: int = 0) -> tuple[bytes, str, list[tuple[str, str]]]:
    """Level, one-line message and key/value pairs for one window.

    Args:
        report: the window from ``FrameStatistics.take_window``.
        config: the thresholds (latency_*_ms, min_rate_*_hz) and the input QoS.
        facts: fixed pairs shown first (backend, device, model, input size).
        publishers: publishers matched on the image topic now.
    """
    input_rate = report.received / report.duration_s
    processed_rate = report.processed / report.duration_s
    values = list(facts.items()) + [
        (INPUT_RATE_KEY, f'{input_rate:.2f}'),
        (PROCESSED_RATE_KEY, f'{processed_rate:.2f}'),
        ('dropped frames', str(report.dropped)),
        ('rejected frames', str(report.rejected)),
        ('failed frames', str(report.failed)),
    ]
    values += [(total_key(name), str(count)) for name, count in report.totals.items()]
    values += [(stage_key(stage), _ms(report.stage_ms.get(stage, []))) for stage in STAGES]
    latency = latency_stats(report.latency_ms, (50, 95))
    if latency['count']:
        stats = (latency['mean'], latency['p50'], latency['p95'], latency['max'])
        values += [(key, f'{value:.2f}') for key, value in zip(LATENCY_KEYS, stats)]
    elif report.unmeasured:
        # Never a negative or epoch-sized number: say why there is none.
        values += [(key, 'stamps ahead of the node clock (use_sim_time without /clock?)')
                   for key in LATENCY_KEYS]
    else:
        values += [(key, 'no stamped frames') for key in LATENCY_KEYS]
    values.append(('frames with unmeasurable latency', str(report.unmeasured)))

    errors, warnings = [], []
    if report.received == 0:
        if publishers and config.input_qos_reliability == 'best_effort':
            # A best-effort frame is lost whole when one of its fragments is: large frames
            # (several MB) may never arrive at all, with no error anywhere.
            return WARN, (f'{publishers} publisher(s) on the image topic, but no frame arrived '
                          f'in {report.duration_s:.1f} s: if the frames are large, best-effort '
                          'delivery loses them; set input_qos_reliability:=reliable (and use '
                          'the large-image Fast DDS profile)'), values
        if report.totals.get('received', 0) == 0:
            return OK, 'waiting for images', values
        return WARN, f'no images in the last {report.duration_s:.1f} s', values
    problems = report.rejected + report.failed
    if problems:
        text = f'{problems} bad frames ({report.last_problem})'
        (errors if report.processed == 0 else warnings).append(text)
    if latency['count']:
        p95 = latency['p95']
        if p95 > config.latency_error_ms:
            errors.append(f'p95 latency {p95:.0f} ms > {config.latency_error_ms:g} ms')
        elif p95 > config.latency_warn_ms:
            warnings.append(f'p95 latency {p95:.0f} ms > {config.latency_warn_ms:g} ms')
    # A low rate is the node's fault only when it dropped frames; a slow camera is not.
    slow = f'processing {processed_rate:.1f} Hz, dropped {report.dropped} frames'
    if report.dropped and 0 < config.min_rate_error_hz and (
            processed_rate < config.min_rate_error_hz):
        errors.append(f'{slow} (< {config.min_rate_error_hz:g} Hz)')
    elif report.dropped and 0 < config.min_rate_warn_hz and (
            processed_rate < config.min_rate_warn_hz):
        warnings.append(f'{slow} (< {config.min_rate_warn_hz:g} Hz)')
    if errors or warnings:
        return (ERROR if errors else WARN), '; '.join(errors + warnings), values
    return OK, f'segmenting {processed_rate:.1f} of {input_rate:.1f} frames/s', values


class DiagnosticsReporter:
    """Publishes ``summarize`` of each window on /diagnostics, once per period.

    Args:
        node: owner of the timer and publisher.
        period_s: seconds between reports.
        hardware_id: the device the status is about (the node's fully qualified name).
        make_status: returns (level, message, values) for the window just ended.

    ``set_cameras`` adds one status per camera, each from its own ``make_status``.
    """

    def __init__(self, node: Node, period_s: float, hardware_id: str, make_status) -> None:
        self._node = node
        self._make_status = make_status
        self._cameras: dict[str, object] = {}
        self._hardware_id = hardware_id
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._timer = node.create_timer(period_s, self._publish,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))

    def set_cameras(self, make_statuses: dict) -> None:
        """Report one status per camera from now on: {camera name: make_status}, replacing
        the cameras set before ({} removes them)."""
        self._cameras = dict(make_statuses)

    def _publish(self) -> None:
        node_name = self._node.get_fully_qualified_name()
        statuses = []
        for camera, make_status in [('', self._make_status), *self._cameras.items()]:
            level, message, values = make_status()
            statuses.append(DiagnosticStatus(
                level=level, message=message, name=status_name(node_name, camera),
                hardware_id=self._hardware_id,
                values=[KeyValue(key=k, value=v) for k, v in values]))
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(array)
