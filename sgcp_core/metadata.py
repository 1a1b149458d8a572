# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What a model file says about itself: ``ModelMeta``, with one reader and one writer per format.

Every model file this package writes carries the facts needed to use it, so it loads by
path alone: the architecture (``ModelConfig``), class names and palette, the normalisation,
the input size, the ignore index, how it was trained and (for quantized graphs) its
precision. Two file formats hold them:

- ``.pt`` checkpoints: a plain dict under the checkpoint's ``"meta"`` key
  (``meta_to_dict`` / ``meta_from_dict``);
- ``.onnx`` graphs: ``metadata_props``, one JSON string per key plus ``format``
  (``meta_to_onnx_props`` / ``meta_from_onnx_props``); the graph's input and output are
  named ``ONNX_INPUT_NAME`` and ``ONNX_OUTPUT_NAME``.

``sgcp_core.checkpoint.read_meta(path)`` reads either (checkpoint.py reads .pt files; this
module imports nothing that reads weights). Files written before ``training``, ``precision`` and
``calibration`` existed load with those fields at their defaults.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgcp_core.classes import ClassInfo
from sgcp_core.config import DataConfig, ModelConfig, replace_from_dict
from sgcp_core.errors import ModelFileError

__all__ = ['ModelMeta', 'TrainingFacts', 'ONNX_FORMAT', 'ONNX_INPUT_NAME', 'ONNX_OUTPUT_NAME',
           'make_meta', 'meta_to_dict',
           'meta_from_dict', 'meta_to_onnx_props', 'meta_from_onnx_props', 'read_onnx_meta']

ONNX_FORMAT = 'sgcp_ros.onnx/1'
# The graph's one input, (1, 3, H, W) float32 normalised, and one output, the logits.
ONNX_INPUT_NAME = 'images'
ONNX_OUTPUT_NAME = 'logits'


@dataclass(frozen=True)
class TrainingFacts:
    """How the shipped weights were made (filled by training; all optional).

    Attributes:
        train_splits: dataset splits the weights were trained on, e.g. ('train', 'val').
        epochs: epochs the run was scheduled for.
        epoch: the epoch whose weights these are.
        epoch_selection: how that epoch was chosen, e.g. 'best val mIoU'.
        teacher: file name of the distillation teacher checkpoint, if any.
        recipe: other recipe options worth knowing (loss, crop, schedule...), JSON values.
    """

    train_splits: tuple[str, ...] = ()
    epochs: int | None = None
    epoch: int | None = None
    epoch_selection: str = ''
    teacher: str | None = None
    recipe: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = 'training') -> 'TrainingFacts':
        """From a plain dict; ValueError names unknown keys."""
        if not isinstance(values, Mapping):
            raise ValueError(f'{where}: expected a mapping, got {values!r}')
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f'{where}: unknown keys {unknown}; known keys: {sorted(known)}')
        values = dict(values)
        if 'train_splits' in values:
            splits = values['train_splits']
            values['train_splits'] = ((splits,) if isinstance(splits, str)
                                      else tuple(str(s) for s in splits))
        if 'recipe' in values:
            values['recipe'] = dict(values['recipe'] or {})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {'train_splits': list(self.train_splits), 'epochs': self.epochs,
                'epoch': self.epoch, 'epoch_selection': self.epoch_selection,
                'teacher': self.teacher, 'recipe': dict(self.recipe)}


@dataclass(frozen=True)
class ModelMeta:
    """The facts a deployed model needs; read once from its file, then used by attribute.

    Attributes:
        model: the architecture, enough to rebuild the network (weights come from the file;
            ``pretrained_backbone`` is always False here).
        classes: class names and palette, index = class id.
        mean, std: per-channel statistics of [0, 1] RGB the input is normalised with.
        input_size: (H, W) the engine resizes frames to by default.
        ignore_index: the label value training and evaluation ignore.
        training: how the weights were made, when the file says so.
        precision: 'fp32', or 'int8' for a quantized graph.
        calibration: for quantized graphs, how the ranges were calibrated (JSON values).
        logits_stride: how much smaller than the input the file's network output is (an
            ONNX graph ending at the stride-8 logits: 8; a checkpoint's model: 1).
        source_sha256: for an exported graph, the SHA-256 of the checkpoint file it was
            exported from ('' when unknown), so a stale export can be told apart.
    """

    model: ModelConfig
    classes: ClassInfo
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: tuple[int, int]
    ignore_index: int = 255
    training: TrainingFacts | None = None
    precision: str = 'fp32'
    calibration: Mapping[str, Any] | None = None
    logits_stride: int = 1
    source_sha256: str = ''

    def __post_init__(self) -> None:
        if self.classes.num_classes != self.model.num_classes:
            raise ValueError(f'{self.classes.num_classes} class names for a '
                             f'{self.model.num_classes}-class model')
        if len(self.mean) != 3 or len(self.std) != 3 or not all(s > 0 for s in self.std):
            raise ValueError(f'mean and std need 3 values each (std > 0), got {self.mean} '
                             f'and {self.std}')
        if len(self.input_size) != 2 or not all(int(v) > 0 for v in self.input_size):
            raise ValueError(f'input_size must be (H, W) > 0, got {self.input_size}')
        if self.logits_stride not in (1, 8):
            raise ValueError(f'logits_stride must be 1 or 8, got {self.logits_stride}')

    @property
    def variant(self) -> str:
        """'sgcpnet-<backbone>', e.g. for logs and tables."""
        return f'sgcpnet-{self.model.backbone}'

    @property
    def num_classes(self) -> int:
        return self.classes.num_classes


