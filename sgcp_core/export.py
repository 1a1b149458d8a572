# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export of a checkpoint, with the model's ``ModelMeta`` embedded as ONNX metadata.

The graph's ``metadata_props`` are written by ``sgcp_core.metadata.meta_to_onnx_props`` and
read back by ``meta_from_onnx_props``, so the ONNX backend needs no other config. By default
the graph is ``SGCPNet.forward(images, coarse=True)``: stride-8 logits, which the engine
resamples once, straight to the frame's size.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgcp_core.checkpoint import load_model
from sgcp_core.errors import ExportError
from sgcp_core.files import atomic_write, file_digest
from sgcp_core.metadata import ONNX_INPUT_NAME as INPUT_NAME
from sgcp_core.metadata import ONNX_OUTPUT_NAME as OUTPUT_NAME
from sgcp_core.metadata import ModelMeta, meta_to_onnx_props
from sgcp_core.models import SGCPNet
from sgcp_core.models.sgcp_module import FusionNode, WeightedSum

__all__ = ['MIN_OPSET', 'ExportError', 'ExportReport', 'export_onnx', 'onnx_bytes']

MIN_OPSET = 17


@dataclass(frozen=True)
class ExportReport:
    """What ``export_onnx`` wrote and how closely ONNX Runtime matches PyTorch."""

    path: Path
    opset: int
    input_size: tuple[int, int]
    dynamic: bool
    logits_stride: int
    size_bytes: int
    max_abs_diff: float | None = None   # over the parity frames; None when not checked
    parity_frames: int = 0
    dynamic_batch: bool = False


class _Forward(torch.nn.Module):
    """``model(images, coarse=...)`` as a one-argument module for the tracer."""

    def __init__(self, model: SGCPNet, coarse: bool) -> None:
        super().__init__()
        self.model = model
        self.coarse = coarse

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images, coarse=self.coarse)


class _ScaledSum(torch.nn.Module):
    """A weighted sum with its weights fixed, each input scaled by a 1x1 depthwise convolution.

    The same arithmetic as ``WeightedSum`` (one multiplication per element, then the sum and
    swish), in ops ONNX Runtime's CPU layout optimisation keeps in its blocked (NCHWc)
    format: a Mul by a scalar makes it reorder the tensor out of that format and back, and a
    convolution's sum fuses into the convolution. For the 0.61M network that takes 23 of the
    79 reorders out of the optimised graph, for the MobileNetV2 variant 23 of 36.
    """

    def __init__(self, fuse: WeightedSum, channels: int) -> None:
        super().__init__()
        with torch.no_grad():
            weights = fuse.normalized_weights().detach()
        self.kernels = torch.nn.ParameterList(
            torch.nn.Parameter(weight.expand(channels, 1, 1, 1).clone(), requires_grad=False)
            for weight in weights)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        total = None
        for kernel, x in zip(self.kernels, inputs):
            term = torch.nn.functional.conv2d(x, kernel, groups=kernel.shape[0])
            total = term if total is None else total + term
        return torch.nn.functional.silu(total)


def _scaled_sums_as_convolutions(model: SGCPNet) -> SGCPNet:
    """A copy of ``model`` whose SGCP weighted sums are ``_ScaledSum``s."""
    model = copy.deepcopy(model)
    for node in model.modules():
        if isinstance(node, FusionNode) and node.fuse.weights is not None:
            node.fuse = _ScaledSum(node.fuse, node.conv.depthwise.in_channels)
    return model


