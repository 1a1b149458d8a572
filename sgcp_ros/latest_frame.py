# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One-slot mailboxes, one per camera, between the subscription callbacks and the one
inference thread.

Like image_pipeline's camera_calibration ``BufferQueue`` with a size of one: a new frame
replaces one of the same camera that was never taken, so a slow model drops frames instead
of queueing them and always works on the newest. The taker serves the cameras round-robin,
so a camera that always has a frame waiting (60 Hz) cannot keep a slow one (5 Hz) waiting
longer than one turn of the others.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from typing import Any

__all__ = ['LatestFrames']


class LatestFrames:
    """At most one item per key; ``put`` never blocks, ``take`` waits for one.

    Args:
        keys: the keys (camera names), in the order of the round-robin; default one key,
            None.
    """

    def __init__(self, keys: Iterable[Hashable] = (None,)) -> None:
        self._keys = list(keys)
        if not self._keys or len(set(self._keys)) != len(self._keys):
            raise ValueError(f'keys must be distinct and at least one, got {self._keys}')
        self._condition = threading.Condition()
        self._items: dict[Hashable, Any] = dict.fromkeys(self._keys)
        self._next = 0           # index of the key served first by the next take
        self._closed = False

    def put(self, key: Hashable, item: Any) -> bool:
        """Store ``item`` (not None) for ``key``; True when it replaced an item of that key
        nobody took (a dropped frame)."""
        with self._condition:
            replaced = self._items[key] is not None
            self._items[key] = item
            self._condition.notify()
        return replaced

    def take(self, timeout_s: float, limit: int = 1) -> list[tuple[Hashable, Any]]:
        """Up to ``limit`` (key, item) pairs, one per key, in round-robin order from the key
        after the last one served; [] after ``timeout_s`` or once closed and empty."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._closed or any(i is not None for i in self._items.values()),
                timeout_s)
            taken = []
            count, first = len(self._keys), self._next
            for step in range(count):
                if len(taken) == limit:
                    break
                index = (first + step) % count
                key = self._keys[index]
                if self._items[key] is not None:
                    taken.append((key, self._items[key]))
                    self._items[key] = None
                    self._next = (index + 1) % count
        return taken

    def close(self) -> None:
        """Wake every ``take``; later takes return what is left, then [] at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
