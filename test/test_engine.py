# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Segmenter contract on real CamVid frames, for every backend this machine has."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sgcp_core.checkpoint import load_model
from sgcp_core.classes import CAMVID, UNKNOWN_LABEL
from sgcp_core.config import ConfigError, EngineConfig
from sgcp_core.data.transforms import normalize
from sgcp_core.engine import (DeviceFallbackWarning, EngineError, Segmenter, colorize, overlay,
                              postprocess, preprocess)
from sgcp_core.engine.torch_backend import hold_freed_memory
from sgcp_core.errors import ModelFileError
from sgcp_core.resources import default_model_path

BACKENDS = ['torch', pytest.param('onnx', marks=pytest.mark.skipif(
    __import__('importlib').util.find_spec('onnxruntime') is None,
    reason='onnxruntime not installed')), pytest.param('openvino', marks=pytest.mark.skipif(
        __import__('importlib').util.find_spec('openvino') is None,
        reason="openvino not installed (pip install '.[openvino]')"))]
# Backends that run the ONNX export of a checkpoint.
ONNX_RUNTIMES = ('onnx', 'openvino')
DEVICES = ['cpu', pytest.param('cuda', marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason='no CUDA device'))]


def _model_for(backend, tiny_checkpoint, request):
    """The tiny model in the file format ``backend`` runs."""
    return request.getfixturevalue('tiny_onnx') if backend in ONNX_RUNTIMES else tiny_checkpoint


@pytest.fixture(scope='module', params=BACKENDS)
def segmenter(request, tiny_checkpoint):
    return Segmenter(EngineConfig(model_path=str(_model_for(request.param, tiny_checkpoint,
                                                            request)),
                                  backend=request.param, device='cpu', threads=1,
                                  warmup_runs=1))


@pytest.fixture(scope='module')
def tiny_model(tiny_checkpoint):
    model, _ = load_model(tiny_checkpoint)
    return model


def test_contract_on_real_frames(segmenter, camvid_val_frames, tiny_checkpoint):
    assert segmenter.backend_name in ('torch', *ONNX_RUNTIMES)
    assert segmenter.device == 'cpu'
    assert segmenter.input_size == (360, 480)
    assert segmenter.classes == CAMVID
    assert segmenter.meta.variant == 'sgcpnet-mobilenetv3'
    for _, rgb, _ in camvid_val_frames[:2]:
        result = segmenter.segment(rgb, want_color=True, want_overlay=True)
        assert result.labels.shape == rgb.shape[:2] and result.labels.dtype == np.uint8
        assert result.labels.max() < CAMVID.num_classes
        assert result.color_mask.shape == rgb.shape and result.color_mask.dtype == np.uint8
        assert result.overlay.shape == rgb.shape and result.overlay.dtype == np.uint8
        assert set(result.timings_ms) == {'preprocess', 'inference', 'postprocess',
                                          'colorize', 'overlay', 'total'}
        stages = sum(v for k, v in result.timings_ms.items() if k != 'total')
        assert 0 < stages <= result.timings_ms['total']
        np.testing.assert_array_equal(result.color_mask, segmenter.colorize(result.labels))
    plain = segmenter.segment(camvid_val_frames[0][1])
    assert plain.color_mask is None and plain.overlay is None
    assert 'colorize' not in plain.timings_ms


def test_labels_equal_the_models_own_prediction(segmenter, tiny_model, camvid_val_frames):
    """At the model's input size the engine's label map is the model's own argmax."""
    for _, rgb, _ in camvid_val_frames[:2]:
        images = preprocess(rgb, (360, 480), segmenter.meta.mean, segmenter.meta.std)
        with torch.inference_mode():
            expected = tiny_model(torch.from_numpy(images))[0].argmax(0).numpy()
        labels = segmenter.segment(rgb).labels
        # ONNX Runtime may flip a near-tie; the torch backend must match exactly.
        agreement = (labels == expected).mean()
        assert agreement == 1.0 if segmenter.backend_name == 'torch' else agreement > 0.999


@pytest.mark.parametrize('view', ['flipped', 'crop', 'upscaled', 'odd'])
def test_any_size_and_strides(segmenter, camvid_val_frames, view):
    rgb = camvid_val_frames[1][1]
    frame = {'flipped': rgb[:, ::-1], 'crop': rgb[17:300, 31:411],
             'upscaled': np.repeat(np.repeat(rgb, 2, 0), 2, 1), 'odd': rgb[:123, :457]}[view]
    result = segmenter.segment(frame, want_overlay=True)
    assert result.labels.shape == frame.shape[:2]
    assert result.overlay.shape == frame.shape
    if view == 'flipped':
        contiguous = segmenter.segment(np.ascontiguousarray(frame)).labels
        np.testing.assert_array_equal(result.labels, contiguous)


