# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Several frames through one network run (the node's cameras): the same results as one by
one, for every backend, on real CamVid frames of different sizes."""

from importlib.util import find_spec

import numpy as np
import pytest

from sgcp_core.config import EngineConfig
from sgcp_core.engine import Segmenter, preprocess

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')


@pytest.fixture(scope='module')
def batch_onnx(tiny_checkpoint, tmp_path_factory):
    """``tiny_checkpoint`` exported with a named batch axis by ``sgcp export --dynamic-batch``."""
    onnx = pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    from sgcp_core.cli import main
    path = tmp_path_factory.mktemp('batch_onnx') / 'tiny_batch.onnx'
    assert main(['export', '-m', str(tiny_checkpoint), '-o', str(path), '--dynamic-batch']) == 0
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ['batch', 3, 360, 480]
    return path


def _segmenter(model, backend: str) -> Segmenter:
    return Segmenter(EngineConfig(model_path=str(model), backend=backend, device='cpu',
                                  threads=1, warmup_runs=0, min_confidence=0.2))


def _frames(camvid_val_frames):
    """Three cameras: two 360x480 frames and one 240x320 (resized on the way in)."""
    import cv2
    (_, first, _), (_, second, _), (_, third, _) = camvid_val_frames[:3]
    return [first, second, cv2.resize(third, (320, 240), interpolation=cv2.INTER_AREA)]


OPTIONS = [{'want_color': True, 'want_overlay': True, 'overlay_alpha': 0.3},
           {'want_confidence': True},
           {'want_confidence': True, 'output_size': (120, 160)}]


@pytest.mark.parametrize('backend', ['torch', 'onnx', pytest.param('openvino', marks=(
    pytest.mark.skipif(find_spec('openvino') is None, reason='openvino not installed')))])
def test_a_batch_gives_what_each_frame_gives_alone(backend, tiny_checkpoint, batch_onnx,
                                                   camvid_val_frames):
    segmenter = _segmenter(batch_onnx if backend != 'torch' else tiny_checkpoint, backend)
    assert segmenter.takes_batches
    frames = _frames(camvid_val_frames)
    alone = [segmenter.segment(frame, **option) for frame, option in zip(frames, OPTIONS)]
    together = segmenter.segment_batch(frames, OPTIONS)
    assert [r.batch_size for r in together] == [3, 3, 3]
    for single, batched in zip(alone, together):
        assert single.labels.shape == batched.labels.shape
        # min_confidence 0.2 marks some pixels unknown: confidence must match as well.
        assert (single.labels == 255).any()
        np.testing.assert_array_equal(batched.labels, single.labels)
        for name in ('color_mask', 'overlay', 'confidence'):
            a, b = getattr(single, name), getattr(batched, name)
            assert (a is None) == (b is None), name
            if a is not None:
                np.testing.assert_array_equal(b, a, err_msg=name)
        assert batched.timings_ms['inference'] > 0
        assert batched.timings_ms['total'] == pytest.approx(
            sum(v for k, v in batched.timings_ms.items() if k != 'total'))
    # And the logits themselves, network run against network run.
    logits = segmenter.backend.forward(np.concatenate([
        preprocess(frame, segmenter.input_size, segmenter.meta.mean, segmenter.meta.std)
        for frame in frames]))
    for index, frame in enumerate(frames):
        single, _ = segmenter.infer_logits(frame)
        np.testing.assert_allclose(np.asarray(logits[index:index + 1]), np.asarray(single),
                                   rtol=1e-5, atol=1e-5)


def test_a_fixed_batch_graph_runs_a_batch_one_frame_at_a_time(tiny_onnx, camvid_val_frames):
    segmenter = _segmenter(tiny_onnx, 'onnx')   # exported without --dynamic-batch
    assert segmenter.backend.fixed_batch_size == 1 and not segmenter.takes_batches
    frames = _frames(camvid_val_frames)
    results = segmenter.segment_batch(frames, OPTIONS)
    assert [r.batch_size for r in results] == [1, 1, 1]
    for frame, option, result in zip(frames, OPTIONS, results):
        np.testing.assert_array_equal(result.labels, segmenter.segment(frame, **option).labels)


def test_bad_batches_name_the_problem(tiny_checkpoint, camvid_val_frames):
    segmenter = _segmenter(tiny_checkpoint, 'torch')
    frame = camvid_val_frames[0][1]
    with pytest.raises(ValueError, match='2 frames but 1 option sets'):
        segmenter.segment_batch([frame, frame], [{}])
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8'):
        segmenter.segment_batch([frame, frame[:, :, 0]])
    assert segmenter.segment_batch([]) == []


def test_bench_times_batches_against_one_by_one(tiny_checkpoint, tiny_onnx, camvid_root,
                                                tmp_path, capsys):
    """``sgcp bench --batch N``: the measurement behind camera_batching's default."""
    pytest.importorskip('onnxruntime')
    import json

    from sgcp_core.cli import main
    report = tmp_path / 'bench.json'
    assert main(['bench', '--models', str(tiny_checkpoint), str(tiny_onnx), '--no-timing',
                 '--batch', '2', '--resolution', '360x480', '--runs', '2', '--num-frames', '2',
                 '--frames', str(camvid_root / 'val'), '--threads', '1',
                 '--json', str(report)]) == 0
    out = capsys.readouterr().out
    rows = json.loads(report.read_text())['batching']
    # The checkpoint runs batched on every backend (onnx, openvino: exported with a batch
    # axis); the fixed-batch .onnx cannot batch and says so.
    backends = ['onnx', 'torch'] + (['openvino'] if find_spec('openvino') else [])
    assert sorted((r['backend'], r['model'].endswith('.pt')) for r in rows) == sorted(
        (backend, True) for backend in backends)
    for row in rows:
        assert row['batch'] == 2 and row['resolution'] == [360, 480]
        assert row['sequential_ms'] > 0 and row['batched_ms'] > 0
        assert row['speedup'] == pytest.approx(row['sequential_ms'] / row['batched_ms'])
    assert f'not batched: {tiny_onnx.name}: its graph takes one frame per run' in out
