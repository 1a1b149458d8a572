# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Static int8 quantization (sgcp_core.quantize, ``sgcp export --int8``) with ONNX Runtime."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip('onnxruntime', reason='int8 export needs onnxruntime')
pytest.importorskip('onnx', reason='int8 export needs onnx')

from sgcp_core.cli import main as sgcp  # noqa: E402
from sgcp_core.config import EngineConfig  # noqa: E402
from sgcp_core.engine import Segmenter  # noqa: E402
from sgcp_core.metadata import read_meta  # noqa: E402
from sgcp_core.quantize import (calibration_images, int8_path, quantize_onnx,  # noqa: E402
                                resolve_excluded_nodes)


@pytest.fixture(scope='module')
def frames_dir(tmp_path_factory):
    """Four smooth synthetic 360x480 frames (blurred noise, like a scene more than noise)."""
    folder = tmp_path_factory.mktemp('calibration')
    rng = np.random.default_rng(0)
    for index in range(4):
        noise = rng.integers(0, 256, (45, 60, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f'{index:03d}.png'),
                    cv2.resize(noise, (480, 360), interpolation=cv2.INTER_CUBIC))
    return folder


@pytest.fixture(scope='module')
def tiny_int8(tiny_checkpoint, frames_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp('int8') / 'tiny_int8.onnx'
    report = quantize_onnx(tiny_checkpoint, out, frames_dir, frames=4, method='minmax',
                           exclude=['classifier'])
    return out, report


def test_int8_file_says_how_it_was_made(tiny_int8, frames_dir):
    path, report = tiny_int8
    meta = read_meta(path)
    assert meta.precision == 'int8'
    assert meta.calibration['method'] == 'minmax'
    assert meta.calibration['frames'] == 4
    assert meta.calibration['source'] == str(frames_dir)
    assert meta.calibration['excluded_nodes'] == list(report.excluded_nodes)
    assert any('classifier' in name for name in report.excluded_nodes)
    assert meta.num_classes == 11 and meta.logits_stride == 8
    assert report.size_bytes < report.fp32_size_bytes / 2   # int8 weights


def test_int8_graph_is_qdq_and_keeps_excluded_nodes_in_float(tiny_int8):
    import onnx
    path, report = tiny_int8
    graph = onnx.load(str(path)).graph
    ops = {node.op_type for node in graph.node}
    assert {'QuantizeLinear', 'DequantizeLinear'} <= ops
    producers = {output: node for node in graph.node for output in node.output}
    for node in graph.node:
        if node.name in report.excluded_nodes:
            # Its weight is a plain float initializer, not the output of a DequantizeLinear.
            weight = node.input[1]
            assert weight not in producers or producers[weight].op_type != 'DequantizeLinear'


def test_engine_runs_the_int8_file_at_any_size(tiny_int8, tiny_checkpoint):
    path, _ = tiny_int8
    frame = cv2.imread(str(sorted(path.parent.parent.glob('calibration*/000.png'))[0]))
    reference = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                       device='cpu', warmup_runs=0, threads=1))
    for size in ((360, 480), (180, 240)):
        segmenter = Segmenter(EngineConfig(model_path=str(path), device='cpu', threads=1,
                                           input_height=size[0], input_width=size[1],
                                           warmup_runs=1))
        assert 'int8 graph' in segmenter.describe()
        logits, _ = segmenter.infer_logits(frame)
        assert logits.shape == (1, 11, -(-size[0] // 8), -(-size[1] // 8))   # ceil
        assert np.isfinite(logits).all()
    # Quantization error stays small next to the logits' spread (an untrained network).
    expected, _ = reference.infer_logits(frame)
    got, _ = Segmenter(EngineConfig(model_path=str(path), device='cpu', threads=1,
                                    warmup_runs=0)).infer_logits(frame)
    expected = expected.numpy()
    assert np.corrcoef(expected.ravel(), got.ravel())[0, 1] > 0.95


def test_exclusions_resolve_by_group_and_pattern_and_typos_fail(tiny_onnx):
    import onnx
    graph = onnx.load(str(tiny_onnx)).graph
    first = resolve_excluded_nodes(graph, ['first_conv'])
    assert len(first) == 1 and first[0] == next(n.name for n in graph.node if n.op_type == 'Conv')
    assert resolve_excluded_nodes(graph, ['fusion']) == [
        n.name for n in graph.node if '/fuse' in n.name and n.op_type != 'Constant']
    with pytest.raises(ValueError, match='matches no node'):
        resolve_excluded_nodes(graph, ['/no_such_module/'])
    with pytest.raises(ValueError, match='regular expression'):
        resolve_excluded_nodes(graph, ['(unclosed'])


def test_calibration_frames_are_spread_over_the_folder(tmp_path):
    for index in range(10):
        cv2.imwrite(str(tmp_path / f'{index:02d}.png'), np.zeros((4, 4, 3), np.uint8))
    assert [p.stem for p in calibration_images(tmp_path, 3)] == ['00', '04', '09']
    assert len(calibration_images(tmp_path, 50)) == 10


def test_cli_rejects_bad_input_in_one_line(tiny_checkpoint, tiny_int8, frames_dir, tmp_path,
                                           capsys):
    # Quantizing an int8 file again, a missing calibration folder, a typo'd node pattern,
    # options that int8 exports do not take.
    for args in (['-m', str(tiny_int8[0]), '--calibration', str(frames_dir)],
                 ['-m', str(tiny_checkpoint), '--calibration', str(tmp_path / 'missing')],
                 ['-m', str(tiny_checkpoint), '--calibration', str(frames_dir),
                  '--fp32-nodes', 'clasifier', '-o', str(tmp_path / 'x.onnx')],
                 ['-m', str(tiny_checkpoint), '--input-size', '720x960']):
        assert sgcp(['export', '--int8', '--calibration-frames', '2', *args]) == 2
        error = capsys.readouterr().err
        assert error.startswith('sgcp export: error:') and 'Traceback' not in error
    assert not (tmp_path / 'x.onnx').exists()


def test_eval_scores_an_int8_file_through_the_engine(tiny_int8, frames_dir, tmp_path, capsys):
    import json
    for split in ('val', 'valannot'):
        (tmp_path / split).mkdir()
    for index, frame in enumerate(sorted(frames_dir.glob('*.png'))[:2]):
        (tmp_path / 'val' / frame.name).write_bytes(frame.read_bytes())
        cv2.imwrite(str(tmp_path / 'valannot' / frame.name),
                    np.full((360, 480), index, np.uint8))
    out = tmp_path / 'eval.json'
    assert sgcp(['eval', '--model', str(tiny_int8[0]), '--data-root', str(tmp_path),
                 '--json', str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary['precision'] == 'int8' and summary['images'] == 2
    assert 0.0 <= summary['miou'] <= 1.0
    assert sgcp(['eval', '--model', str(tiny_int8[0]), '--data-root', str(tmp_path),
                 '--flip']) == 2
    assert 'need the .pt checkpoint' in capsys.readouterr().err


@pytest.mark.slow
def test_cli_writes_stem_int8(tiny_checkpoint, frames_dir, tmp_path):
    model = tmp_path / 'net.pt'
    model.write_bytes(tiny_checkpoint.read_bytes())
    assert sgcp(['export', '--int8', '-m', str(model), '--calibration', str(frames_dir),
                 '--calibration-frames', '2', '--calibration-method', 'minmax']) == 0
    assert int8_path(model) == tmp_path / 'net_int8.onnx'
    assert read_meta(tmp_path / 'net_int8.onnx').calibration['frames'] == 2


@pytest.mark.slow
def test_shipped_model_int8_agrees_with_fp32_on_camvid(camvid_root, tmp_path):
    """The shipped default model: 8 train frames calibrate, 4 val frames compare labels."""
    from sgcp_core.resources import default_model_path
    model = default_model_path()
    out = tmp_path / 'shipped_int8.onnx'
    quantize_onnx(model, out, camvid_root / 'train', frames=8)
    fp32 = Segmenter(EngineConfig(model_path=str(model), device='cpu', warmup_runs=0))
    int8 = Segmenter(EngineConfig(model_path=str(out), device='cpu', warmup_runs=0))
    for path in sorted((camvid_root / 'val').glob('*.png'))[:4]:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        agreement = (fp32.segment(rgb).labels == int8.segment(rgb).labels).mean()
        assert agreement > 0.95, f'{path.name}: int8 labels agree on {agreement:.1%}'


def test_bench_times_each_model_next_to_its_int8_file(tiny_checkpoint, tiny_int8, frames_dir,
                                                      tmp_path, capsys):
    import json
    model = tmp_path / 'net.pt'
    model.write_bytes(tiny_checkpoint.read_bytes())
    args = ['bench', '--models', str(model), '--int8', '--backends', 'onnx', '--runs', '1',
            '--num-frames', '1', '--no-bare', '--resolution', '90x120', '--frames',
            str(frames_dir), '--threads', '1', '--json', str(tmp_path / 'bench.json')]
    assert sgcp(args) == 2
    assert 'sgcp export --int8 -m' in capsys.readouterr().err
    (tmp_path / 'net_int8.onnx').write_bytes(tiny_int8[0].read_bytes())
    assert sgcp(args) == 0
    out = capsys.readouterr().out
    assert 'int8 net at 90x120: total' in out
    assert '| net | 90x120 |' in out    # the README's int8 table row
    rows = json.loads((tmp_path / 'bench.json').read_text())['timings']
    assert [(r['precision'], r['resolution']) for r in rows] == [('fp32', [90, 120]),
                                                                 ('int8', [90, 120])]
