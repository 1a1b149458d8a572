# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Reading torch weight files safely and loading state dicts with errors that say what differs."""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sgcp_core.errors import CheckpointMismatchError, ModelFileError

__all__ = ['load_torch_file', 'load_state_dict_strict']

_ANSI_ESCAPE = re.compile(r'\x1b\[[0-9;]*m')


def _why_unreadable(path: Path, error: Exception) -> str:
    """One short line on why torch.load failed (torch's own text is many lines, with ANSI)."""
    if path.stat().st_size == 0:
        return 'the file is empty'
    if not zipfile.is_zipfile(path):
        return 'not a PyTorch file (torch.save writes a zip archive)'
    if isinstance(error, pickle.UnpicklingError) and 'weights only' in str(error).lower():
        return ('it holds pickled Python objects (e.g. a whole nn.Module), which are not '
                'loaded because unpickling them can run code; save a state_dict instead')
    first_line = _ANSI_ESCAPE.sub('', str(error)).strip().splitlines()
    detail = first_line[0][:160] if first_line else ''
    return f'{type(error).__name__}{": " + detail if detail else ""}'


def load_torch_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU.

    Raises:
        FileNotFoundError: naming ``path``.
        OSError: the file cannot be opened (permission denied): not called damaged.
        ModelFileError: one line saying why the file is not a readable torch file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'model file not found: {path}')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except OSError:   # permission denied and the like: the file may be fine, say what failed
        raise
    except Exception as error:  # pickle, zip, EOF and torch errors all mean "unreadable"
        raise ModelFileError(f'{path} is not a readable checkpoint: '
                             f'{_why_unreadable(path, error)}') from error


def _describe(keys: Iterable[str], limit: int = 5) -> str:
    keys = sorted(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def load_state_dict_strict(model: nn.Module, state: Mapping[str, torch.Tensor],
                           source: str = 'state dict') -> None:
    """Load ``state`` into ``model``, raising CheckpointMismatchError that names what differs."""
    expected = model.state_dict()
    missing = expected.keys() - state.keys()
    unexpected = state.keys() - expected.keys()
    wrong_shape = [f'{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}'
                   for k in sorted(expected.keys() & state.keys())
                   if tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        problems = []
        if missing:
            problems.append(f'{len(missing)} missing keys: {_describe(missing)}')
        if unexpected:
            problems.append(f'{len(unexpected)} unexpected keys: {_describe(unexpected)}')
        if wrong_shape:
            problems.append(f'{len(wrong_shape)} shape mismatches: {"; ".join(wrong_shape[:5])}')
        raise CheckpointMismatchError(f'{source} does not fit the model: ' + ' | '.join(problems))
    model.load_state_dict(state, strict=True)
