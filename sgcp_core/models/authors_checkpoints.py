# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Load the SGCPNet authors' released weight layouts into this package's modules.

Two layouts exist: the full segmenter (``{"segmenter": state_dict}`` saved through
``nn.DataParallel``) and the ImageNet MobileNetV3-Small backbone it was trained from
(``{"state_dict": ...}`` with ``conv1 bn1 bneck.N.*`` keys). Names are translated by module
path, so BN buffers and any parameter suffix follow automatically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from sgcp_core.errors import CheckpointMismatchError
from sgcp_core.models.state_dict import load_state_dict_strict, load_torch_file

__all__ = ['load_authors_checkpoint', 'load_authors_imagenet_backbone', 'authors_state_dict',
           'translate_authors_keys']

# Inside one inverted-residual block: (this package's module path, the authors').
_BLOCK_PARTS = (
    ('expand.conv', 'conv1'), ('expand.bn', 'bn1'),
    ('depthwise.conv', 'conv2'), ('depthwise.bn', 'bn2'),
    ('project.conv', 'conv3'), ('project.bn', 'bn3'),
    ('se.reduce.conv', 'se.se.1'), ('se.reduce.bn', 'se.se.2'),
    ('se.expand.conv', 'se.se.4'), ('se.expand.bn', 'se.se.5'),
    ('shortcut.conv', 'shortcut.0'), ('shortcut.bn', 'shortcut.1'),
)
# The authors group blocks 1..11 as l2, l3.0-1, l4.0-4, l5.0-2.
_SEGMENTER_BLOCKS = (['l2'] + [f'l3.{i}' for i in range(2)] + [f'l4.{i}' for i in range(5)]
                     + [f'l5.{i}' for i in range(3)])
_LATERALS = (('p3', 'p3_down_channel'), ('p4', 'p4_down_channel'), ('p5', 'p5_down_channel'),
             ('p4_bu', 'p4_down_channel_2'), ('p5_bu', 'p5_down_channel_2'),
             ('p6', 'p5_to_p6'))
# (path, node, authors' separable conv name, authors' fusion weight name)
_NODES = (
    ('td1', 'p6', 'conv6_up', 'p6_w1'), ('td1', 'p5', 'conv5_up', 'p5_w1'),
    ('td1', 'p4', 'conv4_up', 'p4_w1'), ('td1', 'p3', 'conv3_up', 'p3_w1'),
    ('bu', 'p4', 'conv4_down', 'p4_w2'), ('bu', 'p5', 'conv5_down', 'p5_w2'),
    ('bu', 'p6', 'conv6_down', 'p6_w2'), ('bu', 'p7', 'conv7_down', 'p7_w2'),
    ('td2', 'p6', 'conv6_up', 'p6_w1'), ('td2', 'p5', 'conv5_up', 'p5_w1'),
    ('td2', 'p4', 'conv4_up', 'p4_w1'), ('td2', 'p3', 'conv3_up', 'p3_w1'),
)


def _encoder_pairs(author_blocks: Iterable[str], stem: tuple[str, str]) -> list[tuple[str, str]]:
    pairs = [('encoder.stem.conv', stem[0]), ('encoder.stem.bn', stem[1])]
    for index, block in enumerate(author_blocks):
        pairs += [(f'encoder.blocks.{index}.{ours}', f'{block}.{theirs}')
                  for ours, theirs in _BLOCK_PARTS]
    return pairs


