# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pair two message streams by header stamp: camera frames with ground-truth labels in a
bag (the bag tools), or with depth images (the node's robot outputs).

A label belongs to the frame whose header stamp is nearest, if that is within a tolerance;
each frame and each label is used at most once. Messages arrive in (log) time order and a
label close to its frame, so an item still unpaired ``window_ns`` later is given up on;
memory stays bounded on long streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ['Match', 'StampMatcher', 'MATCHED', 'FRAME_UNMATCHED', 'LABEL_UNMATCHED']

MATCHED = 'matched'
FRAME_UNMATCHED = 'frame_unmatched'
LABEL_UNMATCHED = 'label_unmatched'


@dataclass(frozen=True)
class Match:
    """An outcome: ``kind`` is 'matched' (both set), 'frame_unmatched' or 'label_unmatched'."""

    kind: str
    frame: Any = None
    label: Any = None
    frame_stamp_ns: int | None = None
    label_stamp_ns: int | None = None


@dataclass
class _Pending:
    stamp_ns: int
    log_time_ns: int
    item: Any


class StampMatcher:
    """Streaming nearest-stamp pairing of frames and labels.

    Args:
        tolerance_ns: largest |frame stamp - label stamp| that still pairs.
        window_ns: log time after which an unpaired item is reported unmatched.
    """

    def __init__(self, tolerance_ns: int, window_ns: int = 10_000_000_000) -> None:
        if tolerance_ns < 0:
            raise ValueError(f'tolerance must be >= 0 ns, got {tolerance_ns}')
        self.tolerance_ns = int(tolerance_ns)
        self.window_ns = int(window_ns)
        self._frames: list[_Pending] = []
        self._labels: list[_Pending] = []

    def add_frame(self, stamp_ns: int, log_time_ns: int, item: Any) -> list[Match]:
        return self._add(_Pending(stamp_ns, log_time_ns, item), self._frames, self._labels,
                         is_frame=True)

    def add_label(self, stamp_ns: int, log_time_ns: int, item: Any) -> list[Match]:
        return self._add(_Pending(stamp_ns, log_time_ns, item), self._labels, self._frames,
                         is_frame=False)

    def flush(self) -> list[Match]:
        """Everything still pending, as unmatched; call once at the end of the bag."""
        events = [Match(FRAME_UNMATCHED, frame=p.item, frame_stamp_ns=p.stamp_ns)
                  for p in self._frames]
        events += [Match(LABEL_UNMATCHED, label=p.item, label_stamp_ns=p.stamp_ns)
                   for p in self._labels]
        self._frames, self._labels = [], []
        return events

    def _add(self, new: _Pending, own: list[_Pending], other: list[_Pending],
             is_frame: bool) -> list[Match]:
        events = self._expire(new.log_time_ns)
        best = min(other, key=lambda p: abs(p.stamp_ns - new.stamp_ns), default=None)
        if best is not None and abs(best.stamp_ns - new.stamp_ns) <= self.tolerance_ns:
            other.remove(best)
            frame, label = (new, best) if is_frame else (best, new)
            events.append(Match(MATCHED, frame.item, label.item, frame.stamp_ns,
                                label.stamp_ns))
        else:
            own.append(new)
        return events

    def _expire(self, now_ns: int) -> list[Match]:
        horizon = now_ns - self.window_ns
        events = [Match(FRAME_UNMATCHED, frame=p.item, frame_stamp_ns=p.stamp_ns)
                  for p in self._frames if p.log_time_ns < horizon]
        events += [Match(LABEL_UNMATCHED, label=p.item, label_stamp_ns=p.stamp_ns)
                   for p in self._labels if p.log_time_ns < horizon]
        if events:
            # In place: _add holds references to these lists.
            self._frames[:] = [p for p in self._frames if p.log_time_ns >= horizon]
            self._labels[:] = [p for p in self._labels if p.log_time_ns >= horizon]
        return events
