# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Engine options shared by ``sgcp infer`` and ``sgcp bench``; defaults from EngineConfig."""

from __future__ import annotations

import argparse
import dataclasses

from sgcp_core.cli.arg_types import non_negative_int, parse_resolution
from sgcp_core.config import EngineConfig, load_config

__all__ = ['add_engine_arguments', 'engine_config_from_args']

_DEFAULTS = EngineConfig()


def add_engine_arguments(parser: argparse.ArgumentParser, model_required: bool = False,
                         backend_choice: bool = True) -> None:
    """--model, --config, --backend, --device, --strict-device, --input-size, --label-mode,
    --classes, --alpha, --threads. Unset options keep the config file's or EngineConfig's
    value, so every default lives in one place."""
    group = parser.add_argument_group('engine')
    group.add_argument('--model', '-m', required=model_required, metavar='PATH',
                       help='checkpoint (.pt) or ONNX file (.onnx); default: $SGCP_MODEL, '
                            'else the shipped models/camvid/sgcpnet_camvid.pt')
    group.add_argument('--config', metavar='YAML',
                       help='YAML file whose "engine:" section sets these options\' defaults')
    if backend_choice:
        group.add_argument('--backend', choices=('auto', 'torch', 'onnx'),
                           help=f'inference backend (default {_DEFAULTS.backend}: onnx for '
                                '.onnx files and on the CPU, torch on CUDA)')
    group.add_argument('--device', choices=('auto', 'cpu', 'cuda'),
                       help=f'where to run (default {_DEFAULTS.device}: CUDA when available; '
                            'cuda without a GPU falls back to the CPU with a warning)')
    group.add_argument('--strict-device', action='store_true', default=None,
                       help='fail instead of falling back to the CPU')
    group.add_argument('--input-size', type=parse_resolution, metavar='HxW',
                       help='resolution the network runs at (default: the model\'s own, '
                            'from its metadata)')
    group.add_argument('--label-mode', choices=('upsample_logits', 'argmax_then_nearest'),
                       help=f'how logits become the label map (default {_DEFAULTS.label_mode})')
    group.add_argument('--classes', metavar='FILE',
                       help='class names/palette: camvid, cityscapes, or a .json / .txt file '
                            '(default: the model\'s own)')
    group.add_argument('--alpha', type=float, metavar='A',
                       help=f'overlay mask weight 0..1 (default {_DEFAULTS.overlay_alpha})')
    group.add_argument('--threads', type=non_negative_int, metavar='N',
                       help='CPU threads for the network (default: the runtime\'s choice)')
    gpu = parser.add_argument_group('GPU (device cuda)')
    gpu.add_argument('--fp16', action='store_true', default=None,
                     help='half precision: TensorRT fp16 kernels, PyTorch autocast')
    gpu.add_argument('--onnx-provider', choices=('auto', 'tensorrt', 'cuda'),
                     help=f'ONNX Runtime GPU provider (default {_DEFAULTS.onnx_provider}: '
                          'TensorRT when built in, else CUDA)')
    gpu.add_argument('--trt-cache-dir', metavar='DIR',
                     help='TensorRT engine cache (default ~/.cache/sgcp_ros/trt)')
    gpu.add_argument('--trt-workspace-mb', type=int, metavar='MB',
                     help="TensorRT builder workspace (default: TensorRT's)")
    # Every other EngineConfig field, generated: a new field is an option without an edit.
    for name in _generated_fields():
        default = getattr(_DEFAULTS, name)
        flag = '--' + name.replace('_', '-')
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=f'EngineConfig.{name} (default {default})')
        else:
            group.add_argument(flag, type=type(default), metavar=name.split('_')[-1].upper(),
                               help=f'EngineConfig.{name} (default {default!r})')


# EngineConfig fields with a hand-named option above (the names people type).
_NAMED_FIELDS = frozenset({
    'model_path', 'backend', 'device', 'strict_device', 'input_height', 'input_width',
    'label_mode', 'classes_file', 'overlay_alpha', 'threads', 'fp16', 'onnx_provider',
    'trt_cache_dir', 'trt_workspace_mb'})


def _generated_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(EngineConfig) if f.name not in _NAMED_FIELDS]


def engine_config_from_args(args: argparse.Namespace) -> EngineConfig:
    """EngineConfig: defaults, then ``--config``'s engine section, then explicit options."""
    config = load_config(args.config).engine if args.config else EngineConfig()
    given = {'model_path': args.model, 'backend': getattr(args, 'backend', None),
             'device': args.device, 'strict_device': args.strict_device,
             'label_mode': args.label_mode, 'classes_file': args.classes,
             'overlay_alpha': args.alpha, 'threads': args.threads, 'fp16': args.fp16,
             'onnx_provider': args.onnx_provider, 'trt_cache_dir': args.trt_cache_dir,
             'trt_workspace_mb': args.trt_workspace_mb}
    given.update({name: getattr(args, name) for name in _generated_fields()})
    if args.input_size is not None:
        given['input_height'], given['input_width'] = args.input_size
    return dataclasses.replace(config, **{k: v for k, v in given.items() if v is not None})