@pytest.mark.parametrize('bad', [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                 np.zeros((10, 10, 3), np.float32), 'frame.png'])
def test_bad_frames_are_rejected_with_the_reason(segmenter, bad):
    with pytest.raises(ValueError, match='uint8 RGB'):
        segmenter.segment(bad)


def test_label_modes(tiny_checkpoint, camvid_val_frames):
    """Both modes agree at the model's resolution and differ only near boundaries above it."""
    seg = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                 threads=1, warmup_runs=0))
    rgb = camvid_val_frames[0][1]
    logits, _ = seg.infer_logits(rgb)
    smooth = seg.postprocess(logits, rgb.shape[:2], 'upsample_logits')
    blocky = seg.postprocess(logits, rgb.shape[:2], 'argmax_then_nearest')
    coarse = seg.postprocess(logits, tuple(logits.shape[-2:]), 'upsample_logits')
    np.testing.assert_array_equal(coarse, seg.postprocess(logits, tuple(logits.shape[-2:]),
                                                          'argmax_then_nearest'))
    # Nearest upsampling of the stride-8 argmax: every 8x8 cell holds one label.
    np.testing.assert_array_equal(blocky, np.repeat(np.repeat(coarse, 8, 0), 8, 1))
    assert smooth.shape == blocky.shape
    with pytest.raises(ValueError, match='label mode'):
        seg.postprocess(logits, rgb.shape[:2], 'bicubic_then_vote')


@pytest.mark.parametrize('shape', [(360, 480), (45, 60), (4, 1), (1, 4), (1, 1), (3, 7)])
def test_running_argmax_over_class_planes_equals_argmax_ties_included(shape):
    """The OpenCV running maximum behind every CPU label map: numpy's argmax exactly, ties
    to the lower class id, on shapes OpenCV could mistake for a scalar too."""
    from sgcp_core.engine.pre_post import _argmax_planes
    rng = np.random.default_rng(0)
    for count in (2, 11, 19):
        scores = np.round(rng.standard_normal((count,) + shape) * 2).astype(np.float32)
        labels = _argmax_planes(iter(scores), count)   # planes may come one at a time
        assert labels.dtype == np.uint8 and labels.shape == shape
        np.testing.assert_array_equal(labels, scores.argmax(0))


def test_opencv_upsampling_matches_torch_interpolate():
    """The CPU label path (OpenCV resize + running max) equals torch interpolate + argmax."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 11, 45, 60, generator=generator)
    for size in [(360, 480), (720, 960), (101, 333)]:
        expected = F.interpolate(logits, size=size, mode='bilinear',
                                 align_corners=False)[0].argmax(0).numpy()
        got = postprocess(logits.numpy(), size, 'upsample_logits')
        assert got.dtype == np.uint8 and got.shape == size
        assert (got == expected).mean() > 0.9999   # float rounding may flip exact ties only
        # The authors' bicubic label mode, whatever the model's own interpolation.
        bicubic = F.interpolate(logits, size=size, mode='bicubic',
                                align_corners=False)[0].argmax(0).numpy()
        got = postprocess(logits.numpy(), size, 'upsample_logits_bicubic', 'bilinear')
        assert (got == bicubic).mean() > 0.999 and (got != expected).mean() > 0.001
        torch_path = postprocess(logits, size, 'upsample_logits_bicubic')
        np.testing.assert_array_equal(torch_path, got)


def test_coarse_logits_are_the_network_before_its_upsampling(tiny_model):
    images = torch.randn(1, 3, 360, 480, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        coarse = tiny_model(images, coarse=True)
        full = tiny_model(images)
    assert coarse.shape == (1, 11, 45, 60)
    upsampled = F.interpolate(coarse, size=(360, 480), mode=tiny_model.upsample,
                              align_corners=False)
    torch.testing.assert_close(upsampled, full, rtol=0, atol=0)


def test_preprocess_matches_training_normalisation(camvid_val_frames):
    rgb = camvid_val_frames[0][1]
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    got = preprocess(rgb, (360, 480), mean, std)
    expected = normalize(rgb, mean, std).unsqueeze(0).numpy()
    assert got.shape == (1, 3, 360, 480) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    resized = preprocess(rgb, (180, 240), mean, std)
    assert resized.shape == (1, 3, 180, 240) and resized.flags.c_contiguous


def test_colorize_and_overlay():
    labels = np.array([[0, 1], [10, UNKNOWN_LABEL]], np.uint8)
    color = colorize(labels, CAMVID)
    assert color[0, 0].tolist() == list(CAMVID.palette[0])
    assert color[1, 0].tolist() == list(CAMVID.palette[10])
    assert color[1, 1].tolist() == [0, 0, 0]
    rgb = np.full((2, 2, 3), 200, np.uint8)
    np.testing.assert_array_equal(overlay(rgb, color, labels, 0.0), rgb)
    full = overlay(rgb, color, labels, 1.0)
    np.testing.assert_array_equal(full[0], color[0])
    assert full[1, 1].tolist() == [200, 200, 200]   # unknown keeps the camera's colour
    with pytest.raises(ValueError, match='alpha'):
        overlay(rgb, color, labels, 1.5)


@pytest.mark.parametrize('backend', BACKENDS)
def test_cuda_without_cuda_falls_back_or_fails_when_strict(tiny_checkpoint, backend, request):
    from sgcp_core.engine.segmenter import _cuda_available
    if _cuda_available(backend):
        pytest.skip('CUDA is available here, so there is nothing to fall back from')
    config = EngineConfig(model_path=str(_model_for(backend, tiny_checkpoint, request)),
                          backend=backend, device='cuda', warmup_runs=0, threads=1)
    with pytest.warns(DeviceFallbackWarning, match='running on the CPU'):
        seg = Segmenter(config)
    assert seg.device == 'cpu' and seg.backend_name == backend
    with pytest.raises(EngineError, match='strict'):
        Segmenter(EngineConfig(**{**config.__dict__, 'strict_device': True}))


@pytest.mark.parametrize('device', DEVICES)
def test_torch_backend_on_each_device(tiny_checkpoint, camvid_val_frames, device):
    seg = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                 device=device, strict_device=True, warmup_runs=1))
    assert seg.device == device
    assert seg.segment(camvid_val_frames[0][1]).labels.shape == (360, 480)


@pytest.fixture
def engine_log():
    """Messages of the 'sgcp_core.engine' logger, caught by a handler on that logger itself
    (launch's logger class, loaded by its pytest plugin, stops propagation to caplog)."""
    import logging

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.INFO)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

        @property
        def text(self):
            return '\n'.join(self.messages)

    logger = logging.getLogger('sgcp_core.engine')
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.skipif(__import__('importlib').util.find_spec('onnxruntime') is None,
                    reason='onnxruntime not installed')
