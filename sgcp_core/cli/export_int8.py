# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp export --int8``: the options and the run of a static int8 export.

Kept beside ``sgcp_core.cli.export`` (which adds these options to its parser and hands the
run here when ``--int8`` is given); the work is ``sgcp_core.quantize.quantize_onnx``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sgcp_core.cli.arg_types import positive_int

__all__ = ['add_int8_arguments', 'run_int8', 'INT8_EPILOG']

INT8_EPILOG = '''int8 (static quantization with ONNX Runtime's tooling):
  sgcp export --int8 -m models/camvid/sgcpnet_camvid_mobilenetv2.pt
      writes models/camvid/sgcpnet_camvid_mobilenetv2_int8.onnx, calibrated on 64 frames
      spread over CamVid train (the data config's root), any input size at run time
  sgcp export --int8 -m best.pt --calibration my_frames/ --calibration-method minmax
  sgcp export --int8 --dynamic-batch -m best.pt
      also any number of frames per run (a node's camera_batching)
  sgcp export --int8 --openvino -m models/camvid/sgcpnet_camvid_mobilenetv2.pt
      an OpenVINO int8 IR for backend openvino (NNCF, same frames):
      models/camvid/sgcpnet_camvid_mobilenetv2_int8.xml and .bin
'''


def add_int8_arguments(parser: argparse.ArgumentParser) -> None:
    """--int8 and its calibration options, in their own group."""
    from sgcp_core.quantize import (CALIBRATION_METHODS, DEFAULT_CALIBRATION_FRAMES,
                                    DEFAULT_EXCLUDE, DEFAULT_METHOD, EXCLUDE_GROUPS)
    group = parser.add_argument_group('int8')
    group.add_argument('--int8', action='store_true',
                       help='write an int8 QDQ model (default name <stem>_int8.onnx) instead; '
                            '--model may also be an fp32 .onnx written by sgcp export')
    group.add_argument('--calibration', metavar='DIR',
                       help='folder of frames to calibrate on (default: the train split of '
                            "the data config's CamVid root)")
    group.add_argument('--calibration-frames', type=positive_int,
                       default=DEFAULT_CALIBRATION_FRAMES,
                       metavar='N', help='frames spread over the folder '
                                         f'(default {DEFAULT_CALIBRATION_FRAMES})')
    group.add_argument('--calibration-method', choices=CALIBRATION_METHODS,
                       default=DEFAULT_METHOD,
                       help=f'activation range estimate (default {DEFAULT_METHOD}, chosen on '
                            'CamVid val)')
    group.add_argument('--openvino', action='store_true',
                       help='with --int8: an OpenVINO int8 IR made with NNCF (default name '
                            '<stem>_int8.xml, weights in .bin) for backend openvino, instead '
                            'of the QDQ .onnx; --calibration-method and --fp32-nodes do not '
                            'apply')
    group.add_argument('--fp32-nodes', nargs='*', default=list(DEFAULT_EXCLUDE),
                       metavar='GROUP|REGEX',
                       help=f'nodes kept in fp32: groups {", ".join(EXCLUDE_GROUPS)} or '
                            'regular expressions over node names (default: '
                            f'{" ".join(DEFAULT_EXCLUDE) or "none"})')


def run_int8(args: argparse.Namespace) -> int:
    from sgcp_core.config import DataConfig
    from sgcp_core.errors import CommandError
    from sgcp_core.files import new_output
    from sgcp_core.quantize import int8_path, quantize_onnx
    from sgcp_core.resources import resolve_model_path
    if args.input_size or args.full_logits:
        raise CommandError('--int8 exports take any input size and end at the stride-8 '
                           'logits; leave out --input-size and --full-logits')
    model = resolve_model_path(args.model)
    if args.openvino:
        return _run_openvino_int8(args, model)
    out = new_output(args.out or int8_path(model), '--out' if args.out else 'output',
                     args.force)
    calibration = Path(args.calibration or Path(DataConfig().root) / 'train')
    if not calibration.is_dir():
        raise CommandError(f'calibration folder {calibration} not found; pass --calibration '
                           'DIR (frames like the camera will see)')
    print(f'calibrating {model} on {args.calibration_frames} frames from {calibration} '
          f'({args.calibration_method})...', flush=True)
    if args.dynamic_batch and model.suffix.lower() == '.onnx':
        raise CommandError(f'--dynamic-batch needs the .pt checkpoint: {model} keeps the '
                           'batch axis it was exported with')
    report = quantize_onnx(model, out, calibration, frames=args.calibration_frames,
                           method=args.calibration_method, exclude=args.fp32_nodes,
                           dynamic_batch=args.dynamic_batch)
    kept = ', '.join(report.excluded_nodes) or 'none'
    batch = ', any batch size' if args.dynamic_batch else ''
    print(f'wrote {report.path} ({report.size_bytes / 1e6:.2f} MB, fp32 graph '
          f'{report.fp32_size_bytes / 1e6:.2f} MB; int8 QDQ, {report.method} calibration on '
          f'{report.frames} frames{batch}; nodes kept in fp32: {kept})')
    return 0


def _run_openvino_int8(args: argparse.Namespace, model: Path) -> int:
    import importlib.util

    from sgcp_core.config import DataConfig
    from sgcp_core.errors import CommandError
    from sgcp_core.files import new_output
    from sgcp_core.quantize import openvino_int8_path, quantize_openvino
    missing = [name for name in ('openvino', 'nncf') if importlib.util.find_spec(name) is None]
    if missing:
        raise CommandError(f'--int8 --openvino needs {" and ".join(missing)}: pip install '
                           "'sgcp_ros[openvino-int8]'")
    out = Path(args.out) if args.out else openvino_int8_path(model)
    if out.suffix.lower() != '.xml':
        raise CommandError(f'--out {out}: an OpenVINO IR is a .xml file (weights in the .bin '
                           'beside it)')
    what = '--out' if args.out else 'output'
    new_output(out, what, args.force)
    new_output(out.with_suffix('.bin'), f'{what} weights', args.force)
    calibration = Path(args.calibration or Path(DataConfig().root) / 'train')
    if not calibration.is_dir():
        raise CommandError(f'calibration folder {calibration} not found; pass --calibration '
                           'DIR (frames like the camera will see)')
    if args.dynamic_batch and model.suffix.lower() == '.onnx':
        raise CommandError(f'--dynamic-batch needs the .pt checkpoint: {model} keeps the '
                           'batch axis it was exported with')
    print(f'calibrating {model} on {args.calibration_frames} frames from {calibration} '
          '(NNCF, OpenVINO int8)...', flush=True)
    report = quantize_openvino(model, out, calibration, frames=args.calibration_frames,
                               dynamic_batch=args.dynamic_batch)
    print(f'wrote {report.path} and {report.path.with_suffix(".bin").name} '
          f'({report.size_bytes / 1e6:.2f} MB; OpenVINO int8 IR, NNCF min-max calibration on '
          f'{report.frames} frames; run it with --backend openvino)')
    return 0
