# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp export``: a .pt checkpoint to ONNX with its metadata, checked against PyTorch."""

from __future__ import annotations

import argparse

from sgcp_core.cli.arg_types import in_range, output_file, parse_resolution, positive_float
from sgcp_core.cli.export_int8 import INT8_EPILOG, add_int8_arguments, run_int8

__all__ = ['add_parser', 'run']

EPILOG = '''examples:
  sgcp export -m models/camvid/sgcpnet_camvid.pt
      writes models/camvid/sgcpnet_camvid.onnx (360x480, the model's own input size)
  sgcp export -m best.pt -o best_720.onnx --input-size 720x960
  sgcp export -m best.pt --dynamic --check-images ../shared/data/camvid/val
      any input size at run time; parity checked on real frames before writing
  sgcp export -m best.pt --dynamic-batch
      any number of frames per run: a node with several cameras can batch them (on a GPU)

An existing output file is replaced only with --force; every file is written atomically.
The file carries class names, palette, mean/std, input size and model variant as ONNX
metadata, so "sgcp infer -m X.onnx" and the ROS node need nothing else. By default the graph
ends at the stride-8 logits and the engine upsamples straight to the frame size; use
--full-logits for a graph that outputs logits at the input size (for other runtimes).

''' + INT8_EPILOG

PARITY_FRAMES = 4


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(
        name, help='export a checkpoint to ONNX (with metadata and a parity check)',
        description='Export an sgcp_ros checkpoint to ONNX (opset >= 17), written atomically.\n'
                    'Before writing, ONNX Runtime and PyTorch run the same frames and the\n'
                    'export fails if any logit differs by more than --atol.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', '-m', required=True, metavar='PATH',
                        help='checkpoint (.pt) to export')
    parser.add_argument('--out', '-o', metavar='PATH', type=output_file,
                        help='ONNX file to write (default: the model path with .onnx)')
    parser.add_argument('--force', action='store_true',
                        help='replace the output file if it exists (without, an existing '
                             'file is an error)')
    parser.add_argument('--input-size', type=parse_resolution, metavar='HxW',
                        help="input size to export at (default: the model's own)")
    parser.add_argument('--dynamic', action='store_true',
                        help='accept any height and width at run time')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='accept any batch size, so a node with several cameras can run '
                             'their frames together (camera_batching)')
    parser.add_argument('--opset', type=in_range(int, 17, float('inf')), default=17,
                        help='ONNX opset (>= 17; default 17)')
    parser.add_argument('--full-logits', action='store_true',
                        help='output logits at the input size instead of stride 8')
    parser.add_argument('--check-images', nargs='+', metavar='PATH', default=[],
                        help=f'images or folders whose first {PARITY_FRAMES} images are used '
                             'for the parity check (default: one seeded random frame)')
    parser.add_argument('--no-check', action='store_true', help='skip the parity check')
    parser.add_argument('--atol', type=positive_float, default=1e-4,
                        help='largest allowed |ONNX Runtime - PyTorch| logit (default 1e-4)')
    add_int8_arguments(parser)
    parser.set_defaults(run=run)


def _parity_frames(paths: list[str], size: tuple[int, int]) -> list:
    import numpy as np

    from sgcp_core.cli.infer import collect_inputs
    from sgcp_core.data import read_rgb
    if not paths:
        # Uniform noise exercises every weight; real frames are better when at hand.
        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, tuple(size) + (3,), dtype=np.uint8)]
    images, videos = collect_inputs(paths)
    if videos and not images:
        raise ValueError('--check-images takes images or folders of images, not videos')
    return [read_rgb(path) for path, _ in images[:PARITY_FRAMES]]


def run(args: argparse.Namespace) -> int:
    if args.int8:
        return run_int8(args)
    if args.openvino:
        from sgcp_core.errors import CommandError
        raise CommandError('--openvino goes with --int8 (OpenVINO runs the fp32 .onnx as it '
                           'is)')
    from sgcp_core.checkpoint import read_meta
    from sgcp_core.export import export_onnx
    from sgcp_core.files import new_output
    from sgcp_core.resources import resolve_model_path
    model = resolve_model_path(args.model)
    if model.suffix.lower() == '.onnx':
        raise ValueError(f'{model} is already ONNX; export takes a .pt checkpoint')
    out = new_output(args.out or model.with_suffix('.onnx'), '--out' if args.out else 'output',
                     args.force)
    size = args.input_size or read_meta(model).input_size
    frames = [] if args.no_check else _parity_frames(args.check_images, size)
    report = export_onnx(model, out, input_size=size, dynamic=args.dynamic, opset=args.opset,
                         coarse_logits=not args.full_logits, parity_frames=frames,
                         parity_atol=args.atol, dynamic_batch=args.dynamic_batch)
    shape = 'dynamic HxW' if report.dynamic else f'{size[0]}x{size[1]}'
    if report.dynamic_batch:
        shape += ', any batch size'
    check = ('parity not checked' if report.max_abs_diff is None else
             f'max |ORT - torch| logit {report.max_abs_diff:.2e} over {report.parity_frames} '
             f'frame(s)')
    print(f'wrote {report.path} ({report.size_bytes / 1e6:.2f} MB, opset {report.opset}, '
          f'{shape}, logits at stride {report.logits_stride}; {check})')
    return 0
