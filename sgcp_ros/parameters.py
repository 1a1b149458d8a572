# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS parameters of the segmentation node, declared from config dataclasses.

Defaults and types come from the dataclass fields only: ``sgcp_core.config.EngineConfig``
for the engine and ``NodeConfig`` below for what only the node has (output toggles, input
QoS, diagnostics thresholds). The engine's descriptions, choices and ranges are
EngineConfig's own (its fields' FieldDoc, which the command lines print too); this module
adds the node's, and whether a value can change while the node runs.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from sgcp_core.config import ConfigError, EngineConfig, field_doc, replace_from_dict
from sgcp_ros.images import MAX_DECODED_PIXELS

__all__ = ['NodeConfig', 'ParameterSpec', 'ENGINE_PARAMETERS', 'NODE_PARAMETERS',
           'QOS_RELIABILITIES', 'IMAGE_TRANSPORTS', 'CAMERA_BATCHING', 'LIVE_PARAMETERS',
           'EFFECTIVE_PARAMETERS', 'declare_config', 'read_config', 'check_choice',
           'check_camera_names', 'check_node_config', 'check_camera_remaps']

QOS_RELIABILITIES = ('best_effort', 'reliable')
# image_transport's names for the two transports this node decodes itself: 'raw' subscribes
# <image> (sensor_msgs/Image), 'compressed' subscribes <image>/compressed (JPEG or PNG).
IMAGE_TRANSPORTS = ('raw', 'compressed')
# Not on/off: YAML (and so -p NAME:=on) reads those as booleans.
CAMERA_BATCHING = ('auto', 'always', 'never')
# A camera name becomes one token of its topic names (NAME/image, ~/NAME/labels).
_CAMERA_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
# Start-up parameters the node overwrites with what it runs once the model is loaded
# (the resolved file, the backend and device 'auto' picked, the model's input size).
EFFECTIVE_PARAMETERS = ('model_path', 'backend', 'device', 'input_height', 'input_width')


@dataclass(frozen=True)
class NodeConfig:
    """What the node adds to the engine: outputs, input QoS and diagnostics thresholds."""

    publish_labels: bool = True
    publish_color_mask: bool = True       # computed only while someone subscribes
    publish_overlay: bool = True          # computed only while someone subscribes
    image_transport: str = 'raw'          # raw: <image>; compressed: <image>/compressed
    overlay_jpeg_quality: int = 80        # ~/overlay/compressed, encoded only for subscribers
    input_qos_depth: int = 1
    input_qos_reliability: str = 'best_effort'
    max_image_pixels: int = MAX_DECODED_PIXELS   # larger frames are refused undecoded
    diagnostics_period_s: float = 1.0
    latency_warn_ms: float = 250.0        # p95 of header stamp -> outputs published
    latency_error_ms: float = 1000.0
    min_rate_warn_hz: float = 0.0         # processed frames/s while dropping; 0 = off
    min_rate_error_hz: float = 0.0
    cameras: tuple[str, ...] = ()         # empty: one camera on image, outputs under ~/
    camera_batching: str = 'auto'         # frames of several cameras in one network run


@dataclass(frozen=True)
class ParameterSpec:
    """How one config field appears as a ROS parameter."""

    description: str
    live: bool = False                    # False: set only while no model is loaded
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()


# The engine's parameters say what `sgcp infer --help` says (EngineConfig's FieldDoc: text,
# choices, range); ROS adds which may change while the node runs, and where they show.
_LIVE_ENGINE_FIELDS = frozenset({'overlay_alpha'})
_ENGINE_NOTES = {'overlay_alpha': 'Used for ~/overlay.',
                 'min_confidence': "Published as ~/label_info's threshold."}
ENGINE_PARAMETERS = {
    spec.name: ParameterSpec(' '.join(filter(None, (doc.help, _ENGINE_NOTES.get(spec.name)))),
                             live=spec.name in _LIVE_ENGINE_FIELDS, range=doc.range,
                             choices=doc.choices)
    for spec in dataclasses.fields(EngineConfig) if (doc := field_doc(spec)) is not None}

