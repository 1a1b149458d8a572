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
from sgcp_core.checkpoint import read_meta  # noqa: E402
from sgcp_core.config import EngineConfig  # noqa: E402
from sgcp_core.engine import Segmenter  # noqa: E402
from sgcp_core.engine.onnx_backend import ONNXBackend  # noqa: E402
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
    """The 0.61M architecture (untrained) quantized with its first and last convolutions in
    fp32."""
    out = tmp_path_factory.mktemp('int8') / 'tiny_int8.onnx'
    report = quantize_onnx(tiny_checkpoint, out, frames_dir, frames=4, method='minmax',
                           exclude=['first_conv', 'classifier'])
    return out, report


# What ONNX Runtime runs without computing in float: integer kernels, (de)quantization and
# ops that only move or index data (shapes, layout, nearest resize and max-pool of uint8).
_NOT_FLOAT_COMPUTE = {'QuantizeLinear', 'DequantizeLinear', 'Shape', 'Gather', 'Unsqueeze',
                      'Concat', 'Slice', 'Transpose', 'Resize', 'MaxPool', 'NhwcMaxPool',
                      'ReorderInput', 'ReorderOutput', 'Reshape', 'Identity'}


def _optimized_graph(path, tmp_path):
    """The graph ONNX Runtime runs for ``path`` (CPU, all optimisations), as saved by it."""
    import onnx
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / 'optimized.onnx')
    options.log_severity_level = 3   # saving an NCHWc-optimised graph warns that it is
    ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    return onnx.load(str(tmp_path / 'optimized.onnx')).graph


def _float_islands(graph) -> list[str]:
    """Float-computing nodes with an integer kernel both upstream and downstream of them."""
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def integer(node):
        return node.op_type.startswith('QLinear')

    def reaches(node, step, seen):
        for neighbour in step(node):
            if id(neighbour) not in seen:
                seen.add(id(neighbour))
                if integer(neighbour) or reaches(neighbour, step, seen):
                    return True
        return False

    def upstream(node):
        return [producers[i] for i in node.input if i in producers]

    def downstream(node):
        return [c for o in node.output for c in consumers.get(o, [])]

    return [f'{node.op_type} {node.name}' for node in graph.node
            if not integer(node) and node.op_type not in _NOT_FLOAT_COMPUTE
            and reaches(node, upstream, set()) and reaches(node, downstream, set())]


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
    convs = [node for node in graph.node if node.name in report.excluded_nodes
             and node.op_type == 'Conv']
    assert len(convs) == 2
    for node in convs:
        # Weight and bias are plain float initializers, not outputs of DequantizeLinear
        # (the untrained network's equal zero biases are shared with quantized convs).
        for name in node.input[1:]:
            assert name not in producers or producers[name].op_type != 'DequantizeLinear'


def test_int8_graph_has_no_float_islands_between_int8_kernels(tiny_int8, tmp_path):
    # The 0.61M architecture's hard-swish, hard-sigmoid and squeeze-excite ran in float
    # between int8 convolutions (Dequantize/Quantize around each): no int8 speed-up.
    path, report = tiny_int8
    graph = _optimized_graph(path, tmp_path)
    assert _float_islands(graph) == []
    ops = [node.op_type for node in graph.node]
    assert ops.count('QLinearConv') == 85   # all but the first and last convolutions
    for op in ('QLinearGlobalAveragePool', 'QLinearAdd', 'QLinearMul', 'QLinearSigmoid'):
        assert op in ops
    assert not {'HardSwish', 'HardSigmoid', 'ReduceMean'} & set(ops)
    # The first convolution's hard-swish stays in float with it, not quantized between.
    assert [n for n in report.excluded_nodes if '/stem/' in n] == [
        '/model/encoder/stem/conv/Conv', '/model/encoder/stem/act/HardSwish/HardSigmoid',
        '/model/encoder/stem/act/HardSwish/Mul']


