# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A private rclpy node for tools and tests that talk to the segmentation node from outside.

The demo's recorder, the bag replay and the node tests each need a node of their own beside
whatever else the process does: its own rclpy context (so it never clashes with the global
one), no rclpy signal handlers (Ctrl-C raises KeyboardInterrupt in the caller, which then
closes everything in order) and an executor it spins when it chooses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ['PrivateRosNode']


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

    def spin_until(self, predicate: Callable[[], Any], timeout_s: float) -> Any:
        """Spin until ``predicate()`` is truthy (returned) or ``timeout_s`` passes (its
        last, falsy value is returned)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            self.executor.spin_once(timeout_sec=0.05)
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
