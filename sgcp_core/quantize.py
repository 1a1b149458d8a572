# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Static int8 quantization of an exported model with ONNX Runtime's own tooling.

``quantize_onnx`` takes the fp32 graph ``sgcp_core.export`` writes (or a ``.pt`` checkpoint,
exported first), runs real frames through it to calibrate the activation ranges and writes
a QDQ model: int8 per-channel weights, uint8 activations (ONNX Runtime's recommended pair
for x86 CPUs with VNNI), with chosen nodes (and their activations) left in fp32. Around
the quantizer, ``sgcp_core.qdq_rewrites`` spells hard-swish, hard-sigmoid and
squeeze-excite pooling with ops that stay int8, widens depthwise convolutions to channel
counts ONNX Runtime's fast int8 kernel takes and folds constant multipliers into
quantization scales. Frames are preprocessed by the engine's own ``preprocess``, so
calibration sees exactly what inference will see.

The result is an ordinary ONNX file for the engine and the node. Its metadata is the fp32
model's plus ``precision: "int8"`` and ``calibration`` (method, frame count, where the
frames came from, the nodes kept in fp32, ONNX Runtime version).

``quantize_openvino`` is the OpenVINO route: NNCF's post-training quantization of the same
fp32 graph, calibrated on the same frames, written as an OpenVINO IR (``.xml`` + ``.bin``)
for ``backend: openvino``, with the same metadata in the IR's ``rt_info``. OpenVINO runs
QDQ files too, but its own int8 graph is the one its kernels are made for.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sgcp_core.files import atomic_write, file_digest
from sgcp_core.metadata import ONNX_INPUT_NAME as INPUT_NAME
from sgcp_core.metadata import meta_from_onnx_props, meta_to_onnx_props
from sgcp_core.qdq_rewrites import (REWRITE_PREFIX, rewrite_for_quantization,
                                    simplify_quantized)

__all__ = ['CALIBRATION_METHODS', 'EXCLUDE_GROUPS', 'DEFAULT_METHOD', 'DEFAULT_EXCLUDE',
           'DEFAULT_CALIBRATION_FRAMES', 'QuantizeReport', 'FrameCalibrationReader',
           'calibration_images', 'fp32_onnx', 'resolve_excluded_nodes', 'quantize_onnx',
           'int8_path', 'openvino_int8_path', 'quantize_openvino']

CALIBRATION_METHODS = ('minmax', 'entropy', 'percentile')
# The method that lost the least val mIoU for both shipped variants (tools/int8_sweep.py
# compares them). Percentile clips the rare extreme activations that would otherwise
# stretch the int8 range and cost every other value its resolution.
DEFAULT_METHOD = 'percentile'
# The first convolution (3 input channels at full resolution) is slower as an int8 kernel
# than in float, where ONNX Runtime also fuses its activation, and it sees raw pixels.
DEFAULT_EXCLUDE: tuple[str, ...] = ('first_conv',)
DEFAULT_CALIBRATION_FRAMES = 64
# () = every operator type ONNX Runtime's quantizer handles: with Add, Mul, Relu/Clip,
# Resize, MaxPool and Concat in int8 as well as Conv, activations stay int8 between
# convolutions instead of paying a Dequantize/Quantize pair around each one.
DEFAULT_OP_TYPES: tuple[str, ...] = ()
# Frames per calibration pass: ONNX Runtime's calibrators keep every intermediate tensor
# of a pass in memory (a few hundred MB per 360x480 frame), so passes stay small.
FRAMES_PER_PASS = 8

# Node groups that can be kept in fp32, resolved on the graph by structure or name:
# the first convolution sees raw normalised pixels; the classifier produces the logits
# that the argmax compares; the SGCP fusion nodes weigh features of different scales.
EXCLUDE_GROUPS = ('first_conv', 'classifier', 'fusion', 'hfr')


@dataclass(frozen=True)
class QuantizeReport:
    """What ``quantize_onnx`` wrote."""

    path: Path
    method: str
    frames: int
    excluded_nodes: tuple[str, ...]
    size_bytes: int
    fp32_size_bytes: int

    def to_dict(self) -> dict:
        return {**asdict(self), 'path': str(self.path)}


def int8_path(path: str | Path) -> Path:
    """``models/x.pt`` or ``models/x.onnx`` -> ``models/x_int8.onnx``."""
    path = Path(path)
    return path.with_name(f'{path.stem}_int8.onnx')


def openvino_int8_path(path: str | Path) -> Path:
    """``models/x.pt`` or ``models/x.onnx`` -> ``models/x_int8.xml`` (its weights in
    ``x_int8.bin`` beside it)."""
    path = Path(path)
    return path.with_name(f'{path.stem}_int8.xml')