def test_rewrites_for_quantization_compute_the_same_function(tiny_onnx, camvid_val_frames):
    import onnx
    import onnxruntime as ort
    from sgcp_core.engine.pre_post import preprocess
    from sgcp_core.checkpoint import read_meta
    from sgcp_core.qdq_rewrites import rewrite_for_quantization
    model = onnx.load(str(tiny_onnx))
    convolutions = [node.op_type for node in model.graph.node].count('Conv')
    first_conv = next(n.name for n in model.graph.node if n.op_type == 'Conv')
    kept = rewrite_for_quantization(model, [first_conv])
    assert kept[0] == first_conv and len(kept) == 3   # + its HardSigmoid and Mul, named
    ops = [node.op_type for node in model.graph.node]
    assert 'HardSwish' not in ops and 'ReduceMean' not in ops
    # The export's 27 fusion-weight scalings (1x1 depthwise convolutions, uniform weights)
    # are multiplications again, which simplify_quantized folds into scales.
    assert ops.count('Conv') == convolutions - 27 == 87
    assert ops.count('HardSigmoid') == 1 and ops.count('GlobalAveragePool') == 9
    # The 72-, 88- and 120-channel depthwise convolutions, widened with zero channels.
    groups = [a.i for n in model.graph.node if n.op_type == 'Conv' for a in n.attribute
              if a.name == 'group' and a.i > 1 and '/encoder/' in n.name]
    assert groups == [16, 80, 96, 96, 240, 240, 128, 144, 288, 576, 576]
    meta = read_meta(tiny_onnx)
    images = preprocess(camvid_val_frames[0][1], meta.input_size, meta.mean, meta.std)
    before, after = (ort.InferenceSession(m, providers=['CPUExecutionProvider']).run(
        None, {'images': images})[0] for m in (str(tiny_onnx), model.SerializeToString()))
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)


def test_simplified_qdq_graph_folds_scalar_multipliers_and_reads_shapes_quantized():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from sgcp_core.qdq_rewrites import simplify_quantized

    def constant(name, value, dtype=np.float32):
        return numpy_helper.from_array(np.asarray(value, dtype), name)

    # y = Resize(DQ(Q(x)) * 0.25 -> Q -> DQ, to the size of x), nearest; and x * 0.25 + x.
    nodes = [
        helper.make_node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
        helper.make_node('DequantizeLinear', ['xq', 's', 'z'], ['xd']),
        helper.make_node('DequantizeLinear', ['cq', 'cs', 'cz'], ['c']),
        helper.make_node('Mul', ['xd', 'c'], ['m'], 'scale_by_constant'),
        helper.make_node('QuantizeLinear', ['m', 'ms', 'z'], ['mq']),
        helper.make_node('DequantizeLinear', ['mq', 'ms', 'z'], ['md']),
        helper.make_node('Add', ['md', 'xd'], ['a']),
        helper.make_node('QuantizeLinear', ['a', 's', 'z'], ['aq']),
        helper.make_node('DequantizeLinear', ['aq', 's', 'z'], ['y']),
        helper.make_node('Shape', ['xd'], ['shape'])]
    initializers = [constant('s', 0.05), constant('z', 128, np.uint8),
                    constant('cq', 255, np.uint8), constant('cs', 0.25 / 255),
                    constant('cz', 0, np.uint8), constant('ms', 0.0125)]
    graph = helper.make_graph(
        nodes, 'qdq', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 2, 3, 4])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 2, 3, 4]),
         helper.make_tensor_value_info('shape', TensorProto.INT64, [4])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    x = np.random.default_rng(0).uniform(-6, 6, (1, 2, 3, 4)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString(),
                                    providers=['CPUExecutionProvider']).run(None, {'x': x})
    counts = simplify_quantized(model)
    onnx.checker.check_model(model)
    assert counts == {'folded_multipliers': 1, 'shapes_of_quantized': 1}
    ops = [node.op_type for node in model.graph.node]
    assert 'Mul' not in ops and ops.count('QuantizeLinear') == 2
    assert next(n for n in model.graph.node if n.op_type == 'Shape').input[0] == 'xq'
    got = ort.InferenceSession(model.SerializeToString(),
                               providers=['CPUExecutionProvider']).run(None, {'x': x})
    np.testing.assert_array_equal(got[1], expected[1])
    # One rounding step fewer: within one output quantization step of the original.
    np.testing.assert_allclose(got[0], expected[0], atol=0.05 + 1e-6)


