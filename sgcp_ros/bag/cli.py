# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the three bag commands share: error reporting, exit codes and engine options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

__all__ = ['CommandError', 'run_command', 'add_engine_arguments', 'engine_config',
           'parse_size']


class CommandError(Exception):
    """A user-facing failure: printed as '<prog>: error: ...', exit status 2."""


def run_command(prog: str, run: Callable[[], int]) -> int:
    """Call ``run``; turn expected failures into one line on stderr and exit status 2."""
    try:
        return int(run() or 0)
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr)
        return 130
    except Exception as error:
        if not _is_user_error(error):
            raise
        # These already name the file, topic or value at fault; a traceback would bury it.
        print(f'{prog}: error: {error}', file=sys.stderr)
        return 2


def _is_user_error(error: Exception) -> bool:
    from sgcp_ros.bag.bag_io import BagError
    expected = [CommandError, BagError, FileNotFoundError, ValueError]
    engine = sys.modules.get('sgcp_core.engine.base')
    if engine is not None:  # only loaded (with torch) by commands that run the engine
        expected.append(engine.EngineError)
    return isinstance(error, tuple(expected))


def parse_size(text: str) -> tuple[int, int]:
    """'360x480' (height x width) -> (360, 480)."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HEIGHTxWIDTH like 360x480, got {text!r}')
    if height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError(f'size must be positive, got {text!r}')
    return height, width


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --backend, --device, --input-size, --label-mode, --threads."""
    group = parser.add_argument_group('engine')
    group.add_argument('--model', default='',
                       help='checkpoint (.pt) or ONNX file (default: the shipped model)')
    group.add_argument('--backend', default='auto', choices=('auto', 'torch', 'onnx'))
    group.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    group.add_argument('--input-size', default='model', metavar='{model,native,HxW}',
                       help="network input: 'model' = the size in the model's metadata, "
                            "'native' = the first frame's own size (no resizing, as "
                            "'sgcp eval' runs), or HEIGHTxWIDTH (default: %(default)s)")
    group.add_argument('--label-mode', default='upsample_logits',
                       choices=('upsample_logits', 'argmax_then_nearest'))
    group.add_argument('--threads', type=int, default=0,
                       help='CPU threads for the backend (0: its default)')


def engine_config(args: argparse.Namespace, first_frame_shape: tuple[int, ...] | None):
    """EngineConfig from the engine arguments; ``first_frame_shape`` serves 'native'."""
    from sgcp_core.config import EngineConfig
    height = width = 0
    if args.input_size == 'native':
        if first_frame_shape is None:
            raise CommandError("--input-size native needs a frame to take the size from")
        height, width = first_frame_shape[:2]
    elif args.input_size != 'model':
        try:
            height, width = parse_size(args.input_size)
        except argparse.ArgumentTypeError as error:
            raise CommandError(f'--input-size: {error}') from None
    return EngineConfig(model_path=args.model, backend=args.backend, device=args.device,
                        input_height=height, input_width=width, label_mode=args.label_mode,
                        threads=args.threads)
