# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``backend: auto`` on the CPU: ONNX Runtime or OpenVINO, whichever runs the model faster.

OpenVINO's lead comes from computing in bf16 (CPUs with AVX-512 BF16 or AMX) or f16; in
f32 its kernels and ONNX Runtime's are within tens of percent of each other, either way
round depending on the model and CPU ("sgcp bench" rows "onnx" and "openvino f32"), too
close for a start-up probe on a busy robot to call, and inside the node OpenVINO f32 ran
behind ONNX Runtime (node_bench, docs/performance.md). So where OpenVINO would compute in f32
ONNX Runtime runs, unmeasured; otherwise both build the same ``.onnx`` file and run a
normalised all-zero frame in turns for about ``PROBE_BUDGET_S``, and OpenVINO wins when its
median run is ``OPENVINO_MARGIN`` times faster. The loser is closed.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import numpy as np

from sgcp_core.engine.base import Backend, EngineError
from sgcp_core.errors import ModelFileError

__all__ = ['fastest_cpu_backend', 'openvino_compute', 'PROBE_BUDGET_S', 'OPENVINO_MARGIN']

LOG = logging.getLogger('sgcp_core.engine')

PROBE_BUDGET_S = 0.8
_MIN_RUNS, _MAX_RUNS = 3, 9
# OpenVINO replaces ONNX Runtime only when clearly faster: a probe this short cannot tell a
# few percent from noise, and on a tie ONNX Runtime (the one always installed) stays.
OPENVINO_MARGIN = 1.1


def _probe(backends: list[Backend], size: tuple[int, int]) -> list[float]:
    """The median of a few runs of each backend, in ms, taken in turns."""
    frame = np.zeros((1, 3) + tuple(size), np.float32)
    for backend in backends:
        backend.forward(frame)   # first run: allocation and kernel choice
    times: list[list[float]] = [[] for _ in backends]
    start = time.perf_counter()
    for run in range(_MAX_RUNS):
        if run >= _MIN_RUNS and time.perf_counter() - start > PROBE_BUDGET_S:
            break
        for index, backend in enumerate(backends):
            before = time.perf_counter()
            backend.forward(frame)
            times[index].append(1e3 * (time.perf_counter() - before))
    return [statistics.median(runs) for runs in times]


def openvino_compute(device: str, precision: str) -> str:
    """What OpenVINO's ``device`` would compute an fp32 graph in at ``precision`` ('auto':
    the device's default), without compiling anything."""
    if precision != 'auto':
        return precision
    from sgcp_core.engine.openvino_backend import import_openvino, resolve_device
    core = import_openvino().Core()
    return core.get_property(resolve_device(core, device),
                             'INFERENCE_PRECISION_HINT').to_string()


def fastest_cpu_backend(onnx: Backend, onnx_file: Path, size: tuple[int, int] | None,
                        threads: int, precision: str, openvino_device: str
                        ) -> tuple[Backend, str]:
    """ONNX Runtime's ``onnx`` backend or an OpenVINO one on the same ``onnx_file``,
    whichever ran faster, with the reason in words (logs, class_info, /diagnostics).

    Without openvino, where OpenVINO would compute in f32, or when it cannot run the file
    on ``openvino_device`` at ``precision``, ``onnx`` is returned unmeasured and the reason
    says why.
    """
    from sgcp_core.engine.openvino_backend import (INSTALL_HINT, OpenVINOBackend,
                                                   openvino_installed)
    if not openvino_installed():
        return onnx, f'ONNX Runtime (openvino is not installed: {INSTALL_HINT})'
    size = tuple(size or onnx.meta.input_size)
    if onnx.fixed_input_size is not None and tuple(onnx.fixed_input_size) != size:
        return onnx, 'ONNX Runtime (the file does not take the input size asked for)'
    try:
        compute = openvino_compute(openvino_device, precision)
        if compute == 'f32':
            return onnx, (f'ONNX Runtime (OpenVINO would compute in f32 on '
                          f'{openvino_device}, where it is not faster; it leads in bf16 or '
                          'f16)')
        openvino = OpenVINOBackend(onnx_file, openvino_device, threads, precision)
        openvino.settle_input_size(size)
    except (EngineError, ModelFileError) as error:
        return onnx, f'ONNX Runtime (OpenVINO cannot run it: {error})'
    onnx.settle_input_size(size)
    onnx_ms, openvino_ms = _probe([onnx, openvino], size)
    timing = (f'{openvino_ms:.1f} ms a frame with OpenVINO ({openvino.inference_precision}) '
              f'against {onnx_ms:.1f} ms with ONNX Runtime at {size[0]}x{size[1]} in a '
              'start-up probe')
    if openvino_ms * OPENVINO_MARGIN < onnx_ms:
        onnx.close()
        return openvino, f'OpenVINO: {timing}'
    openvino.close()
    return onnx, f'ONNX Runtime: {timing}'
