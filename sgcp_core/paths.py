# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where the shipped model lives: in a source checkout, in an install prefix, or $SGCP_MODEL."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ['DEFAULT_MODEL_RELPATH', 'MODEL_ENV_VAR', 'default_model_path',
           'default_model_candidates']

PACKAGE_NAME = 'sgcp_ros'
DEFAULT_MODEL_RELPATH = Path('models') / 'camvid' / 'sgcpnet_camvid.pt'
MODEL_ENV_VAR = 'SGCP_MODEL'


def default_model_candidates() -> list[Path]:
    """Every place the shipped checkpoint may be, most specific first.

    1. ``<repo>/models/camvid/sgcpnet_camvid.pt`` when running from a source checkout;
    2. ``<prefix>/share/sgcp_ros/models/camvid/...`` where ``<prefix>`` is the install
       prefix this package was installed into (colcon: ``install/sgcp_ros``; pip: the
       venv), found from this file's location, then from ``AMENT_PREFIX_PATH``, then
       ``sys.prefix``.
    """
    here = Path(__file__).resolve()
    candidates = [here.parents[1] / DEFAULT_MODEL_RELPATH]
    share_suffix = Path('share') / PACKAGE_NAME / DEFAULT_MODEL_RELPATH
    # <prefix>/lib/pythonX.Y/site-packages/sgcp_core/paths.py -> parents[4] is <prefix>.
    if len(here.parents) > 4:
        candidates.append(here.parents[4] / share_suffix)
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / share_suffix)
    candidates.append(Path(sys.prefix) / share_suffix)
    unique: list[Path] = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return unique


def default_model_path() -> Path:
    """The model to use when none is given: ``$SGCP_MODEL`` if set, else the shipped one.

    Raises:
        FileNotFoundError: naming ``$SGCP_MODEL`` when it points nowhere, or every place
            searched when no shipped checkpoint is installed.
    """
    from_env = os.environ.get(MODEL_ENV_VAR, '')
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f'${MODEL_ENV_VAR} points to {path}, which does not exist')
        return path
    candidates = default_model_candidates()
    for path in candidates:
        if path.is_file():
            return path
    searched = '\n  '.join(str(p) for p in candidates)
    raise FileNotFoundError(
        f'no model given and the shipped model was not found; searched:\n  {searched}\n'
        f'pass a model path (.pt or .onnx) or set ${MODEL_ENV_VAR}')