def onnx_bytes(model: SGCPNet, meta: ModelMeta, input_size: tuple[int, int] | None = None,
               dynamic: bool = False, opset: int = MIN_OPSET,
               coarse_logits: bool = True, dynamic_batch: bool = False,
               scaled_sums_as_convolutions: bool = True) -> bytes:
    """Serialised ONNX graph of ``model`` (an SGCPNet in eval mode) with metadata.

    Args:
        model: the network, e.g. from ``sgcp_core.checkpoint.load_model``.
        meta: its metadata; written with ``input_size`` and the logits stride of the graph.
        input_size: (H, W) to trace at and to record as the engine's input size; default
            ``meta.input_size``.
        dynamic: let H and W vary at run time (input and output axes named).
        opset: ONNX opset, at least 17.
        coarse_logits: output stride-8 logits (the engine's choice) instead of logits at the
            input size.
        dynamic_batch: let the batch size vary (a named 'batch' axis), so several frames
            (the node's cameras) run in one call; otherwise the graph takes one frame.
        scaled_sums_as_convolutions: write the SGCP weighted sums' scalings as 1x1
            depthwise convolutions (``_ScaledSum``: faster in fp32 under ONNX Runtime);
            off for the graph the int8 quantizer starts from, which folds scalar
            multiplications into its scales instead.
    """
    import onnx
    if opset < MIN_OPSET:
        raise ValueError(f'opset {opset} is too old; use {MIN_OPSET} or newer')
    height, width = (int(v) for v in (input_size or meta.input_size))
    meta = dataclasses.replace(meta, input_size=(height, width),
                               logits_stride=8 if coarse_logits else 1)
    if scaled_sums_as_convolutions:
        model = _scaled_sums_as_convolutions(model)
    network = _Forward(model, coarse_logits).cpu().eval()
    example = torch.zeros(1, 3, height, width)
    dynamic_axes = {INPUT_NAME: {}, OUTPUT_NAME: {}}
    if dynamic_batch:
        dynamic_axes[INPUT_NAME][0] = dynamic_axes[OUTPUT_NAME][0] = 'batch'
    if dynamic:
        dynamic_axes[INPUT_NAME].update({2: 'height', 3: 'width'})
        dynamic_axes[OUTPUT_NAME].update({2: 'logits_height', 3: 'logits_width'})
    dynamic_axes = {name: axes for name, axes in dynamic_axes.items() if axes} or None
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is the one that needs no onnxscript; its deprecation
        # notice is ours to act on, not the user's.
        warnings.simplefilter('ignore', category=DeprecationWarning)
        warnings.simplefilter('ignore', category=FutureWarning)
        warnings.simplefilter('ignore', category=torch.jit.TracerWarning)
        try:
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(network, (example,), buffer, opset_version=opset,
                                  input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                  dynamic_axes=dynamic_axes, do_constant_folding=True,
                                  dynamo=False)
        except Exception as error:
            raise ExportError(f'torch.onnx.export failed: {error}') from error
    graph = onnx.load_from_string(buffer.getvalue())
    for key, value in meta_to_onnx_props(meta).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    graph.producer_name = 'sgcp_ros'
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


def _parity(model: SGCPNet, data: bytes, meta: ModelMeta, frames: Sequence[np.ndarray],
            input_size: tuple[int, int], coarse_logits: bool) -> float:
    """Largest |ONNX Runtime - PyTorch| logit over ``frames`` preprocessed at input_size."""
    import onnxruntime as ort

    from sgcp_core.engine.pre_post import preprocess
    session = ort.InferenceSession(data, providers=['CPUExecutionProvider'])
    worst = 0.0
    for rgb in frames:
        images = preprocess(rgb, input_size, meta.mean, meta.std)
        with torch.inference_mode():
            expected = model(torch.from_numpy(images), coarse=coarse_logits).numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
        if got.shape != expected.shape:
            raise ExportError(f'ONNX output {got.shape} but PyTorch {expected.shape}')
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def export_onnx(checkpoint: str | Path, path: str | Path,
                input_size: tuple[int, int] | None = None, dynamic: bool = False,
                opset: int = MIN_OPSET, coarse_logits: bool = True,
                parity_frames: Sequence[np.ndarray] = (), parity_atol: float = 1e-4,
                dynamic_batch: bool = False) -> ExportReport:
    """Export a ``.pt`` checkpoint to ONNX, atomically, optionally checking parity.

    Args:
        checkpoint: this package's checkpoint (loads by path alone).
        path: the ``.onnx`` file to write; readers never see a partial file.
        input_size, dynamic, opset, coarse_logits, dynamic_batch: see ``onnx_bytes``.
        parity_frames: (H, W, 3) uint8 RGB frames to run through PyTorch and ONNX Runtime;
            export fails (nothing written) if any logit differs by more than parity_atol.

    Returns:
        ExportReport with the largest difference seen.
    """
    model, meta = load_model(checkpoint)
    # The graph names the exact weights it came from, so the engine can tell it is current.
    meta = dataclasses.replace(meta, source_sha256=file_digest(checkpoint))
    size = tuple(int(v) for v in (input_size or meta.input_size))
    data = onnx_bytes(model, meta, size, dynamic, opset, coarse_logits, dynamic_batch)
    worst = None
    if parity_frames:
        worst = _parity(model, data, meta, parity_frames, size, coarse_logits)
        if worst > parity_atol:
            raise ExportError(f'ONNX Runtime and PyTorch logits differ by up to {worst:.3g} '
                              f'(> {parity_atol:g}); {path} not written')
    atomic_write(path, lambda temp: Path(temp).write_bytes(data))
    return ExportReport(Path(path), opset, size, dynamic, 8 if coarse_logits else 1, len(data),
                        worst, len(parity_frames), dynamic_batch)
