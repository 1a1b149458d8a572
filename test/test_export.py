# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export: parity with PyTorch on real frames, metadata round trip, atomic writes."""

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from sgcp_core.checkpoint import load_model, read_meta
from sgcp_core.config import EngineConfig
from sgcp_core.engine import EngineError, Segmenter, preprocess
from sgcp_core.export import ExportError, export_onnx, onnx_bytes
from sgcp_core.files import file_digest
from sgcp_core.metadata import (ONNX_FORMAT, TrainingFacts, make_meta, meta_from_dict,
                                meta_from_onnx_props, meta_to_dict, meta_to_onnx_props,
                                read_onnx_meta)

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')

# Two resolutions: CamVid's own, and the 720x960 a camera driver typically delivers.
RESOLUTIONS = [(360, 480), (720, 960)]


@pytest.fixture(scope='module')
def dynamic_onnx(tiny_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp('onnx') / 'tiny_dynamic.onnx'
    report = export_onnx(tiny_checkpoint, path, dynamic=True)
    assert report.path == path and report.dynamic and report.logits_stride == 8
    return path


@pytest.fixture(params=['tiny', 'shipped'])
def parity_model(request, tiny_checkpoint):
    """The untrained test model (small logits) and, once shipped, the trained one (logits
    around +-20, where float differences are larger in absolute terms)."""
    if request.param == 'tiny':
        return tiny_checkpoint
    from sgcp_core.resources import default_model_path
    try:
        return default_model_path()
    except FileNotFoundError as error:
        pytest.skip(f'no shipped model: {error}')


@pytest.mark.parametrize('coarse', [True, False], ids=['stride8', 'full'])
def test_onnxruntime_matches_pytorch_on_real_frames(parity_model, camvid_val_frames, coarse):
    model, meta = load_model(parity_model)
    session = ort.InferenceSession(onnx_bytes(model, meta, dynamic=True, coarse_logits=coarse),
                                   providers=['CPUExecutionProvider'])
    for height, width in RESOLUTIONS:
        for _, rgb, _ in camvid_val_frames[:2]:
            images = preprocess(rgb, (height, width), meta.mean, meta.std)
            with torch.inference_mode():
                expected = model(torch.from_numpy(images), coarse=coarse).numpy()
            got = session.run(None, {'images': images})[0]
            assert got.shape == expected.shape
            assert expected.shape[-2:] == ((height // 8, width // 8) if coarse
                                           else (height, width))
            # The absolute bound; the style guide's rtol=1e-3 too, with atol at the
            # same 1e-4: the trained model's logits reach +-20, where float32 noise near
            # zero-crossing logits is ~2e-5.
            assert np.abs(got - expected).max() <= 1e-4, (height, width)
            np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_weighted_sums_export_as_depthwise_convolutions_with_the_same_logits(
        tiny_checkpoint, camvid_val_frames):
    # The SGCP fusion nodes' scalings as 1x1 depthwise convolutions (ONNX Runtime keeps
    # them, and the sums after them, in its blocked CPU layout) or as Muls by scalars (the
    # graph the int8 quantizer starts from): the same arithmetic.
    model, meta = load_model(tiny_checkpoint)
    graphs = {flag: onnx_bytes(model, meta, scaled_sums_as_convolutions=flag)
              for flag in (True, False)}
    ops = {flag: [n.op_type for n in onnx.load_from_string(data).graph.node]
           for flag, data in graphs.items()}
    # 12 fusion nodes: 6 of two inputs, 5 of three, 1 of two at P7 -> 27 scalings.
    assert ops[True].count('Conv') == ops[False].count('Conv') + 27
    images = preprocess(camvid_val_frames[0][1], meta.input_size, meta.mean, meta.std)
    logits = {flag: ort.InferenceSession(data, providers=['CPUExecutionProvider']).run(
        None, {'images': images})[0] for flag, data in graphs.items()}
    np.testing.assert_allclose(logits[True], logits[False], rtol=1e-5, atol=1e-6)
    # The model itself is untouched: the export works on a copy.
    assert all(type(node.fuse).__name__ == 'WeightedSum' for node in model.modules()
               if type(node).__name__ == 'FusionNode')


def test_export_parity_check_runs_on_frames(tiny_checkpoint, camvid_val_frames, tmp_path):
    frames = [rgb for _, rgb, _ in camvid_val_frames[:2]]
    report = export_onnx(tiny_checkpoint, tmp_path / 'm.onnx', parity_frames=frames)
    assert report.parity_frames == 2 and 0 <= report.max_abs_diff <= 1e-4
    # An impossible tolerance must refuse to write the file at all.
    with pytest.raises(ExportError, match='differ'):
        export_onnx(tiny_checkpoint, tmp_path / 'never.onnx', parity_frames=frames,
                    parity_atol=-1.0)
    assert not (tmp_path / 'never.onnx').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.onnx']   # no temp files left


def test_metadata_round_trip(tiny_checkpoint, dynamic_onnx):
    meta = read_meta(tiny_checkpoint)
    got = read_onnx_meta(dynamic_onnx)
    # The export adds what only the graph knows: its output stride and its source weights.
    assert got == dataclasses.replace(meta, logits_stride=8,
                                      source_sha256=file_digest(tiny_checkpoint))
    seg = Segmenter(EngineConfig(model_path=str(dynamic_onnx), backend='onnx', warmup_runs=0,
                                 threads=1))
    assert seg.backend_name == 'onnx'
    assert seg.meta == got and seg.classes == meta.classes
    assert seg.input_size == meta.input_size == (360, 480)


def test_every_metadata_field_survives_both_formats():
    from sgcp_core.classes import CITYSCAPES
    from sgcp_core.config import DataConfig, ModelConfig
    facts = {'train_splits': ['train', 'val'], 'epochs': 340, 'epoch': 340,
             'epoch_selection': 'last epoch (no split held out)', 'teacher': 'big.pt',
             'recipe': {'loss': 'ohem', 'kd_weight': 1.0}}
    meta = make_meta(ModelConfig(num_classes=19, backbone='mobilenetv2', upsample='bicubic'),
                     CITYSCAPES, DataConfig(ignore_index=250), input_size=(512, 1024),
                     training=facts)
    meta = dataclasses.replace(meta, precision='int8', calibration={'method': 'percentile'},
                               logits_stride=8, source_sha256='ab' * 32)
    assert meta.training == TrainingFacts(('train', 'val'), 340, 340,
                                          'last epoch (no split held out)', 'big.pt',
                                          {'loss': 'ohem', 'kd_weight': 1.0})
    assert meta_from_dict(meta_to_dict(meta), 'pt') == meta
    props = meta_to_onnx_props(meta)
    assert props['format'] == f'"{ONNX_FORMAT}"' and props['variant'] == '"sgcpnet-mobilenetv2"'
    assert meta_from_onnx_props(props, 'onnx') == meta
    with pytest.raises(ValueError, match="unknown keys \\['val_miou'\\]"):
        make_meta(ModelConfig(), CITYSCAPES, DataConfig(), training={'val_miou': 0.5})


def test_metadata_written_before_training_facts_still_loads():
    """The shipped files of version one: no training, precision or calibration keys."""
    from sgcp_core.classes import CAMVID
    from sgcp_core.config import ModelConfig
    old = {'model': dataclasses.asdict(ModelConfig()),
           'classes': CAMVID.to_dict(), 'mean': [0.485, 0.456, 0.406],
           'std': [0.229, 0.224, 0.225], 'input_size': [360, 480], 'ignore_index': 255,
           'variant': 'sgcpnet-mobilenetv3'}
    meta = meta_from_dict(old, 'old.pt')
    assert meta.training is None and meta.precision == 'fp32' and meta.calibration is None
    assert meta.input_size == (360, 480) and meta.variant == 'sgcpnet-mobilenetv3'
    with pytest.raises(ValueError, match="old.pt: model metadata is incomplete.*'mean'"):
        meta_from_dict({k: v for k, v in old.items() if k != 'mean'}, 'old.pt')


def test_dynamic_and_fixed_shapes(tiny_checkpoint, dynamic_onnx, camvid_val_frames, tmp_path):
    rgb = camvid_val_frames[0][1]
    dynamic = Segmenter(EngineConfig(model_path=str(dynamic_onnx), input_height=720,
                                     input_width=960, warmup_runs=0, threads=1))
    assert dynamic.segment(rgb).labels.shape == (360, 480)
    fixed_path = tmp_path / 'fixed.onnx'
    report = export_onnx(tiny_checkpoint, fixed_path, input_size=(240, 320))
    assert report.input_size == (240, 320) and not report.dynamic
    graph_input = onnx.load(str(fixed_path)).graph.input[0]
    assert [d.dim_value for d in graph_input.type.tensor_type.shape.dim] == [1, 3, 240, 320]
    assert read_onnx_meta(fixed_path).input_size == (240, 320)
    fixed = Segmenter(EngineConfig(model_path=str(fixed_path), warmup_runs=0, threads=1))
    assert fixed.input_size == (240, 320)
    assert fixed.segment(rgb).labels.shape == (360, 480)
    with pytest.raises(EngineError, match='only accepts 240x320'):
        Segmenter(EngineConfig(model_path=str(fixed_path), input_height=360,
                               input_width=480, warmup_runs=0))


def test_onnx_and_torch_engines_agree(tiny_checkpoint, dynamic_onnx, camvid_val_frames):
    torch_seg = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                       warmup_runs=0, threads=1))
    onnx_seg = Segmenter(EngineConfig(model_path=str(dynamic_onnx), warmup_runs=0, threads=1))
    for _, rgb, _ in camvid_val_frames:
        big = cv2.resize(rgb, (960, 720), interpolation=cv2.INTER_LINEAR)
        for frame in (rgb, big):
            agreement = (torch_seg.segment(frame).labels == onnx_seg.segment(frame).labels)
            assert agreement.mean() > 0.999


def test_opset_floor_and_foreign_onnx(tiny_checkpoint, tmp_path):
    model, meta = load_model(tiny_checkpoint)
    with pytest.raises(ValueError, match='opset 13'):
        onnx_bytes(model, meta, opset=13)
    graph = onnx.load_from_string(onnx_bytes(model, meta))
    del graph.metadata_props[:]
    foreign = tmp_path / 'foreign.onnx'
    foreign.write_bytes(graph.SerializeToString())
    with pytest.raises(ValueError, match='foreign.onnx has no sgcp_ros metadata'):
        read_onnx_meta(foreign)
    with pytest.raises(ValueError, match='foreign.onnx'):
        Segmenter(EngineConfig(model_path=str(foreign)))
