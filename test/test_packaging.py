# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Resources and packaging: the default model alias, share files, one copy of each model in
the wheel, launchers only in wheels."""

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sgcp_core import resources
from sgcp_core.resources import (MODEL_ALIASES, default_model_path, resolve_model_path,
                                 share_file)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / 'models' / 'camvid' / f'{MODEL_ALIASES["sgcpnet_camvid"]}.pt'


@pytest.fixture
def shipped():
    if not SHIPPED.is_file():
        pytest.skip(f'no shipped model at {SHIPPED}')
    return SHIPPED


def test_default_alias_names_the_shipped_file(shipped, monkeypatch):
    monkeypatch.delenv('SGCP_MODEL', raising=False)
    assert default_model_path() == shipped
    assert resolve_model_path('') == shipped
    assert resolve_model_path(REPO / 'models' / 'camvid' / 'sgcpnet_camvid.pt') == shipped
    assert resolve_model_path('sgcpnet_camvid.onnx') == shipped.with_suffix('.onnx')
    assert resolve_model_path(shipped) == shipped


def test_unknown_models_and_folders_name_the_path(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match='model file not found: .*other.pt'):
        resolve_model_path(tmp_path / 'other.pt')
    with pytest.raises(FileNotFoundError, match='model file not found: .*sgcpnet_camvid.pt'):
        resolve_model_path(tmp_path / 'sgcpnet_camvid.pt')   # an alias, but nothing beside it
    with pytest.raises(IsADirectoryError, match='is a folder'):
        resolve_model_path(tmp_path)
    monkeypatch.setenv('SGCP_MODEL', str(tmp_path / 'gone.pt'))
    with pytest.raises(FileNotFoundError, match='SGCP_MODEL points to .*gone.pt'):
        default_model_path()


def test_share_files_are_found_in_the_checkout_first():
    assert share_file('config/segmentation.yaml') == REPO / 'config' / 'segmentation.yaml'
    assert resources.share_roots()[0] == REPO
    with pytest.raises(FileNotFoundError, match='config/nothing.yaml is not installed'):
        share_file('config/nothing.yaml')


def _tracked_copy(destination: Path) -> Path:
    """The repository's tracked files (what a release checkout holds), so the build neither
    sees untracked files nor leaves a build/ folder in the working tree."""
    import shutil
    listed = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO, capture_output=True)
    if listed.returncode != 0:
        pytest.skip('not a git checkout')
    for name in listed.stdout.decode().split('\0'):
        source = REPO / name
        if name and source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name, follow_symlinks=False)
    return destination


def test_wheel_has_one_copy_of_each_model_and_its_launchers(tmp_path):
    """`pip wheel .`: under 20 MB, no model file twice (links used to be copied), launchers."""
    source = _tracked_copy(tmp_path / 'source')
    result = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '.', '--no-deps',
                             '--no-build-isolation', '-q', '-w', str(tmp_path)], cwd=source,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    wheel, = tmp_path.glob('sgcp_ros-*.whl')
    assert wheel.stat().st_size < 20e6, wheel.stat().st_size
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        models = [n for n in names if '/share/sgcp_ros/models/' in n
                  and n.endswith(('.pt', '.onnx'))]
        digests = [hashlib.sha256(archive.read(n)).hexdigest() for n in models]
    assert models and len(set(digests)) == len(digests), models
    assert not any(Path(n).stem == 'sgcpnet_camvid' for n in models)
    launchers = {Path(n).name for n in names if '.data/data/lib/sgcp_ros/' in n}
    assert {'sgcp', 'segmentation_node'} <= launchers