def test_calibration_cache_without_the_rewritten_tensors_is_not_reused(tmp_path):
    import json
    from onnx import helper
    from sgcp_core.quantize import _cache_covers
    graph = helper.make_graph([helper.make_node('Add', ['x', 'c'], ['int8prep/a/shifted'],
                                                'int8prep/a/Add')], 'g', [], [])
    cache = tmp_path / 'ranges.json'
    assert _cache_covers(cache, graph, [])                    # no cache yet: calibrate
    cache.write_text(json.dumps({'data': {'x': {}}}))
    assert not _cache_covers(cache, graph, [])                # made with that node in fp32
    assert _cache_covers(cache, graph, ['int8prep/a/Add'])
    cache.write_text(json.dumps({'data': {'x': {}, 'int8prep/a/shifted': {}}}))
    assert _cache_covers(cache, graph, [])


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
        # The engine settles the file's free height and width at its input size: the same
        # logits as a session that leaves them free.
        assert segmenter.backend.fixed_input_size == size
        free = ONNXBackend(path, 'cpu', threads=1)
        assert free.fixed_input_size is None
        images = np.random.default_rng(0).standard_normal((1, 3) + size).astype(np.float32)
        np.testing.assert_array_equal(segmenter.backend.forward(images), free.forward(images))
    # Quantization error stays small next to the logits' spread (an untrained network).
    expected, _ = reference.infer_logits(frame)
    got, _ = Segmenter(EngineConfig(model_path=str(path), device='cpu', threads=1,
                                    warmup_runs=0)).infer_logits(frame)
    expected = expected.numpy()
    assert np.corrcoef(expected.ravel(), got.ravel())[0, 1] > 0.95


def test_dynamic_batch_int8_file_runs_camera_frames_together(tiny_checkpoint, frames_dir,
                                                             tmp_path):
    import onnx
    path = tmp_path / 'batch_int8.onnx'
    assert sgcp(['export', '--int8', '--dynamic-batch', '-m', str(tiny_checkpoint), '-o',
                 str(path), '--calibration', str(frames_dir), '--calibration-frames', '2',
                 '--calibration-method', 'minmax']) == 0
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == 'batch' and dims[1].dim_value == 3
    segmenter = Segmenter(EngineConfig(model_path=str(path), device='cpu', threads=1,
                                       warmup_runs=0))
    assert segmenter.takes_batches and 'int8 graph' in segmenter.describe()
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
              for p in sorted(frames_dir.glob('*.png'))[:3]]
    together = segmenter.segment_batch(frames, [{}] * len(frames))
    assert [r.batch_size for r in together] == [3, 3, 3]
    for frame, batched in zip(frames, together):
        alone = segmenter.segment(frame)
        # Integer kernels are exact; the fp32 first convolution may round differently per
        # batch layout, which can move a near-tie pixel at most.
        assert (batched.labels == alone.labels).mean() > 0.999


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


def test_cli_rejects_bad_input_in_one_line(tiny_checkpoint, tiny_int8, tiny_onnx, frames_dir,
                                           tmp_path, capsys):
    # Quantizing an int8 file again, a missing calibration folder, a typo'd node pattern,
    # options that int8 exports do not take.
    for args in (['-m', str(tiny_int8[0]), '--calibration', str(frames_dir)],
                 ['-m', str(tiny_checkpoint), '--calibration', str(tmp_path / 'missing')],
                 ['-m', str(tiny_checkpoint), '--calibration', str(frames_dir),
                  '--fp32-nodes', 'clasifier', '-o', str(tmp_path / 'x.onnx')],
                 ['-m', str(tiny_checkpoint), '--input-size', '720x960'],
                 ['-m', str(tiny_onnx), '--calibration', str(frames_dir), '--dynamic-batch']):
        assert sgcp(['export', '--int8', '--calibration-frames', '2', *args]) == 2
        error = capsys.readouterr().err
        assert error.startswith('sgcp export: error:') and 'Traceback' not in error
    assert 'needs the .pt checkpoint' in error
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
    assert 'inf x total x' in out   # each row against ONNX Runtime fp32 of the same model
    rows = json.loads((tmp_path / 'bench.json').read_text())['timings']
    assert [(r['precision'], r['resolution']) for r in rows] == [('fp32', [90, 120]),
                                                                 ('int8', [90, 120])]
    int8_row = next(line for line in out.splitlines() if line.startswith('net_int8.onnx'))
    speed = rows[0]['total_ms'] / rows[1]['total_ms']
    assert int8_row.split()[-1] == f'{speed:.2f}x'
