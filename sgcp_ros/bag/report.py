# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The bag tools' reports: the printed tables and the contact sheet, written atomically."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from sgcp_core.files import write_png

__all__ = ['format_latency_table', 'format_counts', 'print_report', 'contact_sheet']


def format_latency_table(stats: Mapping[str, Mapping], title: str = 'latency (ms)') -> str:
    """Aligned table: one row per stage with count, mean, p50, p95, p99, max."""
    columns = ('mean', 'p50', 'p95', 'p99', 'max')
    width = max([len(title)] + [len(stage) for stage in stats])
    lines = [f'{title:<{width}}  {"n":>5}' + ''.join(f'  {c:>8}' for c in columns),
             '-' * (width + 7 + 10 * len(columns))]
    for stage, row in stats.items():
        cells = ''.join('         -' if row[c] is None else f'  {row[c]:8.2f}' for c in columns)
        lines.append(f'{stage:<{width}}  {row["count"]:>5}{cells}')
    return '\n'.join(lines)


def format_counts(counts: Mapping[str, object], title: str = 'frames') -> str:
    """``title`` then one indented ``key: value`` line per entry (nested dicts flattened)."""
    lines = [title]
    width = max((len(str(k)) for k in counts), default=0)
    for key, value in counts.items():
        if isinstance(value, Mapping):
            value = ', '.join(f'{k}: {v}' for k, v in value.items()) or 'none'
        lines.append(f'  {key:<{width}}  {value}')
    return '\n'.join(lines)


def print_report(report: Mapping, **more) -> None:
    """What evaluate_bag and replay_bag print: the IoU table (or why there is none), the
    latency table, the frame counts (and ``more``) and the bag's integrity."""
    from sgcp_core.metrics import format_iou_table   # torch: only once there is a report
    print(format_iou_table(report['metrics']) if report['metrics'] is not None
          else f'no mIoU: {report["metrics_note"]}')
    print(format_latency_table(report['latency_ms']))
    print(format_counts({**report['frames'], **more}))
    print(f'integrity: {report["integrity"]}')


def contact_sheet(tiles: Sequence[tuple[np.ndarray, str]], path: str | Path,
                  columns: int = 4, tile_width: int = 320) -> Path:
    """Grid of (H, W, 3) uint8 RGB images, each scaled to ``tile_width`` with a caption."""
    if not tiles:
        raise ValueError('a contact sheet needs at least one image')
    scaled = []
    for rgb, caption in tiles:
        height = max(1, round(rgb.shape[0] * tile_width / rgb.shape[1]))
        tile = cv2.resize(rgb, (tile_width, height), interpolation=cv2.INTER_AREA)
        banner = np.zeros((20, tile_width, 3), np.uint8)
        cv2.putText(banner, caption[:48], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (255, 255, 255), 1, cv2.LINE_AA)
        scaled.append(np.vstack([banner, tile]))
    tile_height = max(t.shape[0] for t in scaled)
    columns = min(columns, len(scaled))
    rows = math.ceil(len(scaled) / columns)
    gap = 4
    sheet = np.full((rows * (tile_height + gap) + gap, columns * (tile_width + gap) + gap, 3),
                    255, np.uint8)
    for index, tile in enumerate(scaled):
        row, column = divmod(index, columns)
        top, left = gap + row * (tile_height + gap), gap + column * (tile_width + gap)
        sheet[top:top + tile.shape[0], left:left + tile_width] = tile
    return write_png(path, sheet)
