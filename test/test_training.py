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


@pytest.mark.heavy
def test_short_run_lowers_loss_and_beats_chance(short_run, small_camvid):
    config, summary, out_dir = short_run
    losses = summary['history']['train_loss']
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])
    assert summary['val']['miou'] > _chance_miou(small_camvid / 'valannot') + 0.02
    for name in ('best.pt', 'last.pt', 'metrics.json', 'curves.png', 'config.yaml'):
        assert (out_dir / name).is_file(), name
    saved = yaml.safe_load((out_dir / 'config.yaml').read_text())
    assert load_config(overrides=saved) == config  # the resolved config round-trips


@pytest.mark.heavy
def test_package_run_ships_checkpoint_onnx_and_evidence(short_run, camvid_val_frames,
                                                        tmp_path):
    from sgcp_core.checkpoint import load_model
    from sgcp_core.release import package_run
    _, summary, run_dir = short_run
    frames = [rgb for _, rgb, _ in camvid_val_frames[:2]]
    shipped = package_run(run_dir, tmp_path / 'models', 'sgcpnet_test', parity_frames=frames)
    assert shipped['val_miou'] == pytest.approx(summary['val']['miou'])
    assert shipped['val_held_out'] and shipped['checkpoint'] == 'best.pt'
    assert shipped['onnx_parity_max_abs_diff'] <= 1e-4
    for name in ('sgcpnet_test.pt', 'sgcpnet_test.onnx', 'sgcpnet_test.yaml',
                 'sgcpnet_test.json', 'sgcpnet_test_metrics.json', 'sgcpnet_test_curves.png'):
        assert (tmp_path / 'models' / name).is_file(), name
    model, meta = load_model(tmp_path / 'models' / 'sgcpnet_test.pt')
    assert meta.classes.names[3] == 'Road'
    with pytest.raises(FileNotFoundError, match='not a finished run'):
        package_run(tmp_path, tmp_path / 'elsewhere', 'x')


def test_shipped_log_keeps_epoch_lines_and_drops_progress_bars():
    """A long run's log is mostly tqdm redraws (carriage returns, erasing blanks): the
    shipped copy keeps what the trainer wrote and nothing else."""
    from sgcp_core.release import log_without_progress_bars
    raw = ('epoch 1: loss 2.4053 (0.6 img/s)\n'
           'epoch 2/40:   0%|          | 0/58 [00:00<?, ?it/s]\r'
           'epoch 2/40:  52%|#####     | 30/58 [01:02<00:58,  2.1s/it, loss=1.6]\r'
           '                                          \r'
           'epoch 2: loss 2.0660 val mIoU 78.14% (trained on) (0.9 img/s)\n'
           'stopped at step 851/2320; resume with --resume last.pt\n')
    assert log_without_progress_bars(raw) == (
        'epoch 1: loss 2.4053 (0.6 img/s)\n'
        'epoch 2: loss 2.0660 val mIoU 78.14% (trained on) (0.9 img/s)\n'
        'stopped at step 851/2320; resume with --resume last.pt\n')


# What a checkpoint holds. Runs under way resume from files with exactly these entries, so
# a change to the loop must go on reading them.
CHECKPOINT_KEYS = {'format', 'model', 'meta', 'optimizer', 'scheduler', 'scaler', 'epoch',
                   'step', 'best_miou', 'history', 'config', 'train_seconds', 'epoch_partial',
                   'train_state'}


def _assert_same_weights(model, expected_model):
    expected = expected_model.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key


