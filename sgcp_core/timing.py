# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Latency samples: summary statistics (the node, the demo, the bag tools) and one
histogram plot (``evaluate_bag``'s stages, ``node_bench``'s cases)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ['latency_stats', 'plot_latency_histogram']


def latency_stats(values_ms: Sequence[float],
                  percentiles: Sequence[int] = (50, 95, 99)) -> dict:
    """{'count', 'mean', 'p<N>' for each percentile, 'max'} in ms; None values when empty."""
    values = np.asarray(values_ms, np.float64)
    if values.size == 0:
        return {'count': 0, 'mean': None, **{f'p{p}': None for p in percentiles}, 'max': None}
    stats = {'count': int(values.size), 'mean': float(values.mean())}
    for p, value in zip(percentiles, np.percentile(values, percentiles)):
        stats[f'p{p}'] = float(value)
    stats['max'] = float(values.max())
    return stats


def plot_latency_histogram(samples: Mapping[str, Sequence[float]], path: str | Path,
                           title: str, *, xlabel: str = 'milliseconds per frame',
                           percentile: int = 95) -> Path:
    """Write a PNG of overlaid step histograms, one per named series of ms samples.

    The bins are shared (up to a little past the 99.5th percentile of all series; larger
    values land in the last bin) so series compare by eye; each series' ``percentile`` is a
    dashed line and in the legend. Empty series are left out. Written atomically.
    """
    import matplotlib
    matplotlib.use('Agg')  # files only; never needs a display
    import matplotlib.pyplot as plt

    from sgcp_core.files import atomic_write
    series = {name: np.asarray(values, np.float64) for name, values in samples.items()
              if len(values)}
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=110)
    try:
        if series:
            upper = max(float(np.percentile(v, 99.5)) for v in series.values()) * 1.05
            bins = np.linspace(0.0, max(upper, 1e-3), 60)
            for index, (name, values) in enumerate(series.items()):
                colour = f'C{index % 10}'
                mark = float(np.percentile(values, percentile))
                axes.hist(np.clip(values, 0, bins[-1]), bins=bins, histtype='step',
                          linewidth=1.5, color=colour,
                          label=f'{name} (p{percentile} {mark:.1f} ms)')
                axes.axvline(mark, color=colour, linestyle='--', linewidth=1)
            axes.legend(fontsize=8)
        axes.set_xlabel(f'{xlabel}; dashed: p{percentile}')
        axes.set_ylabel('frames')
        axes.set_title(title)
        figure.tight_layout()
        return atomic_write(path, lambda temp: figure.savefig(temp, format='png'))
    finally:
        plt.close(figure)
