# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""GPU paths: provider choice and options everywhere; the runs themselves on CUDA only.

Tests marked ``cuda`` skip, saying why, on machines without an NVIDIA GPU (or without the
GPU build of onnxruntime); ``tools/gpu_check.sh`` runs them with ``pytest -m cuda``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sgcp_core.config import EngineConfig
from sgcp_core.engine.base import EngineError
from sgcp_core.engine.onnx_backend import choose_providers

ALL_GPU = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']


def _ort_providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return onnxruntime.get_available_providers()


NO_CUDA = not torch.cuda.is_available()
NO_CUDA_REASON = (f'no CUDA device (torch {torch.__version__}, '
                  f'cuda build {torch.version.cuda or "none"})')
needs_cuda = pytest.mark.skipif(NO_CUDA, reason=NO_CUDA_REASON)


def needs_provider(name: str):
    available = _ort_providers()
    return pytest.mark.skipif(
        NO_CUDA or name not in available,
        reason=NO_CUDA_REASON if NO_CUDA else f'onnxruntime has no {name} (available: '
        f'{", ".join(available)}; pip install onnxruntime-gpu, plus TensorRT for it)')


# -- provider choice: pure, runs everywhere ---------------------------------------------------

def test_cpu_device_gets_the_cpu_provider_only():
    assert choose_providers('cpu', ALL_GPU, fp16=True) == ['CPUExecutionProvider']


def test_cuda_prefers_tensorrt_with_cache_fp16_and_workspace(tmp_path):
    providers = choose_providers('cuda', ALL_GPU, 'auto', fp16=True,
                                 trt_cache_dir=str(tmp_path / 'trt'), trt_workspace_mb=512)
    (name, options), cuda, cpu = providers
    assert (name, cuda, cpu) == ('TensorrtExecutionProvider', 'CUDAExecutionProvider',
                                 'CPUExecutionProvider')
    assert options['trt_fp16_enable'] is True
    assert options['trt_engine_cache_enable'] is True
    assert options['trt_engine_cache_path'] == str(tmp_path / 'trt')
    assert options['trt_max_workspace_size'] == 512 * 2**20
    assert (tmp_path / 'trt').is_dir()


def test_cuda_provider_skips_tensorrt_and_tensorrt_default_leaves_workspace(tmp_path):
    assert choose_providers('cuda', ALL_GPU, 'cuda') == ['CUDAExecutionProvider',
                                                         'CPUExecutionProvider']
    (_, options), _, _ = choose_providers('cuda', ALL_GPU, 'tensorrt',
                                          trt_cache_dir=str(tmp_path))
    assert options['trt_fp16_enable'] is False
    assert 'trt_max_workspace_size' not in options


def test_asking_for_a_missing_provider_names_what_is_there():
    with pytest.raises(EngineError, match='TensorrtExecutionProvider.*available: '
                                          'CUDAExecutionProvider'):
        choose_providers('cuda', ALL_GPU[1:], 'tensorrt')
    with pytest.raises(EngineError, match='onnx_provider must be one of'):
        choose_providers('cuda', ALL_GPU, 'rocm')


def test_gpu_options_are_ignored_on_the_cpu(tiny_checkpoint):
    from sgcp_core.engine import Segmenter
    config = EngineConfig(model_path=str(tiny_checkpoint), backend='torch', device='cpu',
                          fp16=True, warmup_runs=0, threads=1)
    segmenter = Segmenter(config)
    assert segmenter.backend.fp16 is False
    assert 'fp16' not in segmenter.describe()


# -- runs on the GPU ---------------------------------------------------------------------------

def _frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (360, 480, 3), dtype=np.uint8)


def _labels(model, **options) -> tuple[np.ndarray, object]:
    from sgcp_core.engine import Segmenter
    segmenter = Segmenter(EngineConfig(model_path=str(model), strict_device=True,
                                       warmup_runs=1, **options))
    return segmenter.segment(_frame()).labels, segmenter


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize('fp16', [False, True], ids=['fp32', 'fp16'])
def test_torch_cuda_matches_the_cpu(tiny_checkpoint, fp16):
    expected, _ = _labels(tiny_checkpoint, backend='torch', device='cpu')
    got, segmenter = _labels(tiny_checkpoint, backend='torch', device='cuda', fp16=fp16)
    assert segmenter.device == 'cuda'
    assert 'channels_last' in segmenter.describe()
    # fp16 may flip near-ties between classes, nothing more.
    assert (got == expected).mean() > (0.97 if fp16 else 0.999)


@pytest.mark.cuda
@needs_provider('CUDAExecutionProvider')
def test_onnxruntime_cuda_matches_the_cpu(tiny_onnx):
    expected, _ = _labels(tiny_onnx, backend='onnx', device='cpu')
    got, segmenter = _labels(tiny_onnx, backend='onnx', device='cuda', onnx_provider='cuda')
    assert segmenter.backend.providers[0] == 'CUDAExecutionProvider'
    assert (got == expected).mean() > 0.999


@pytest.mark.cuda
@needs_provider('TensorrtExecutionProvider')
@pytest.mark.parametrize('fp16', [False, True], ids=['fp32', 'fp16'])
def test_tensorrt_builds_once_into_its_cache(tiny_onnx, tmp_path, fp16):
    cache = tmp_path / 'trt'
    expected, _ = _labels(tiny_onnx, backend='onnx', device='cpu')
    options = dict(backend='onnx', device='cuda', onnx_provider='tensorrt', fp16=fp16,
                   trt_cache_dir=str(cache), trt_workspace_mb=1024)
    got, segmenter = _labels(tiny_onnx, **options)
    assert segmenter.backend.providers[0] == 'TensorrtExecutionProvider'
    engines = sorted(p.name for p in cache.iterdir() if p.suffix == '.engine')
    assert engines, f'the warm-up built no engine in {cache}: {list(cache.iterdir())}'
    assert (got == expected).mean() > (0.97 if fp16 else 0.999)
    # A second start loads the cached engine instead of building another.
    _labels(tiny_onnx, **options)
    assert sorted(p.name for p in cache.iterdir() if p.suffix == '.engine') == engines


@pytest.mark.cuda
@needs_cuda
def test_engine_config_fields_reach_the_backend(tiny_checkpoint):
    from sgcp_core.engine import Segmenter
    config = dataclasses.replace(EngineConfig(), model_path=str(tiny_checkpoint),
                                 backend='torch', device='cuda', fp16=True, warmup_runs=1,
                                 strict_device=True)
    assert Segmenter(config).backend.fp16 is True
