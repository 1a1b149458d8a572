# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export of a checkpoint, with the model's facts embedded as ONNX metadata.

The metadata (``metadata_props``) holds every key of the checkpoint's ``meta`` dict
(``sgcp_core.checkpoint.make_meta``: model config, class names and palette, mean/std, input
size, ignore index, variant), each JSON-encoded, plus ``format`` and ``logits_stride``.
``read_onnx_meta`` gives the same dict back, so the ONNX backend needs no other config.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgcp_core.checkpoint import atomic_write, load_model

__all__ = ['ONNX_FORMAT', 'MIN_OPSET', 'ExportError', 'ExportReport', 'export_onnx',
           'onnx_bytes', 'read_onnx_meta', 'meta_to_onnx_props', 'onnx_props_to_meta']

ONNX_FORMAT = 'sgcp_ros.onnx/1'
MIN_OPSET = 17
INPUT_NAME = 'images'
OUTPUT_NAME = 'logits'


class ExportError(RuntimeError):
    """Export failed or the exported graph disagrees with PyTorch."""


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


def meta_to_onnx_props(meta: dict, logits_stride: int) -> dict[str, str]:
    """The meta dict as ONNX ``metadata_props``: one JSON string per key."""
    props = {key: json.dumps(value) for key, value in meta.items()}
    props['format'] = json.dumps(ONNX_FORMAT)
    props['logits_stride'] = json.dumps(int(logits_stride))
    return props


def onnx_props_to_meta(props: dict[str, str], source: str) -> dict:
    """Inverse of ``meta_to_onnx_props``; ValueError naming ``source`` if not ours."""
    if json.loads(props.get('format', 'null')) != ONNX_FORMAT:
        raise ValueError(f'{source} has no sgcp_ros metadata (format {ONNX_FORMAT!r}); export '
                         'it with "sgcp export" so class names, palette and normalisation '
                         'travel with it')
    try:
        return {key: json.loads(value) for key, value in props.items()}
    except json.JSONDecodeError as error:
        raise ValueError(f'{source}: metadata is not valid JSON: {error}') from error


def read_onnx_meta(path: str | Path) -> dict:
    """The metadata dict of an ONNX file written by ``export_onnx``."""
    import onnx
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'model file not found: {path}')
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends: "not an ONNX file"
        raise ValueError(f'{path} is not a readable ONNX model: {error}') from error
    return onnx_props_to_meta({p.key: p.value for p in model.metadata_props}, str(path))


def _network(model: torch.nn.Module, coarse_logits: bool) -> torch.nn.Module:
    from sgcp_core.engine.torch_backend import CoarseLogits
    return (CoarseLogits(model) if coarse_logits else model).eval()


def onnx_bytes(model: torch.nn.Module, meta: dict, input_size: tuple[int, int] | None = None,
               dynamic: bool = False, opset: int = MIN_OPSET,
               coarse_logits: bool = True) -> bytes:
    """Serialised ONNX graph of ``model`` (an SGCPNet in eval mode) with metadata.

    Args:
        model: the network, e.g. from ``sgcp_core.checkpoint.load_model``.
        meta: its metadata dict; ``meta['input_size']`` is replaced by ``input_size``.
        input_size: (H, W) to trace at and to record as the engine's input size; default
            ``meta['input_size']``.
        dynamic: let H and W vary at run time (input and output axes named).
        opset: ONNX opset, at least 17.
        coarse_logits: output stride-8 logits (the engine's choice) instead of logits at the
            input size.
    """
    import onnx
    if opset < MIN_OPSET:
        raise ValueError(f'opset {opset} is too old; use {MIN_OPSET} or newer')
    height, width = (int(v) for v in (input_size or meta['input_size']))
    meta = dict(meta, input_size=[height, width])
    network = _network(model, coarse_logits).cpu()
    example = torch.zeros(1, 3, height, width)
    dynamic_axes = ({INPUT_NAME: {2: 'height', 3: 'width'},
                     OUTPUT_NAME: {2: 'logits_height', 3: 'logits_width'}} if dynamic else None)
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
    for key, value in meta_to_onnx_props(meta, 8 if coarse_logits else 1).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    graph.producer_name = 'sgcp_ros'
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


def _parity(model: torch.nn.Module, data: bytes, meta: dict, frames: Sequence[np.ndarray],
            input_size: tuple[int, int], coarse_logits: bool) -> float:
    """Largest |ONNX Runtime - PyTorch| logit over ``frames`` preprocessed at input_size."""
    import onnxruntime as ort

    from sgcp_core.engine.pre_post import preprocess
    session = ort.InferenceSession(data, providers=['CPUExecutionProvider'])
    network = _network(model, coarse_logits)
    worst = 0.0
    for rgb in frames:
        images = preprocess(rgb, input_size, meta['mean'], meta['std'])
        with torch.inference_mode():
            expected = network(torch.from_numpy(images)).numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
        if got.shape != expected.shape:
            raise ExportError(f'ONNX output {got.shape} but PyTorch {expected.shape}')
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def export_onnx(checkpoint: str | Path, path: str | Path,
                input_size: tuple[int, int] | None = None, dynamic: bool = False,
                opset: int = MIN_OPSET, coarse_logits: bool = True,
                parity_frames: Sequence[np.ndarray] = (), parity_atol: float = 1e-4
                ) -> ExportReport:
    """Export a ``.pt`` checkpoint to ONNX, atomically, optionally checking parity.

    Args:
        checkpoint: this package's checkpoint (loads by path alone).
        path: the ``.onnx`` file to write; readers never see a partial file.
        input_size, dynamic, opset, coarse_logits: see ``onnx_bytes``.
        parity_frames: (H, W, 3) uint8 RGB frames to run through PyTorch and ONNX Runtime;
            export fails (nothing written) if any logit differs by more than parity_atol.

    Returns:
        ExportReport with the largest difference seen.
    """
    model, meta = load_model(checkpoint)
    size = tuple(int(v) for v in (input_size or meta['input_size']))
    data = onnx_bytes(model, meta, size, dynamic, opset, coarse_logits)
    worst = None
    if parity_frames:
        worst = _parity(model, data, meta, parity_frames, size, coarse_logits)
        if worst > parity_atol:
            raise ExportError(f'ONNX Runtime and PyTorch logits differ by up to {worst:.3g} '
                              f'(> {parity_atol:g}); {path} not written')
    atomic_write(path, lambda temp: Path(temp).write_bytes(data))
    return ExportReport(Path(path), opset, size, dynamic, 8 if coarse_logits else 1, len(data),
                        worst, len(parity_frames))
