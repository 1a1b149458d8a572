# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A private rclpy node for tools and tests that talk to the segmentation node from outside.

The demo's recorder, the bag replay and the node tests each need a node of their own beside
whatever else the process does: its own rclpy context (so it never clashes with the global
one), no rclpy signal handlers (Ctrl-C raises KeyboardInterrupt in the caller, which then
closes everything in order) and an executor it spins when it chooses.

``LabelListener`` is what the demo, ``node_bench`` and ``replay_bag`` hear of the node: its
label maps (stamp, arrival time, bytes) and its class_info, in one place. The node's own
process is ``sgcp_ros.node_process``'s.
"""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

__all__ = ['PrivateRosNode', 'LabelArrival', 'LabelListener', 'header_stamp_ns']


class PrivateRosNode:
    """An rclpy node in a context of its own, with its own single-threaded executor.

    Args:
        name: the node name.
        node_options: passed to ``rclpy.create_node`` (e.g. ``parameter_overrides``).
    """

    def __init__(self, name: str, **node_options: Any) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        try:
            self.node = rclpy.create_node(name, context=self.context, **node_options)
            self.executor = SingleThreadedExecutor(context=self.context)
            self.executor.add_node(self.node)
        except BaseException:
            rclpy.try_shutdown(context=self.context)
            raise
        self._spinner: threading.Thread | None = None

    def spin_until(self, predicate: Callable[[], Any], timeout_s: float,
                   every: Callable[[], object] | None = None) -> Any:
        """Spin until ``predicate()`` is truthy (returned) or ``timeout_s`` passes (its
        last, falsy value is returned); ``every`` is called after each spin step."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            self.executor.spin_once(timeout_sec=0.05)
            if every is not None:
                every()
        return predicate()

    def spin_in_background(self) -> None:
        """Spin in a daemon thread until ``close``; callbacks then run on that thread."""
        def spin() -> None:
            try:
                self.executor.spin()
            except Exception:  # noqa: BLE001 - shutdown races end the spin; nothing to report
                pass
        self._spinner = threading.Thread(target=spin, name=f'{self.node.get_name()}_spin',
                                         daemon=True)
        self._spinner.start()

    def close(self) -> None:
        """Stop spinning, destroy the node and shut the context down (idempotent)."""
        if self.context is None:
            return
        self.executor.shutdown(timeout_sec=2.0)
        if self._spinner is not None:
            self._spinner.join(timeout=5.0)
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)
        self.context = None

    def __enter__(self) -> 'PrivateRosNode':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def header_stamp_ns(data: bytes) -> int:
    """Header stamp of a CDR message whose first field is a std_msgs/Header, read straight
    from the bytes (4-byte encapsulation, int32 sec, uint32 nanosec) so the executor
    thread does almost nothing per label."""
    order = '<' if data[1] & 1 else '>'   # encapsulation 0x0001 = CDR little endian
    seconds, nanoseconds = struct.unpack_from(f'{order}iI', data, 4)
    return seconds * 1_000_000_000 + nanoseconds


@dataclass(frozen=True)
class LabelArrival:
    """One label map the node published, as it arrived here."""

    stamp_ns: int      # its header stamp: the input frame's, which the node copies
    received_ns: int   # wall clock when the listener's callback got it
    data: bytes | None  # the sensor_msgs/Image, CDR, where the listener keeps it

    @property
    def latency_ms(self) -> float:
        """Arrival minus stamp: end-to-end latency where the camera stamps at capture with
        the clock of the listener's host."""
        return (self.received_ns - self.stamp_ns) / 1e6


class LabelListener:
    """The segmentation node's label maps and class_info, heard from another process.

    Labels arrive raw (never deserialised on the executor thread) and are kept in arrival
    order; ``class_info`` is the node's latched class_info (a dict), beside its labels.
    Callbacks run on whichever thread spins ``ros``; ``wait_for`` suits a background
    spinner, ``ros.spin_until`` a foreground one.

    Args:
        ros: the node to subscribe on.
        labels_topic: the node's labels topic (its class_info is the sibling topic).
        reliable: reliable reader (loses nothing a reliable writer sends) or best effort
            (matches any writer).
        depth: reader history depth.
        keep_data: keep each label's bytes in ``arrivals`` (else only stamp and time: a
            long benchmark of large frames would otherwise hold every label map).
        on_label: called with each LabelArrival (bytes included), on the spinning thread.
    """

    def __init__(self, ros: PrivateRosNode, labels_topic: str, *, reliable: bool = True,
                 depth: int = 100, keep_data: bool = False,
                 on_label: Callable[[LabelArrival], object] | None = None) -> None:
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from sgcp_ros.topics import class_info_topic
        self.ros = ros
        self.condition = threading.Condition()
        self.arrivals: list[LabelArrival] = []
        self.stamps: set[int] = set()
        self.class_info: dict | None = None
        self._on_arrival = on_label
        self._keep_data = keep_data
        self.labels = ros.node.create_subscription(
            Image, labels_topic, self._on_label,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                       reliability=ReliabilityPolicy.RELIABLE if reliable
                       else ReliabilityPolicy.BEST_EFFORT), raw=True)
        ros.node.create_subscription(
            String, class_info_topic(labels_topic), self._on_class_info,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL))

    def _on_label(self, data: bytes) -> None:
        # Timed here, not from the message info's receive time: callbacks get that from
        # Iron on, and Humble is supported too.
        arrival = LabelArrival(header_stamp_ns(data), time.time_ns(), data)
        with self.condition:
            self.arrivals.append(arrival if self._keep_data
                                 else replace(arrival, data=None))
            self.stamps.add(arrival.stamp_ns)
            self.condition.notify_all()
        if self._on_arrival is not None:
            self._on_arrival(arrival)

    def _on_class_info(self, msg) -> None:
        with self.condition:
            self.class_info = json.loads(msg.data)
            self.condition.notify_all()

    def latency_ms(self) -> list[float]:
        """Each arrival's latency (``LabelArrival.latency_ms``), in arrival order."""
        with self.condition:
            return [arrival.latency_ms for arrival in self.arrivals]

    def wait_for(self, predicate: Callable[[], object], timeout_s: float) -> bool:
        """Block until ``predicate()`` (checked at each arrival) holds or the time is up;
        for a listener whose node spins in the background."""
        with self.condition:
            return bool(self.condition.wait_for(predicate, timeout=max(0.0, timeout_s)))

    def reset(self) -> None:
        """Forget every label and the class_info (before the next node starts)."""
        with self.condition:
            self.arrivals.clear()
            self.stamps.clear()
            self.class_info = None
