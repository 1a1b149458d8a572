# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Inference engine: ``Segmenter(EngineConfig(...)).segment(rgb) -> SegResult``.

Backends (PyTorch, ONNX Runtime, OpenVINO) are imported when a Segmenter needs them.
"""

from sgcp_core.engine.base import Backend, EngineError
from sgcp_core.engine.pre_post import LABEL_MODES, colorize, overlay, postprocess, preprocess
from sgcp_core.engine.segmenter import (BACKENDS, DeviceFallbackWarning, Segmenter, SegResult,
                                        create_backend)

__all__ = ['Segmenter', 'SegResult', 'EngineError', 'Backend', 'DeviceFallbackWarning',
           'BACKENDS', 'LABEL_MODES', 'create_backend', 'preprocess', 'postprocess',
           'colorize', 'overlay']