def test_auto_runs_a_current_onnx_export_and_never_exports(tiny_checkpoint, tiny_onnx,
                                                           tmp_path, engine_log):
    """auto on the CPU: the .onnx beside a .pt when it was exported from it, else torch."""
    import shutil
    checkpoint = tmp_path / 'model.pt'
    shutil.copyfile(tiny_checkpoint, checkpoint)
    config = EngineConfig(model_path=str(checkpoint), device='cpu', warmup_runs=0, threads=1)
    assert Segmenter(config).backend_name == 'torch'   # no export beside it
    assert 'no model.onnx beside it' in engine_log.text
    assert not (tmp_path / 'model.onnx').exists()
    with pytest.raises(EngineError, match='no model.onnx beside it'):
        Segmenter(EngineConfig(**{**config.__dict__, 'backend': 'onnx'}))

    shutil.copyfile(tiny_onnx, tmp_path / 'model.onnx')   # exported from tiny.pt: current
    engine_log.messages.clear()
    assert Segmenter(config).backend_name in ONNX_RUNTIMES   # the faster of the two
    assert str(tmp_path / 'model.onnx') in engine_log.text

    model, meta = load_model(tiny_checkpoint)   # other weights: the export is now stale
    for parameter in model.parameters():
        parameter.data.add_(0.01)
    from sgcp_core.checkpoint import save_checkpoint
    save_checkpoint(checkpoint, model, meta)
    engine_log.messages.clear()
    assert Segmenter(config).backend_name == 'torch'
    assert 'was not exported from this checkpoint' in engine_log.text


def test_input_size_override(tiny_checkpoint, camvid_val_frames):
    seg = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                 input_height=240, input_width=320, warmup_runs=0))
    assert seg.input_size == (240, 320)
    assert seg.segment(camvid_val_frames[0][1]).labels.shape == (360, 480)
    with pytest.raises(ConfigError, match='both'):
        Segmenter(EngineConfig(model_path=str(tiny_checkpoint), input_height=240))


def test_bad_models_and_configs_name_the_problem(tiny_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pt'):
        Segmenter(EngineConfig(model_path=str(tmp_path / 'nowhere.pt')))
    junk = tmp_path / 'junk.pt'
    junk.write_bytes(b'not a checkpoint')
    with pytest.raises(ModelFileError, match='junk.pt'):
        Segmenter(EngineConfig(model_path=str(junk), backend='torch'))
    junk_onnx = tmp_path / 'junk.onnx'
    junk_onnx.write_bytes(b'not an onnx graph')
    with pytest.raises(ValueError, match='junk.onnx'):
        Segmenter(EngineConfig(model_path=str(junk_onnx)))
    with pytest.raises(EngineError, match='torch backend needs a .pt'):
        Segmenter(EngineConfig(model_path=str(junk_onnx), backend='torch'))
    with pytest.raises(ConfigError, match='backend'):
        Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='tensorflow'))
    with pytest.raises(ConfigError, match='label_mode'):
        Segmenter(EngineConfig(model_path=str(tiny_checkpoint), label_mode='vote'))
    # Cityscapes' 19-class palette on an 11-class CamVid model.
    with pytest.raises(ValueError, match='19 classes, but the model has 11'):
        Segmenter(EngineConfig(model_path=str(tiny_checkpoint), classes_file='cityscapes',
                               backend='torch', warmup_runs=0))