@pytest.mark.heavy
def test_resume_is_bit_identical_to_an_uninterrupted_run(small_camvid, tmp_path):
    from sgcp_core.checkpoint import read_checkpoint
    uninterrupted = train(_config(small_camvid, tmp_path / 'full'), progress=False)
    # Stop mid-epoch (3 steps per epoch: step 5 is inside epoch 2), then resume.
    stopped = train(_config(small_camvid, tmp_path / 'part', max_steps=5), progress=False)
    assert not stopped['finished'] and stopped['step'] == 5
    saved = read_checkpoint(tmp_path / 'part' / 'last.pt')
    assert set(saved) == CHECKPOINT_KEYS
    assert (saved['step'], saved['epoch'], saved['epoch_partial']['seen']) == (5, 1, 8)
    resumed = train(_config(small_camvid, tmp_path / 'part'),
                    resume=tmp_path / 'part' / 'last.pt', progress=False)
    assert resumed['finished'] and resumed['step'] == uninterrupted['step']
    _assert_same_weights(resumed['model'], uninterrupted['model'])
    # The stopped epoch's loss covers its batches from before and after the stop.
    assert resumed['history']['train_loss'] == uninterrupted['history']['train_loss']
    assert resumed['history']['val_miou'] == uninterrupted['history']['val_miou']


def test_resume_from_a_model_file_names_what_is_missing(small_camvid, tiny_checkpoint,
                                                        tmp_path):
    from sgcp_core.errors import ModelFileError
    with pytest.raises(ModelFileError, match='is a model file, not a training checkpoint.*'
                       'last.pt.*--set train.init_from='):
        train(_config(small_camvid, tmp_path), resume=tiny_checkpoint, progress=False)


DDP_WORKER = """
import os, sys, torch
from sgcp_core.config import load_config
from sgcp_core.training import train
config = load_config(sys.argv[1])
result = train(config, progress=False)
torch.save(result['model'].state_dict(), os.path.join(sys.argv[2], f'rank{os.environ["RANK"]}.pt'))
"""


@pytest.mark.heavy
def test_ddp_two_gloo_ranks_end_with_identical_weights(small_camvid, tmp_path):
    from sgcp_core.config import config_to_dict
    config = config_to_dict(_config(small_camvid, tmp_path / 'ddp', epochs=2, eval_every=1,
                                    batch_size=2))
    # Validation (sharded over the ranks) on frames it trains on: nothing is held out, so
    # rank 0 returns its last weights as every other rank does. With a held-out split it
    # returns its best epoch's, which equals the last only when the last epoch scores best.
    config['data']['val_split'] = 'train'
    config_path = tmp_path / 'ddp.yaml'
    config_path.write_text(yaml.safe_dump(config))
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


@pytest.mark.heavy
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


# --- recipe options (issue 9): each test shows an option does what its config says ---

def _train_transform(**kwargs):
    from sgcp_core.config import DataConfig
    from sgcp_core.data import TrainTransform
    dc = DataConfig()
    return TrainTransform(kwargs.pop('crop', (64, 96)), kwargs.pop('scale', (0.5, 0.5)),
                          kwargs.pop('hflip', True), dc.mean, dc.std, **kwargs)


def _denormalize(image):
    from sgcp_core.config import DataConfig
    dc = DataConfig()
    rgb = image.numpy().transpose(1, 2, 0) * np.array(dc.std) + np.array(dc.mean)
    return rgb * 255


def test_padding_is_mean_colour_centred_or_black_at_the_corner():
    from sgcp_core.config import DataConfig
    rgb = np.full((60, 80, 3), 200, np.uint8)
    label = np.full((60, 80), 3, np.uint8)
    # Scale 0.5: a 30x40 frame on a 64x96 canvas, so the crop is the whole canvas.
    image, target = _train_transform()(rgb, label, np.random.default_rng(0))
    valid = (target != 255).numpy()
    rows, cols = np.nonzero(valid)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (17, 46, 28, 67)  # centred
    assert np.abs(image.numpy()[:, ~valid]).max() < 0.01   # the mean colour normalises to 0
    mean_rgb = np.array(DataConfig().mean) * 255
    assert np.abs(_denormalize(image)[~valid] - mean_rgb).max() < 1.0
    image, target = _train_transform(pad_mode='zero_corner', hflip=False)(
        rgb, label, np.random.default_rng(0))
    rows, cols = np.nonzero((target != 255).numpy())
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (0, 29, 0, 39)
    assert np.abs(_denormalize(image)[(target == 255).numpy()]).max() < 1.0   # black


