# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""`sgcp info`, `sgcp train` and `sgcp eval` as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def sgcp(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, '-m', 'sgcp_core', *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_info_prints_paper_figures():
    completed = sgcp('info', '--resolution', '1024x2048', '360x480')
    assert completed.returncode == 0, completed.stderr
    assert 'parameters: 0.608M  (backbone 0.431M' in completed.stdout
    assert '1024x2048       3.275' in completed.stdout
    assert '360x480       0.276' in completed.stdout


def test_info_rejects_bad_resolution():
    completed = sgcp('info', '--resolution', '360by480')
    assert completed.returncode == 2
    assert "'360by480' is not HEIGHTxWIDTH" in completed.stderr


def test_train_with_unknown_config_key_exits_naming_it(tmp_path):
    config = tmp_path / 'typo.yaml'
    config.write_text('train:\n  learning_rate: 0.1\n')
    completed = sgcp('train', '--config', config)
    assert completed.returncode == 2
    assert "unknown keys ['learning_rate']" in completed.stderr


def test_train_with_missing_dataset_exits_naming_it(tmp_path):
    completed = sgcp('train', '--config', 'training/camvid_cpu.yaml', '--set',
                     f'data.root={tmp_path / "nowhere"}', '--set', f'train.out_dir={tmp_path}')
    assert completed.returncode == 2
    assert 'nowhere' in completed.stderr and 'not found' in completed.stderr


def test_eval_on_real_camvid_frames(camvid_root, tiny_checkpoint, tmp_path):
    # A folder holding two real val frames in the CamVid layout keeps this quick.
    for split in ('val', 'valannot'):
        (tmp_path / split).mkdir()
        for name in sorted(p.name for p in (camvid_root / split).glob('*.png'))[:2]:
            (tmp_path / split / name).write_bytes((camvid_root / split / name).read_bytes())
    report = tmp_path / 'report.json'
    completed = sgcp('eval', '--model', tiny_checkpoint, '--data-root', tmp_path,
                     '--json', report)
    assert completed.returncode == 0, completed.stderr
    assert 'mIoU' in completed.stdout and 'Bicyclist' in completed.stdout
    result = json.loads(report.read_text())
    assert result['images'] == 2 and 0 <= result['miou'] <= 1
    assert set(result['per_class_iou']) >= {'Sky', 'Road', 'Car'}


def test_eval_with_wrong_model_file_exits_naming_it(tmp_path):
    bogus = tmp_path / 'model.pt'
    bogus.write_text('not a model')
    completed = sgcp('eval', '--model', bogus)
    assert completed.returncode == 2
    assert 'model.pt is not a readable checkpoint' in completed.stderr
