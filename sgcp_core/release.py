# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Turn a finished training run into a shippable model folder.

The folder holds the deployable checkpoint (weights + metadata, no optimiser state), its
ONNX export (parity-checked on real frames), the exact config, the training log, the
metrics JSON and the learning-curve / per-class IoU plot.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sgcp_core.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from sgcp_core.files import atomic_write
from sgcp_core.models import count_conv_macs, count_parameters

__all__ = ['package_run', 'log_without_progress_bars', 'copy_file']

RUN_FILES = ('config.yaml', 'metrics.json', 'curves.png')
# A tqdm progress-bar redraw ("epoch 3/40:  52%|#####     | 30/58 [01:02<...]"): a
# terminal's view, not evidence; the per-epoch lines the trainer writes stay.
_PROGRESS_BAR = re.compile(r'\d+%\|[^|]*\|\s*\d+/\d+ \[')


def copy_file(source: str | Path, target: str | Path) -> None:
    """Copy ``source`` onto ``target`` atomically."""
    atomic_write(target, lambda temp: shutil.copyfile(source, temp))


def log_without_progress_bars(text: str) -> str:
    """``text`` less its progress-bar redraws, which make a long run's log mostly bars."""
    # splitlines() splits at the carriage returns a bar redraws with, too; blank lines are
    # mostly the spaces that erased a bar.
    return ''.join(line + '\n' for line in text.splitlines()
                   if line.strip() and not _PROGRESS_BAR.search(line))


def package_run(run_dir: str | Path, out_dir: str | Path, stem: str,
                log_file: str | Path | None = None,
                parity_frames: Sequence[np.ndarray] = ()) -> dict:
    """Write ``out_dir/{stem}.pt``, ``{stem}.onnx`` and the run's evidence; return a summary.

    The summary (also ``out_dir/{stem}.json``) has the val metrics, epochs, wall time,
    parameters and conv MACs at the model's input size.
    """
    from sgcp_core.export import export_onnx

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    metrics = {} if missing else json.loads((run_dir / 'metrics.json').read_text())
    # Runs that held nothing out ship their last epoch (final.pt); older runs name no choice.
    selected = metrics.get('selected_checkpoint', 'best.pt')
    if not (run_dir / selected).is_file():
        missing.append(selected)
    if missing:
        raise FileNotFoundError(f'{run_dir} is not a finished run: missing {missing}')
    chosen = read_checkpoint(run_dir / selected)
    model, meta = model_from_checkpoint(chosen, str(run_dir / selected))
    height, width = meta.input_size
    facts = meta.training
    summary = {
        'variant': meta.variant, 'checkpoint': selected, 'epoch': chosen['epoch'],
        'epochs': metrics['epochs'],
        'train_splits': list(facts.train_splits) if facts else ['train'],
        'epoch_selection': facts.epoch_selection if facts else 'best val mIoU',
        'teacher': facts.teacher if facts else None,
        # Val figures of a model that trained on val are not a held-out measurement.
        'val_held_out': not metrics.get('val_trained_on', False),
        'val_miou': metrics['val']['miou'],
        'val_pixel_accuracy': metrics['val']['pixel_accuracy'],
        'val_per_class_iou': metrics['val']['per_class_iou'],
        'wall_time_s': metrics['wall_time_s'],
        'images_per_s': metrics['images_per_s'], 'torch_threads': metrics['torch_threads'],
        'parameters': count_parameters(model),
        'conv_gmacs_at_input_size': round(count_conv_macs(model, height, width) / 1e9, 4),
        'input_size': [height, width],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out_dir / f'{stem}.pt', model, meta, config=chosen['config'])
    for name in RUN_FILES:
        copy_file(run_dir / name, out_dir / f'{stem}_{name}' if name != 'config.yaml'
                  else out_dir / f'{stem}.yaml')
    if log_file:
        text = log_without_progress_bars(Path(log_file).read_text(errors='replace'))
        atomic_write(out_dir / f'{stem}_train.log', lambda temp: Path(temp).write_text(text))
    report = export_onnx(out_dir / f'{stem}.pt', out_dir / f'{stem}.onnx',
                         parity_frames=parity_frames)
    summary['onnx_parity_max_abs_diff'] = report.max_abs_diff
    atomic_write(out_dir / f'{stem}.json',
                 lambda temp: Path(temp).write_text(json.dumps(summary, indent=2)))
    return summary