def test_frames_resize_cubic_labels_nearest():
    import cv2
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    label = rng.integers(0, 11, (64, 96), dtype=np.uint8)
    for name, flag in (('cubic', cv2.INTER_CUBIC), ('linear', cv2.INTER_LINEAR)):
        transform = _train_transform(crop=(32, 48), interpolation=name)
        geometry = transform.geometry(64, 96, np.random.default_rng(3))
        image, target = transform(rgb, label, np.random.default_rng(3))
        expected = geometry.apply(rgb, flag, 0)
        assert np.abs(_denormalize(image) - expected).max() < 0.01, name
        nearest = geometry.apply(label, cv2.INTER_NEAREST, 255)
        np.testing.assert_array_equal(target.numpy(), nearest)


def test_photometric_jitter_is_off_by_default_and_never_moves_the_crop():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    label = rng.integers(0, 11, (120, 160), dtype=np.uint8)
    plain = _train_transform(scale=(0.5, 2.0))
    jittered = _train_transform(scale=(0.5, 2.0), jitter=(0.3, 0.3, 0.3, 0.3))
    for seed in range(4):
        image_a, label_a = plain(rgb, label, np.random.default_rng(seed))
        image_b, label_b = jittered(rgb, label, np.random.default_rng(seed))
        torch.testing.assert_close(label_a, label_b)
        assert (image_a - image_b).abs().max() > 0.05
    again, _ = plain(rgb, label, np.random.default_rng(0))
    torch.testing.assert_close(again, plain(rgb, label, np.random.default_rng(0))[0])


def test_cached_teacher_logits_get_the_frames_geometric_transform():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    label = rng.integers(0, 11, (90, 120), dtype=np.uint8)
    # "Logits" that are the frame itself: after the transform they must still be the frame.
    teacher = rgb.transpose(2, 0, 1).astype(np.float16)
    transform = _train_transform(crop=(64, 96), scale=(0.5, 2.0), interpolation='linear')
    for seed in range(8):
        image, target, logits = transform(rgb, label, np.random.default_rng(seed), teacher)
        assert logits.shape == (3, 64, 96) and logits.dtype == torch.float32
        padding = (target == 255).numpy()
        np.testing.assert_array_equal(np.isnan(logits.numpy()).any(0), padding)
        frame = _denormalize(image)
        assert np.abs(logits.numpy().transpose(1, 2, 0)[~padding] - frame[~padding]).max() <= 1.0


def test_ohem_keeps_the_hardest_pixels():
    import math

    from sgcp_core.losses import ohem_cross_entropy
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 8, 8) * 3
    labels = torch.randint(0, 4, (2, 8, 8))
    labels[0, 0, :4] = 255
    losses = torch.nn.functional.cross_entropy(logits, labels, ignore_index=255,
                                               reduction='none')[labels != 255]
    thresh = 0.7
    hard = losses[losses > -math.log(thresh)]
    assert 0 < len(hard) < len(losses)
    torch.testing.assert_close(ohem_cross_entropy(logits, labels, 255, thresh, 0.01),
                               hard.mean())
    # Too few hard pixels: the hardest min_fraction of the valid ones instead.
    kept = int(0.9 * len(losses))
    assert kept > len(hard)
    torch.testing.assert_close(ohem_cross_entropy(logits, labels, 255, thresh, 0.9),
                               losses.sort(descending=True).values[:kept].mean())


def test_distillation_terms_vanish_when_student_matches_teacher():
    from sgcp_core.losses import channel_wise_divergence, pixel_kl_divergence
    torch.manual_seed(0)
    teacher = torch.randn(2, 5, 6, 8)
    teacher[0, :, :2] = float('nan')   # padding: no target there
    student = torch.where(torch.isnan(teacher), torch.randn_like(teacher) * 50, teacher)
    for loss in (pixel_kl_divergence, channel_wise_divergence):
        for temperature in (1.0, 4.0):
            same = loss(student, teacher, temperature)
            assert torch.isfinite(same) and same.abs() < 1e-5, loss.__name__
            other = loss(torch.randn(2, 5, 6, 8), teacher, temperature)
            assert other > 0.01, loss.__name__


