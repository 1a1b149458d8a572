# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``Segmenter``: one frame in, a label map (and optional colour mask / overlay) out."""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sgcp_core.class_groups import ClassGroups, load_class_groups
from sgcp_core.classes import UNKNOWN_LABEL, ClassInfo, load_class_info
from sgcp_core.config import BACKENDS, PRECISIONS, ConfigError, EngineConfig
from sgcp_core.engine import pre_post
from sgcp_core.engine.base import DEVICES, Backend, EngineError
from sgcp_core.engine.torch_backend import hold_freed_memory
from sgcp_core.errors import DeviceFallbackWarning, ModelFileError
from sgcp_core.files import file_digest
from sgcp_core.metadata import ModelMeta
from sgcp_core.resources import resolve_model_path, sibling_onnx

__all__ = ['Segmenter', 'SegResult', 'DeviceFallbackWarning', 'BACKENDS', 'create_backend',
           'gpu_options', 'openvino_options']

LOG = logging.getLogger('sgcp_core.engine')


@dataclass
class SegResult:
    """One segmented frame.

    Attributes:
        labels: (H, W) uint8 class ids at the output size (the input frame's unless asked
            otherwise); 255 = unknown. With class groups, ids of the output classes.
        color_mask: (H, W, 3) uint8 RGB palette colours, or None if not asked for.
        overlay: (H, W, 3) uint8 RGB frame blended with the colour mask, or None.
        confidence: (H, W) uint8 top class probability x 255, or None if not asked for.
        timings_ms: milliseconds per stage: 'preprocess', 'inference', 'postprocess',
            'confidence', 'colorize' and 'overlay' when computed, and 'total'. In a batch
            'inference' is this frame's share: the network run divided by ``batch_size``.
        batch_size: frames that went through the network together with this one (1: alone).
    """

    labels: np.ndarray
    color_mask: np.ndarray | None = None
    overlay: np.ndarray | None = None
    confidence: np.ndarray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    batch_size: int = 1


def _model_kind(path: Path) -> str:
    """'onnx', 'ir' (OpenVINO's .xml) or 'pt', by suffix."""
    return {'.onnx': 'onnx', '.xml': 'ir'}.get(path.suffix.lower(), 'pt')


def _cuda_available(backend: str) -> bool:
    if backend == 'torch':
        return torch.cuda.is_available()
    if backend == 'openvino':
        return False
    from sgcp_core.engine.onnx_backend import cuda_providers_available
    return cuda_providers_available()


def _onnxruntime_installed() -> bool:
    import importlib.util
    return importlib.util.find_spec('onnxruntime') is not None


def _choose_backend(requested: str, kind: str, device: str, path: Path) -> tuple[str, str]:
    """(backend name, why it was chosen). 'onnx' chosen by 'auto' for the CPU is ONNX
    Runtime or OpenVINO after a probe (``auto_select``)."""
    if kind == 'ir' and requested not in ('auto', 'openvino'):
        raise EngineError(f'{path} is an OpenVINO IR file; it needs backend=openvino (or '
                          'auto)')
    if requested == 'torch' and kind == 'onnx':
        raise EngineError(f'{path} is an ONNX file; the torch backend needs a .pt checkpoint '
                          '(use backend=onnx, openvino or auto)')
    if requested != 'auto':
        return requested, f'{requested} (configured)'
    if kind == 'ir':
        return 'openvino', 'OpenVINO (an OpenVINO IR file)'
    if kind == 'onnx':
        return 'onnx', 'ONNX Runtime (an ONNX file)'
    if device != 'cpu' and torch.cuda.is_available():
        return 'torch', 'PyTorch (a checkpoint, on CUDA)'
    # On the CPU ONNX Runtime's and OpenVINO's fused kernels beat eager PyTorch for this
    # network ("sgcp bench" shows it), so a checkpoint runs from its ONNX export when one
    # sits beside it; create_backend checks that the export is current.
    if device != 'cuda' and _onnxruntime_installed():
        if sibling_onnx(path) is not None:
            return 'onnx', 'ONNX Runtime (the ONNX export beside the checkpoint)'
        LOG.info('engine: PyTorch runs %s because there is no %s beside it (export one with '
                 '"sgcp export -m %s" to run ONNX Runtime)', path,
                 path.with_suffix('.onnx').name, path)
        return 'torch', 'PyTorch (no ONNX export beside the checkpoint)'
    return 'torch', 'PyTorch (onnxruntime is not installed)'


