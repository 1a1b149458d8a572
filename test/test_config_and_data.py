# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Config loading and dataset errors that name the file."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sgcp_core.config import ConfigError, DataConfig, load_config
from sgcp_core.data import DatasetError, EvalTransform, TrainTransform, build_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('name', sorted(p.name for p in (REPO_ROOT / 'training').glob('*.yaml')))
def test_shipped_training_configs_load(name):
    config = load_config(REPO_ROOT / 'training' / name)
    assert config.train.momentum == 0.9 and config.train.weight_decay == 1e-5
    assert config.data.scale_range == (0.5, 2.0)


def test_unknown_or_mistyped_keys_are_rejected(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('train:\n  epochz: 3\n')
    with pytest.raises(ConfigError, match=r"bad.yaml.train: unknown keys \['epochz'\]"):
        load_config(path)
    path.write_text('train:\n  epochs: three\n')
    with pytest.raises(ConfigError, match='train.epochs'):
        load_config(path)
    with pytest.raises(ConfigError, match='not found'):
        load_config(tmp_path / 'absent.yaml')


def test_sgcp_core_does_not_import_rclpy():
    import subprocess
    code = ('import sys, sgcp_core.training, sgcp_core.evaluation, sgcp_core.cli; '
            'import sgcp_core.models; assert "rclpy" not in sys.modules, "rclpy imported"')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=REPO_ROOT)


def _camvid_copy(camvid_root, tmp_path, count=2):
    for split in ('train', 'trainannot'):
        (tmp_path / split).mkdir()
    names = sorted(p.name for p in (camvid_root / 'train').glob('*.png'))[:count]
    for name in names:
        (tmp_path / 'train' / name).write_bytes((camvid_root / 'train' / name).read_bytes())
        (tmp_path / 'trainannot' / name).write_bytes(
            (camvid_root / 'trainannot' / name).read_bytes())
    return names


def test_camvid_loads_real_frames_and_maps_unlabelled_to_ignore(camvid_root):
    dataset = build_dataset(DataConfig(root=str(camvid_root), preload=False), 'val')
    assert len(dataset) == len(list((camvid_root / 'val').glob('*.png'))) >= 8
    rgb, label = dataset.load_raw(0)
    assert rgb.shape == (360, 480, 3) and label.shape == (360, 480)
    assert set(np.unique(label)) <= set(range(11)) | {255}
    image, target = EvalTransform((0.5,) * 3, (0.5,) * 3)(rgb, label)
    assert image.shape == (3, 360, 480) and target.shape == (360, 480)


def test_full_camvid_has_its_train_and_val_splits(camvid_full):
    for split, count in (('train', 367), ('val', 101)):
        assert len(build_dataset(DataConfig(root=str(camvid_full), preload=False),
                                 split)) == count, split


def test_camvid_sample_is_real_frames_showing_every_class(camvid_root):
    """test/data/camvid_sample: each frame shows all 11 classes; where the full dataset is
    present, each file is byte for byte its train split's."""
    from sgcp_core.data import read_label
    sample = REPO_ROOT / 'test' / 'data' / 'camvid_sample'
    counts = {}
    for split in ('train', 'val'):
        names = sorted(p.name for p in (sample / split).glob('*.png'))
        counts[split] = len(names)
        for name in names:
            label = read_label(sample / f'{split}annot' / name)
            assert set(np.unique(label)) == set(range(12)), name   # 11 classes + unlabelled
            if camvid_root != sample:
                for folder in (split, f'{split}annot'):
                    source = camvid_root / folder.replace('val', 'train') / name
                    assert (sample / folder / name).read_bytes() == source.read_bytes(), name
    assert counts == {'train': 12, 'val': 8}


def test_augmentation_is_a_function_of_seed_epoch_index(camvid_root):
    transform = TrainTransform((120, 160), (0.5, 2.0), True, (0.5,) * 3, (0.5,) * 3)
    dataset = build_dataset(DataConfig(root=str(camvid_root), preload=False), 'val',
                            transform)
    first = dataset[3]
    assert first[0].shape == (3, 120, 160) and first[1].shape == (120, 160)
    assert all((a == b).all() for a, b in zip(first, dataset[3]))
    dataset.set_epoch(1)
    assert not (dataset[3][0] == first[0]).all()


def test_missing_label_is_named(camvid_root, tmp_path):
    names = _camvid_copy(camvid_root, tmp_path)
    (tmp_path / 'trainannot' / names[1]).unlink()
    with pytest.raises(DatasetError, match=f'missing label for .*{names[1]}'):
        build_dataset(DataConfig(root=str(tmp_path)), 'train')


def test_label_id_outside_class_list_is_named(camvid_root, tmp_path):
    names = _camvid_copy(camvid_root, tmp_path)
    label_path = tmp_path / 'trainannot' / names[0]
    label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
    label[0, 0] = 42
    cv2.imwrite(str(label_path), label)
    with pytest.raises(DatasetError, match=rf'{names[0]} holds label ids \[42\]'):
        build_dataset(DataConfig(root=str(tmp_path)), 'train')


def test_wrong_root_and_unreadable_image_are_named(camvid_root, tmp_path):
    with pytest.raises(DatasetError, match='dataset root folder not found'):
        build_dataset(DataConfig(root=str(tmp_path / 'nowhere')), 'train')
    names = _camvid_copy(camvid_root, tmp_path)
    (tmp_path / 'train' / names[0]).write_bytes(b'garbage')
    with pytest.raises(DatasetError, match=f'cannot read image .*{names[0]}'):
        build_dataset(DataConfig(root=str(tmp_path)), 'train')


def test_folder_dataset_with_class_list(camvid_root, tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'labels').mkdir()
    name = sorted(p.name for p in (camvid_root / 'val').glob('*.png'))[0]
    (tmp_path / 'images' / name).write_bytes((camvid_root / 'val' / name).read_bytes())
    label = cv2.imread(str(camvid_root / 'valannot' / name), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(tmp_path / 'labels' / name), np.where(label < 3, label, 255).astype(np.uint8))
    (tmp_path / 'classes.txt').write_text('sky 128 128 128\nbuilding 128 0 0\npole\n')
    dataset = build_dataset(DataConfig(dataset='folder', root=str(tmp_path),
                                       classes_file='classes.txt'), 'train')
    assert dataset.classes.names == ('sky', 'building', 'pole')
    assert len(dataset) == 1


def test_cityscapes_layout_maps_label_ids_to_train_ids(camvid_root, tmp_path):
    image_dir = tmp_path / 'leftImg8bit' / 'val' / 'aachen'
    label_dir = tmp_path / 'gtFine' / 'val' / 'aachen'
    image_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    name = sorted(p.name for p in (camvid_root / 'val').glob('*.png'))[0]
    (image_dir / 'aachen_000000_000019_leftImg8bit.png').write_bytes(
        (camvid_root / 'val' / name).read_bytes())
    label_ids = np.zeros((360, 480), np.uint8)          # 0 = unlabeled -> ignore
    label_ids[:100] = 7                                  # road -> 0
    label_ids[100:200] = 26                              # car -> 13
    label_ids[200:300] = 33                              # bicycle -> 18
    cv2.imwrite(str(label_dir / 'aachen_000000_000019_gtFine_labelIds.png'), label_ids)
    dataset = build_dataset(DataConfig(dataset='cityscapes', root=str(tmp_path)), 'val')
    _, label = dataset.load_raw(0)
    assert dataset.classes.num_classes == 19
    assert (label[:100] == 0).all() and (label[100:200] == 13).all()
    assert (label[200:300] == 18).all() and (label[300:] == 255).all()