def test_teacher_logits_pool_onto_the_output_grid_over_defined_pixels_only():
    """Distillation runs at stride 8: each cell is the mean of the teacher's defined
    pixels under it; padding (NaN) neither counts nor leaks, a cell of padding stays NaN."""
    from sgcp_core.losses import pool_teacher_logits
    teacher = torch.arange(2 * 16 * 24, dtype=torch.float32).reshape(1, 2, 16, 24)
    teacher[:, :, :8, :8] = float('nan')       # the top-left cell: all padding
    teacher[:, :, 8:, 16:20] = float('nan')    # half of the bottom-right cell
    pooled = pool_teacher_logits(teacher, (2, 3))
    assert pooled.shape == (1, 2, 2, 3)
    assert torch.isnan(pooled[:, :, 0, 0]).all()
    assert torch.isfinite(pooled[:, :, 1:, :]).all() and torch.isfinite(pooled[:, :, 0, 1:]).all()
    torch.testing.assert_close(pooled[0, 1, 0, 1], teacher[0, 1, :8, 8:16].mean())
    torch.testing.assert_close(pooled[0, 0, 1, 2], teacher[0, 0, 8:, 20:24].mean())


def test_config_rejects_values_the_loop_cannot_run_with(small_camvid, tmp_path):
    from sgcp_core.config import ConfigError
    from sgcp_core.training import check_config
    check_config(_config(small_camvid, tmp_path))
    bad = {'epochs': 0, 'batch_size': 0, 'loss': 'focal', 'aux_heads': ['p9'],
           'ema_decay': 1.0, 'kd_weight': 1.0}
    for key, value in bad.items():
        with pytest.raises(ConfigError, match=f'train.{key}' if key != 'kd_weight'
                           else 'kd_teacher'):
            check_config(_config(small_camvid, tmp_path, **{key: value}))
    with pytest.raises(ConfigError, match='aux_weights'):
        check_config(_config(small_camvid, tmp_path, aux_heads=['p3_td1']))
    with pytest.raises(ConfigError, match='crop_size'):
        check_config(load_config(overrides={'data': {'crop_size': [0, 0]}}))


@pytest.mark.heavy
def test_train_on_train_and_val_keeps_the_last_epoch_with_aux_heads_and_ema(
        small_camvid, tmp_path):
    from sgcp_core.checkpoint import load_model, read_checkpoint
    from sgcp_core.export import onnx_bytes
    from sgcp_core.models import build_sgcpnet
    config = load_config(REPO_ROOT / 'training' / 'camvid_cpu.yaml', {
        'data': {'root': str(small_camvid), 'crop_size': [64, 96],
                 'train_split': ['train', 'val']},
        'train': {'epochs': 2, 'batch_size': 4, 'eval_every': 1, 'threads': 1,
                  'out_dir': str(tmp_path), 'loss': 'ohem', 'ema_decay': 0.9,
                  'aux_heads': ['p3_td1', 'p4_td2'], 'aux_weights': [0.4, 0.2]}})
    summary = train(config, progress=False)
    assert summary['finished'] and not summary['held_out']
    assert summary['train_images'] == 16 and summary['val_trained_on']
    assert summary['selected_checkpoint'] == 'final.pt'
    assert not (tmp_path / 'best.pt').exists() and (tmp_path / 'final.pt').is_file()
    final = read_checkpoint(tmp_path / 'final.pt')
    assert final['epoch'] == 2 and final['meta']['training']['train_splits'] == ['train', 'val']
    assert 'last epoch' in final['meta']['training']['epoch_selection']
    # Auxiliary heads train (their state is kept for resuming) but are not in the model.
    assert set(final['train_state']['aux_heads']) == {
        'heads.p3_td1.weight', 'heads.p3_td1.bias', 'heads.p4_td2.weight', 'heads.p4_td2.bias'}
    plain = build_sgcpnet(num_classes=11)
    assert set(final['model']) == set(plain.state_dict())
    model, meta = load_model(tmp_path / 'final.pt')
    import onnx
    graph = onnx.load_from_string(onnx_bytes(model, meta, (64, 96))).graph
    assert len(graph.output) == 1
    assert sum(int(np.prod(t.dims)) for t in graph.initializer) <= sum(
        v.numel() for v in plain.state_dict().values())
    # The shipped weights are the average, not the last step's weights.
    raw = final['train_state']['model']
    assert any(not torch.equal(raw[k], final['model'][k]) for k in raw
               if raw[k].dtype.is_floating_point)
    # Packaged, the model says what it trained on and that val was not held out.
    from sgcp_core.release import package_run
    shipped = package_run(tmp_path, tmp_path / 'models', 'sgcpnet_test')
    assert shipped['checkpoint'] == 'final.pt' and not shipped['val_held_out']
    assert shipped['train_splits'] == ['train', 'val'] and shipped['epoch'] == 2
    _, packaged_meta = load_model(tmp_path / 'models' / 'sgcpnet_test.pt')
    assert packaged_meta.training.train_splits == ('train', 'val')