def _choose_device(requested: str, backend: str, strict: bool) -> tuple[str, str | None]:
    """(device, fallback note or None)."""
    if requested == 'cpu':
        return 'cpu', None
    available = _cuda_available(backend)
    if requested == 'auto':
        return ('cuda' if available else 'cpu'), None
    if available:
        return 'cuda', None
    if backend == 'torch':
        why = f'torch {torch.__version__} reports no CUDA device'
    elif backend == 'openvino':
        why = 'OpenVINO does not run on CUDA (openvino_device picks an Intel GPU or NPU)'
    else:
        from sgcp_core.engine.onnx_backend import import_onnxruntime
        why = ('onnxruntime has no CUDA/TensorRT provider (available: '
               f'{import_onnxruntime().get_available_providers()})')
    if strict:
        raise EngineError(f'device=cuda with strict_device: {why}')
    return 'cpu', f'device=cuda requested but {why}; running on the CPU'


def _requested_size(config: EngineConfig) -> tuple[int, int] | None:
    """(H, W) from the config, or None to use the model's own input size."""
    height, width = config.input_height, config.input_width
    if (height > 0) != (width > 0) or height < 0 or width < 0:
        raise ConfigError(f'set both input_height and input_width to positive values (or both '
                          f'to 0 for the model\'s own size), got {height}x{width}')
    return (height, width) if height > 0 else None


def gpu_options(config: EngineConfig) -> dict:
    """The GPU fields of ``config`` as the ONNX backend's keyword arguments."""
    return {'fp16': config.fp16, 'provider': config.onnx_provider,
            'trt_cache_dir': config.trt_cache_dir, 'trt_workspace_mb': config.trt_workspace_mb}


def openvino_options(config: EngineConfig) -> dict:
    """The OpenVINO fields of ``config`` as the OpenVINO backend's keyword arguments."""
    return {'device': config.openvino_device, 'precision': config.precision}


def _build(name: str, model: Path, device: str, threads: int, gpu: dict,
           openvino: dict) -> Backend:
    """The 'onnx' or 'openvino' backend of an ``.onnx`` (or IR) file."""
    if name == 'openvino':
        from sgcp_core.engine.openvino_backend import OpenVINOBackend
        return OpenVINOBackend(model, threads=threads, **openvino)
    from sgcp_core.engine.onnx_backend import ONNXBackend
    return ONNXBackend(model, device, threads, **gpu)


def _checkpoint_export(path: Path, device: str, threads: int,
                       input_size: tuple[int, int] | None,
                       gpu: dict | None = None, name: str = 'onnx',
                       openvino: dict | None = None) -> tuple[Backend | None, str]:
    """Backend ``name`` ('onnx' or 'openvino') of a checkpoint's sibling export, or (None,
    why it is unusable)."""
    onnx = sibling_onnx(path)
    if onnx is None:
        return None, (f'there is no {path.with_suffix(".onnx").name} beside it; export one '
                      f'with "sgcp export -m {path}"')
    try:
        backend = _build(name, onnx, device, threads, gpu or {}, openvino or {})
    except ModelFileError as error:
        return None, f'{onnx.name} is unusable ({error})'
    if backend.meta.source_sha256 != file_digest(path):
        backend.close()
        return None, (f'{onnx.name} was not exported from this checkpoint (or predates '
                      f'export digests); re-export it with "sgcp export -m {path}"')
    fixed = backend.fixed_input_size
    if fixed is not None and input_size is not None and tuple(fixed) != tuple(input_size):
        backend.close()
        return None, (f'{onnx.name} only takes {fixed[0]}x{fixed[1]} input; re-export with '
                      '--dynamic or at the size asked for')
    return backend, f'its ONNX export {onnx}'