def make_meta(model_config: ModelConfig, classes: ClassInfo, data_config: DataConfig,
              input_size: tuple[int, int] | None = None,
              training: TrainingFacts | Mapping[str, Any] | None = None) -> ModelMeta:
    """The facts a deployed model needs, from the configs it was trained with.

    Args:
        input_size: (H, W) the engine resizes frames to; default the training crop.
        training: ``TrainingFacts`` or a dict of its fields.
    """
    if training is not None and not isinstance(training, TrainingFacts):
        training = TrainingFacts.from_dict(training)
    size = tuple(input_size or data_config.crop_size)
    return ModelMeta(model=dataclasses.replace(model_config, pretrained_backbone=False),
                     classes=classes, mean=tuple(float(v) for v in data_config.mean),
                     std=tuple(float(v) for v in data_config.std),
                     input_size=(int(size[0]), int(size[1])),
                     ignore_index=int(data_config.ignore_index), training=training)


# -- .pt: a plain dict ----------------------------------------------------------------------

def meta_to_dict(meta: ModelMeta) -> dict[str, Any]:
    """The checkpoint writer: JSON-compatible values only (no pickled classes)."""
    values = {'model': dataclasses.asdict(meta.model), 'classes': meta.classes.to_dict(),
              'mean': list(meta.mean), 'std': list(meta.std),
              'input_size': list(meta.input_size), 'ignore_index': meta.ignore_index,
              'precision': meta.precision, 'logits_stride': meta.logits_stride,
              # Derived from the model; kept for people reading the file with other tools.
              'variant': meta.variant}
    if meta.training is not None:
        values['training'] = meta.training.to_dict()
    if meta.calibration is not None:
        values['calibration'] = dict(meta.calibration)
    if meta.source_sha256:
        values['source_sha256'] = meta.source_sha256
    return values


def meta_from_dict(values: Any, source: str) -> ModelMeta:
    """The checkpoint reader; ModelFileError naming ``source`` when incomplete or invalid."""
    if not isinstance(values, Mapping):
        raise ModelFileError(f'{source}: the file has no model metadata')
    try:
        model_values = dict(values['model'])
        model_values['pretrained_backbone'] = False   # weights come from the file
        model = replace_from_dict(ModelConfig(), model_values, f'{source} meta.model')
        training = values.get('training')
        height, width = (int(v) for v in values['input_size'])
        return ModelMeta(
            model=model, classes=ClassInfo.from_dict(values['classes']),
            mean=tuple(float(v) for v in values['mean']),
            std=tuple(float(v) for v in values['std']), input_size=(height, width),
            ignore_index=int(values.get('ignore_index', 255)),
            training=None if training is None else TrainingFacts.from_dict(training),
            precision=str(values.get('precision', 'fp32')),
            calibration=values.get('calibration'),
            logits_stride=int(values.get('logits_stride', 1)),
            source_sha256=str(values.get('source_sha256', '')))
    except (KeyError, TypeError, ValueError) as error:
        missing = f'no {error}' if isinstance(error, KeyError) else str(error)
        raise ModelFileError(f'{source}: model metadata is incomplete or invalid: {missing}'
                             ) from error


# -- .onnx: metadata_props ------------------------------------------------------------------

def meta_to_onnx_props(meta: ModelMeta) -> dict[str, str]:
    """The ONNX writer: one JSON string per key of ``meta_to_dict``, plus ``format``."""
    props = {key: json.dumps(value) for key, value in meta_to_dict(meta).items()}
    props['format'] = json.dumps(ONNX_FORMAT)
    return props


def meta_from_onnx_props(props: Mapping[str, str], source: str) -> ModelMeta:
    """The ONNX reader; ModelFileError naming ``source`` when the graph is not ours."""
    try:
        marker = json.loads(props.get('format', 'null'))
    except json.JSONDecodeError:
        marker = None
    if marker != ONNX_FORMAT:
        raise ModelFileError(f'{source} has no sgcp_ros metadata (format {ONNX_FORMAT!r}); '
                             'export it with "sgcp export" so class names, palette and '
                             'normalisation travel with it')
    try:
        values = {key: json.loads(value) for key, value in props.items() if key != 'format'}
    except json.JSONDecodeError as error:
        raise ModelFileError(f'{source}: metadata is not valid JSON: {error}') from error
    return meta_from_dict(values, source)


def read_onnx_meta(path: str | Path) -> ModelMeta:
    """The metadata of an ONNX file written by ``sgcp_core.export`` (weights not loaded)."""
    import onnx
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'model file not found: {path}')
    try:
        graph = onnx.load(str(path), load_external_data=False)
    except OSError:   # permission denied and the like: the file may be fine, say what failed
        raise
    except Exception as error:  # protobuf's DecodeError and friends: "not an ONNX file"
        raise ModelFileError(f'{path} is not a readable ONNX model '
                             f'({type(error).__name__})') from error
    return meta_from_onnx_props({p.key: p.value for p in graph.metadata_props}, str(path))
