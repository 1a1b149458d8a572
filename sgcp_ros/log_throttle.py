# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Throttling per kind of problem, so one noisy fault cannot hide a different one.

rclpy's ``throttle_duration_sec`` throttles per call site: after a camera sends a bad
encoding, a corrupt JPEG on the same code path would stay silent for the whole period.
"""

from __future__ import annotations

import time

__all__ = ['KeyedThrottle']


class KeyedThrottle:
    """Allows one message per key per ``period_s``; counts what it suppressed."""

    def __init__(self, period_s: float = 5.0) -> None:
        self._period_s = period_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """None to stay quiet, else how many messages for ``key`` were suppressed before."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._period_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)
