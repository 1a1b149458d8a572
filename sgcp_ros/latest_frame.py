# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A one-slot mailbox between the subscription callback and the inference thread.

Like image_pipeline's camera_calibration ``BufferQueue`` with a size of one: a new frame
replaces one that was never taken, so a slow model drops frames instead of queueing them
and always works on the newest.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ['LatestFrame']


class LatestFrame:
    """Holds at most one item; ``put`` never blocks, ``take`` waits for one."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: Any = None
        self._closed = False

    def put(self, item: Any) -> bool:
        """Store ``item``; True when it replaced an item nobody took (a dropped frame)."""
        with self._condition:
            replaced = self._item is not None
            self._item = item
            self._condition.notify()
        return replaced

    def take(self, timeout_s: float) -> Any:
        """The newest item, or None after ``timeout_s`` or once closed."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout_s)
            item, self._item = self._item, None
        return item

    def close(self) -> None:
        """Wake every ``take``; later takes return what is left, then None at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
