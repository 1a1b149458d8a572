# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Measurements behind ``sgcp bench``: engine stage timings, the bare network, label modes.

Everything runs on real frames given by the caller and reports medians, because the
first frames and the odd scheduler hiccup would otherwise dominate a short run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from sgcp_core.config import EngineConfig
from sgcp_core.engine import LABEL_MODES, Segmenter
from sgcp_core.metrics import ConfusionMatrix

__all__ = ['STAGES', 'StageTiming', 'LabelModeResult', 'BatchTiming', 'bare_forward',
           'bench_engines', 'compare_batching', 'compare_label_modes', 'resize_frames',
           'time_semantic_cloud']

STAGES = ('preprocess', 'inference', 'postprocess', 'confidence', 'colorize', 'overlay')


@dataclass(frozen=True)
class StageTiming:
    """Median milliseconds per engine stage for one backend at one resolution."""

    backend: str
    device: str
    resolution: tuple[int, int]
    stages_ms: dict[str, float]
    total_ms: float
    bare_forward_ms: float | None
    runs: int
    model: str = ''          # the model file the row ran (a .pt's onnx rows: its export)
    precision: str = ''      # that file's ModelMeta.precision: 'fp32' or 'int8'
    compute: str = ''        # OpenVINO's inference precision ('f32', 'bf16', 'f16'), else ''

    @property
    def fps(self) -> float:
        return 1e3 / self.total_ms

    @property
    def label(self) -> str:
        """The backend, with OpenVINO's inference precision: 'onnx', 'openvino bf16'."""
        return f'{self.backend} {self.compute}' if self.compute else self.backend

    def share(self, stage: str) -> float:
        """Fraction of the median frame time spent in ``stage``."""
        return self.stages_ms[stage] / sum(self.stages_ms.values())

    def to_dict(self) -> dict:
        return {**asdict(self), 'fps': self.fps}


@dataclass(frozen=True)
class LabelModeResult:
    """Quality and cost of one label mode at one output resolution."""

    mode: str
    output_size: tuple[int, int]
    miou: float
    pixel_accuracy: float
    postprocess_ms: float   # median over frames
    frames: int
    per_class_iou: dict[str, float | None]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BatchTiming:
    """Several cameras' frames through one network run against the same frames one by one.

    Milliseconds per frame (median over rounds) through the whole engine, labels only, as
    the node produces them.
    """

    backend: str
    device: str
    resolution: tuple[int, int]
    batch: int
    sequential_ms: float    # the model's own graph, one frame per segment() call
    batched_ms: float       # one segment_batch() call of ``batch`` frames
    runs: int
    model: str = ''
    precision: str = ''

    @property
    def speedup(self) -> float:
        """How many times faster per frame batching is (below 1: slower)."""
        return self.sequential_ms / self.batched_ms

    def to_dict(self) -> dict:
        return {**asdict(self), 'speedup': self.speedup}


