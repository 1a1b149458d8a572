# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one source of defaults: frozen dataclasses, overridden by YAML files.

``load_config(path)`` reads a YAML file with optional sections ``model``, ``data``,
``train`` and ``engine`` and rejects any key that is not a field, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sgcp_core.errors import ConfigError

__all__ = ['ModelConfig', 'DataConfig', 'TrainConfig', 'EngineConfig', 'CloudConfig',
           'ExperimentConfig', 'load_config', 'config_to_dict', 'ConfigError',
           'replace_from_dict', 'FieldDoc', 'documented', 'field_doc', 'BACKENDS', 'DEVICES',
           'LABEL_MODES', 'ONNX_PROVIDERS', 'PRECISIONS']

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    num_classes: int = 11
    backbone: str = 'mobilenetv3'
    hfr: bool = True
    td1: bool = True
    bu: bool = True
    td2: bool = True
    weighted_sum: bool = True
    pooling: str = 'max3'
    channels: int = 64
    upsample: str = 'bilinear'
    pretrained_backbone: bool = False


@dataclass(frozen=True)
class DataConfig:
    dataset: str = 'camvid'          # camvid | cityscapes | folder
    root: str = '../shared/data/camvid'
    # Splits trained on, e.g. [train, val] (the usual CamVid protocol, 468 frames). When the
    # val split is among them (or val_split is ''), nothing is held out: the run keeps its
    # last epoch instead of selecting one on data it trained on.
    train_split: tuple[str, ...] = ('train',)
    val_split: str = 'val'
    # folder dataset only: sub-folders of root and a class-list file
    image_dir: str = 'images'
    label_dir: str = 'labels'
    classes_file: str = ''
    crop_size: tuple[int, int] = (360, 480)      # (H, W)
    scale_range: tuple[float, float] = (0.5, 2.0)
    hflip: bool = True
    # The authors' augmentation: frames resized with cubic interpolation (labels nearest), and
    # crops larger than the scaled frame padded with the mean colour, centred
    # ('mean_center'); 'zero_corner' pads black at the bottom/right (this package's first
    # recipe, kept to reproduce the runs made with it).
    image_interpolation: str = 'cubic'    # cubic | linear
    pad_mode: str = 'mean_center'         # mean_center | zero_corner
    # Photometric jitter, off at 0: brightness/contrast/saturation factors drawn from
    # [1 - x, 1 + x], gamma from [1 - x, 1 + x].
    jitter_brightness: float = 0.0
    jitter_contrast: float = 0.0
    jitter_saturation: float = 0.0
    jitter_gamma: float = 0.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    ignore_index: int = 255
    preload: bool = True             # decode every frame once into RAM
    num_workers: int = 0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 340
    batch_size: int = 8
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-5
    poly_power: float = 0.9
    eval_every: int = 5              # epochs
    seed: int = 0
    threads: int = 0                 # torch CPU threads; 0 leaves torch's default
    amp: bool = True                 # mixed precision, used on CUDA only
    # Network and batches in channels-last (NHWC) memory order: the same arithmetic, faster
    # convolution kernels on a CPU; checkpoints are the same either way.
    channels_last: bool = False
    out_dir: str = 'runs/camvid'
    max_steps: int = 0               # stop after this many iterations (0: run all epochs)
    log_every: int = 10              # iterations between TensorBoard scalars
    eval_flip: bool = False
    # Start from these weights (a checkpoint of this package, same architecture) with a fresh
    # schedule, e.g. to continue a shipped model on more data; '' = the usual initialisation.
    init_from: str = ''
    eval_upsample: str = ''          # logits -> label size at evaluation; '' = the model's own
    # Loss: 'ce' (cross-entropy) or 'ohem' (only pixels whose true-class probability is below
    # ohem_thresh, but at least ohem_min_fraction of the batch's valid pixels, the hardest).
    loss: str = 'ce'
    ohem_thresh: float = 0.7
    ohem_min_fraction: float = 0.0625
    # Training-only 1x1 classifiers on SGCP taps ('p3_td1', 'p4_td2', 'p5_td2'), each with
    # its loss weight; they are not part of the model, so exports never contain them.
    aux_heads: tuple[str, ...] = ()
    aux_weights: tuple[float, ...] = ()
    # Exponential moving average of the weights (0 = off); checkpoints then ship the average.
    ema_decay: float = 0.0
    # Knowledge distillation from a teacher checkpoint, its logits cached once per run
    # (kd_cache, default out_dir/teacher_logits) and put through the student's augmentation.
    kd_teacher: str = ''
    kd_cache: str = ''
    kd_teacher_flip: bool = True     # teacher logits averaged with its flipped prediction
    kd_weight: float = 0.0           # pixel-wise KL(teacher || student) at kd_temperature
    kd_temperature: float = 1.0
    cwd_weight: float = 0.0          # channel-wise distillation (spatial softmax per class)
    cwd_temperature: float = 4.0


