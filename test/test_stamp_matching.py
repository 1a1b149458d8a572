# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pairing two message streams by header stamp (bag tools, depth with camera frames)."""

from sgcp_ros.stamp_matching import StampMatcher


def test_matcher_pairs_nearest_within_tolerance_and_reports_leftovers():
    matcher = StampMatcher(tolerance_ns=5, window_ns=1_000)
    events = matcher.add_frame(100, 100, 'f100')
    events += matcher.add_label(103, 100, 'l103')          # 3 ns away: pairs
    events += matcher.add_label(200, 200, 'l200')
    events += matcher.add_frame(210, 210, 'f210')          # 10 ns away: does not pair
    events += matcher.add_frame(5_000, 5_000, 'f5000')     # pushes the others out of window
    events += matcher.flush()
    kinds = [(e.kind, e.frame, e.label) for e in events]
    assert ('matched', 'f100', 'l103') in kinds
    assert ('label_unmatched', None, 'l200') in kinds
    assert ('frame_unmatched', 'f210', None) in kinds
    assert ('frame_unmatched', 'f5000', None) in kinds
    assert len(kinds) == 4


def test_matcher_uses_each_label_once():
    matcher = StampMatcher(tolerance_ns=10)
    events = matcher.add_label(100, 0, 'l') + matcher.add_frame(101, 0, 'a')
    events += matcher.add_frame(99, 0, 'b') + matcher.flush()
    assert [(e.kind, e.frame) for e in events] == [('matched', 'a'), ('frame_unmatched', 'b')]
