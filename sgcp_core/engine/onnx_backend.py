# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX Runtime backend: TensorRT, CUDA or CPU execution provider, metadata from the file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from sgcp_core.config import ONNX_PROVIDERS
from sgcp_core.engine.base import Backend, EngineError
from sgcp_core.errors import ModelFileError
from sgcp_core.metadata import ONNX_INPUT_NAME, meta_from_onnx_props

__all__ = ['ONNXBackend', 'import_onnxruntime', 'cuda_providers_available', 'choose_providers',
           'ONNX_PROVIDERS', 'default_trt_cache_dir']

LOG = logging.getLogger('sgcp_core.engine')

GPU_PROVIDERS = ('TensorrtExecutionProvider', 'CUDAExecutionProvider')


def default_trt_cache_dir() -> Path:
    """Where TensorRT engines are cached when EngineConfig.trt_cache_dir is ''."""
    return Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'sgcp_ros' / 'trt'


def import_onnxruntime():
    """onnxruntime, imported on first use so torch-only installs never pay for it."""
    try:
        import onnxruntime
    except ImportError as error:
        raise EngineError('the onnx backend needs onnxruntime (pip install onnxruntime, or '
                          'onnxruntime-gpu for CUDA); or use backend=torch with a .pt '
                          'model') from error
    return onnxruntime


def cuda_providers_available() -> bool:
    """True when this onnxruntime build can run on an NVIDIA GPU."""
    try:
        ort = import_onnxruntime()
    except EngineError:
        return False
    return any(p in ort.get_available_providers() for p in GPU_PROVIDERS)


def choose_providers(device: str, available: list[str], provider: str = 'auto',
                     fp16: bool = False, trt_cache_dir: str = '',
                     trt_workspace_mb: int = 0) -> list:
    """Execution providers in preference order for ``device`` ('cpu' or 'cuda').

    On CUDA, TensorRT first when the build has it and ``provider`` is 'auto' or
    'tensorrt', then CUDA, with the CPU always last so unsupported nodes still run.
    TensorRT builds an engine for the graph on the first run (the Segmenter's warm-up),
    which takes from seconds to minutes; engines and timing caches are kept in
    ``trt_cache_dir`` (default ``default_trt_cache_dir()``), keyed by graph, GPU and
    options, so later starts load them instead.

    Args:
        provider: 'auto', 'tensorrt' or 'cuda' (``EngineConfig.onnx_provider``).
        fp16: let TensorRT pick half-precision kernels. The CUDA provider runs the graph's
            own precision (float32, or int8 QDQ) whatever this says.
        trt_workspace_mb: TensorRT builder workspace limit; 0 leaves TensorRT's default.

    Raises:
        EngineError: ``provider`` names a provider this onnxruntime build lacks.
    """
    if provider not in ONNX_PROVIDERS:
        raise EngineError(f'onnx_provider must be one of {ONNX_PROVIDERS}, got {provider!r}')
    providers: list = []
    if device == 'cuda':
        wanted = {'auto': GPU_PROVIDERS, 'tensorrt': GPU_PROVIDERS[:1],
                  'cuda': GPU_PROVIDERS[1:]}[provider]
        if provider != 'auto' and wanted[0] not in available:
            raise EngineError(f'onnx_provider={provider}: this onnxruntime build has no '
                              f'{wanted[0]} (available: {", ".join(available)})')
        if 'TensorrtExecutionProvider' in wanted and 'TensorrtExecutionProvider' in available:
            cache = Path(trt_cache_dir) if trt_cache_dir else default_trt_cache_dir()
            cache.mkdir(parents=True, exist_ok=True)
            options = {'trt_engine_cache_enable': True, 'trt_engine_cache_path': str(cache),
                       'trt_timing_cache_enable': True, 'trt_timing_cache_path': str(cache),
                       'trt_fp16_enable': bool(fp16)}
            if trt_workspace_mb > 0:
                options['trt_max_workspace_size'] = int(trt_workspace_mb) * 2**20
            providers.append(('TensorrtExecutionProvider', options))
        if 'CUDAExecutionProvider' in available:
            # TensorRT hands the nodes it cannot take to CUDA, even when TensorRT was asked for.
            providers.append('CUDAExecutionProvider')
    providers.append('CPUExecutionProvider')
    return providers


