#!/usr/bin/env python3
# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Choose the int8 calibration by measurement: val mIoU per method and fp32 node set.

For each model, every calibration method (minmax, entropy, percentile) calibrates once on
the same frames (ranges cached per method), then each choice of nodes kept in fp32 is
quantized from that calibration and scored on the labelled val split through the engine,
next to the fp32 model. The defaults in sgcp_core/quantize.py (DEFAULT_METHOD,
DEFAULT_EXCLUDE) were chosen from this table.

    .venv/bin/python tools/int8_sweep.py models/camvid/sgcpnet_camvid_mobilenetv2.pt \\
        models/camvid/sgcpnet_camvid_mobilenetv3.pt --json int8_sweep.json

About 2-6 minutes per model and method on two CPU cores (entropy is the slowest).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sgcp_core.config import DataConfig, EngineConfig  # noqa: E402
from sgcp_core.data import build_dataset  # noqa: E402
from sgcp_core.engine import Segmenter  # noqa: E402
from sgcp_core.evaluation import evaluate_engine  # noqa: E402
from sgcp_core.quantize import (CALIBRATION_METHODS, DEFAULT_CALIBRATION_FRAMES,  # noqa: E402
                                quantize_onnx)

EXCLUDE_CHOICES = ('', 'first_conv', 'first_conv,classifier', 'first_conv,classifier,fusion')


def _miou(model: Path, dataset, count: int) -> float:
    segmenter = Segmenter(EngineConfig(model_path=str(model), label_mode='upsample_logits',
                                       device='cpu', warmup_runs=1))
    return evaluate_engine(segmenter, dataset, range(count)).miou()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('models', nargs='+', type=Path, help='checkpoints (.pt) to quantize')
    parser.add_argument('--data', default=DataConfig().root,
                        help='CamVid root: calibrate on train/, score on val/')
    parser.add_argument('--frames', type=int, default=DEFAULT_CALIBRATION_FRAMES,
                        help=f'calibration frames (default {DEFAULT_CALIBRATION_FRAMES})')
    parser.add_argument('--methods', nargs='+', choices=CALIBRATION_METHODS,
                        default=list(CALIBRATION_METHODS))
    parser.add_argument('--exclude', nargs='+', default=list(EXCLUDE_CHOICES),
                        metavar='GROUPS', help='comma-separated fp32 groups per choice ("" = '
                                               'none); default: %(default)s')
    parser.add_argument('--limit', type=int, default=0, help='score on the first N val frames')
    parser.add_argument('--json', type=Path, help='write the table as JSON')
    args = parser.parse_args(argv)
    root = Path(args.data)
    dataset = build_dataset(DataConfig(root=str(root), preload=False), 'val')
    count = len(dataset) if args.limit <= 0 else min(args.limit, len(dataset))
    rows = []
    with tempfile.TemporaryDirectory(prefix='sgcp_int8_sweep_') as work:
        work = Path(work)
        for model in args.models:
            fp32 = _miou(model, dataset, count)
            print(f'{model.name}: fp32 val mIoU {100 * fp32:.2f} ({count} frames)', flush=True)
            for method in args.methods:
                cache = work / f'{model.stem}_{method}.json'
                for exclude in args.exclude:
                    groups = [g for g in exclude.split(',') if g]
                    out = work / f'{model.stem}_{method}_{len(rows)}.onnx'
                    start = time.monotonic()
                    report = quantize_onnx(model, out, root / 'train', frames=args.frames,
                                           method=method, exclude=groups,
                                           calibration_cache=cache)
                    miou = _miou(out, dataset, count)
                    rows.append({'model': str(model), 'method': method, 'fp32_nodes': groups,
                                 'excluded_nodes': len(report.excluded_nodes),
                                 'frames': report.frames, 'miou': miou, 'fp32_miou': fp32,
                                 'delta_points': 100 * (miou - fp32)})
                    print(f'  {method:<10} fp32 nodes {exclude or "none":<30} mIoU '
                          f'{100 * miou:6.2f} ({100 * (miou - fp32):+.2f}) '
                          f'[{time.monotonic() - start:.0f} s]', flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + '\n')
        print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
