# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""argparse types shared by the sub-commands: a bad value fails at parse time, naming it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ['parse_resolution', 'positive_int', 'non_negative_int', 'positive_float',
           'in_range', 'output_file']


def parse_resolution(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W), both at least 1."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
        if height <= 0 or width <= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not HEIGHTxWIDTH, e.g. 360x480') from None
    return height, width


def _number(text: str, kind: type, allowed, wanted: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not allowed(value):
        raise argparse.ArgumentTypeError(f'{text} is not {wanted}')
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return _number(text, int, lambda v: v >= 1, 'a whole number of 1 or more')


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return _number(text, int, lambda v: v >= 0, 'a whole number of 0 or more')


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, float, lambda v: 0 < v < float('inf'), 'a number above 0')


def in_range(kind: type, low: float, high: float):
    """argparse type: a ``kind`` (int or float) from ``low`` to ``high`` inclusive."""
    noun = 'a whole number' if kind is int else 'a number'
    wanted = (f'{noun} from {low:g} to {high:g}' if high < float('inf')
              else f'{noun} of {low:g} or more')

    def parse(text: str):
        return _number(text, kind, lambda v: low <= v <= high, wanted)
    parse.__name__ = kind.__name__   # argparse names the type in its messages
    return parse


def output_file(text: str) -> Path:
    """argparse type: a file the command may write at the end (checked now, not after the
    work): not a folder, and the nearest existing folder above it is writable."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f'{text} is a folder; name a file')
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f'{text} is inside {folder}, which is a file')
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f'{text}: {folder} is not writable')
    return path
