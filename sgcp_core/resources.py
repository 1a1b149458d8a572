# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where this package's files are: the shipped models, config and launch files.

The package's share files (``models/``, ``config/``, ``launch/``, ``package.xml``) live in
one of three places, tried in this order:

1. a source checkout (or ``pip install -e`` / ``colcon build --symlink-install``): the
   folder holding ``package.xml`` next to the ``sgcp_core`` package, which
   ``importlib.resources`` locates;
2. a ROS install (colcon, or a venv registered in ``AMENT_PREFIX_PATH``): the share
   directory the ament index names (``ament_index_python``);
3. a pip install of the wheel: ``<sys.prefix>/share/sgcp_ros``, where its data files go.

``resolve_model_path`` also knows the default model's alias: ``sgcpnet_camvid.pt`` (and
``.onnx``) name the shipped default variant, so there is one copy of each model file.
"""

from __future__ import annotations

import importlib.resources
import os
import sys
from pathlib import Path

__all__ = ['PACKAGE_NAME', 'MODEL_ENV_VAR', 'MODELS_DIR', 'MODEL_ALIASES', 'share_roots',
           'share_file', 'default_model_path', 'resolve_model_path', 'sibling_onnx']

PACKAGE_NAME = 'sgcp_ros'
MODEL_ENV_VAR = 'SGCP_MODEL'
MODELS_DIR = 'models/camvid'
# Alias stem -> the shipped file stem it names. The default model is the first alias.
MODEL_ALIASES = {'sgcpnet_camvid': 'sgcpnet_camvid_mobilenetv2',
                 'sgcpnet_camvid_int8': 'sgcpnet_camvid_mobilenetv2_int8'}
DEFAULT_MODEL_ALIAS = 'sgcpnet_camvid.pt'


def _source_checkout() -> Path | None:
    package_dir = Path(str(importlib.resources.files('sgcp_core')))
    root = package_dir.parent
    return root if (root / 'package.xml').is_file() and (root / 'setup.py').is_file() else None


def _ament_share() -> Path | None:
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE_NAME))
    except (ImportError, LookupError, OSError, ValueError):
        # Not a ROS environment, or the package is not registered in AMENT_PREFIX_PATH.
        return None


def share_roots() -> list[Path]:
    """The folders that may hold this package's share files, most specific first."""
    roots = [_source_checkout(), _ament_share(), Path(sys.prefix) / 'share' / PACKAGE_NAME]
    unique: list[Path] = []
    for root in roots:
        if root is not None and root not in unique:
            unique.append(root)
    return unique


def share_file(relative: str) -> Path:
    """A shipped file, e.g. ``share_file('config/segmentation.yaml')``.

    Raises:
        FileNotFoundError: one line naming the file and every folder searched.
    """
    roots = share_roots()
    for root in roots:
        if (root / relative).is_file():
            return root / relative
    raise FileNotFoundError(f'{relative} is not installed with {PACKAGE_NAME} (searched '
                            f'{", ".join(map(str, roots))})')


def _dealias(path: Path) -> Path | None:
    """The shipped file an alias path names, when ``path`` is one and that file exists."""
    target_stem = MODEL_ALIASES.get(path.stem)
    if target_stem is None:
        return None
    target = path.with_name(target_stem + path.suffix)
    if target.is_file():
        return target
    if path.parent == Path('.'):   # a bare alias name: the installed copy
        try:
            return share_file(f'{MODELS_DIR}/{target.name}')
        except FileNotFoundError:
            return None
    return None


def default_model_path() -> Path:
    """The model to use when none is given: ``$SGCP_MODEL`` if set, else the shipped one.

    Raises:
        FileNotFoundError: naming ``$SGCP_MODEL`` when it points nowhere, or the places
            searched when no shipped model is installed.
    """
    from_env = os.environ.get(MODEL_ENV_VAR, '')
    if from_env:
        path = Path(from_env).expanduser()
        resolved = path if path.is_file() else _dealias(path)
        if resolved is None:
            raise FileNotFoundError(f'${MODEL_ENV_VAR} points to {path}, which does not exist')
        return resolved
    stem = MODEL_ALIASES[Path(DEFAULT_MODEL_ALIAS).stem]
    try:
        return share_file(f'{MODELS_DIR}/{stem}.pt')
    except FileNotFoundError as error:
        raise FileNotFoundError(f'no model given and the shipped model is missing: {error}; '
                                f'pass a model path (.pt or .onnx) or set ${MODEL_ENV_VAR}'
                                ) from None


def resolve_model_path(model: str | Path = '') -> Path:
    """The model file to load for a user's ``model`` argument.

    '' means ``default_model_path()``; an existing file is itself; an alias such as
    ``models/camvid/sgcpnet_camvid.pt`` or plain ``sgcpnet_camvid.onnx`` is the shipped
    file it names.

    Raises:
        FileNotFoundError: ``model file not found: <path>``.
        IsADirectoryError: ``model`` is a folder.
        PermissionError: the file is there but this user may not read it (said so here,
            before a loader mistakes the failed read for a damaged file).
    """
    if not str(model):
        return _readable(default_model_path())
    path = Path(model).expanduser()
    if path.is_file():
        return _readable(path)
    if path.is_dir():
        raise IsADirectoryError(f'model path {path} is a folder; pass a .pt or .onnx file')
    resolved = _dealias(path)
    if resolved is None:
        raise FileNotFoundError(f'model file not found: {path}')
    return _readable(resolved)


def _readable(path: Path) -> Path:
    try:
        with open(path, 'rb'):
            return path
    except PermissionError:
        raise PermissionError(f'model file {path} cannot be read: permission denied') from None


def sibling_onnx(checkpoint: Path) -> Path | None:
    """The ``.onnx`` beside a ``.pt`` (same stem), if there is one."""
    onnx = checkpoint.with_suffix('.onnx')
    return onnx if onnx.is_file() else None
