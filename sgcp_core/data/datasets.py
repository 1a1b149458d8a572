# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image/label pair datasets; every failure names the file it is about."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sgcp_core.classes import CAMVID, CITYSCAPES, UNKNOWN_LABEL, ClassInfo, load_class_info
from sgcp_core.config import DataConfig
from sgcp_core.errors import DatasetError
from sgcp_core.files import image_files

__all__ = ['DatasetError', 'SegmentationDataset', 'build_dataset', 'read_rgb', 'read_label',
           'CITYSCAPES_LABEL_TO_TRAIN']

# Cityscapes labelIds -> the 19 train ids; every other id is ignored.
CITYSCAPES_LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8,
                             22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16,
                             32: 17, 33: 18}


def read_rgb(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image file; DatasetError if unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f'cannot read image {path}')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_label(path: str | Path) -> np.ndarray:
    """(H, W) uint8 class-id map from a single-channel PNG; DatasetError if unreadable."""
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label is None:
        raise DatasetError(f'cannot read label {path}')
    if label.ndim != 2:
        raise DatasetError(f'label {path} has {label.shape[2]} channels; expected one '
                           'channel of class ids')
    return label.astype(np.uint8) if label.dtype != np.uint8 else label


def _lookup_table(mapping: dict[int, int]) -> np.ndarray:
    table = np.full(256, UNKNOWN_LABEL, np.uint8)
    for source, target in mapping.items():
        table[source] = target
    return table


class SegmentationDataset(Dataset):
    """(image, label) pairs with a raw-id -> train-id mapping.

    Args:
        pairs: (image path, label path) per sample.
        classes: class names and palette.
        id_map: raw label value -> train id (255 = ignore); values absent from it are errors.
        transform: callable (rgb, label, rng) -> (image (3, H, W) float, label (H, W) long);
            rng is seeded from (seed, epoch, index), see ``set_epoch``.
        preload: decode every pair once and keep it in RAM.
    """

    seed = 0
    epoch = 0
    # (N, C, H, W) teacher logits aligned with ``pairs`` (knowledge distillation); the
    # transform then returns them put through the sample's augmentation as a third item.
    teacher_logits: np.ndarray | None = None

    def __init__(self, pairs: list[tuple[Path, Path]], classes: ClassInfo,
                 id_map: dict[int, int], transform: Callable | None = None,
                 preload: bool = False) -> None:
        if not pairs:
            raise DatasetError('dataset is empty')
        self.pairs = pairs
        self.classes = classes
        self.transform = transform
        self._valid = np.zeros(256, bool)
        self._valid[list(id_map)] = True
        self._table = _lookup_table(id_map)
        self._cache = [self._load(i) for i in range(len(pairs))] if preload else None

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image_path, label_path = self.pairs[index]
        rgb, raw = read_rgb(image_path), read_label(label_path)
        if rgb.shape[:2] != raw.shape:
            raise DatasetError(f'{label_path} is {raw.shape[1]}x{raw.shape[0]} but its image '
                               f'{image_path} is {rgb.shape[1]}x{rgb.shape[0]}')
        present = np.unique(raw)
        bad = present[~self._valid[present]]
        if bad.size:
            raise DatasetError(f'{label_path} holds label ids {bad.tolist()} outside the class '
                               f'list (valid raw ids: {np.flatnonzero(self._valid).tolist()})')
        return rgb, self._table[raw]

    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB and (H, W) uint8 train-id label, untransformed."""
        return self._cache[index] if self._cache is not None else self._load(index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, label = self.load_raw(index)
        if self.transform is None:
            return torch.from_numpy(rgb), torch.from_numpy(label)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        if self.teacher_logits is not None:
            return self.transform(rgb, label, rng, self.teacher_logits[index])
        return self.transform(rgb, label, rng)

    def set_epoch(self, epoch: int, seed: int | None = None) -> None:
        """Select the augmentation stream: the same (seed, epoch, index) gives the same crop."""
        self.epoch = epoch
        if seed is not None:
            self.seed = seed


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f'{what} folder not found: {path}')
    return path


def _pair_by_stem(image_dir: Path, label_dir: Path,
                  label_name: Callable[[Path], str] = lambda p: p.stem + '.png'
                  ) -> list[tuple[Path, Path]]:
    images = image_files(image_dir, error=DatasetError)
    pairs = []
    for image in images:
        label = label_dir / image.parent.relative_to(image_dir) / label_name(image)
        if not label.is_file():
            raise DatasetError(f'missing label for {image}: expected {label}')
        pairs.append((image, label))
    return pairs


def camvid_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    """SegNet layout: ``split/`` images and ``splitannot/`` labels sharing file names."""
    return _pair_by_stem(_require_dir(root / split, 'CamVid image'),
                         _require_dir(root / f'{split}annot', 'CamVid label'),
                         lambda p: p.name)


def cityscapes_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    """``leftImg8bit/split/city/*_leftImg8bit.png`` with ``gtFine/.../*_gtFine_labelIds.png``."""
    return _pair_by_stem(
        _require_dir(root / 'leftImg8bit' / split, 'Cityscapes image'),
        _require_dir(root / 'gtFine' / split, 'Cityscapes label'),
        lambda p: p.name.replace('_leftImg8bit', '_gtFine_labelIds'))


def build_dataset(config: DataConfig, split: str | Sequence[str],
                  transform: Callable | None = None,
                  root_base: Path | None = None) -> SegmentationDataset:
    """The dataset ``config.dataset`` names, for ``split`` ('train', 'val', ...) or several
    splits joined in the order given (e.g. ['train', 'val']).

    Relative roots resolve against ``root_base`` (default: the working directory).
    """
    splits = [split] if isinstance(split, str) else list(split)
    if not splits:
        raise DatasetError('no split given')
    if len(set(splits)) != len(splits):
        raise DatasetError(f'split listed twice in {splits}')
    root = Path(config.root)
    if not root.is_absolute() and root_base is not None:
        root = root_base / root
    _require_dir(root, f'{config.dataset} dataset root')
    if config.dataset == 'camvid':
        pairs = [pair for name in splits for pair in camvid_pairs(root, name)]
        # Raw id 11 is "Unlabelled": ignored in the loss and the metrics.
        return SegmentationDataset(pairs, CAMVID, {**{i: i for i in range(11)},
                                                   11: UNKNOWN_LABEL}, transform,
                                   config.preload)
    if config.dataset == 'cityscapes':
        id_map = {i: CITYSCAPES_LABEL_TO_TRAIN.get(i, UNKNOWN_LABEL) for i in range(34)}
        pairs = [pair for name in splits for pair in cityscapes_pairs(root, name)]
        return SegmentationDataset(pairs, CITYSCAPES, id_map, transform, config.preload)
    if config.dataset == 'folder':
        if not config.classes_file:
            raise DatasetError('the folder dataset needs data.classes_file (class list)')
        classes_path = Path(config.classes_file)
        if not classes_path.is_absolute():
            classes_path = root / classes_path
        classes = load_class_info(classes_path)
        pairs = []
        for name in splits:
            split_root = root / name if (root / name).is_dir() else root
            pairs += _pair_by_stem(_require_dir(split_root / config.image_dir, 'image'),
                                   _require_dir(split_root / config.label_dir, 'label'))
        id_map = {**{i: i for i in range(classes.num_classes)}, UNKNOWN_LABEL: UNKNOWN_LABEL}
        return SegmentationDataset(pairs, classes, id_map, transform, config.preload)
    raise DatasetError(f"unknown dataset {config.dataset!r}: use 'camvid', 'cityscapes' "
                       "or 'folder'")