def resize_frames(frames: Sequence[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """Frames resized to (H, W) as a camera of that resolution would deliver them."""
    height, width = size
    return [frame if frame.shape[:2] == (height, width)
            else cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA
                            if frame.shape[0] > height else cv2.INTER_LINEAR)
            for frame in frames]


def bare_forward(model_path: str | Path, backend: str, size: tuple[int, int],
                 threads: int = 0, device: str = 'cpu',
                 precision: str = 'auto') -> Callable[[], None]:
    """A callable running the network alone, as one would call it without the engine.

    The full model (its own upsampling to the input size included) on a ready normalised
    tensor: ``model(x)`` under inference_mode for torch, in the channels-last memory order
    the torch backend uses, ``session.run`` of the input-resolution export for onnx, the
    compiled model's run of that export for openvino (at ``precision``). ``model_path`` must
    be a ``.pt`` checkpoint.
    """
    from sgcp_core.checkpoint import load_model
    model, meta = load_model(model_path)
    images = np.random.default_rng(0).standard_normal((1, 3) + tuple(size)).astype(np.float32)
    if backend == 'torch':
        if threads > 0:
            torch.set_num_threads(threads)
        network = model.to(device, memory_format=torch.channels_last)
        tensor = torch.from_numpy(images).to(device).contiguous(
            memory_format=torch.channels_last)

        def forward() -> None:
            with torch.inference_mode():
                network(tensor)
            if device == 'cuda':
                torch.cuda.synchronize()
        return forward
    from sgcp_core.export import onnx_bytes
    data = onnx_bytes(model, meta, size, coarse_logits=False)
    if backend == 'openvino':
        from sgcp_core.engine.openvino_backend import OpenVINOBackend
        session = OpenVINOBackend(data, 'CPU' if device == 'cpu' else device, threads,
                                  precision, source=str(model_path))
    else:
        from sgcp_core.engine.onnx_backend import ONNXBackend
        session = ONNXBackend(data, device, threads, source=str(model_path))
    return lambda: session.forward(images)


def bench_engines(config: EngineConfig, backends: Sequence[str],
                  sizes: Sequence[tuple[int, int]], frames: Sequence[np.ndarray], runs: int,
                  bare: bool = True, warmup: int = 3,
                  confidence: bool = False,
                  models: Sequence[str | Path] = (),
                  openvino_precisions: Sequence[str] = ('auto',)) -> list[StageTiming]:
    """Engine stage timings for every (size, model, backend), plus the bare network forward
    (and the confidence map's cost when ``confidence``).

    ``models`` lists the model files to compare (e.g. an fp32 checkpoint and its int8
    exports); empty: ``config.model_path``. An ``.onnx`` model runs on the onnx and
    openvino backends, an OpenVINO IR (``.xml``) on openvino only. openvino gets one row
    per precision of ``openvino_precisions``.

    Each row runs the network at ``size`` on the frames resized to that size. The rows are
    measured round-robin, one frame of each per round, so that load from other processes
    (or thermal throttling) lands on all rows alike and their ratios stay meaningful. A
    ``.pt`` model's onnx rows run its export at that size, written to a temporary folder
    for the run (a fixed shape, which lets ONNX Runtime plan for it).
    """
    with tempfile.TemporaryDirectory(prefix='sgcp_bench_') as exports:
        return _bench_engines(config, backends, sizes, frames, runs, bare, warmup,
                              Path(exports), confidence, models, openvino_precisions)


# The backends that can run each kind of model file.
_RUNS_ON = {'.onnx': ('onnx', 'openvino'), '.xml': ('openvino',)}


def _bench_cases(config: EngineConfig, models: Sequence[str | Path], backends: Sequence[str],
                 sizes: Sequence[tuple[int, int]], frames: Sequence[np.ndarray]):
    """(size, frames at that size, model path, backend) of every case a bench times: each
    model under each backend that can run it (an ``.onnx`` file under ONNX Runtime and
    OpenVINO, an OpenVINO IR under OpenVINO)."""
    from sgcp_core.resources import resolve_model_path
    model_paths = [resolve_model_path(m) for m in (models or [config.model_path])]
    for size in sizes:
        sized = resize_frames(frames, size)
        for model_path, backend in ((m, b) for m in model_paths for b in backends):
            if backend not in _RUNS_ON.get(model_path.suffix.lower(), (backend,)):
                continue
            yield size, sized, model_path, backend


def _export_at(model_path: Path, size: tuple[int, int], folder: Path,
               dynamic_batch: bool = False) -> Path:
    """The checkpoint's ONNX export at ``size`` in ``folder`` (made once per run)."""
    from sgcp_core.checkpoint import load_model
    from sgcp_core.export import onnx_bytes
    from sgcp_core.files import atomic_write
    suffix = '_batch' if dynamic_batch else ''
    path = folder / f'{model_path.stem}_{size[0]}x{size[1]}{suffix}.onnx'
    if path.is_file():
        return path
    model, meta = load_model(model_path)
    data = onnx_bytes(model, meta, size, dynamic_batch=dynamic_batch)
    return atomic_write(path, lambda temp: Path(temp).write_bytes(data))


def compare_batching(config: EngineConfig, backends: Sequence[str],
                     sizes: Sequence[tuple[int, int]], frames: Sequence[np.ndarray],
                     runs: int, batch: int, models: Sequence[str | Path] = (),
                     warmup: int = 3) -> tuple[list[BatchTiming], list[str]]:
    """Per frame cost of ``batch`` frames in one network run against one by one.

    What the node's ``camera_batching`` decides between, for every (size, model, backend):
    the sequential row runs the graph the node would run today (a ``.pt``'s onnx rows: its
    export at that size, batch of one), the batched row the same weights taking a batch (a
    ``.pt``'s onnx rows: exported with a batch axis). The two alternate round by round, in
    turn first, so other load lands on both alike: compare the ratio, not the times.

    Returns:
        (timings, notes): the notes say which models were left out and why (an ``.onnx``
        file exported without ``--dynamic-batch`` cannot take a batch).
    """
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix='sgcp_bench_batch_') as folder:
        for size, sized, model_path, backend in _bench_cases(config, models, backends, sizes,
                                                             frames):
            paths = (model_path, model_path)
            if backend in ('onnx', 'openvino') and model_path.suffix.lower() == '.pt':
                paths = (_export_at(model_path, size, Path(folder)),
                         _export_at(model_path, size, Path(folder), dynamic_batch=True))
            pair = [Segmenter(replace(config, model_path=str(path), backend=backend,
                                      input_height=size[0], input_width=size[1]))
                    for path in paths]
            if not pair[1].takes_batches:
                notes.append(f'{model_path.name}: its graph takes one frame per run '
                             '(export the checkpoint with "sgcp export --dynamic-batch")')
                continue
            pair[1].prepare_batches(batch)
            rows.append({'backend': backend, 'size': tuple(size), 'pair': pair,
                         'frames': sized, 'times': ([], []), 'model': str(model_path),
                         'precision': pair[0].meta.precision})
        for index in range(-warmup, runs):
            for row in rows:
                chosen = [row['frames'][(index * batch + k) % len(row['frames'])]
                          for k in range(batch)]
                for which in ((0, 1) if index % 2 == 0 else (1, 0)):
                    segmenter = row['pair'][which]
                    start = time.perf_counter()
                    if which == 0:
                        for frame in chosen:
                            segmenter.segment(frame)
                    else:
                        segmenter.segment_batch(chosen)
                    if index >= 0:
                        row['times'][which].append(1e3 * (time.perf_counter() - start) / batch)
        timings = []
        for row in rows:
            timings.append(BatchTiming(row['backend'], row['pair'][0].device, row['size'],
                                       batch, statistics.median(row['times'][0]),
                                       statistics.median(row['times'][1]), runs,
                                       row['model'], row['precision']))
            for segmenter in row['pair']:
                segmenter.close()
    return timings, notes