class ONNXBackend(Backend):
    """Runs an ONNX graph written by ``sgcp_core.export`` with ONNX Runtime.

    Args:
        model: path of an ``.onnx`` file, or its serialised bytes.
        device: 'cpu' or 'cuda' (already resolved; the Segmenter handles fallback).
        threads: intra-op threads; 0 lets ONNX Runtime use one per physical core.
        source: a name for error messages when ``model`` is bytes.
        provider, fp16, trt_cache_dir, trt_workspace_mb: GPU options, see
            ``choose_providers`` (``EngineConfig`` fields of the same names).
    """

    name = 'onnx'

    def __init__(self, model: str | Path | bytes, device: str = 'cpu', threads: int = 0,
                 source: str | None = None, provider: str = 'auto', fp16: bool = False,
                 trt_cache_dir: str = '', trt_workspace_mb: int = 0) -> None:
        ort = import_onnxruntime()
        source = source or str(model)
        if not isinstance(model, bytes):
            if not Path(model).is_file():
                raise FileNotFoundError(f'model file not found: {model}')
            model = str(model)
        options = ort.SessionOptions()
        # Spinning worker threads keep burning the cores for a while after each frame,
        # which starves whatever else runs on the robot (and the PyTorch rows when `sgcp
        # bench` interleaves backends); yield the CPU instead.
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads > 0:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1   # one frame, one graph: nothing to run in parallel
        providers = choose_providers(device, ort.get_available_providers(), provider, fp16,
                                     trt_cache_dir, trt_workspace_mb)
        self._model, self._options, self._providers = model, options, providers
        try:
            self.session = ort.InferenceSession(model, sess_options=options,
                                                providers=providers)
        except Exception as error:  # ORT raises its own Fail/InvalidGraph/... types
            raise ModelFileError(f'{source} is not a usable ONNX model: {error}') from error
        active = self.session.get_providers()
        # A GPU provider that is listed but cannot load (missing CUDA/cuDNN libraries) is
        # dropped by ONNX Runtime with only a log line; report where we really run.
        self.device = 'cuda' if any(p in GPU_PROVIDERS for p in active) else 'cpu'
        self.providers = active
        self.fp16 = fp16 and 'TensorrtExecutionProvider' in active
        if 'TensorrtExecutionProvider' in active:
            LOG.info('engine: TensorRT builds its engine on the first frame (the warm-up); '
                     'the first time for this model and GPU takes up to minutes, then it is '
                     'loaded from %s', trt_cache_dir or default_trt_cache_dir())
        self.meta = meta_from_onnx_props(self.session.get_modelmeta().custom_metadata_map,
                                         source)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != ONNX_INPUT_NAME:
            raise ModelFileError(f'{source}: expected one input named {ONNX_INPUT_NAME!r}, '
                                 f'got {[i.name for i in inputs]}')
        batch, _, height, width = inputs[0].shape
        self.fixed_input_size = ((height, width) if isinstance(height, int)
                                 and isinstance(width, int) else None)
        # A named (symbolic) batch axis takes any number of frames in one run.
        self.fixed_batch_size = batch if isinstance(batch, int) else None
        self.logits_stride = self.meta.logits_stride
        self.upsample = self.meta.model.upsample
        self._output_names = [self.session.get_outputs()[0].name]

    def settle_input_size(self, size: tuple[int, int]) -> None:
        """For a graph that takes any height and width (int8 files, ``--dynamic`` exports):
        a new session with those axes fixed to ``size``, so ONNX Runtime plans every shape
        ahead (a little less time per frame, the same logits), for the cost of building a
        second session at start-up. A named batch axis stays free for camera batches."""
        if self.fixed_input_size is not None:
            return
        ort = import_onnxruntime()
        _, _, height, width = self.session.get_inputs()[0].shape
        options = self._options
        for name, value in ((height, size[0]), (width, size[1])):
            if isinstance(name, str):
                options.add_free_dimension_override_by_name(name, int(value))
        self.session = ort.InferenceSession(self._model, sess_options=options,
                                            providers=self._providers)
        self.fixed_input_size = tuple(size)

    def forward(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(self._output_names, {ONNX_INPUT_NAME: images})[0]

    def describe(self) -> str:
        ort = import_onnxruntime()
        half = ', fp16' if self.fp16 else ''
        return (f'onnxruntime {ort.__version__} on {self.device} '
                f'({", ".join(self.providers)}{half}; {self.meta.precision} graph)')

    def close(self) -> None:
        self.session = None