def create_backend(name: str, path: Path, device: str, threads: int,
                   input_size: tuple[int, int] | None, hold_memory: bool = True,
                   requested: str = '', gpu: dict | None = None,
                   openvino: dict | None = None) -> Backend:
    """Build backend ``name`` ('torch', 'onnx' or 'openvino') for the model at ``path``.

    A ``.pt`` checkpoint on the onnx or openvino backend runs its ONNX export, the
    ``.onnx`` beside it with the same stem, when that export records this checkpoint's
    digest (``sgcp export`` writes it) and takes ``input_size``. Otherwise a backend asked
    for by name is an EngineError, and one chosen by ``requested='auto'`` falls back to
    torch. Nothing is exported here: start-up never converts a model. ``gpu`` holds the GPU
    options (``gpu_options(config)``), ignored on the CPU; ``openvino`` the OpenVINO ones
    (``openvino_options(config)``).
    """
    gpu = gpu or {}
    openvino = openvino or {}
    if name in ('onnx', 'openvino'):
        if name == 'onnx':
            from sgcp_core.engine.onnx_backend import import_onnxruntime
            import_onnxruntime()
        else:
            from sgcp_core.engine.openvino_backend import import_openvino
            import_openvino()
        if _model_kind(path) != 'pt':
            return _build(name, path, device, threads, gpu, openvino)
        backend, why = _checkpoint_export(path, device, threads, input_size, gpu, name,
                                          openvino)
        if backend is not None:
            LOG.info('engine: running %s from %s', path, why)
            return backend
        if requested != 'auto':
            raise EngineError(f'backend={name} cannot run {path}: {why} (or use '
                              'backend=torch)')
        LOG.info('engine: PyTorch runs %s because %s', path, why)
    from sgcp_core.engine.torch_backend import TorchBackend
    return TorchBackend(str(path), device, threads, hold_memory=hold_memory,
                        fp16=gpu.get('fp16', False))