def _bench_engines(config: EngineConfig, backends: Sequence[str],
                   sizes: Sequence[tuple[int, int]], frames: Sequence[np.ndarray], runs: int,
                   bare: bool, warmup: int, exports: Path,
                   confidence: bool = False,
                   models: Sequence[str | Path] = (),
                   openvino_precisions: Sequence[str] = ('auto',)) -> list[StageTiming]:
    rows = []
    for size, sized, model_path, backend in _bench_cases(config, models, backends, sizes,
                                                         frames):
        checkpoint = model_path.suffix.lower() == '.pt'
        path = model_path
        if backend in ('onnx', 'openvino') and checkpoint:
            path = _export_at(model_path, size, exports)
        for precision in (openvino_precisions if backend == 'openvino' else ('auto',)):
            segmenter = Segmenter(replace(config, model_path=str(path), backend=backend,
                                          input_height=size[0], input_width=size[1],
                                          precision=precision))
            forward = None
            if bare and checkpoint:
                forward = bare_forward(model_path, backend, size, config.threads,
                                       segmenter.device, precision)
            compute = (segmenter.backend.inference_precision if backend == 'openvino'
                       else '')
            rows.append({'backend': backend, 'size': tuple(size), 'segmenter': segmenter,
                         'frames': sized, 'forward': forward, 'stages': {}, 'bare': [],
                         'model': str(model_path), 'precision': segmenter.meta.precision,
                         'compute': compute})
    for index in range(-warmup, runs):
        for row in rows:
            frame = row['frames'][index % len(row['frames'])]
            result = row['segmenter'].segment(frame, want_overlay=True,
                                              want_confidence=confidence)
            bare_ms = None
            if row['forward'] is not None:
                start = time.perf_counter()
                row['forward']()
                bare_ms = 1e3 * (time.perf_counter() - start)
            if index < 0:
                continue
            for stage, value in result.timings_ms.items():
                row['stages'].setdefault(stage, []).append(value)
            if bare_ms is not None:
                row['bare'].append(bare_ms)
    timings = []
    for row in rows:
        stages = {stage: statistics.median(row['stages'][stage]) for stage in STAGES
                  if stage in row['stages']}
        timings.append(StageTiming(row['backend'], row['segmenter'].device, row['size'],
                                   stages, sum(stages.values()),
                                   statistics.median(row['bare']) if row['bare'] else None,
                                   runs, row['model'], row['precision'], row['compute']))
        row['segmenter'].close()
    return timings


