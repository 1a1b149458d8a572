# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""OpenVINO backend: the package's ``.onnx`` files (or OpenVINO IR ``.xml``) on Intel's runtime.

The model's metadata travels inside both formats: OpenVINO's ONNX reader keeps the graph's
metadata properties in the model's ``rt_info['framework']``, and ``sgcp export --int8
--openvino`` writes them there in the IR.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from sgcp_core.config import PRECISIONS
from sgcp_core.engine.base import Backend, EngineError
from sgcp_core.errors import ModelFileError
from sgcp_core.metadata import ONNX_INPUT_NAME, ModelMeta, meta_from_onnx_props

__all__ = ['OpenVINOBackend', 'import_openvino', 'openvino_installed', 'resolve_device',
           'device_precisions', 'read_openvino_meta', 'read_ir_meta', 'RT_INFO_SECTION',
           'PRECISIONS']

LOG = logging.getLogger('sgcp_core.engine')

# Where OpenVINO keeps an ONNX graph's metadata properties, and where the IR writer puts them.
RT_INFO_SECTION = 'framework'
# Each precision and the OPTIMIZATION_CAPABILITIES entry a device lists when it has it.
_CAPABILITY = {'f32': 'FP32', 'bf16': 'BF16', 'f16': 'FP16'}
INSTALL_HINT = "pip install 'sgcp_ros[openvino]' (or pip install openvino)"


def openvino_installed() -> bool:
    """True when the openvino package can be imported (without importing it)."""
    return importlib.util.find_spec('openvino') is not None


def import_openvino():
    """openvino, imported on first use so installs without it never pay for it."""
    try:
        import openvino
    except ImportError as error:
        raise EngineError(f'backend=openvino needs the openvino package: {INSTALL_HINT}'
                          ) from error
    return openvino


def resolve_device(core, device: str) -> str:
    """``device`` as OpenVINO names it ('CPU', 'GPU', 'GPU.1', 'NPU'), checked against the
    devices OpenVINO finds here; an EngineError naming those when it is not one of them."""
    available = list(core.available_devices)
    name = device.strip().upper()
    families = {d.split('.')[0] for d in available}
    if name in available or name in families:
        return name
    ov = import_openvino()
    raise EngineError(f'openvino_device={device!r}: OpenVINO {ov.__version__.split("-")[0]} '
                      f'finds no such device here (available: {", ".join(available)})')


def device_precisions(device: str = 'CPU') -> list[str]:
    """The precisions of ``PRECISIONS`` (not 'auto') that OpenVINO's ``device`` computes in."""
    core = import_openvino().Core()
    capabilities = core.get_property(resolve_device(core, device), 'OPTIMIZATION_CAPABILITIES')
    return [p for p, capability in _CAPABILITY.items() if capability in capabilities]


def read_openvino_meta(model, source: str) -> ModelMeta:
    """The sgcp_ros metadata of an OpenVINO model read from our ``.onnx`` or IR."""
    props = {}
    if model.has_rt_info([RT_INFO_SECTION]):
        for key in model.get_rt_info()[RT_INFO_SECTION]:
            props[key] = model.get_rt_info([RT_INFO_SECTION, key]).astype(str)
    return meta_from_onnx_props(props, source)


