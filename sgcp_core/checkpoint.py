# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""This package's .pt files: weights plus the facts needed to use them, written atomically.

A checkpoint is a dict ``{"format", "model", "meta", ...}``; ``meta`` holds the model
config, class names and palette, mean/std, the input size and ignore index, so a file loads
by path alone. Training checkpoints add optimiser, scheduler, epoch, step and config.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sgcp_core.classes import ClassInfo
from sgcp_core.config import DataConfig, ModelConfig, replace_from_dict
from sgcp_core.models import build_sgcpnet
from sgcp_core.models.checkpoints import CheckpointMismatchError, load_state_dict_strict

__all__ = ['CHECKPOINT_FORMAT', 'ModelMeta', 'make_meta', 'save_checkpoint', 'read_checkpoint',
           'load_model', 'model_from_checkpoint', 'atomic_write', 'parse_meta']

CHECKPOINT_FORMAT = 'sgcp_ros.checkpoint/1'

ModelMeta = dict  # keys: model, classes, mean, std, input_size, ignore_index, variant


def make_meta(model_config: ModelConfig, classes: ClassInfo, data_config: DataConfig,
              input_size: tuple[int, int] | None = None) -> ModelMeta:
    """The facts a deployed model needs, from the configs it was trained with.

    ``input_size`` (H, W) is the resolution the engine resizes frames to; it defaults to
    the training crop.
    """
    if classes.num_classes != model_config.num_classes:
        raise ValueError(f'{classes.num_classes} class names for a {model_config.num_classes}'
                         '-class model')
    size = tuple(input_size or data_config.crop_size)
    return {'model': asdict(model_config), 'classes': classes.to_dict(),
            'mean': list(data_config.mean), 'std': list(data_config.std),
            'input_size': [int(size[0]), int(size[1])],
            'ignore_index': data_config.ignore_index,
            'variant': f'sgcpnet-{model_config.backbone}'}


def parse_meta(meta: ModelMeta, source: str) -> tuple[ModelConfig, ClassInfo]:
    """ModelConfig and ClassInfo from a meta dict; CheckpointMismatchError if malformed."""
    try:
        model_values = dict(meta['model'])
        model_values['pretrained_backbone'] = False  # weights come from the file
        model_config = replace_from_dict(ModelConfig(), model_values, f'{source} meta.model')
        classes = ClassInfo.from_dict(meta['classes'])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointMismatchError(f'{source}: metadata is incomplete or invalid: {error}'
                                      ) from error
    if classes.num_classes != model_config.num_classes:
        raise CheckpointMismatchError(f'{source}: {classes.num_classes} class names for a '
                                      f'{model_config.num_classes}-class model')
    return model_config, classes


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(temp_path)`` then rename onto ``path``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    os.close(fd)
    try:
        write(temp)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(path: str | Path, model: nn.Module, meta: ModelMeta,
                    **extra: Any) -> Path:
    """Write ``{"format", "model": state_dict, "meta", **extra}`` atomically."""
    model = getattr(model, 'module', model)  # unwrap DDP
    payload = {'format': CHECKPOINT_FORMAT, 'model': model.state_dict(), 'meta': meta, **extra}
    return atomic_write(path, lambda temp: torch.save(payload, temp))


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict; FileNotFoundError / CheckpointMismatchError name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'model file not found: {path}')
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise CheckpointMismatchError(f'{path} is not a readable checkpoint: {error}') from error
    if not isinstance(data, dict) or data.get('format') != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(
            f'{path} is not an sgcp_ros checkpoint (no format {CHECKPOINT_FORMAT!r}); the '
            "authors' release files load with sgcp_core.models.load_authors_checkpoint")
    return data


def model_from_checkpoint(data: dict, source: str) -> tuple[nn.Module, ModelMeta]:
    """Build the model a ``read_checkpoint`` dict describes, with its weights (eval, CPU)."""
    meta = data.get('meta')
    if not isinstance(meta, dict):
        raise CheckpointMismatchError(f'{source}: checkpoint has no metadata')
    model_config, _ = parse_meta(meta, source)
    model = build_sgcpnet(**asdict(model_config))
    load_state_dict_strict(model, data['model'], source=source)
    return model.eval(), meta


def load_model(path: str | Path) -> tuple[nn.Module, ModelMeta]:
    """Build the model a checkpoint describes and load its weights (eval mode, CPU)."""
    return model_from_checkpoint(read_checkpoint(path), str(path))