def time_semantic_cloud(depth_size: tuple[int, int], label_size: tuple[int, int],
                        config, runs: int, warmup: int = 3) -> float:
    """Median ms of ``SemanticCloudBuilder.build`` on a synthetic registered depth image.

    A tilted plane 1-5 m away in 16UC1 millimetres with a few holes, labels of
    ``label_size`` (and a frame and confidence map of that size when the cloud has those
    fields): what the node does per frame once depth and labels are paired, before packing
    the PointCloud2. With ``config.per_class`` the points are also split into one array per
    class (all 11), as the node does for ``~/points/<class>`` subscribers.
    """
    from sgcp_core.semantic_cloud import PinholeIntrinsics, SemanticCloudBuilder, split_by_class
    height, width = depth_size
    camera = PinholeIntrinsics(0.8 * width, 0.8 * width, (width - 1) / 2, (height - 1) / 2,
                               (height, width))
    rows, columns = np.mgrid[0:height, 0:width]
    depth = (1000 + 4000 * (rows / height) * (0.5 + columns / (2 * width))).astype(np.uint16)
    depth[::7, ::5] = 0
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 11, label_size, np.uint8)
    rgb = rng.integers(0, 256, label_size + (3,), np.uint8)
    confidence = rng.integers(23, 256, label_size, np.uint8)
    builder = SemanticCloudBuilder(config)
    samples = []
    for index in range(warmup + runs):
        start = time.perf_counter()
        points = builder.build(depth, camera, labels, rgb, confidence)
        if config.per_class:
            split_by_class(points, range(11))
        if index >= warmup:
            samples.append(1e3 * (time.perf_counter() - start))
    return statistics.median(samples)


def compare_label_modes(segmenter: Segmenter, samples: Sequence[tuple[np.ndarray, np.ndarray]],
                        scales: Sequence[float] = (1.0, 2.0), ignore_index: int = 255,
                        progress: bool = False) -> list[LabelModeResult]:
    """mIoU and postprocess time of every label mode on labelled frames.

    The network runs once per frame (at the segmenter's input size); each mode then turns
    the same logits into a label map at ``scale`` times the frame's size, scored against
    the ground truth resized by nearest neighbour. Scale 1 is the dataset's resolution;
    larger scales stand for a camera delivering more pixels than the model runs at.

    Args:
        samples: (rgb (H, W, 3) uint8, label (H, W) uint8 train ids, ``ignore_index`` = void).
    """
    from tqdm import tqdm
    # postprocess gives the model's own classes (class groups apply in segment() only).
    num_classes = segmenter.model_classes.num_classes
    matrices = {(s, m): ConfusionMatrix(num_classes, ignore_index) for s in scales
                for m in LABEL_MODES}
    times: dict[tuple[float, str], list[float]] = {key: [] for key in matrices}
    sizes: dict[float, tuple[int, int]] = {}
    for rgb, label in tqdm(samples, desc='label modes', disable=not progress, leave=False):
        logits, _ = segmenter.infer_logits(rgb)
        for scale in scales:
            size = (round(label.shape[0] * scale), round(label.shape[1] * scale))
            sizes[scale] = size
            target = label if size == label.shape else cv2.resize(
                label, size[::-1], interpolation=cv2.INTER_NEAREST_EXACT)
            for mode in LABEL_MODES:
                start = time.perf_counter()
                predicted = segmenter.postprocess(logits, size, mode)
                times[(scale, mode)].append(1e3 * (time.perf_counter() - start))
                matrices[(scale, mode)].update(target, predicted)
    names = segmenter.model_classes.names
    return [LabelModeResult(mode, sizes[scale], matrices[(scale, mode)].miou(),
                            matrices[(scale, mode)].pixel_accuracy(),
                            statistics.median(times[(scale, mode)]), len(samples),
                            matrices[(scale, mode)].summary(names)['per_class_iou'])
            for scale in scales for mode in LABEL_MODES]
