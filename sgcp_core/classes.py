# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Class names and colour palettes: CamVid (11), Cityscapes (19), or a user's file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ['ClassInfo', 'CAMVID', 'CITYSCAPES', 'BUILTIN_CLASSES', 'load_class_info',
           'UNKNOWN_LABEL', 'palette_csv']

UNKNOWN_LABEL = 255   # label-map value for "no class" (ignored in training and metrics)


@dataclass(frozen=True)
class ClassInfo:
    """Names and RGB colours of a model's classes, index = class id."""

    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.palette):
            raise ValueError(f'{len(self.names)} class names but {len(self.palette)} colours')
        if not self.names:
            raise ValueError('a class list needs at least one class')
        for colour in self.palette:
            if len(colour) != 3 or not all(0 <= int(c) <= 255 for c in colour):
                raise ValueError(f'colour {colour!r} is not an RGB triple of 0..255')

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def palette_array(self) -> np.ndarray:
        """(256, 3) uint8 lookup table; ids without a class (255 included) map to black."""
        table = np.zeros((256, 3), np.uint8)
        table[:self.num_classes] = np.asarray(self.palette, np.uint8)
        return table

    def to_dict(self) -> dict:
        return {'names': list(self.names), 'palette': [list(c) for c in self.palette]}

    @classmethod
    def from_dict(cls, data: dict) -> 'ClassInfo':
        return cls(tuple(str(n) for n in data['names']),
                   tuple(tuple(int(v) for v in c) for c in data['palette']))


CAMVID = ClassInfo(
    ('Sky', 'Building', 'Pole', 'Road', 'Sidewalk', 'Tree', 'SignSymbol', 'Fence', 'Car',
     'Pedestrian', 'Bicyclist'),
    ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222),
     (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192)))

CITYSCAPES = ClassInfo(
    ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
     'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
     'motorcycle', 'bicycle'),
    ((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
     (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
     (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
     (0, 80, 100), (0, 0, 230), (119, 11, 32)))

BUILTIN_CLASSES = {'camvid': CAMVID, 'cityscapes': CITYSCAPES}


def _default_colour(index: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(index)
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def load_class_info(source: str | Path, num_classes: int | None = None) -> ClassInfo:
    """A built-in name ('camvid', 'cityscapes') or a file.

    Files: JSON ``{"names": [...], "palette": [[r, g, b], ...]}``, or a text file with one
    class per line, ``name`` or ``name r g b`` (missing colours get fixed random ones).
    Raises ValueError naming the file when it is malformed or its class count differs from
    ``num_classes``.
    """
    key = str(source).lower()
    if key in BUILTIN_CLASSES:
        info = BUILTIN_CLASSES[key]
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f'class file not found: {path} (or use one of '
                                    f'{sorted(BUILTIN_CLASSES)})')
        try:
            if path.suffix.lower() == '.json':
                info = ClassInfo.from_dict(json.loads(path.read_text()))
            else:
                names, colours = [], []
                for line in path.read_text().splitlines():
                    parts = line.split()
                    if not parts or parts[0].startswith('#'):
                        continue
                    if len(parts) >= 4 and all(p.isdigit() for p in parts[-3:]):
                        names.append(' '.join(parts[:-3]))
                        colours.append(tuple(int(p) for p in parts[-3:]))
                    else:
                        names.append(' '.join(parts))
                        colours.append(_default_colour(len(names)))
                info = ClassInfo(tuple(names), tuple(colours))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f'{path}: not a valid class file: {error}') from error
    if num_classes is not None and info.num_classes != num_classes:
        raise ValueError(f'{source}: {info.num_classes} classes, but the model has '
                         f'{num_classes}')
    return info


def palette_csv(classes: ClassInfo) -> str:
    """The colour of every label as CSV for mapping tools that read classes by colour.

    Kimera-Semantics' layout, ``name,red,green,blue,alpha,id``, one row per class and a last
    row for unknown (255), which the colour mask paints black. The mask holds these exact
    colours (never blended), so a colour identifies its class.
    """
    rows = ['name,red,green,blue,alpha,id']
    entries = list(zip(classes.names, classes.palette)) + [('unknown', (0, 0, 0))]
    ids = list(range(classes.num_classes)) + [UNKNOWN_LABEL]
    for label, (name, (red, green, blue)) in zip(ids, entries):
        quoted = f'"{name}"' if ',' in name or '"' in name else name
        rows.append(f'{quoted},{red},{green},{blue},255,{label}')
    return '\n'.join(rows) + '\n'
