# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Eager PyTorch backend (CPU or CUDA) for this package's ``.pt`` checkpoints."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

import numpy as np
import torch

from sgcp_core.checkpoint import load_model
from sgcp_core.engine.base import Backend

__all__ = ['TorchBackend', 'hold_freed_memory']

LOG = logging.getLogger('sgcp_core.engine')

# glibc mallopt() parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_KEEP_BYTES = 1 << 30
_heap_held = False


def hold_freed_memory() -> bool:
    """Make glibc keep freed memory in the heap instead of returning it to the OS.

    By default glibc serves big blocks (every activation at camera resolution) with mmap and
    unmaps them on free, so eager PyTorch page-faults its whole working set back in on every
    frame (``pytest -m slow -k page_faults`` measures the fault counts). It changes the
    whole process's allocator, once, and costs only the peak working set staying resident.
    Equivalent environment: ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=...``.

    Returns:
        True when the setting is in effect (glibc), False elsewhere (musl, macOS, Windows).
    """
    global _heap_held
    if _heap_held:
        return True
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        trimmed = libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES)
        # Older glibc caps the mmap threshold at 32 MiB; disabling mmap does the same job.
        mapped = (libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)
                  or libc.mallopt(_M_MMAP_MAX, 0))
    except (OSError, AttributeError) as error:
        LOG.debug('mallopt unavailable: %s', error)
        return False
    _heap_held = bool(trimmed and mapped)
    return _heap_held


class TorchBackend(Backend):
    """Runs a ``.pt`` checkpoint with eager PyTorch under ``torch.inference_mode``.

    Args:
        model_path: checkpoint in this package's format (``sgcp_core.checkpoint``).
        device: 'cpu' or 'cuda' (already resolved; the Segmenter handles fallback).
        threads: torch intra-op threads for the CPU; 0 leaves torch's default.
        coarse_logits: return the model's stride-8 logits (``model(x, coarse=True)``, which
            the engine resamples once, straight to the frame's size) or its full-size output.
        hold_memory: call ``hold_freed_memory()`` (see there for why).
        fp16: on CUDA, run under autocast (float16 convolutions, float32 logits out).
    """

    name = 'torch'

    def __init__(self, model_path: str, device: str = 'cpu', threads: int = 0,
                 coarse_logits: bool = True, hold_memory: bool = True,
                 fp16: bool = False) -> None:
        if hold_memory and device == 'cpu':
            hold_freed_memory()
        if threads > 0:
            torch.set_num_threads(threads)
        model, meta = load_model(model_path)
        self.meta = meta
        self.device = device
        self.upsample = model.upsample
        self._torch_device = torch.device(device)
        self._cuda = self._torch_device.type == 'cuda'
        # Depthwise and 1x1 convolutions (most of this network) are fastest in NHWC: with
        # cuDNN (whose Tensor Core kernels under autocast need it) and with oneDNN on the
        # CPU (torch 2.13, 2 threads, one 360x480 frame: 0.61M network 25-28 -> 14-17 ms,
        # MobileNetV2 variant 54-62 -> 40-41 ms).
        self._memory_format = torch.channels_last
        self.network = model.to(device, memory_format=self._memory_format).eval()
        self.fp16 = fp16 and self._cuda
        self.coarse = coarse_logits
        self.logits_stride = 8 if coarse_logits else 1

    def forward(self, images: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            batch = torch.from_numpy(images).to(self._torch_device, non_blocking=True)
            batch = batch.contiguous(memory_format=self._memory_format)
            with torch.autocast('cuda', dtype=torch.float16, enabled=self.fp16):
                logits = self.network(batch, coarse=self.coarse)
            # Back to NCHW: post-processing reads each class plane as one block.
            logits = logits.float().contiguous()
            if self._cuda:
                # Kernels are asynchronous; wait so the 'inference' timing is honest.
                torch.cuda.synchronize(self._torch_device)
        return logits

    def describe(self) -> str:
        threads = f', {torch.get_num_threads()} threads' if self.device == 'cpu' else ''
        extra = ', channels_last' + (', fp16 autocast' if self.fp16 else '')
        return f'torch {torch.__version__} on {self.device}{threads}{extra}'

    def close(self) -> None:
        self.network = None
        if self.device == 'cuda':
            torch.cuda.empty_cache()
