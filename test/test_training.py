# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training pipeline on real CamVid frames at small size: learning, exact resume, DDP."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from sgcp_core.config import load_config
from sgcp_core.training import train

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def small_camvid(camvid_root, tmp_path_factory):
    """A CamVid-layout folder of real frames shrunk to 90x120 (12 train, 4 val)."""
    root = tmp_path_factory.mktemp('camvid_small')
    for split, count in (('train', 12), ('val', 4)):
        (root / split).mkdir()
        (root / f'{split}annot').mkdir()
        names = sorted(p.name for p in (camvid_root / split).glob('*.png'))[:count]
        for name in names:
            image = cv2.imread(str(camvid_root / split / name))
            label = cv2.imread(str(camvid_root / f'{split}annot' / name), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(str(root / split / name), cv2.resize(image, (120, 90),
                                                             interpolation=cv2.INTER_AREA))
            cv2.imwrite(str(root / f'{split}annot' / name),
                        cv2.resize(label, (120, 90), interpolation=cv2.INTER_NEAREST))
    return root


def _config(root, out_dir, **train_overrides):
    train_values = {'epochs': 4, 'batch_size': 4, 'lr': 0.05, 'eval_every': 2,
                    'out_dir': str(out_dir), 'threads': 1, **train_overrides}
    return load_config(REPO_ROOT / 'training' / 'camvid_cpu.yaml', {
        'data': {'root': str(root), 'crop_size': [64, 96]}, 'train': train_values})


def _chance_miou(label_dir):
    """The better of two label-blind predictors: the majority class, uniform guessing."""
    from sgcp_core.data import read_label
    from sgcp_core.metrics import ConfusionMatrix
    labels = np.concatenate([read_label(p).ravel() for p in sorted(label_dir.glob('*.png'))])
    labels = np.where(labels < 11, labels, 255)
    majority = ConfusionMatrix(11)
    majority.update(labels, np.full_like(labels, np.bincount(labels[labels < 11]).argmax()))
    uniform = ConfusionMatrix(11)
    uniform.update(labels, np.random.default_rng(0).integers(0, 11, labels.shape))
    return max(majority.miou(), uniform.miou())


@pytest.fixture(scope='module')
def short_run(small_camvid, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('short_run')
    config = _config(small_camvid, out_dir, epochs=36, eval_every=12, lr=0.1)
    return config, train(config, progress=False), out_dir


def test_short_run_lowers_loss_and_beats_chance(short_run, small_camvid):
    config, summary, out_dir = short_run
    losses = summary['history']['train_loss']
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])
    assert summary['val']['miou'] > _chance_miou(small_camvid / 'valannot') + 0.02
    for name in ('best.pt', 'last.pt', 'metrics.json', 'curves.png', 'config.yaml'):
        assert (out_dir / name).is_file(), name
    saved = yaml.safe_load((out_dir / 'config.yaml').read_text())
    assert load_config(overrides=saved) == config  # the resolved config round-trips


def test_package_run_ships_checkpoint_onnx_and_evidence(short_run, camvid_val_frames,
                                                        tmp_path):
    from sgcp_core.checkpoint import load_model
    from sgcp_core.release import package_run
    _, summary, run_dir = short_run
    frames = [rgb for _, rgb, _ in camvid_val_frames[:2]]
    shipped = package_run(run_dir, tmp_path / 'models', 'sgcpnet_test', parity_frames=frames)
    assert shipped['val_miou'] == pytest.approx(summary['val']['miou'])
    assert shipped['onnx_parity_max_abs_diff'] <= 1e-4
    for name in ('sgcpnet_test.pt', 'sgcpnet_test.onnx', 'sgcpnet_test.yaml',
                 'sgcpnet_test.json', 'sgcpnet_test_metrics.json', 'sgcpnet_test_curves.png'):
        assert (tmp_path / 'models' / name).is_file(), name
    model, meta = load_model(tmp_path / 'models' / 'sgcpnet_test.pt')
    assert meta.classes.names[3] == 'Road'
    with pytest.raises(FileNotFoundError, match='not a finished run'):
        package_run(tmp_path, tmp_path / 'elsewhere', 'x')


def test_resume_matches_uninterrupted_run(small_camvid, tmp_path):
    uninterrupted = train(_config(small_camvid, tmp_path / 'full'), progress=False)
    # Stop mid-epoch (3 steps per epoch: step 5 is inside epoch 2), then resume.
    stopped = train(_config(small_camvid, tmp_path / 'part', max_steps=5), progress=False)
    assert not stopped['finished'] and stopped['step'] == 5
    resumed = train(_config(small_camvid, tmp_path / 'part'),
                    resume=tmp_path / 'part' / 'last.pt', progress=False)
    assert resumed['finished'] and resumed['step'] == uninterrupted['step']
    expected = uninterrupted['model'].state_dict()
    for key, value in resumed['model'].state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-5, atol=1e-6, msg=key)
    assert resumed['history']['train_loss'] == pytest.approx(
        uninterrupted['history']['train_loss'], rel=1e-5)


DDP_WORKER = """
import os, sys, torch
from sgcp_core.config import load_config
from sgcp_core.training import train
config = load_config(sys.argv[1])
result = train(config, progress=False)
torch.save(result['model'].state_dict(), os.path.join(sys.argv[2], f'rank{os.environ["RANK"]}.pt'))
"""


def test_ddp_two_gloo_ranks_end_with_identical_weights(small_camvid, tmp_path):
    from sgcp_core.config import config_to_dict
    config = _config(small_camvid, tmp_path / 'ddp', epochs=2, eval_every=1, batch_size=2)
    config_path = tmp_path / 'ddp.yaml'
    config_path.write_text(yaml.safe_dump(config_to_dict(config)))
    worker = tmp_path / 'worker.py'
    worker.write_text(DDP_WORKER)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(REPO_ROOT)}
    completed = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node', '2',
         '--master-port', str(29500 + os.getpid() % 1000), str(worker), str(config_path),
         str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = torch.load(tmp_path / 'rank0.pt', weights_only=True)
    rank1 = torch.load(tmp_path / 'rank1.pt', weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)
    # 12 frames, 2 ranks x batch 2 -> 3 steps per epoch, 2 epochs: both trained, not fresh.
    assert int(rank0['encoder.stem.bn.num_batches_tracked']) == 6


def test_flip_and_multiscale_evaluation(short_run, small_camvid):
    import torch.nn.functional as F

    from sgcp_core.config import DataConfig
    from sgcp_core.data import EvalTransform, build_dataset
    from sgcp_core.evaluation import evaluate, predict_logits
    _, summary, _ = short_run
    model = summary['model'].eval()
    image = torch.randn(1, 3, 90, 120)
    with torch.no_grad():
        plain = model(image)
        flipped = model(image.flip(-1)).flip(-1)
        half = F.interpolate(model(F.interpolate(image, scale_factor=0.5, mode='bilinear',
                                                 align_corners=False)),
                             size=(90, 120), mode='bilinear', align_corners=False)
    torch.testing.assert_close(predict_logits(model, image, flip=True), plain + flipped)
    torch.testing.assert_close(predict_logits(model, image, scales=(1.0, 0.5)), plain + half)
    dataset = build_dataset(DataConfig(root=str(small_camvid)), 'val',
                            EvalTransform(DataConfig().mean, DataConfig().std))
    single = evaluate(model, dataset).miou()
    augmented = evaluate(model, dataset, scales=(0.75, 1.0, 1.25), flip=True).miou()
    assert 0 < single <= 1 and 0 < augmented <= 1
    assert single == pytest.approx(summary['val']['miou'])