# The engine's choices, named once: the engine checks values against them, and the
# command lines and ROS parameters offer them.
BACKENDS = ('auto', 'torch', 'onnx', 'openvino')
DEVICES = ('auto', 'cpu', 'cuda')
LABEL_MODES = ('upsample_logits', 'upsample_logits_bicubic', 'argmax_then_nearest')
ONNX_PROVIDERS = ('auto', 'tensorrt', 'cuda')
PRECISIONS = ('auto', 'f32', 'bf16', 'f16')


@dataclass(frozen=True)
class FieldDoc:
    """What a config field means, written once for every place that shows it: the
    command-line options (``sgcp_core.cli.engine_args``) and the ROS parameter descriptors
    (``sgcp_ros.parameters``)."""

    help: str
    choices: tuple[str, ...] = ()
    range: tuple[float, float] | None = None    # inclusive bounds of a number


def documented(default: Any, help: str, *, choices: tuple[str, ...] = (),
               range: tuple[float, float] | None = None) -> Any:
    """A dataclass field with ``default``, its FieldDoc in the field's metadata."""
    return field(default=default, metadata={'doc': FieldDoc(help, tuple(choices), range)})


def field_doc(config_field: dataclasses.Field) -> FieldDoc | None:
    """The FieldDoc of a field made with ``documented``, else None."""
    return config_field.metadata.get('doc')


@dataclass(frozen=True)
class EngineConfig:
    model_path: str = documented(
        '', "Model file: an sgcp_ros checkpoint (.pt) or ONNX file (.onnx); '' = "
            '$SGCP_MODEL, else the shipped CamVid model.')
    backend: str = documented(
        'auto', "Inference backend; 'auto' runs .onnx files and, on the CPU, a checkpoint's "
                'current ONNX export beside it with ONNX Runtime, or with OpenVINO where it '
                'computes in bf16 or f16 and a short timed run at start-up finds it faster; '
                'everything else with PyTorch.', choices=BACKENDS)
    device: str = documented(
        'auto', "Where the network runs; 'auto' uses CUDA when available, 'cuda' without a "
                'GPU falls back to the CPU with a warning.', choices=DEVICES)
    strict_device: bool = documented(
        False, 'Fail at start-up instead of falling back to the CPU when the requested '
               'device is unavailable.')
    input_height: int = documented(
        0, "Network input height in pixels (frames are resized to it); 0 = the model's own "
           'size, from its metadata. Set with input_width.', range=(0, 4096))
    input_width: int = documented(
        0, "Network input width in pixels; 0 = the model's own size.", range=(0, 8192))
    # "sgcp bench --label-modes" compares the modes' mIoU and time on labelled frames
    # (docs/performance.md, Label modes).
    label_mode: str = documented(
        'upsample_logits', "How labels reach the frame resolution: upsample the class scores "
                           "(the model's interpolation, or bicubic as the SGCPNet authors "
                           'evaluated), or argmax first then nearest-neighbour resize '
                           '(cheaper, blockier).', choices=LABEL_MODES)
    overlay_alpha: float = documented(
        0.5, 'Weight of the class colours in the overlay (0 = the camera frame only, 1 = '
             'colours only).', range=(0.0, 1.0))
    threads: int = documented(
        0, "CPU threads for inference; 0 = the runtime's default.", range=(0, 256))
    classes_file: str = documented(
        '', "Class names and colours: '' = the model's own, 'camvid', 'cityscapes', or a "
            'JSON / text file.')
    class_groups_file: str = documented(
        '', "'' = the model's classes; or a YAML file grouping them into output classes and "
            'dropping some to 255 (config/camvid_navigation_groups.yaml).')
    min_confidence: float = documented(
        0.0, 'Pixels whose top class probability is below this are labelled 255 (unknown); '
             '0 = off.', range=(0.0, 1.0))
    warmup_runs: int = documented(
        2, 'Frames run at start-up so the first real frame is not slow.', range=(0, 100))
    hold_freed_memory: bool = documented(
        True, 'Keep freed memory mapped (glibc) so frames do not pay page faults.')
    # GPU only (device=cuda): the CPU always runs the model file's own precision.
    fp16: bool = documented(
        False, 'On CUDA: half precision (TensorRT fp16 kernels; PyTorch autocast).')
    onnx_provider: str = documented(
        'auto', "On CUDA with the onnx backend: 'auto' (TensorRT if built in, else CUDA), "
                "'tensorrt' or 'cuda'.", choices=ONNX_PROVIDERS)
    trt_cache_dir: str = documented(
        '', "Folder for TensorRT engines built at start-up; '' = ~/.cache/sgcp_ros/trt.")
    trt_workspace_mb: int = documented(
        0, "TensorRT builder workspace in MiB; 0 = TensorRT's default.", range=(0, 1 << 20))
    # OpenVINO only (backend openvino, and its candidate under backend auto).
    precision: str = documented(
        'auto', "OpenVINO inference precision; 'auto' = the device's own default (bf16 on "
                'CPUs with AVX-512 BF16 or AMX, f16 on Intel GPUs, else f32). An int8 model '
                'stays int8 either way.', choices=PRECISIONS)
    openvino_device: str = documented(
        'CPU', "OpenVINO device: 'CPU', 'GPU', 'NPU' or a numbered one such as 'GPU.1'.")


