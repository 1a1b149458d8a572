# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp info``: parameters and conv multiply-adds of a model per resolution."""

from __future__ import annotations

import argparse

DEFAULT_RESOLUTIONS = ('1024x2048', '768x1536', '512x1024', '720x960', '360x480')


def parse_resolution(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W)."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
        if height <= 0 or width <= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not HEIGHTxWIDTH, e.g. 360x480') from None
    return height, width


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(
        name, help='print parameters and multiply-adds per resolution',
        description='Count parameters (total, backbone, SGCP module) and conv multiply-adds '
                    "(torch FlopCounterMode / 2) of SGCPNet or of a checkpoint's model.",
        epilog='example: sgcp info --num-classes 19 --resolution 1024x2048 360x480')
    parser.add_argument('--model', help='checkpoint (.pt) to describe instead of a fresh model')
    parser.add_argument('--num-classes', type=int, default=19,
                        help='classes of a fresh model (default 19, as in the paper)')
    parser.add_argument('--backbone', default='mobilenetv3',
                        choices=('mobilenetv3', 'mobilenetv2'))
    parser.add_argument('--resolution', nargs='+', type=parse_resolution,
                        default=[parse_resolution(r) for r in DEFAULT_RESOLUTIONS],
                        metavar='HxW', help='input sizes to count MACs at')
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgcp_core.models import build_sgcpnet, count_conv_macs, count_parameters
    if args.model:
        from sgcp_core.checkpoint import load_model
        model, meta = load_model(args.model)
        title = f'{args.model} ({meta.variant}, {meta.num_classes} classes)'
    else:
        model = build_sgcpnet(args.num_classes, backbone=args.backbone)
        title = f'sgcpnet-{args.backbone}, {args.num_classes} classes (fresh)'
    total = count_parameters(model)
    backbone = count_parameters(model.encoder)
    print(title)
    print(f'parameters: {total / 1e6:.3f}M  (backbone {backbone / 1e6:.3f}M, '
          f'HFR + SGCP module + classifier {(total - backbone) / 1e6:.3f}M)')
    print(f'{"input HxW":>12}  {"conv GMACs":>10}')
    for height, width in args.resolution:
        print(f'{f"{height}x{width}":>12}  {count_conv_macs(model, height, width) / 1e9:10.3f}')
    return 0


__all__ = ['add_parser', 'run', 'parse_resolution']