def calibration_images(source: str | Path, count: int) -> list[Path]:
    """``count`` images spread evenly over the sorted images under ``source``.

    Evenly spaced rather than the first ``count``: CamVid's splits are video sequences, so
    the first frames would all show the same street.
    """
    from sgcp_core.files import image_files
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f'calibration folder not found: {source}')
    images = image_files(source)
    if count <= 0:
        raise ValueError(f'calibration frame count must be positive, got {count}')
    if count >= len(images):
        return images
    picks = np.linspace(0, len(images) - 1, count).round().astype(int)
    return [images[i] for i in picks]


class FrameCalibrationReader:
    """Feeds preprocessed frames to ONNX Runtime's calibrator, a few at a time.

    Implements ``onnxruntime.quantization.CalibrationDataReader`` (``get_next``) plus the
    ``__len__``/``set_range`` pair its strided calibration uses, so that only
    ``FRAMES_PER_PASS`` frames' intermediate tensors are held at once.

    Args:
        images: image files (read as RGB).
        input_size: (H, W) the model runs at.
        mean, std: the model's normalisation, from its metadata.
    """

    def __init__(self, images: Sequence[Path], input_size: tuple[int, int],
                 mean: Sequence[float], std: Sequence[float]) -> None:
        self.images = list(images)
        self.input_size = tuple(input_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.set_range(0, len(self.images))

    def __len__(self) -> int:
        return len(self.images)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._pending = iter(self.images[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        from sgcp_core.data import read_rgb
        from sgcp_core.engine.pre_post import preprocess
        path = next(self._pending, None)
        if path is None:
            return None
        return {INPUT_NAME: preprocess(read_rgb(path), self.input_size, self.mean, self.std)}


def fp32_onnx(model: str | Path, dynamic: bool = True, dynamic_batch: bool = False,
              scaled_sums_as_convolutions: bool = False) -> bytes:
    """Serialised fp32 graph to quantize: a ``.onnx`` file as is, a ``.pt`` exported.

    ``dynamic`` and ``dynamic_batch`` apply to checkpoints only: the int8 file then takes
    any input size, so one file serves every camera resolution (the scales are per tensor,
    not per size), and with ``dynamic_batch`` any number of frames per run (a node's
    ``camera_batching``). An ``.onnx`` keeps the axes it was exported with. The SGCP
    weighted sums stay scalar multiplications (which the QDQ rewrites fold into int8
    scales) unless ``scaled_sums_as_convolutions``, the export's own form.
    """
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f'model file not found: {path}')
    if path.suffix.lower() == '.onnx':
        return path.read_bytes()
    from sgcp_core.checkpoint import load_model
    from sgcp_core.export import onnx_bytes
    network, meta = load_model(path)
    # Like "sgcp export": the graph names the checkpoint it came from.
    meta = dataclasses.replace(meta, source_sha256=file_digest(path))
    return onnx_bytes(network, meta, meta.input_size, dynamic=dynamic,
                      dynamic_batch=dynamic_batch,
                      scaled_sums_as_convolutions=scaled_sums_as_convolutions)


def _quantizable_nodes(graph) -> list:
    return [node for node in graph.node if node.op_type not in ('Constant',)]


def resolve_excluded_nodes(graph, exclude: Sequence[str]) -> list[str]:
    """Node names to keep in fp32 for ``exclude``: group names or regular expressions.

    Groups (``EXCLUDE_GROUPS``): 'first_conv' (the first Conv in graph order),
    'classifier' (nodes of the ``classifier`` module, the last Conv), 'fusion' (the SGCP
    module's weighted-sum fusion nodes, ``/fuse`` in their names), 'hfr' (the higher
    dimension feature convolutions). Anything else is a regular expression matched
    against node names (``re.search``); a pattern that matches nothing is an error, so a
    typo never silently quantizes everything.
    """
    nodes = _quantizable_nodes(graph)
    convs = [n.name for n in nodes if n.op_type == 'Conv']
    chosen: list[str] = []
    for item in exclude:
        if item == 'first_conv':
            names = convs[:1]
        elif item == 'classifier':
            names = [n.name for n in nodes if re.search('(^|/)classifier/', n.name)] or convs[-1:]
        elif item == 'fusion':
            names = [n.name for n in nodes if '/fuse' in n.name]
        elif item == 'hfr':
            names = [n.name for n in nodes if re.search('(^|/)hfr/', n.name)]
        else:
            try:
                pattern = re.compile(item)
            except re.error as error:
                raise ValueError(f'exclude {item!r} is neither a group {EXCLUDE_GROUPS} nor a '
                                 f'valid regular expression: {error}') from error
            names = [n.name for n in nodes if pattern.search(n.name)]
        if not names:
            raise ValueError(f'exclude {item!r} matches no node of the graph (groups: '
                             f'{", ".join(EXCLUDE_GROUPS)}; or a regular expression over '
                             'node names)')
        chosen.extend(name for name in names if name not in chosen)
    return chosen


def _method_enum(method: str):
    from onnxruntime.quantization import CalibrationMethod
    table = {'minmax': CalibrationMethod.MinMax, 'entropy': CalibrationMethod.Entropy,
             'percentile': CalibrationMethod.Percentile}
    if method not in table:
        raise ValueError(f'calibration method must be one of {CALIBRATION_METHODS}, got '
                         f'{method!r}')
    return table[method]


def _cache_covers(cache: str | Path, graph, excluded: Sequence[str]) -> bool:
    """False when ``cache`` exists but lacks ranges of tensors the rewrites added here (its
    graph kept other nodes in fp32); ONNX Runtime would leave those tensors in float."""
    import json
    cache = Path(cache)
    if not cache.is_file():
        return True
    ranges = json.loads(cache.read_text()).get('data', {})
    kept = set(excluded)
    return all(output in ranges for node in graph.node
               if node.name.startswith(REWRITE_PREFIX) and node.name not in kept
               for output in node.output)


def quantize_onnx(model: str | Path, out: str | Path, calibration: str | Path,
                  frames: int = DEFAULT_CALIBRATION_FRAMES, method: str = DEFAULT_METHOD,
                  exclude: Sequence[str] = DEFAULT_EXCLUDE,
                  op_types: Sequence[str] = DEFAULT_OP_TYPES, dynamic: bool = True,
                  calibration_cache: str | Path | None = None,
                  dynamic_batch: bool = False) -> QuantizeReport:
    """Write an int8 QDQ copy of ``model``, calibrated on frames from ``calibration``.

    Args:
        model: a ``.pt`` checkpoint (exported to fp32 ONNX first) or an fp32 ``.onnx``
            written by ``sgcp export``.
        out: the int8 ``.onnx`` to write (atomically).
        calibration: folder of images (e.g. CamVid ``train``); ``frames`` of them, spread
            over the folder, calibrate the activation ranges.
        method: 'minmax', 'entropy' or 'percentile' (99.999th, ONNX Runtime's default).
        exclude: node groups / name patterns kept in fp32 (with the activations that follow
            them); see ``resolve_excluded_nodes``.
        op_types: operator types to quantize; empty: all ONNX Runtime's quantizer handles
            (see ``DEFAULT_OP_TYPES`` for why).
        dynamic: for a checkpoint, export with any input size allowed (see ``fp32_onnx``).
        dynamic_batch: for a checkpoint, export with any batch size allowed; calibration
            still runs one frame at a time.
        calibration_cache: optional JSON file with the calibrated ranges: reused when it
            exists for the same method and covers this graph, written otherwise. Lets one
            calibration serve several ``exclude`` choices (calibrate the one with the fewest
            fp32 nodes first).

    Returns:
        QuantizeReport.
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.preprocess import quant_pre_process

    method_enum = _method_enum(method)
    data = fp32_onnx(model, dynamic, dynamic_batch)
    fp32 = onnx.load_from_string(data)
    props = {p.key: p.value for p in fp32.metadata_props}
    meta = meta_from_onnx_props(props, str(model))
    if meta.precision != 'fp32':
        raise ValueError(f'{model} is already {meta.precision}; quantize the fp32 model')
    # Fails fast on a typo, before any work.
    chosen = resolve_excluded_nodes(fp32.graph, exclude)
    # Ops that would run in float between int8 convolutions become ops that quantize; the
    # activations of nodes kept in fp32 stay with them (see sgcp_core.qdq_rewrites).
    kept_float = rewrite_for_quantization(fp32, chosen)
    images = calibration_images(calibration, frames)
    reader = FrameCalibrationReader(images, meta.input_size, meta.mean, meta.std)
    with tempfile.TemporaryDirectory(prefix='sgcp_int8_') as work:
        work = Path(work)
        source, prepared, quantized = work / 'fp32.onnx', work / 'prep.onnx', work / 'q.onnx'
        onnx.save(fp32, str(source))
        # Shape inference and ONNX Runtime's graph optimisations first, as the quantizer
        # recommends: folded constants and fused ops calibrate and quantize as one.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False)
        graph = onnx.load(str(prepared)).graph
        # Constant folding removes some named nodes (e.g. the fusion weights' arithmetic).
        present = {node.name for node in graph.node}
        excluded = [name for name in kept_float if name in present]
        if calibration_cache and not _cache_covers(calibration_cache, graph, excluded):
            Path(calibration_cache).unlink()   # made for a graph with other nodes in fp32
        stride = min(FRAMES_PER_PASS, len(images))
        while len(images) % stride:
            stride -= 1   # the strided calibration needs passes of equal size
        quantize_static(
            str(prepared), str(quantized), reader, quant_format=QuantFormat.QDQ,
            per_channel=True, reduce_range=False, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, nodes_to_exclude=excluded,
            op_types_to_quantize=list(op_types) or None,
            calibrate_method=method_enum,
            calibration_cache_path=(str(calibration_cache) if calibration_cache else None),
            extra_options={'CalibStridedMinMax': stride})
        result = onnx.load(str(quantized))
    simplify_quantized(result)
    calibration_meta = {
        'method': method, 'frames': len(images), 'source': str(calibration),
        'excluded_nodes': excluded, 'per_channel': True, 'format': 'QDQ',
        'activations': 'uint8', 'weights': 'int8', 'onnxruntime': onnxruntime.__version__}
    del result.metadata_props[:]
    int8_meta = dataclasses.replace(meta, precision='int8', calibration=calibration_meta)
    for key, value in meta_to_onnx_props(int8_meta).items():
        entry = result.metadata_props.add()
        entry.key, entry.value = key, value
    result.producer_name = 'sgcp_ros'
    onnx.checker.check_model(result)
    payload = result.SerializeToString()
    atomic_write(out, lambda temp: Path(temp).write_bytes(payload))
    return QuantizeReport(Path(out), method, len(images), tuple(excluded), len(payload),
                          len(data))


def quantize_openvino(model: str | Path, out: str | Path, calibration: str | Path,
                      frames: int = DEFAULT_CALIBRATION_FRAMES, dynamic: bool = True,
                      dynamic_batch: bool = False) -> QuantizeReport:
    """Write an OpenVINO int8 IR of ``model`` with NNCF, calibrated on frames from
    ``calibration`` (NNCF's default min-max ranges, symmetric int8 weights per channel).

    Args:
        model: a ``.pt`` checkpoint (exported to fp32 ONNX first, the export's own graph) or
            an fp32 ``.onnx`` written by ``sgcp export``.
        out: the ``.xml`` to write; its weights go to the ``.bin`` of the same stem. Both
            are written to a temporary folder first, then moved in, weights first.
        calibration, frames: as ``quantize_onnx``.
        dynamic, dynamic_batch: as ``fp32_onnx`` (for checkpoints).

    Returns:
        QuantizeReport (method 'nncf-minmax', no fp32 nodes kept by name).
    """
    import os

    import nncf
    import openvino as ov

    from sgcp_core.data import read_rgb
    from sgcp_core.engine.openvino_backend import RT_INFO_SECTION, read_openvino_meta
    from sgcp_core.engine.pre_post import preprocess
    out = Path(out)
    if out.suffix.lower() != '.xml':
        raise ValueError(f'an OpenVINO IR is a .xml file (weights in .bin beside it), got {out}')
    data = fp32_onnx(model, dynamic, dynamic_batch, scaled_sums_as_convolutions=True)
    images = calibration_images(calibration, frames)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='sgcp_ov_int8_', dir=out.parent) as work:
        work = Path(work)
        (work / 'fp32.onnx').write_bytes(data)
        network = ov.Core().read_model(str(work / 'fp32.onnx'))
        meta = read_openvino_meta(network, str(model))
        if meta.precision != 'fp32':
            raise ValueError(f'{model} is already {meta.precision}; quantize the fp32 model')

        def transform(path: Path) -> np.ndarray:
            return preprocess(read_rgb(path), meta.input_size, meta.mean, meta.std)

        quantized = nncf.quantize(network, nncf.Dataset(images, transform),
                                  subset_size=len(images))
        calibration_meta = {
            'method': 'nncf-minmax', 'frames': len(images), 'source': str(calibration),
            'excluded_nodes': [], 'per_channel': True, 'format': 'OpenVINO IR',
            'activations': 'int8', 'weights': 'int8', 'nncf': nncf.__version__,
            'openvino': ov.__version__.split('-')[0]}
        int8_meta = dataclasses.replace(meta, precision='int8', calibration=calibration_meta)
        for key, value in meta_to_onnx_props(int8_meta).items():
            quantized.set_rt_info(value, [RT_INFO_SECTION, key])
        written = work / out.name
        ov.save_model(quantized, str(written), compress_to_fp16=False)
        weights = written.with_suffix('.bin')
        size = written.stat().st_size + weights.stat().st_size
        os.replace(weights, out.with_suffix('.bin'))
        os.replace(written, out)
    return QuantizeReport(out, 'nncf-minmax', len(images), (), size, len(data))
