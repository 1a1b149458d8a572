# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Engine options of every command that runs the engine (``sgcp infer``, ``sgcp bench``,
``evaluate_bag``): one per EngineConfig field, generated from its default and its FieldDoc
(help, choices, range), the text the node's ROS parameters describe themselves with. A new
field is an option without an edit here."""

from __future__ import annotations

import argparse
import dataclasses

from sgcp_core.cli.arg_types import in_range, parse_resolution
from sgcp_core.config import EngineConfig, field_doc, load_config

__all__ = ['add_engine_arguments', 'engine_config_from_args']

# The names people type, where they differ from the field's (--model, not --model-path).
_FLAGS = {'model_path': ('--model', '-m'), 'classes_file': ('--classes',),
          'overlay_alpha': ('--alpha',)}
# input_height and input_width are one option, --input-size HxW.
_SIZE_FIELDS = ('input_height', 'input_width')
_GPU_FIELDS = frozenset({'fp16', 'onnx_provider', 'trt_cache_dir', 'trt_workspace_mb'})
_OPENVINO_FIELDS = frozenset({'precision', 'openvino_device'})


def _flags(name: str) -> tuple[str, ...]:
    return _FLAGS.get(name, ('--' + name.replace('_', '-'),))


def _dest(name: str) -> str:
    """The argparse attribute of field ``name``'s option."""
    return _flags(name)[0][2:].replace('-', '_')


def _help(text: str, default: object) -> str:
    """The field's help with its default where the text does not explain it ('' and 0 do);
    '%' escaped for argparse."""
    text = text.replace('%', '%%')
    if isinstance(default, bool):
        return f'{text} (default: {"on" if default else "off"})'
    return text if default in ('', 0) else f'{text} (default: {default})'


def add_engine_arguments(parser: argparse.ArgumentParser, model_required: bool = False,
                         backend_choice: bool = True) -> None:
    """--config and one option per EngineConfig field (--model/-m, --backend, --device,
    --input-size HxW, --classes, --alpha, --threads, ...; GPU and OpenVINO ones in groups
    of their own).
    Unset options keep the config file's or EngineConfig's value, so every default lives
    in one place. ``backend_choice=False`` leaves --backend out (a command that runs each
    backend itself)."""
    group = parser.add_argument_group('engine')
    gpu = parser.add_argument_group('GPU (device cuda)')
    openvino = parser.add_argument_group('OpenVINO (backend openvino, or auto on the CPU)')
    group.add_argument('--config', metavar='YAML',
                       help='YAML file whose "engine:" section sets these options\' defaults')
    for spec in dataclasses.fields(EngineConfig):
        if spec.name == 'backend' and not backend_choice:
            continue
        if spec.name in _SIZE_FIELDS:
            if spec.name == _SIZE_FIELDS[0]:
                group.add_argument('--input-size', type=parse_resolution, metavar='HxW',
                                   help="Network input size (frames are resized to it); "
                                        "default: the model's own, from its metadata.")
            continue
        doc, default = field_doc(spec), spec.default
        options = {'default': None, 'help': _help(doc.help, default)}
        if isinstance(default, bool):
            options['action'] = argparse.BooleanOptionalAction
        else:
            options['type'] = (type(default) if doc.range is None
                               else in_range(type(default), *doc.range))
            if doc.choices:
                options['choices'] = doc.choices
            else:
                options['metavar'] = spec.name.split('_')[-1].upper()
        if spec.name == 'model_path':
            options['required'] = model_required
        target = (gpu if spec.name in _GPU_FIELDS
                  else openvino if spec.name in _OPENVINO_FIELDS else group)
        target.add_argument(*_flags(spec.name), **options)


def engine_config_from_args(args: argparse.Namespace) -> EngineConfig:
    """EngineConfig: defaults, then ``--config``'s engine section, then explicit options."""
    config = load_config(args.config).engine if args.config else EngineConfig()
    given = {spec.name: getattr(args, _dest(spec.name), None)
             for spec in dataclasses.fields(EngineConfig) if spec.name not in _SIZE_FIELDS}
    if args.input_size is not None:
        given['input_height'], given['input_width'] = args.input_size
    return dataclasses.replace(config, **{k: v for k, v in given.items() if v is not None})
