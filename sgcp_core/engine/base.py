# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The interface every inference backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from sgcp_core.config import DEVICES
from sgcp_core.errors import EngineError
from sgcp_core.metadata import ModelMeta

__all__ = ['Backend', 'EngineError', 'DEVICES']


class Backend(ABC):
    """A built, warmed-up network: normalised images in, class scores out.

    Attributes:
        name: 'torch', 'onnx' or 'openvino'.
        device: 'cpu' or 'cuda' (OpenVINO: 'cpu', 'gpu', 'npu'), where the network runs.
        meta: the model file's metadata, read once when the backend is built.
        fixed_input_size: (H, W) when the network only accepts one size, else None.
        fixed_batch_size: the only batch size the network accepts (an ONNX graph exported
            without ``--dynamic-batch``: 1), or None when it takes any.
        logits_stride: how much smaller than the input the returned logits are (8: the
            network's stride-8 head without its final upsampling; 1: input resolution).
        upsample: the interpolation the model was trained with ('bilinear'/'bicubic').
    """

    name: str
    device: str
    meta: ModelMeta
    fixed_input_size: tuple[int, int] | None = None
    fixed_batch_size: int | None = None
    logits_stride: int = 1
    upsample: str = 'bilinear'

    @abstractmethod
    def forward(self, images: np.ndarray) -> np.ndarray | torch.Tensor:
        """Run the network.

        Args:
            images: (N, 3, H, W) float32, normalised; N = 1 unless the network takes
                batches (``fixed_batch_size`` None).

        Returns:
            (N, C, H / logits_stride, W / logits_stride) float32 logits; a torch tensor
            (possibly on the GPU) or a numpy array, whichever is cheaper for the backend.
        """

    def settle_input_size(self, size: tuple[int, int]) -> None:
        """Told the one input size the engine will run at (its ``input_size``), once, before
        the first frame; a backend that plans better for a known size uses it."""

    def describe(self) -> str:
        """One line for logs: backend, device and anything else worth knowing."""
        return f'{self.name} on {self.device}'

    def close(self) -> None:
        """Release the model / session (optional)."""
