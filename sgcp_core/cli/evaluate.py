# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp eval``: mIoU, per-class IoU and pixel accuracy of a checkpoint on a dataset split."""

from __future__ import annotations

import argparse
from pathlib import Path

from sgcp_core.cli.arg_types import output_file, positive_float


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(
        name, help='evaluate a checkpoint (mIoU, per-class IoU, pixel accuracy)',
        description='Evaluate at full label resolution: logits are upsampled to the label '
                    'size, then argmax. Normalisation and classes come from the checkpoint.',
        epilog='examples:\n  sgcp eval --model models/camvid/sgcpnet_camvid.pt\n'
               '  sgcp eval --model best.pt --data-root ../shared/data/camvid --split val '
               '--flip --json val.json\n'
               '  sgcp eval --model city.pt --dataset cityscapes --data-root data/cityscapes',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', '-m', default='',
                        help='checkpoint (.pt), or an ONNX file (fp32 or int8) run through '
                             'the engine; default: shipped model')
    parser.add_argument('--dataset', default='camvid',
                        choices=('camvid', 'cityscapes', 'folder'))
    parser.add_argument('--data-root', default='../shared/data/camvid',
                        help='dataset root folder (default: %(default)s)')
    parser.add_argument('--split', default='val', help='split folder (default: %(default)s)')
    parser.add_argument('--classes-file', default='', help='class list (folder dataset)')
    parser.add_argument('--flip', action='store_true', help='add horizontally flipped logits')
    parser.add_argument('--scales', type=positive_float, nargs='+', default=[1.0],
                        help='multi-scale test, e.g. 0.75 1 1.25 (default: 1)')
    parser.add_argument('--upsample', choices=('bilinear', 'bicubic'),
                        help="interpolation of the logits to the label size (default: the "
                             "model's own; the authors evaluated with bicubic)")
    parser.add_argument('--json', type=output_file,
                        help='also write the results to this JSON file')
    parser.add_argument('--force', action='store_true',
                        help='replace the --json file if it exists (without, an existing file '
                             'is an error)')
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from sgcp_core.checkpoint import load_model
    from sgcp_core.config import DataConfig
    from sgcp_core.data import EvalTransform, build_dataset
    from sgcp_core.evaluation import evaluate
    from sgcp_core.files import new_output, write_json
    from sgcp_core.metrics import format_iou_table
    from sgcp_core.resources import resolve_model_path

    if args.json:
        new_output(args.json, '--json', args.force)
    model_path = resolve_model_path(args.model)
    if model_path.suffix.lower() == '.onnx':
        return _run_onnx(args, model_path)
    model, meta = load_model(model_path)
    if args.upsample:
        model.upsample = args.upsample
    data_config = DataConfig(dataset=args.dataset, root=args.data_root,
                             classes_file=args.classes_file, preload=False,
                             mean=meta.mean, std=meta.std)
    dataset = build_dataset(data_config, args.split,
                            EvalTransform(data_config.mean, data_config.std))
    if dataset.classes.num_classes != meta.num_classes:
        raise ValueError(f'{model_path} predicts {meta.num_classes} classes but '
                         f'the {args.dataset} dataset has {dataset.classes.num_classes}')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    matrix = evaluate(model.to(device), dataset, device, scales=args.scales, flip=args.flip,
                      ignore_index=meta.ignore_index, progress=True)
    summary = matrix.summary(dataset.classes.names)
    summary.update({'model': str(model_path), 'dataset': args.dataset,
                    'split': args.split, 'images': len(dataset), 'flip': args.flip,
                    'scales': args.scales, 'upsample': model.upsample})
    print(f'{model_path} on {args.dataset} {args.split} ({len(dataset)} images)')
    print(format_iou_table(summary))
    if args.json:
        write_json(args.json, summary)
    return 0


def _run_onnx(args: argparse.Namespace, model_path: Path) -> int:
    """An ONNX file (fp32 export or int8) through the engine, as the node would run it."""
    from sgcp_core.cli import CommandError
    from sgcp_core.config import DataConfig, EngineConfig
    from sgcp_core.data import build_dataset
    from sgcp_core.engine import Segmenter
    from sgcp_core.evaluation import evaluate_engine
    from sgcp_core.files import write_json
    from sgcp_core.metrics import format_iou_table
    if args.flip or args.scales != [1.0] or args.upsample:
        raise CommandError(f'{model_path} is ONNX: --flip, --scales and --upsample need the '
                           '.pt checkpoint')
    segmenter = Segmenter(EngineConfig(model_path=str(model_path), backend='onnx',
                                       label_mode='upsample_logits', warmup_runs=1))
    meta = segmenter.meta
    data_config = DataConfig(dataset=args.dataset, root=args.data_root,
                             classes_file=args.classes_file, preload=False)
    dataset = build_dataset(data_config, args.split)
    if dataset.classes.num_classes != meta.num_classes:
        raise ValueError(f'{model_path} predicts {meta.num_classes} classes but '
                         f'the {args.dataset} dataset has {dataset.classes.num_classes}')
    matrix = evaluate_engine(segmenter, dataset, progress=True)
    summary = matrix.summary(dataset.classes.names)
    summary.update({'model': str(model_path), 'dataset': args.dataset, 'split': args.split,
                    'images': len(dataset), 'precision': meta.precision,
                    'calibration': dict(meta.calibration) if meta.calibration else None,
                    'engine': segmenter.describe()})
    print(f'{model_path} ({meta.precision}) on {args.dataset} {args.split} '
          f'({len(dataset)} images, {segmenter.backend.describe()})')
    print(format_iou_table(summary))
    if args.json:
        write_json(args.json, summary)
    return 0


__all__ = ['add_parser', 'run']