def _segmenter_pairs() -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Module-path pairs (ours, theirs) and exact parameter-name pairs for the segmenter."""
    modules = _encoder_pairs(_SEGMENTER_BLOCKS, ('l1.0', 'l1.1'))
    modules += [('hfr.c3', 'conv3'), ('hfr.c4', 'conv4'), ('hfr.c5', 'conv5'),
                ('classifier', 'classifier')]
    unit = 'sgcp.td_bu.unit.0'
    for ours, theirs in _LATERALS:
        modules += [(f'sgcp.lateral.{ours}.conv', f'{unit}.{theirs}.0.conv'),
                    (f'sgcp.lateral.{ours}.bn', f'{unit}.{theirs}.1')]
    params = {}
    for path, node, conv, weight in _NODES:
        prefix = 'sgcp.td' if path == 'td2' else unit
        modules += [(f'sgcp.{path}.{node}.conv.depthwise', f'{prefix}.{conv}.depthwise_conv.conv'),
                    (f'sgcp.{path}.{node}.conv.pointwise', f'{prefix}.{conv}.pointwise_conv.conv'),
                    (f'sgcp.{path}.{node}.conv.bn', f'{prefix}.{conv}.bn')]
        params[f'sgcp.{path}.{node}.fuse.weights'] = f'{prefix}.{weight}'
    return modules, params


def _rename(state: Mapping[str, torch.Tensor], modules: list[tuple[str, str]],
            params: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """Rename keys whose module path is a source path in ``modules``; keep the rest as-is."""
    by_length = sorted(modules, key=lambda pair: -len(pair[0]))
    renamed = {}
    for key, value in state.items():
        new_key = params.get(key)
        if new_key is None:
            module, _, leaf = key.rpartition('.')
            new_key = key
            for source, target in by_length:
                if module == source or module.startswith(source + '.'):
                    new_key = target + module[len(source):] + '.' + leaf
                    break
        renamed[new_key] = value
    return renamed


def _strip_data_parallel(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def translate_authors_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' segmenter state dict (with or without ``module.``) in this package's names."""
    modules, params = _segmenter_pairs()
    return _rename(_strip_data_parallel(state), [(t, o) for o, t in modules],
                   {t: o for o, t in params.items()})


def authors_state_dict(model: nn.Module, data_parallel: bool = True) -> dict[str, torch.Tensor]:
    """This model's weights in the authors' segmenter layout (what their code would save)."""
    modules, params = _segmenter_pairs()
    state = _rename(model.state_dict(), modules, params)
    return {('module.' + k if data_parallel else k): v for k, v in state.items()}


def _load_file(path: str | Path, wrapper_key: str) -> Mapping[str, torch.Tensor]:
    data = load_torch_file(path)
    if isinstance(data, Mapping) and wrapper_key in data:
        data = data[wrapper_key]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor)
                                                for v in data.values()):
        raise CheckpointMismatchError(f'{path} holds no state dict (looked under {wrapper_key!r})')
    return data


def load_authors_checkpoint(model: nn.Module,
                            source: str | Path | Mapping[str, torch.Tensor]) -> None:
    """Load the authors' released segmenter weights (file path or state dict) into ``model``."""
    if isinstance(source, Mapping):
        state, name = (source.get('segmenter', source), 'authors state dict')
    else:
        state, name = _load_file(source, 'segmenter'), str(source)
    load_state_dict_strict(model, translate_authors_keys(state), source=name)


def load_authors_imagenet_backbone(model: nn.Module,
                                   source: str | Path | Mapping[str, torch.Tensor]) -> None:
    """Load the authors' ImageNet MobileNetV3-Small file into ``model.encoder``.

    The classifier part of that file (conv2, bn2, linear3, bn3, linear4) is dropped.
    """
    if isinstance(source, Mapping):
        state, name = source.get('state_dict', source), 'ImageNet state dict'
    else:
        state, name = _load_file(source, 'state_dict'), str(source)
    pairs = _encoder_pairs([f'bneck.{i}' for i in range(len(model.encoder.blocks))],
                           ('conv1', 'bn1'))
    head = ('conv2.', 'bn2.', 'linear3.', 'bn3.', 'linear4.', 'hs2.', 'hs3.')
    state = {k: v for k, v in _strip_data_parallel(state).items() if not k.startswith(head)}
    renamed = _rename(state, [(t, o) for o, t in pairs], {})
    prefix = 'encoder.'
    load_state_dict_strict(model.encoder, {k[len(prefix):] if k.startswith(prefix) else k: v
                                           for k, v in renamed.items()}, source=name)