def read_ir_meta(path: str | Path) -> ModelMeta:
    """The metadata of an OpenVINO IR (``.xml``) written by ``sgcp export --openvino``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f'model file not found: {path}')
    try:
        model = import_openvino().Core().read_model(str(path))
    except Exception as error:  # OpenVINO raises RuntimeError subclasses of its own
        raise ModelFileError(f'{path} is not a model OpenVINO can read: '
                             f'{str(error).splitlines()[0]}') from error
    return read_openvino_meta(model, str(path))


class OpenVINOBackend(Backend):
    """Runs an ``.onnx`` file written by ``sgcp_core.export`` (or an IR ``.xml`` from
    ``sgcp export --openvino``) with OpenVINO.

    The graph is compiled for one input size: at once when the file fixes it, else when the
    engine settles its input size (``settle_input_size``). Compiled for latency (one stream,
    one request), ``threads`` inference threads, the chosen precision, and threads not
    pinned to cores, so the rest of a robot's processes share them.

    Args:
        model: path of an ``.onnx`` or ``.xml`` file, or an ``.onnx`` file's bytes.
        device: OpenVINO device name ('CPU', 'GPU', 'NPU', 'GPU.1', ...).
        threads: inference threads on the CPU; 0 lets OpenVINO choose (one per core).
        precision: one of ``PRECISIONS``; 'auto' leaves the device's default (bf16 on CPUs
            with AVX-512 BF16 or AMX, f16 on GPUs, f32 otherwise).
        source: a name for error messages when ``model`` is bytes.

    Raises:
        EngineError: openvino missing, the device absent, or a precision it lacks.
        ModelFileError: a file OpenVINO cannot read, or without this package's metadata.
    """

    name = 'openvino'

    def __init__(self, model: str | Path | bytes, device: str = 'CPU', threads: int = 0,
                 precision: str = 'auto', source: str | None = None) -> None:
        ov = import_openvino()
        if precision not in PRECISIONS:
            raise EngineError(f'precision must be one of {PRECISIONS}, got {precision!r}')
        source = source or str(model if not isinstance(model, bytes) else 'ONNX bytes')
        if not isinstance(model, bytes):
            if not Path(model).is_file():
                raise FileNotFoundError(f'model file not found: {model}')
            model = str(model)
        self._core = ov.Core()
        self.ov_device = resolve_device(self._core, device)
        capabilities = list(self._core.get_property(self.ov_device,
                                                    'OPTIMIZATION_CAPABILITIES'))
        if precision != 'auto' and _CAPABILITY[precision] not in capabilities:
            full_name = self._core.get_property(self.ov_device, 'FULL_DEVICE_NAME')
            raise EngineError(f'precision={precision}: OpenVINO\'s {self.ov_device} '
                              f'({full_name}) cannot compute in {precision} (it offers '
                              f'{", ".join(capabilities)}); use precision auto or f32')
        self.device = 'cpu' if self.ov_device == 'CPU' else self.ov_device.lower()
        try:
            self._model = self._core.read_model(model)
        except Exception as error:  # OpenVINO raises RuntimeError subclasses of its own
            raise ModelFileError(f'{source} is not a model OpenVINO can read: '
                                 f'{str(error).splitlines()[0]}') from error
        self.meta = read_openvino_meta(self._model, source)
        inputs = self._model.inputs
        if len(inputs) != 1 or ONNX_INPUT_NAME not in inputs[0].get_names():
            raise ModelFileError(f'{source}: expected one input named {ONNX_INPUT_NAME!r}, got '
                                 f'{[sorted(i.get_names()) for i in inputs]}')
        shape = inputs[0].get_partial_shape()
        batch, _, height, width = shape
        self.fixed_input_size = ((height.get_length(), width.get_length())
                                 if height.is_static and width.is_static else None)
        self.fixed_batch_size = batch.get_length() if batch.is_static else None
        self.logits_stride = self.meta.logits_stride
        self.upsample = self.meta.model.upsample
        self.threads = threads
        self.precision = precision
        self._config = {'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1}
        if self.ov_device == 'CPU':
            # Unpinned threads: the node's callbacks, the camera driver and the rest of the
            # robot keep every core to move to. (OpenVINO's TBB workers still wait actively
            # for a moment after each run; no property turns that off.)
            self._config['ENABLE_CPU_PINNING'] = False
            if threads > 0:
                self._config['INFERENCE_NUM_THREADS'] = int(threads)
        if precision != 'auto':
            self._config['INFERENCE_PRECISION_HINT'] = precision
        self._compiled = self._request = None
        if self.fixed_input_size is not None:
            self._compile()

    def _compile(self) -> None:
        try:
            self._compiled = self._core.compile_model(self._model, self.ov_device,
                                                      self._config)
        except Exception as error:
            raise EngineError(f'OpenVINO could not compile {self.meta.variant} for '
                              f'{self.ov_device}: {str(error).splitlines()[0]}') from error
        self._request = self._compiled.create_infer_request()

    @property
    def inference_precision(self) -> str:
        """What the device computes in ('f32', 'bf16', 'f16'): the compiled model's own
        answer, so 'auto' reads as what it chose. Before compiling: the precision asked."""
        if self._compiled is None:
            return self.precision
        return self._compiled.get_property('INFERENCE_PRECISION_HINT').to_string()

    def settle_input_size(self, size: tuple[int, int]) -> None:
        """For a graph that takes any height and width (int8 files, ``--dynamic`` exports):
        fix them to ``size`` and compile, so OpenVINO plans every shape ahead. A free batch
        axis stays free for camera batches."""
        if self._compiled is not None:
            return
        ov = import_openvino()
        batch = self._model.inputs[0].get_partial_shape()[0]
        self._model.reshape({self._model.inputs[0]: ov.PartialShape(
            [batch, 3, int(size[0]), int(size[1])])})
        self.fixed_input_size = tuple(size)
        self._compile()

    def forward(self, images: np.ndarray) -> np.ndarray:
        if self._compiled is None:
            self.settle_input_size(images.shape[2:])
        return self._request.infer({0: images})[0]

    def describe(self) -> str:
        ov = import_openvino()
        threads = f', {self.threads} threads' if self.threads and self.device == 'cpu' else ''
        return (f'openvino {ov.__version__.split("-")[0]} on {self.ov_device} '
                f'({self.inference_precision}{threads}; {self.meta.precision} graph)')

    def close(self) -> None:
        self._request = self._compiled = self._model = None