@pytest.mark.heavy
@pytest.mark.parametrize('channels_last', [False, True])
def test_resume_is_bit_identical_with_every_part_of_the_state(small_camvid, tiny_checkpoint,
                                                              tmp_path, channels_last):
    """Distillation, auxiliary heads (their weights and momenta) and the weight average all
    continue exactly from a mid-epoch stop."""
    def config(out, **extra):
        return _config(small_camvid, out, kd_teacher=str(tiny_checkpoint),
                       kd_cache=str(tmp_path / 'teacher'), kd_weight=1.0, cwd_weight=0.5,
                       loss='ohem', aux_heads=['p3_td1', 'p4_td2'], aux_weights=[0.4, 0.2],
                       ema_decay=0.9, channels_last=channels_last, **extra)
    uninterrupted = train(config(tmp_path / 'full'), progress=False)
    record = (tmp_path / 'teacher.json').stat().st_mtime
    stopped = train(config(tmp_path / 'part', max_steps=5), progress=False)
    assert (tmp_path / 'teacher.json').stat().st_mtime == record   # the cache was reused
    assert stopped['step'] == 5
    resumed = train(config(tmp_path / 'part'), resume=tmp_path / 'part' / 'last.pt',
                    progress=False)
    _assert_same_weights(resumed['model'], uninterrupted['model'])
    assert resumed['history']['train_loss'] == uninterrupted['history']['train_loss']
    cached = np.load(tmp_path / 'teacher.npy', mmap_mode='r')
    assert cached.shape == (12, 11, 90, 120) and cached.dtype == np.float16


def test_channels_last_takes_the_same_first_step(small_camvid, tmp_path):
    # Only the memory order changes: one step from the same start moves the weights the same
    # way up to float rounding (gradients summed over the pixels in another order).
    from sgcp_core.training import setup
    _, state = setup(_config(small_camvid, tmp_path / 'start'), progress=False)
    start = state.model.state_dict()
    steps = {order: train(_config(small_camvid, tmp_path / str(order), max_steps=1,
                                  channels_last=order), progress=False)
             for order in (False, True)}
    assert steps[True]['step'] == steps[False]['step'] == 1
    keys = [k for k, v in start.items() if v.dtype.is_floating_point and 'running' not in k]

    def update(order):
        weights = steps[order]['model'].state_dict()
        return torch.cat([(weights[k] - start[k]).flatten() for k in keys])
    plain, channels_last = update(False), update(True)
    assert plain.norm() > 0.1
    assert (channels_last - plain).norm() < 0.01 * plain.norm()
