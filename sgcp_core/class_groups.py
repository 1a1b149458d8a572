# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Class groups and filters: a model's classes mapped to the classes a robot wants.

A YAML file lists output classes in id order, each a group of model classes with a name
and a colour, and the model classes to drop (they become 255, unknown)::

    groups:
      - name: drivable
        classes: [Road, Sidewalk]
        color: [128, 64, 128]
      - name: obstacle
        classes: [Car, Pedestrian, Bicyclist, Pole]
        color: [220, 20, 60]
    drop: [Sky]

Every model class is either in exactly one group or dropped, so a file written for one
model cannot silently mean something else for another. ``ClassGroups.apply`` maps a label
map through a 256-entry lookup table (one pass, about a tenth of a millisecond at 360x480).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from sgcp_core.classes import UNKNOWN_LABEL, ClassInfo
from sgcp_core.errors import ClassGroupsError

__all__ = ['ClassGroups', 'ClassGroupsError', 'load_class_groups', 'parse_class_groups']

_TOP_KEYS = ('groups', 'drop')
_GROUP_KEYS = ('name', 'classes', 'color')


@dataclass(frozen=True)
class ClassGroups:
    """Model classes -> output classes.

    Attributes:
        classes: names and colours of the output classes (id = position in the file).
        members: for each output class, the model class names it gathers.
        dropped: model class names mapped to unknown (255).
        lookup: (256,) uint8 table, model id -> output id; 255 and ids without a model
            class stay 255.
        source: the file it came from (for logs and class_info).
    """

    classes: ClassInfo
    members: tuple[tuple[str, ...], ...]
    dropped: tuple[str, ...]
    lookup: np.ndarray
    source: str = ''

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) uint8 model labels -> (H, W) uint8 output labels (a new array)."""
        return cv2.LUT(labels, self.lookup).reshape(labels.shape)

    def to_dict(self) -> dict:
        """The mapping for class_info JSON: groups with their members, and what is dropped."""
        return {'source': self.source, 'dropped': list(self.dropped),
                'groups': {name: list(members)
                           for name, members in zip(self.classes.names, self.members)}}

    @classmethod
    def from_class_info(cls, info: dict) -> 'ClassGroups | None':
        """The groups a segmentation node's class_info JSON describes; None without groups.

        ``info`` holds the output classes (``names``, ``palette``), ``class_groups``
        (``to_dict``) and ``model_classes``, as the node publishes them.
        """
        if not info.get('class_groups'):
            return None
        groups, output = info['class_groups'], ClassInfo.from_dict(info)
        data = {'groups': [{'name': name, 'classes': list(groups['groups'][name]),
                            'color': list(colour)}
                           for name, colour in zip(output.names, output.palette)],
                'drop': list(groups['dropped'])}
        return parse_class_groups(data, ClassInfo.from_dict(info['model_classes']),
                                  groups.get('source') or 'class_info')


def _colour(value, where: str) -> tuple[int, int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255
                       for c in value)):
        raise ClassGroupsError(f'{where}: color must be [r, g, b] with integers 0..255, got '
                               f'{value!r}')
    return tuple(value)


def _names(value, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise ClassGroupsError(f'{where}: expected a list of class names, got {value!r}')
    return value


def parse_class_groups(data, model_classes: ClassInfo, source: str = 'class groups'
                       ) -> ClassGroups:
    """Check a parsed groups document against the model's classes and build the table.

    Raises:
        ClassGroupsError: unknown keys or classes, a class in two places, a class in no
            group and not dropped, a bad colour or name; the message starts with ``source``.
    """
    if not isinstance(data, dict):
        raise ClassGroupsError(f'{source}: expected a mapping with "groups" (and "drop"), got '
                               f'{type(data).__name__}')
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ClassGroupsError(f'{source}: unknown keys {unknown}; known keys: '
                               f'{list(_TOP_KEYS)}')
    groups = data.get('groups')
    if not isinstance(groups, list) or not groups:
        raise ClassGroupsError(f'{source}: "groups" must be a non-empty list of '
                               '{name, classes, color}')
    if len(groups) >= UNKNOWN_LABEL:
        raise ClassGroupsError(f'{source}: {len(groups)} groups do not fit a uint8 label map '
                               f'with {UNKNOWN_LABEL} reserved')
    known = {name: index for index, name in enumerate(model_classes.names)}
    placed: dict[str, str] = {}   # model class -> where it went

    def place(name: str, where: str) -> int:
        if name not in known:
            raise ClassGroupsError(f'{source}: {where}: unknown class {name!r}; the model\'s '
                                   f'classes are {list(model_classes.names)}')
        if name in placed:
            raise ClassGroupsError(f'{source}: class {name!r} is in both {placed[name]} and '
                                   f'{where}')
        placed[name] = where
        return known[name]

    lookup = np.full(256, UNKNOWN_LABEL, np.uint8)
    names, colours, members = [], [], []
    for position, group in enumerate(groups):
        where = f'groups[{position}]'
        if not isinstance(group, dict):
            raise ClassGroupsError(f'{source}: {where}: expected a mapping with name, classes '
                                   f'and color, got {group!r}')
        unknown = sorted(set(group) - set(_GROUP_KEYS))
        missing = [key for key in _GROUP_KEYS if key not in group]
        if unknown or missing:
            raise ClassGroupsError(f'{source}: {where}: '
                                   + (f'unknown keys {unknown}' if unknown else
                                      f'missing {missing}') + f'; keys: {list(_GROUP_KEYS)}')
        name = group['name']
        if not isinstance(name, str) or not name:
            raise ClassGroupsError(f'{source}: {where}: name must be a non-empty string')
        where = f'group {name!r}'
        if name in names:
            raise ClassGroupsError(f'{source}: two groups are called {name!r}')
        classes = _names(group['classes'], where)
        if not classes:
            raise ClassGroupsError(f'{source}: {where} has no classes')
        for class_name in classes:
            lookup[place(class_name, where)] = position
        names.append(name)
        colours.append(_colour(group['color'], where))
        members.append(tuple(classes))
    dropped = _names(data.get('drop', []), f'{source}: drop')
    for class_name in dropped:
        place(class_name, 'drop')
    loose = [name for name in model_classes.names if name not in placed]
    if loose:
        raise ClassGroupsError(f'{source}: classes {loose} are in no group; add them to a '
                               'group or to "drop"')
    return ClassGroups(ClassInfo(tuple(names), tuple(colours)), tuple(members),
                       tuple(dropped), lookup, source)


def load_class_groups(path: str | Path, model_classes: ClassInfo) -> ClassGroups:
    """Read a class groups YAML file for a model with ``model_classes``.

    Raises:
        FileNotFoundError: no such file.
        ClassGroupsError: not YAML, or see ``parse_class_groups``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f'class groups file not found: {path}')
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ClassGroupsError(f'{path} is not valid YAML: {error}') from error
    return parse_class_groups(data, model_classes, str(path))