@dataclass(frozen=True)
class CloudConfig:
    """The semantic point cloud: which depth pixels become points, and what they carry."""

    decimation: int = 1              # every n-th depth pixel, in rows and in columns
    min_range_m: float = 0.0         # depth (z) below this is left out
    max_range_m: float = 0.0         # depth above this is left out; 0 = no limit
    keep_unknown: bool = False       # keep points labelled 255 (unknown / dropped classes)
    organized: bool = False          # H x W cloud with NaN points (True) or valid points only
    rgb: bool = False                # add a packed float32 'rgb' field
    rgb_source: str = 'camera'       # what 'rgb' holds: the camera's colour or the class colour
    confidence: bool = False         # add the top class probability (float32 0..1)
    label_type: str = 'uint32'       # uint32 as PCL's PointXYZL, or uint8
    per_class: bool = False          # also one cloud per output class, split from the same points
    stamp_tolerance_s: float = 0.02  # largest |depth stamp - image stamp| that still pairs
    # Stamp the cloud with the camera image's stamp (frame_id stays the depth image's), so
    # exact-time consumers (nav2's semantic segmentation layer) pair it with the labels.
    image_stamp: bool = False


@dataclass(frozen=True)
class ExperimentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)


def _coerce(value: Any, default: Any, where: str, annotation: str = '') -> Any:
    if annotation.startswith('tuple[') and annotation.endswith(', ...]'):
        # A list of any length; one bare value is a list of one.
        item = {'str': '', 'float': 0.0, 'int': 0}[annotation[6:-6]]
        values = value if isinstance(value, (list, tuple)) else [value]
        return tuple(_coerce(v, item, where) for v in values)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f'{where}: expected true/false, got {value!r}')
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ConfigError(f'{where}: expected a list of {len(default)} values, got {value!r}')
        return tuple(_coerce(v, d, where) for v, d in zip(value, default))
    if isinstance(default, float) and isinstance(value, (int, float)):
        return float(value)
    if isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(default, str) and isinstance(value, str):
        return value
    raise ConfigError(f'{where}: expected {type(default).__name__}, got {value!r}')


def replace_from_dict(instance: Any, values: dict[str, Any], where: str = 'config') -> Any:
    """A copy of a config dataclass with ``values`` applied, type-checked; unknown keys fail."""
    if not isinstance(values, dict):
        raise ConfigError(f'{where}: expected a mapping, got {values!r}')
    known = {f.name: f for f in dataclasses.fields(instance)}
    annotations = {name: str(f.type) for name, f in known.items()}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f'{where}: unknown keys {unknown}; known keys: {sorted(known)}')
    changes = {}
    for name, value in values.items():
        default = getattr(instance, name)
        if dataclasses.is_dataclass(default):
            changes[name] = replace_from_dict(default, value, f'{where}.{name}')
        else:
            changes[name] = _coerce(value, default, f'{where}.{name}', annotations[name])
    return dataclasses.replace(instance, **changes)


def load_config(path: str | Path | list[str | Path] | None = None,
                overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Defaults, then the YAML file(s) at ``path`` (a list: each overrides the ones before),
    then ``overrides`` (same nested layout)."""
    config = ExperimentConfig()
    for path in ([] if path is None else path if isinstance(path, list) else [path]):
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f'config file not found: {path}')
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f'{path} is not valid YAML: {error}') from error
        config = replace_from_dict(config, values, str(path))
    if overrides:
        config = replace_from_dict(config, overrides, 'overrides')
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) for YAML/JSON, round-trips through load_config."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(dataclasses.asdict(config))
