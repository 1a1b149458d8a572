# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Knowledge distillation: a teacher's logits computed once per training set and cached.

Running the teacher every step would cost a 2-core CPU more than the student itself, so
its full-resolution logits for every training frame are written once to an ``.npy`` file
(float16, memory-mapped while training) next to a JSON record of what they were computed
from. The student's augmentation then crops, scales and flips them exactly like the frame
(``TrainTransform`` with ``teacher=``), so a resumed run sees the same targets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sgcp_core.checkpoint import load_model
from sgcp_core.data import SegmentationDataset
from sgcp_core.data.transforms import normalize
from sgcp_core.errors import TeacherCacheError
from sgcp_core.evaluation import predict_logits
from sgcp_core.files import atomic_write, file_digest

__all__ = ['TeacherCacheError', 'cache_teacher_logits']


def cache_teacher_logits(teacher_path: str | Path, dataset: SegmentationDataset,
                         cache_path: str | Path, flip: bool = True,
                         progress: bool = True) -> np.ndarray:
    """(N, C, H, W) float16 teacher logits for every sample of ``dataset``, memory-mapped.

    Reuses ``cache_path`` when its record (teacher digest, frames, flip) matches; otherwise
    computes the logits (averaged with the flipped prediction when ``flip``) and writes the
    file atomically. The teacher normalises frames with its own mean/std.
    """
    cache_path = Path(cache_path).with_suffix('.npy')
    record_path = cache_path.with_suffix('.json')
    record = {'teacher': str(teacher_path), 'teacher_sha256': file_digest(teacher_path),
              'frames': [str(image) for image, _ in dataset.pairs], 'flip': flip}
    if cache_path.is_file() and record_path.is_file():
        try:
            if json.loads(record_path.read_text()) == record:
                return np.load(cache_path, mmap_mode='r')
        except ValueError:
            pass  # an unreadable record: recompute
    model, meta = load_model(teacher_path)
    names = meta.classes.names
    if list(names) != list(dataset.classes.names):
        raise TeacherCacheError(f'teacher {teacher_path} has classes {names}, the training '
                                f'data {dataset.classes.names}')
    height, width = dataset.load_raw(0)[1].shape
    shape = (len(dataset), len(names), height, width)

    def write(temp: str) -> None:
        logits = np.lib.format.open_memmap(temp, mode='w+', dtype=np.float16, shape=shape)
        for index in tqdm(range(len(dataset)), desc='teacher logits', disable=not progress,
                          leave=False):
            rgb, _ = dataset.load_raw(index)
            if rgb.shape[:2] != (height, width):
                raise TeacherCacheError(f'{dataset.pairs[index][0]} is {rgb.shape[1]}x'
                                        f'{rgb.shape[0]}; cached distillation needs every '
                                        f'frame at {width}x{height}')
            image = normalize(rgb, meta.mean, meta.std).unsqueeze(0)
            scores = predict_logits(model, image, flip=flip) / (2 if flip else 1)
            logits[index] = scores[0].numpy().astype(np.float16)
        logits.flush()
        del logits

    with torch.inference_mode():
        atomic_write(cache_path, write)
    atomic_write(record_path, lambda temp: Path(temp).write_text(json.dumps(record)))
    return np.load(cache_path, mmap_mode='r')
