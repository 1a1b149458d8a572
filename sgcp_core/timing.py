# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Summary statistics of latency samples, shared by the node, the demo and the bag tools."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ['latency_stats']


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