def test_custom_classes_file(tiny_checkpoint, tmp_path):
    names = tmp_path / 'classes.txt'
    names.write_text(''.join(f'thing{i} {i} {2 * i} {3 * i}\n' for i in range(11)))
    seg = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), classes_file=str(names),
                                 backend='torch', warmup_runs=0))
    assert seg.classes.names[3] == 'thing3' and seg.classes.palette[3] == (3, 6, 9)
    assert seg.colorize(np.full((2, 2), 3, np.uint8))[0, 0].tolist() == [3, 6, 9]


def test_default_model_path(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv('SGCP_MODEL', str(tiny_checkpoint))
    assert default_model_path() == tiny_checkpoint
    seg = Segmenter(EngineConfig(backend='torch', warmup_runs=0))
    assert seg.model_path == tiny_checkpoint
    monkeypatch.setenv('SGCP_MODEL', str(tmp_path / 'gone.pt'))
    with pytest.raises(FileNotFoundError, match='SGCP_MODEL'):
        default_model_path()
    monkeypatch.delenv('SGCP_MODEL')
    monkeypatch.setattr('sgcp_core.resources.share_roots',
                        lambda: [tmp_path / 'a', tmp_path / 'b'])
    with pytest.raises(FileNotFoundError, match=f'searched {tmp_path / "a"}, {tmp_path / "b"}'):
        default_model_path()


def test_segmenter_is_usable_from_threads(tiny_checkpoint, camvid_val_frames):
    from concurrent.futures import ThreadPoolExecutor
    seg = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                 warmup_runs=0))
    frames = [rgb for _, rgb, _ in camvid_val_frames[:3]]
    expected = [seg.segment(f).labels for f in frames]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda f: seg.segment(f).labels, frames))
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


_FAULTS_SCRIPT = '''
import resource, sys, torch
from sgcp_core.engine.torch_backend import hold_freed_memory
if sys.argv[1] == "hold":
    assert hold_freed_memory()
torch.set_num_threads(1)
from sgcp_core.models import build_sgcpnet
model = build_sgcpnet(11).eval()
# At 768x1536 the logits alone (52 MB) exceed glibc's largest automatic mmap threshold
# (32 MiB), so without the setting they are mapped and unmapped on every frame.
images = torch.zeros(1, 3, 768, 1536)
with torch.inference_mode():
    model(images); model(images)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model(images)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != 'linux', reason='glibc only')
def test_holding_freed_memory_stops_per_frame_page_faults():
    """Without it glibc unmaps large freed blocks and every frame faults them back in."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    faults = {}
    for mode in ('default', 'hold'):
        out = subprocess.run([sys.executable, '-c', _FAULTS_SCRIPT, mode], env=env,
                             capture_output=True, text=True, check=True)
        faults[mode] = int(out.stdout.split()[-1])
    assert faults['hold'] * 5 < faults['default'], faults
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert hold_freed_memory()


def test_cityscapes_model_with_its_own_palette(tmp_path, camvid_val_frames):
    """A 19-class model: the classes and palette come from its metadata alone."""
    from sgcp_core.checkpoint import save_checkpoint
    from sgcp_core.classes import CITYSCAPES
    from sgcp_core.config import DataConfig, ModelConfig
    from sgcp_core.metadata import make_meta
    from sgcp_core.models import build_sgcpnet
    torch.manual_seed(0)
    path = tmp_path / 'cityscapes.pt'
    save_checkpoint(path, build_sgcpnet(19).eval(),
                    make_meta(ModelConfig(num_classes=19), CITYSCAPES, DataConfig(),
                              input_size=(128, 256)))
    seg = Segmenter(EngineConfig(model_path=str(path), threads=1, warmup_runs=1))
    assert seg.classes == CITYSCAPES and seg.input_size == (128, 256)
    result = seg.segment(camvid_val_frames[0][1], want_color=True)
    assert result.labels.shape == (360, 480) and result.labels.max() < 19
    palette = np.asarray(CITYSCAPES.palette, np.uint8)
    np.testing.assert_array_equal(result.color_mask, palette[result.labels])
