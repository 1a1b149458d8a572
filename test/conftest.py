# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: real CamVid frames, a small checkpoint, ROS isolation.

CamVid frames come from ../shared/data/camvid (the full train and val splits) where it sits
beside the repository, else from the sample in test/data/camvid_sample (20 train-split
frames, same layout); SGCP_CAMVID_ROOT names another full copy, or a missing folder to run
as a clone without ../shared does. Only checks that need the full dataset skip without it.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Set before anything imports rclpy: loopback-only discovery, a private domain and log
# folder per test run, so parallel runs and the network are never disturbed.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
if 'ROS_LOG_DIR' not in os.environ:
    # Removed again when the session ends (pytest_sessionfinish), unless it was given.
    os.environ['ROS_LOG_DIR'] = _OWN_LOG_DIR = tempfile.mkdtemp(prefix='sgcp_ros_log_')
else:
    _OWN_LOG_DIR = None
# The test process publishes camera-sized frames too (360x480 rgb8 is 518 KB): without the
# large-image profile they leave Fast DDS's 512 KB shared-memory segment for fragmented
# UDP, which stalls at random and made node tests flaky.
os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(
    Path(__file__).resolve().parents[1] / 'config' / 'fastdds_large_images.xml'))

# launch_testing's pytest plugin would collect test/launch/*_launch_test.py itself, outside
# the installed environment it needs; test_as_ros_user.py runs it with `launch_test`, as a
# ROS user does.
collect_ignore = ['launch']

REPO_ROOT = Path(__file__).resolve().parents[1]
CAMVID_FULL = Path(os.environ.get('SGCP_CAMVID_ROOT', REPO_ROOT.parent / 'shared' / 'data'
                                  / 'camvid'))
CAMVID_SAMPLE = REPO_ROOT / 'test' / 'data' / 'camvid_sample'


@pytest.fixture(scope='session')
def camvid_root() -> Path:
    """A CamVid-layout folder of real frames (train, trainannot, val, valannot): the full
    dataset where it is present, else the repository's sample (12 train, 8 val frames)."""
    return CAMVID_FULL if (CAMVID_FULL / 'val').is_dir() else CAMVID_SAMPLE


@pytest.fixture(scope='session')
def camvid_full() -> Path:
    """The full CamVid train and val splits, for checks that score a shipped model on them;
    those skip where the dataset is absent."""
    if not (CAMVID_FULL / 'val').is_dir():
        pytest.skip(f'needs the full CamVid dataset at {CAMVID_FULL} (../shared/data/camvid '
                    'beside the repository, or SGCP_CAMVID_ROOT)')
    return CAMVID_FULL


@pytest.fixture(scope='session')
def camvid_val_frames(camvid_root):
    """Five real val frames: list of (name, rgb (360, 480, 3) uint8, label (360, 480) uint8)."""
    from sgcp_core.data import read_label, read_rgb
    names = sorted(p.name for p in (camvid_root / 'val').glob('*.png'))[:5]
    return [(n, read_rgb(camvid_root / 'val' / n), read_label(camvid_root / 'valannot' / n))
            for n in names]


@pytest.fixture(scope='session')
def frame(camvid_val_frames):
    """One real CamVid val frame: (360, 480, 3) uint8 RGB."""
    return camvid_val_frames[0][1]


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained 11-class CamVid SGCPNet saved in this package's checkpoint format."""
    import torch

    from sgcp_core.checkpoint import save_checkpoint
    from sgcp_core.classes import CAMVID
    from sgcp_core.config import DataConfig, ModelConfig
    from sgcp_core.metadata import make_meta
    from sgcp_core.models import build_sgcpnet
    torch.manual_seed(0)
    config = ModelConfig(num_classes=11)
    model = build_sgcpnet(num_classes=11).eval()
    path = tmp_path_factory.mktemp('model') / 'tiny.pt'
    save_checkpoint(path, model, make_meta(config, CAMVID, DataConfig()))
    return path


@pytest.fixture(scope='session')
def tiny_onnx(tiny_checkpoint, tmp_path_factory) -> Path:
    """``tiny_checkpoint`` exported by ``sgcp_core.export`` (fixed 360x480, stride-8 logits),
    in a folder of its own so that it is nobody's sibling export by accident."""
    pytest.importorskip('onnxruntime')
    from sgcp_core.export import export_onnx
    path = tmp_path_factory.mktemp('onnx') / 'tiny.onnx'
    export_onnx(tiny_checkpoint, path)
    return path


def pytest_sessionfinish(session, exitstatus):
    if _OWN_LOG_DIR:
        shutil.rmtree(_OWN_LOG_DIR, ignore_errors=True)
