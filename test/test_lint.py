# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Linters as tests: flake8 (what ament_flake8 checks) and the license header."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ('sgcp_core', 'sgcp_ros', 'test', 'training', 'launch')


def _python_files():
    files = [REPO_ROOT / 'setup.py']
    for folder in SOURCE_DIRS:
        files += sorted((REPO_ROOT / folder).rglob('*.py'))
    return files


def test_flake8():
    pytest.importorskip('flake8', reason='flake8 is not installed (pip install .[test])')
    completed = subprocess.run([sys.executable, '-m', 'flake8', *SOURCE_DIRS, 'setup.py'],
                               cwd=REPO_ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_every_python_file_carries_the_license_header():
    missing = [str(p.relative_to(REPO_ROOT)) for p in _python_files()
               if 'SPDX-License-Identifier: Apache-2.0' not in p.read_text()[:300]]
    assert not missing, f'license header missing in {missing}'