NODE_PARAMETERS = {
    'publish_labels': ParameterSpec('Publish ~/labels (mono8 class ids, 255 = unknown).',
                                    live=True),
    'publish_color_mask': ParameterSpec('Publish ~/color_mask (rgb8); computed only while it '
                                        'has subscribers.', live=True),
    'publish_overlay': ParameterSpec('Publish ~/overlay (rgb8); computed only while it has '
                                     'subscribers.', live=True),
    'image_transport': ParameterSpec("'raw' subscribes image (sensor_msgs/Image); "
                                     "'compressed' subscribes <image>/compressed (JPEG or PNG "
                                     'CompressedImage) instead, never both.',
                                     choices=IMAGE_TRANSPORTS),
    'overlay_jpeg_quality': ParameterSpec('JPEG quality of ~/overlay/compressed (encoded only '
                                          'while it has subscribers).', live=True,
                                          range=(1, 100)),
    'input_qos_depth': ParameterSpec('History depth of the image subscriptions; the node only '
                                     'ever processes the newest frame.', range=(1, 100)),
    'max_image_pixels': ParameterSpec('Frames with more pixels than this are dropped with an '
                                      'error (the limit is inclusive: 8000x8000 passes '
                                      '64000000, the most it may be); compressed ones from '
                                      'their header before decoding (a few KB of PNG can '
                                      'declare gigabytes).', live=True,
                                      range=(1, MAX_DECODED_PIXELS)),
    'input_qos_reliability': ParameterSpec("Reliability of the image subscriptions; "
                                           "'best_effort' matches every publisher.",
                                           choices=QOS_RELIABILITIES),
    'diagnostics_period_s': ParameterSpec('Seconds between /diagnostics reports, and the '
                                          'window their rates and percentiles cover.',
                                          range=(0.1, 60.0)),
    'latency_warn_ms': ParameterSpec('WARN when the p95 latency (header stamp to outputs '
                                     'published) exceeds this.', live=True, range=(0.0, 1e6)),
    'latency_error_ms': ParameterSpec('ERROR when the p95 latency exceeds this.', live=True,
                                      range=(0.0, 1e6)),
    'min_rate_warn_hz': ParameterSpec('WARN when the node drops frames and processes fewer '
                                      'than this many per second; 0 = off.', live=True,
                                      range=(0.0, 1000.0)),
    'min_rate_error_hz': ParameterSpec('ERROR when the node drops frames and processes fewer '
                                       'than this many per second; 0 = off.', live=True,
                                       range=(0.0, 1000.0)),
    'cameras': ParameterSpec('Camera names, served by one model: each NAME reads NAME/image '
                             '(NAME/image/compressed with image_transport compressed), '
                             'NAME/camera_info and NAME/depth, and publishes ~/NAME/labels, '
                             'color_mask, overlay, class_info, camera_info, confidence, points '
                             'and label_info, with its own /diagnostics status. Frames are '
                             'taken newest first per camera and round-robin across cameras. '
                             'Empty: one camera on image, outputs under ~/.'),
    'camera_batching': ParameterSpec("With several cameras, run the frames waiting from "
                                     "several cameras through the network as one batch: "
                                     "'auto' on CUDA only, 'always' on any device, 'never'. "
                                     'Needs a model that takes batches: a .pt, or an ONNX '
                                     'file exported with --dynamic-batch.',
                                     choices=CAMERA_BATCHING),
}

LIVE_PARAMETERS = frozenset(name for specs in (ENGINE_PARAMETERS, NODE_PARAMETERS)
                            for name, spec in specs.items() if spec.live)


def _descriptor(name: str, default: Any, spec: ParameterSpec) -> ParameterDescriptor:
    # Start-up parameters are not ROS read-only: the node writes the values in effect into
    # them after loading (EFFECTIVE_PARAMETERS) and the managed node takes new ones while
    # unconfigured; the node's set-parameters callback refuses them while a model is loaded.
    description = spec.description if spec.live else (
        spec.description + ' Start-up: refused while the model is loaded.')
    descriptor = ParameterDescriptor(name=name, description=description, read_only=False,
                                     dynamic_typing=False)
    if spec.choices:
        descriptor.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    if spec.range is not None:
        low, high = spec.range
        if isinstance(default, float):
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(low), to_value=float(high), step=0.0)]
        else:
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                     step=1)]
    return descriptor


