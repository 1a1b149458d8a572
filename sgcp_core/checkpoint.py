# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""This package's .pt files: weights plus their ``ModelMeta``, written atomically; and
``read_meta``, the metadata of any model file (.pt here, .onnx by ``sgcp_core.metadata``).

A checkpoint is a dict ``{"format", "model", "meta", ...}``: ``model`` is the state dict and
``meta`` the model's metadata (``sgcp_core.metadata``), so a file loads by path alone.
Training checkpoints add optimiser, scheduler, epoch, step and config.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sgcp_core.errors import ModelFileError
from sgcp_core.files import atomic_write
from sgcp_core.metadata import ModelMeta, meta_from_dict, meta_to_dict, read_onnx_meta
from sgcp_core.models import build_sgcpnet, load_state_dict_strict, load_torch_file

__all__ = ['CHECKPOINT_FORMAT', 'save_checkpoint', 'read_checkpoint', 'checkpoint_meta',
           'load_model', 'model_from_checkpoint', 'read_meta']

CHECKPOINT_FORMAT = 'sgcp_ros.checkpoint/1'


def save_checkpoint(path: str | Path, model: nn.Module, meta: ModelMeta,
                    **extra: Any) -> Path:
    """Write ``{"format", "model": state_dict, "meta", **extra}`` atomically."""
    model = getattr(model, 'module', model)  # unwrap DDP
    payload = {'format': CHECKPOINT_FORMAT, 'model': model.state_dict(),
               'meta': meta_to_dict(meta), **extra}
    return atomic_write(path, lambda temp: torch.save(payload, temp))


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict as saved (``meta`` still a plain dict: see ``checkpoint_meta``).

    Raises:
        FileNotFoundError: naming the file.
        ModelFileError: not a readable torch file, or not this package's checkpoint.
    """
    data = load_torch_file(path)
    if not isinstance(data, dict) or data.get('format') != CHECKPOINT_FORMAT:
        raise ModelFileError(
            f'{path} is not an sgcp_ros checkpoint (no format {CHECKPOINT_FORMAT!r}); the '
            "authors' release files load with sgcp_core.models.load_authors_checkpoint")
    return data


def checkpoint_meta(data: dict, source: str) -> ModelMeta:
    """The ``ModelMeta`` of a ``read_checkpoint`` dict."""
    return meta_from_dict(data.get('meta'), source)


def model_from_checkpoint(data: dict, source: str) -> tuple[nn.Module, ModelMeta]:
    """Build the model a ``read_checkpoint`` dict describes, with its weights (eval, CPU)."""
    meta = checkpoint_meta(data, source)
    model = build_sgcpnet(**asdict(meta.model))
    load_state_dict_strict(model, data['model'], source=source)
    return model.eval(), meta


def load_model(path: str | Path) -> tuple[nn.Module, ModelMeta]:
    """Build the model a checkpoint describes and load its weights (eval mode, CPU)."""
    return model_from_checkpoint(read_checkpoint(path), str(path))


def read_meta(path: str | Path) -> ModelMeta:
    """The metadata of a ``.pt`` checkpoint or ``.onnx`` graph, by suffix (weights unused)."""
    path = Path(path)
    if path.suffix.lower() == '.onnx':
        return read_onnx_meta(path)
    return checkpoint_meta(read_checkpoint(path), str(path))