class Segmenter:
    """Semantic segmentation of RGB frames with a checkpoint or ONNX file.

    Built once: loads the model, picks backend and device, allocates buffers and runs
    ``config.warmup_runs`` frames. ``segment`` is then safe to call from any thread (calls
    are serialised). ``backend_reason`` says in words which backend runs and why (for
    'auto' on the CPU: the start-up probe's timings of ONNX Runtime and OpenVINO).

    Args:
        config: model path ('' = shipped model), backend, device, input size, label mode,
            overlay alpha, threads, classes file; see ``sgcp_core.config.EngineConfig``.

    Raises:
        FileNotFoundError: the model file (or classes file) does not exist.
        sgcp_core.errors.ModelFileError: a model file that is unreadable, not this
            package's format or without valid metadata.
        ValueError: a bad config value (ConfigError), or a classes file whose class count
            differs from the model's.
        EngineError: backend/device not available, or an input size the model cannot take.
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        config = config or EngineConfig()
        self.config = config
        if config.backend not in BACKENDS:
            raise ConfigError(f'backend must be one of {BACKENDS}, got {config.backend!r}')
        if config.device not in DEVICES:
            raise ConfigError(f'device must be one of {DEVICES}, got {config.device!r}')
        if config.label_mode not in pre_post.LABEL_MODES:
            raise ConfigError(f'label_mode must be one of {pre_post.LABEL_MODES}, got '
                              f'{config.label_mode!r}')
        if not 0.0 <= config.overlay_alpha <= 1.0:
            raise ConfigError(f'overlay_alpha must be within [0, 1], got {config.overlay_alpha}')
        if config.threads < 0 or config.warmup_runs < 0:
            raise ConfigError(f'threads and warmup_runs must be 0 or more, got '
                              f'{config.threads} and {config.warmup_runs}')
        if not 0.0 <= config.min_confidence <= 1.0:
            raise ConfigError(f'min_confidence must be within [0, 1], got '
                              f'{config.min_confidence}')
        if config.precision not in PRECISIONS:
            raise ConfigError(f'precision must be one of {PRECISIONS}, got '
                              f'{config.precision!r}')
        requested_size = _requested_size(config)
        path = resolve_model_path(config.model_path)
        self.model_path = path
        if config.hold_freed_memory:
            hold_freed_memory()

        kind = _model_kind(path)
        backend_name, self.backend_reason = _choose_backend(config.backend, kind,
                                                            config.device, path)
        device, self.fallback_note = _choose_device(config.device, backend_name,
                                                    config.strict_device)
        if self.fallback_note:
            warnings.warn(self.fallback_note, DeviceFallbackWarning, stacklevel=2)
        self.backend = create_backend(backend_name, path, device, config.threads,
                                      requested_size, config.hold_freed_memory,
                                      requested=config.backend, gpu=gpu_options(config),
                                      openvino=openvino_options(config))
        if config.backend == 'auto' and backend_name == 'onnx':
            if self.backend.name != 'onnx':
                self.backend_reason = ('PyTorch (the ONNX export beside the checkpoint is '
                                       'not current)')
            elif device == 'cpu':
                from sgcp_core.engine.auto_select import fastest_cpu_backend
                self.backend, self.backend_reason = fastest_cpu_backend(
                    self.backend, path if kind == 'onnx' else sibling_onnx(path),
                    requested_size, config.threads, config.precision, config.openvino_device)
        if device == 'cuda' and self.backend.device != 'cuda':
            # ONNX Runtime drops a GPU provider whose CUDA/cuDNN libraries fail to load and
            # carries on with the CPU; hold that to the same rule as a missing GPU.
            note = (f'{backend_name} could not start on CUDA ({self.backend.describe()})')
            if config.strict_device:
                raise EngineError(f'device=cuda with strict_device: {note}')
            self.fallback_note = f'{note}; running on the CPU'
            warnings.warn(self.fallback_note, DeviceFallbackWarning, stacklevel=2)

        self.meta: ModelMeta = self.backend.meta
        model_classes = self.meta.classes
        # model_classes: what the network predicts; classes: what segment() returns (the
        # output classes of class_groups_file when one is given).
        self.model_classes: ClassInfo = (load_class_info(config.classes_file,
                                                         model_classes.num_classes)
                                         if config.classes_file else model_classes)
        self.class_groups: ClassGroups | None = (
            load_class_groups(config.class_groups_file, self.model_classes)
            if config.class_groups_file else None)
        self.classes: ClassInfo = (self.class_groups.classes if self.class_groups is not None
                                   else self.model_classes)
        # Pixels below this are unknown: compared with the uint8 confidence map.
        self._min_confidence = int(np.ceil(255.0 * config.min_confidence))
        self.input_size: tuple[int, int] = requested_size or self.meta.input_size
        fixed = self.backend.fixed_input_size
        if fixed is not None and tuple(fixed) != self.input_size:
            raise EngineError(f'{path} only accepts {fixed[0]}x{fixed[1]} input, but '
                              f'{self.input_size[0]}x{self.input_size[1]} was asked for; '
                              're-export with "sgcp export --dynamic" or at that size')
        self.backend.settle_input_size(self.input_size)
        if config.backend == 'auto' or config.device == 'auto':
            LOG.info('engine: %s for %s; backend %s', self.backend.describe(), path,
                     self.backend_reason)
        self.label_mode = config.label_mode
        self._mean = self.meta.mean
        self._std = self.meta.std
        self._palette = self.classes.palette_array()
        self._input_buffer = np.empty((1, 3) + self.input_size, np.float32)  # grown by batches
        self._lock = threading.Lock()
        self._warm_up(config.warmup_runs)

    # -- properties of the contract -------------------------------------------------------
    @property
    def backend_name(self) -> str:
        """'torch', 'onnx' or 'openvino'."""
        return self.backend.name

    @property
    def device(self) -> str:
        """'cpu' or 'cuda' (OpenVINO: 'cpu', 'gpu', 'npu'): where the network runs, after
        any fallback."""
        return self.backend.device

    @property
    def takes_batches(self) -> bool:
        """True when ``segment_batch`` runs several frames in one network call (PyTorch, or
        an ONNX graph exported with ``--dynamic-batch``); otherwise it runs them one by one."""
        return self.backend.fixed_batch_size is None

    def describe(self) -> str:
        """One line for logs: backend, device, model, input size, classes, label mode."""
        height, width = self.input_size
        return (f'{self.backend.describe()}; model {self.model_path} '
                f'({self.meta.variant}, {self.classes.num_classes} classes); '
                f'input {height}x{width}; labels by {self.label_mode}')

    # -- stages ---------------------------------------------------------------------------
    def _warm_up(self, runs: int) -> None:
        # A mid-grey frame at the input size: exercises every stage and lets the backends
        # allocate and pick kernels now rather than on the first camera frame.
        frame = np.full(self.input_size + (3,), 128, np.uint8)
        for _ in range(max(0, runs)):
            self.segment(frame, want_color=True, want_overlay=True)

    def infer_logits(self, rgb: np.ndarray) -> tuple[np.ndarray | torch.Tensor, dict]:
        """Preprocess and run the network only.

        Returns:
            (logits (1, C, h, w) float32 numpy or torch tensor, {'preprocess', 'inference'}
            in ms). The logits are the backend's, at ``input_size / backend.logits_stride``.
        """
        with self._lock:
            logits, (timings,) = self._infer([rgb])
            return logits, timings

    def _infer(self, frames: Sequence[np.ndarray]
               ) -> tuple[np.ndarray | torch.Tensor, list[dict]]:
        """(N, C, h, w) logits of N frames from one network run; per-frame timings."""
        count = len(frames)
        if self._input_buffer.shape[0] < count:
            self._input_buffer = np.empty((count, 3) + self.input_size, np.float32)
        images = self._input_buffer[:count]
        timings = []
        for index, rgb in enumerate(frames):
            start = time.perf_counter()
            # Each frame is resized to the network's input on its own, so
            # cameras of different resolutions share a batch.
            pre_post.preprocess(rgb, self.input_size, self._mean, self._std,
                                out=images[index:index + 1])
            timings.append({'preprocess': 1e3 * (time.perf_counter() - start)})
        start = time.perf_counter()
        logits = self.backend.forward(images)
        share = 1e3 * (time.perf_counter() - start) / count
        for timing in timings:
            timing['inference'] = share
        return logits, timings

    def postprocess(self, logits: np.ndarray | torch.Tensor, output_size: tuple[int, int],
                    label_mode: str | None = None) -> np.ndarray:
        """(1, C, h, w) logits -> (H, W) uint8 labels at ``output_size`` (H, W)."""
        return pre_post.postprocess(logits, output_size, label_mode or self.label_mode,
                                    self.backend.upsample)

    def segment(self, rgb: np.ndarray, want_color: bool = False, want_overlay: bool = False,
                overlay_alpha: float | None = None, want_confidence: bool = False,
                output_size: tuple[int, int] | None = None) -> SegResult:
        """Segment one frame.

        Args:
            rgb: (H, W, 3) uint8 RGB, any size, C-contiguous or not.
            want_color: also return the palette-coloured label map.
            want_overlay: also return the frame blended with it.
            overlay_alpha: mask weight for the overlay; default ``config.overlay_alpha``.
            want_confidence: also return the per-pixel confidence map.
            output_size: (H, W) of every returned map; default the frame's own size (a
                registered depth image's size lines the labels up with its pixels).

        Returns:
            SegResult with labels (H, W) uint8 at the output size and timings.

        Raises:
            ValueError: ``rgb`` is not an (H, W, 3) uint8 array.
        """
        with self._lock:
            start = time.perf_counter()
            logits, (timings,) = self._infer([rgb])
            return self._finish(rgb, logits, timings, start, want_color, want_overlay,
                                overlay_alpha, want_confidence, output_size)

    def segment_batch(self, frames: Sequence[np.ndarray],
                      options: Sequence[dict] | None = None) -> list[SegResult]:
        """Segment several frames, with one network run where the backend takes batches.

        The results equal ``segment(frame, **option)`` for each frame (the test suite checks
        this); only the network call is shared. Without ``takes_batches`` the frames run
        one by one.

        Args:
            frames: (H, W, 3) uint8 RGB frames; their sizes may differ (each is resized to
                the network input, as ``segment`` does).
            options: per frame, ``segment``'s keyword arguments (want_color, want_overlay,
                overlay_alpha, want_confidence, output_size); default none.

        Returns:
            One SegResult per frame, in order, with ``batch_size`` set.

        Raises:
            ValueError: a frame that is not (H, W, 3) uint8, or options of another length.
        """
        options = list(options) if options is not None else [{}] * len(frames)
        if len(options) != len(frames):
            raise ValueError(f'{len(frames)} frames but {len(options)} option sets')
        if len(frames) <= 1 or not self.takes_batches:
            return [self.segment(rgb, **option) for rgb, option in zip(frames, options)]
        for rgb in frames:
            pre_post.check_rgb(rgb)
        with self._lock:
            logits, timings = self._infer(frames)
            results = []
            for index, (rgb, option) in enumerate(zip(frames, options)):
                result = self._finish(rgb, logits[index:index + 1], timings[index], None,
                                      **option)
                result.batch_size = len(frames)
                results.append(result)
        return results

    def prepare_batches(self, size: int) -> None:
        """Run one batch of ``size`` grey frames now, so the backend allocates (TensorRT:
        builds its engine) for that batch size at start-up rather than on camera frames."""
        if size > 1 and self.takes_batches:
            frame = np.full(self.input_size + (3,), 128, np.uint8)
            self.segment_batch([frame] * size)

    def _finish(self, rgb: np.ndarray, logits: np.ndarray | torch.Tensor, timings: dict,
                start: float | None, want_color: bool = False, want_overlay: bool = False,
                overlay_alpha: float | None = None, want_confidence: bool = False,
                output_size: tuple[int, int] | None = None) -> SegResult:
        """``segment``'s steps after the network, on this frame's (1, C, h, w) logits.

        'total' is the time since ``start``, or (None: a frame of a batch, whose network run
        was shared) the sum of this frame's stages.
        """
        size = tuple(output_size) if output_size is not None else rgb.shape[:2]
        before = time.perf_counter()
        labels = self.postprocess(logits, size)
        timings['postprocess'] = 1e3 * (time.perf_counter() - before)
        sure = None
        if want_confidence or self._min_confidence > 0:
            before = time.perf_counter()
            sure = pre_post.confidence(logits, size, self.label_mode)
            timings['confidence'] = 1e3 * (time.perf_counter() - before)
        before = time.perf_counter()
        if self._min_confidence > 0:
            labels[sure < self._min_confidence] = UNKNOWN_LABEL
        if self.class_groups is not None:
            labels = self.class_groups.apply(labels)
        if self._min_confidence > 0 or self.class_groups is not None:
            timings['postprocess'] += 1e3 * (time.perf_counter() - before)
        color = blended = None
        if want_color or want_overlay:
            before = time.perf_counter()
            color = pre_post.colorize(labels, self._palette)
            timings['colorize'] = 1e3 * (time.perf_counter() - before)
        if want_overlay:
            before = time.perf_counter()
            alpha = self.config.overlay_alpha if overlay_alpha is None else overlay_alpha
            frame = rgb if rgb.shape[:2] == size else pre_post.resize_rgb(rgb, size)
            blended = pre_post.overlay(frame, color, labels, alpha)
            timings['overlay'] = 1e3 * (time.perf_counter() - before)
        timings['total'] = (sum(timings.values()) if start is None
                            else 1e3 * (time.perf_counter() - start))
        return SegResult(labels, color if want_color else None, blended,
                         sure if want_confidence else None, timings)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) uint8 labels -> (H, W, 3) uint8 RGB in this model's palette."""
        return pre_post.colorize(labels, self._palette)

    def close(self) -> None:
        """Release the backend's model or session."""
        self.backend.close()

    def __repr__(self) -> str:
        return f'Segmenter({self.describe()})'