def declare_config(node: Node, config_type: type, specs: dict[str, ParameterSpec],
                   prefix: str = '') -> Any:
    """Declare one parameter per scalar field of ``config_type``; return the resulting config.

    A field without a spec (added to the dataclass later) is still declared, read-only,
    described as ``<Config>.<field>``, so the node never silently ignores it. ``prefix``
    (e.g. 'cloud.') is put before every parameter name.

    Raises:
        ConfigError: a value outside its choices (ROS checks types and ranges itself).
    """
    defaults = config_type()
    values = {}
    for field in dataclasses.fields(config_type):
        default = getattr(defaults, field.name)
        if not _is_parameter(field, default):
            continue  # other tuples and nested configs have no ROS parameter equivalent here
        spec = specs.get(field.name, ParameterSpec(f'{config_type.__name__}.{field.name}'))
        name = prefix + field.name
        descriptor = _descriptor(name, default, spec)
        if isinstance(default, tuple):
            # An empty default says nothing of its type ([] would be a byte array): declare
            # the type, then give the default where the launch gave no value.
            value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, descriptor).value
            if value is None:
                value = list(default)
                node.set_parameters([Parameter(name, Parameter.Type.STRING_ARRAY, value)])
        else:
            value = node.declare_parameter(name, default, descriptor).value
        problem = check_choice(name, value)
        if problem:
            raise ConfigError(problem)
        values[field.name] = value
    return replace_from_dict(defaults, values, f'{node.get_name()} parameters')


def _is_parameter(field: dataclasses.Field, default: Any) -> bool:
    """Scalars, and tuples of strings (string arrays), become ROS parameters."""
    return isinstance(default, (bool, int, float, str)) or (
        str(field.type) == 'tuple[str, ...]')


def read_config(node: Node, config_type: type, prefix: str = '') -> Any:
    """``config_type`` built from the node's current values of the declared parameters."""
    defaults = config_type()
    values = {field.name: node.get_parameter(prefix + field.name).value
              for field in dataclasses.fields(config_type)
              if _is_parameter(field, getattr(defaults, field.name))}
    return replace_from_dict(defaults, values, f'{node.get_name()} parameters')


def check_choice(name: str, value: Any) -> str | None:
    """The reason ``value`` is not one of parameter ``name``'s choices, or None."""
    spec = ENGINE_PARAMETERS.get(name) or NODE_PARAMETERS.get(name)
    if spec is not None and spec.choices and value not in spec.choices:
        return f'parameter {name} must be one of {spec.choices}, got {value!r}'
    return None


def check_camera_names(names) -> str | None:
    """Why ``names`` cannot name the node's cameras (empty, repeated, not one ROS name
    token), or None."""
    seen = set()
    for position, name in enumerate(names, 1):
        if not name:
            return (f'parameter cameras: camera {position} has an empty name (give each camera '
                    f'a name such as front)')
        if not _CAMERA_NAME.fullmatch(name):
            return (f'parameter cameras: {name!r} is not a valid camera name (letters, digits '
                    'and underscores, not starting with a digit: it becomes a topic name '
                    'token, as in front/image)')
        if name in seen:
            return f'parameter cameras: {name!r} is given twice; camera names must be unique'
        seen.add(name)
    return None


def check_node_config(config: NodeConfig) -> str | None:
    """The reason ``config`` cannot work (thresholds that contradict each other, bad camera
    names), or None when it fits."""
    problem = check_camera_names(config.cameras)
    if problem:
        return problem
    if config.latency_warn_ms > config.latency_error_ms:
        return (f'latency_warn_ms ({config.latency_warn_ms}) must not exceed latency_error_ms '
                f'({config.latency_error_ms})')
    if config.min_rate_error_hz > 0 and config.min_rate_warn_hz > 0 and (
            config.min_rate_error_hz > config.min_rate_warn_hz):
        return (f'min_rate_error_hz ({config.min_rate_error_hz}) must not exceed '
                f'min_rate_warn_hz ({config.min_rate_warn_hz})')
    return None


# A node with cameras has none of these (camera NAME reads NAME/image, NAME/camera_info and
# NAME/depth and publishes ~/NAME/labels ...): a remap of one of them would do nothing.
_SINGLE_CAMERA_INPUTS = ('image', 'camera_info', 'depth')
_SINGLE_CAMERA_TOPICS = _SINGLE_CAMERA_INPUTS + ('~/labels', '~/color_mask', '~/overlay')


def check_camera_remaps(node: Node, cameras) -> str | None:
    """Why ``node``'s remappings cannot work with ``cameras`` (a single camera's topic
    remapped), or None."""
    for topic in _SINGLE_CAMERA_TOPICS if cameras else ():
        target = node.resolve_topic_name(topic)
        if target != node.resolve_topic_name(topic, only_expand=True):
            name = topic.removeprefix('~/')
            where = (f'remap each camera\'s NAME/{name} instead'
                     if name in _SINGLE_CAMERA_INPUTS else
                     f'camera NAME publishes ~/NAME/{name}')
            return (f'{topic} is remapped to {target}, but a node with cameras '
                    f'({", ".join(cameras)}) has no {topic}: {where}')
    return None
