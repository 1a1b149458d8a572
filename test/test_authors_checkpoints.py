# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Loading the authors' released checkpoint and ImageNet backbone layouts."""

import pytest
import torch

from sgcp_core.errors import ModelFileError
from sgcp_core.models import (CheckpointMismatchError, authors_state_dict, build_sgcpnet,
                              load_authors_checkpoint, load_authors_imagenet_backbone)

# Key names straight from the layout the authors released (SGCPNET_SPEC.md), written out
# by hand so the mapping is checked against the spec, not against itself.
SPEC_KEYS = [
    'module.l1.0.weight', 'module.l1.1.running_var', 'module.l2.conv1.weight',
    'module.l2.se.se.1.weight', 'module.l2.se.se.5.bias', 'module.l3.0.bn2.weight',
    'module.l3.1.conv3.weight',
    'module.l4.0.conv2.weight', 'module.l4.3.shortcut.0.weight', 'module.l4.3.shortcut.1.bias',
    'module.l5.2.se.se.4.weight', 'module.conv3.weight', 'module.conv3.bias',
    'module.conv5.bias', 'module.sgcp.td_bu.unit.0.p3_down_channel.0.conv.weight',
    'module.sgcp.td_bu.unit.0.p3_down_channel.0.conv.bias',
    'module.sgcp.td_bu.unit.0.p5_down_channel_2.1.running_mean',
    'module.sgcp.td_bu.unit.0.p5_to_p6.0.conv.weight',
    'module.sgcp.td_bu.unit.0.conv6_up.depthwise_conv.conv.weight',
    'module.sgcp.td_bu.unit.0.conv7_down.pointwise_conv.conv.bias',
    'module.sgcp.td_bu.unit.0.conv4_down.bn.weight',
    'module.sgcp.td_bu.unit.0.p6_w1', 'module.sgcp.td_bu.unit.0.p4_w2',
    'module.sgcp.td_bu.unit.0.p7_w2', 'module.sgcp.td.conv3_up.pointwise_conv.conv.weight',
    'module.sgcp.td.p3_w1', 'module.classifier.weight', 'module.classifier.bias',
]


def _randomised(model):
    """Give every parameter and BN buffer distinct values so a wrong mapping shows."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.dtype.is_floating_point:
                continue
            if name.endswith('running_var'):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
    return model.eval()


@pytest.fixture(scope='module')
def source_model():
    torch.manual_seed(0)
    return _randomised(build_sgcpnet(19))


def test_authors_layout_has_the_spec_key_names(source_model):
    state = authors_state_dict(source_model)
    missing = [k for k in SPEC_KEYS if k not in state]
    assert not missing
    assert all(k.startswith('module.') for k in state)
    assert state['module.sgcp.td_bu.unit.0.p4_w2'].shape == (3,)
    assert state['module.sgcp.td_bu.unit.0.p7_w2'].shape == (2,)
    assert state['module.sgcp.td.p6_w1'].shape == (2,)


@pytest.mark.parametrize('data_parallel', [True, False])
@pytest.mark.parametrize('wrapped', [True, False])
def test_loaded_authors_checkpoint_reproduces_source_output(source_model, tmp_path,
                                                            data_parallel, wrapped):
    state = authors_state_dict(source_model, data_parallel=data_parallel)
    path = tmp_path / 'sgcpnet_cityscapes.pth'
    torch.save({'segmenter': state} if wrapped else state, path)
    target = build_sgcpnet(19).eval()
    load_authors_checkpoint(target, path)
    x = torch.randn(1, 3, 128, 192)
    with torch.no_grad():
        expected = source_model(x)
        assert torch.isfinite(expected).all() and expected.std() > 0
        torch.testing.assert_close(target(x), expected, rtol=0, atol=0)


def test_mismatching_checkpoint_names_the_first_keys(source_model):
    state = authors_state_dict(source_model)
    del state['module.sgcp.td.p3_w1']
    state['module.extra.weight'] = torch.zeros(1)
    state['module.classifier.weight'] = torch.zeros(11, 64, 1, 1)
    with pytest.raises(CheckpointMismatchError) as info:
        load_authors_checkpoint(build_sgcpnet(19), {'segmenter': state})
    message = str(info.value)
    assert 'sgcp.td2.p3.fuse.weights' in message          # missing, in our names
    assert 'extra.weight' in message                        # unexpected
    assert '(11, 64, 1, 1)' in message and '(19, 64, 1, 1)' in message  # shape


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / 'broken.pth'
    path.write_bytes(b'not a torch file')
    with pytest.raises(ModelFileError, match='broken.pth is not a readable checkpoint: not a '
                       'PyTorch file'):
        load_authors_checkpoint(build_sgcpnet(19), path)
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        load_authors_checkpoint(build_sgcpnet(19), tmp_path / 'absent.pth')


def _imagenet_layout(model):
    """The authors' ImageNet MobileNetV3-Small file built from an encoder of ours."""
    parts = {'expand.conv': 'conv1', 'expand.bn': 'bn1', 'depthwise.conv': 'conv2',
             'depthwise.bn': 'bn2', 'project.conv': 'conv3', 'project.bn': 'bn3',
             'se.reduce.conv': 'se.se.1', 'se.reduce.bn': 'se.se.2',
             'se.expand.conv': 'se.se.4', 'se.expand.bn': 'se.se.5',
             'shortcut.conv': 'shortcut.0', 'shortcut.bn': 'shortcut.1'}
    state = {}
    for key, value in model.encoder.state_dict().items():
        if key.startswith('stem.'):
            new = key.replace('stem.conv', 'conv1').replace('stem.bn', 'bn1')
        else:
            _, index, rest = key.split('.', 2)
            module, leaf = rest.rsplit('.', 1)
            new = f'bneck.{index}.{parts[module]}.{leaf}'
        state['module.' + new] = value
    # The ImageNet head the segmenter does not use.
    state['module.conv2.weight'] = torch.zeros(576, 96, 1, 1)
    state['module.bn2.weight'] = torch.zeros(576)
    state['module.linear3.weight'] = torch.zeros(1280, 576)
    state['module.bn3.weight'] = torch.zeros(1280)
    state['module.linear4.weight'] = torch.zeros(1000, 1280)
    return {'state_dict': state}


def test_authors_imagenet_backbone_loads_into_encoder(source_model, tmp_path):
    path = tmp_path / 'mbv3_small.pth.tar'
    torch.save(_imagenet_layout(source_model), path)
    target = build_sgcpnet(11, pretrained_backbone=path).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        for ours, theirs in zip(target.encoder(x), source_model.encoder(x)):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    broken = _imagenet_layout(source_model)
    del broken['state_dict']['module.bneck.10.conv1.weight']
    with pytest.raises(CheckpointMismatchError, match='blocks.10.expand.conv.weight'):
        load_authors_imagenet_backbone(build_sgcpnet(11), broken)
