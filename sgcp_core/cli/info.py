# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp info``: parameters and conv multiply-adds of a model per resolution, what a model
file's metadata says of it (precision, training, calibration), or its label colours as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from sgcp_core.classes import UNKNOWN_LABEL
from sgcp_core.cli.arg_types import in_range, parse_resolution

DEFAULT_RESOLUTIONS = ('1024x2048', '768x1536', '512x1024', '720x960', '360x480')


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(
        name, help="print parameters and multiply-adds, and a model file's metadata",
        description='Count parameters (total, backbone, SGCP module) and conv multiply-adds '
                    "(torch FlopCounterMode / 2) of SGCPNet or of a checkpoint's model; "
                    "with --model, also what the file's metadata says of it.",
        epilog='examples: sgcp info --num-classes 19 --resolution 1024x2048 360x480; '
               'sgcp info -m models/camvid/sgcpnet_camvid_mobilenetv3_int8.onnx')
    parser.add_argument('--model', '-m',
                        help='model file to describe instead of a fresh model: its metadata, '
                             'and for a checkpoint (.pt) its counts')
    # Class ids are 8-bit labels below UNKNOWN_LABEL (255): at most 255 classes.
    parser.add_argument('--num-classes', type=in_range(int, 1, UNKNOWN_LABEL), default=19,
                        help='classes of a fresh model (default 19, as in the paper; at most '
                             f'{UNKNOWN_LABEL}: labels are 8-bit, {UNKNOWN_LABEL} = unknown)')
    parser.add_argument('--backbone', default='mobilenetv3',
                        choices=('mobilenetv3', 'mobilenetv2'))
    parser.add_argument('--resolution', nargs='+', type=parse_resolution,
                        default=[parse_resolution(r) for r in DEFAULT_RESOLUTIONS],
                        metavar='HxW', help='input sizes to count MACs at')
    parser.add_argument('--palette-csv', nargs='?', const='-', metavar='FILE',
                        help='instead: write the label colours of --model (default: the '
                             'shipped model) as CSV name,red,green,blue,alpha,id (Kimera\'s '
                             'layout) to FILE or stdout')
    parser.add_argument('--force', action='store_true',
                        help='with --palette-csv FILE: replace FILE if it exists (without, an '
                             'existing file is an error)')
    parser.add_argument('--class-groups', metavar='YAML',
                        help='with --palette-csv: the output classes of this groups file')
    parser.set_defaults(run=run)


def _write_palette_csv(args: argparse.Namespace) -> int:
    from sgcp_core.checkpoint import read_meta
    from sgcp_core.classes import palette_csv
    from sgcp_core.files import atomic_write, new_output
    from sgcp_core.resources import resolve_model_path
    if args.palette_csv != '-':
        new_output(args.palette_csv, '--palette-csv', args.force)
    classes = read_meta(resolve_model_path(args.model or '')).classes
    if args.class_groups:
        from sgcp_core.class_groups import load_class_groups
        classes = load_class_groups(args.class_groups, classes).classes
    text = palette_csv(classes)
    if args.palette_csv == '-':
        print(text, end='')
        return 0
    atomic_write(args.palette_csv, lambda temp: Path(temp).write_text(text))
    print(f'wrote {args.palette_csv} ({classes.num_classes} classes + unknown)')
    return 0


def _metadata_lines(meta) -> list[str]:
    """What a model file says of itself, a fact a line: precision, input size, training."""
    lines = [f'precision: {meta.precision}',
             f'input size: {meta.input_size[0]}x{meta.input_size[1]}']
    facts = meta.training
    if facts is None:
        lines.append('training: not recorded (a file from before training facts were kept)')
    else:
        line = f"trained on: {'+'.join(facts.train_splits) or 'not recorded'}"
        if facts.epoch is not None:
            line += f'; epoch {facts.epoch} of {facts.epochs}'
        if facts.epoch_selection:
            line += f', {facts.epoch_selection}'
        lines.append(line)
        if facts.teacher:
            lines.append(f'distilled from: {facts.teacher}')
    if meta.calibration:
        facts_of_calibration = (f'{key} {value}' for key, value in meta.calibration.items())
        lines.append('calibration: ' + ', '.join(facts_of_calibration))
    return lines


def run(args: argparse.Namespace) -> int:
    if args.palette_csv:
        return _write_palette_csv(args)
    from sgcp_core.models import build_sgcpnet, count_conv_macs, count_parameters
    if args.model:
        from sgcp_core.checkpoint import load_model
        from sgcp_core.checkpoint import read_meta
        from sgcp_core.resources import resolve_model_path
        path = resolve_model_path(args.model)
        is_onnx = path.suffix.lower() == '.onnx'
        model, meta = (None, read_meta(path)) if is_onnx else load_model(path)
        kind = ', ONNX' if is_onnx else ''
        print(f'{args.model} ({meta.variant}, {meta.num_classes} classes{kind})')
        print('\n'.join(_metadata_lines(meta)))
        if model is None:
            print('(parameter and multiply-add counts need the .pt checkpoint)')
            return 0
    else:
        model = build_sgcpnet(args.num_classes, backbone=args.backbone)
        print(f'sgcpnet-{args.backbone}, {args.num_classes} classes (fresh)')
    total = count_parameters(model)
    backbone = count_parameters(model.encoder)
    print(f'parameters: {total / 1e6:.3f}M  (backbone {backbone / 1e6:.3f}M, '
          f'HFR + SGCP module + classifier {(total - backbone) / 1e6:.3f}M)')
    print(f'{"input HxW":>12}  {"conv GMACs":>10}')
    for height, width in args.resolution:
        print(f'{f"{height}x{width}":>12}  {count_conv_macs(model, height, width) / 1e9:10.3f}')
    return 0


__all__ = ['add_parser', 'run']
