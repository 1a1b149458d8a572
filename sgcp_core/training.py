# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The training loop: single process or torchrun DDP, exact resume, best-on-val kept.

Everything random is a function of (seed, epoch, sample index), so a run stopped at any
step and resumed from its checkpoint follows the same trajectory as one never stopped.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from sgcp_core.checkpoint import read_checkpoint, save_checkpoint
from sgcp_core.config import ExperimentConfig, config_to_dict
from sgcp_core.data import EvalTransform, TrainTransform, build_dataset
from sgcp_core.evaluation import evaluate
from sgcp_core.files import atomic_write
from sgcp_core.metadata import make_meta
from sgcp_core.models import build_sgcpnet, load_state_dict_strict

__all__ = ['train', 'poly_lr_factor', 'DistributedContext']


def poly_lr_factor(step: int, total_steps: int, power: float) -> float:
    """(1 - step / total)^power, the per-iteration poly schedule."""
    return max(0.0, 1.0 - step / total_steps) ** power


class DistributedContext:
    """Rank / world size from torchrun's environment; a no-op for a single process."""

    def __init__(self, device: torch.device) -> None:
        self.world_size = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.enabled = self.world_size > 1
        if self.enabled and not dist.is_initialized():
            dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, tensor: torch.Tensor) -> None:
        if self.enabled:
            dist.all_reduce(tensor)

    def sync_buffers(self, module: torch.nn.Module) -> None:
        """Copy rank 0's BN statistics everywhere: DDP only syncs them at the next forward,
        so after the last step each rank still holds its own batch's update."""
        if self.enabled:
            for buffer in module.buffers():
                dist.broadcast(buffer, 0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


class _StopRequested:
    """Turns SIGTERM/SIGINT into a flag checked between steps, so a checkpoint is written."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = {}

    def __enter__(self) -> '_StopRequested':
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _select_device() -> torch.device:
    if torch.cuda.is_available():
        local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        torch.cuda.set_device(local_rank)
        return torch.device('cuda', local_rank)
    return torch.device('cpu')


def _epoch_batches(sampler: DistributedSampler, epoch: int, batch_size: int,
                   skip: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    indices = list(sampler)
    batches = [indices[i:i + batch_size]
               for i in range(0, len(indices) - batch_size + 1, batch_size)]
    return batches[skip:]


def _plot_history(history: dict, summary: dict | None, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3 if summary else 2, figsize=(15 if summary else 10, 4))
    axes[0].plot(history['epoch'], history['train_loss'])
    axes[0].set(title='training loss', xlabel='epoch', ylabel='cross-entropy')
    if history['val_epoch']:
        axes[1].plot(history['val_epoch'], [100 * v for v in history['val_miou']], marker='.')
    axes[1].set(title='val mIoU', xlabel='epoch', ylabel='mIoU %')
    if summary:
        names = list(summary['per_class_iou'])
        values = [100 * (v or 0) for v in summary['per_class_iou'].values()]
        axes[2].barh(names, values)
        axes[2].invert_yaxis()
        axes[2].set(title=f'best val per-class IoU (mIoU {100 * summary["miou"]:.1f}%)',
                    xlabel='IoU %')
    fig.tight_layout()
    atomic_write(path, lambda temp: fig.savefig(temp, dpi=100, format='png'))
    plt.close(fig)


def train(config: ExperimentConfig, resume: str | Path | None = None,
          root_base: Path | None = None, progress: bool = True) -> dict:
    """Train per ``config``; returns the run summary (as in out_dir/metrics.json) plus the
    trained module under ``"model"``.

    ``resume`` is a checkpoint written by this function (``last.pt``): model, optimiser,
    scheduler, epoch and step continue exactly.
    """
    tc, dc, mc = config.train, config.data, config.model
    device = _select_device()
    ctx = DistributedContext(device)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    out_dir = Path(tc.out_dir)
    torch.manual_seed(tc.seed)

    train_set = build_dataset(dc, dc.train_split,
                              TrainTransform(dc.crop_size, dc.scale_range, dc.hflip, dc.mean,
                                             dc.std), root_base)
    train_set.set_epoch(0, tc.seed)
    val_set = build_dataset(dc, dc.val_split, EvalTransform(dc.mean, dc.std), root_base)
    if train_set.classes.num_classes != mc.num_classes:
        raise ValueError(f'model.num_classes is {mc.num_classes} but the {dc.dataset} dataset '
                         f'has {train_set.classes.num_classes} classes')
    meta = make_meta(mc, train_set.classes, dc)

    model = build_sgcpnet(**asdict(mc)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=tc.lr, momentum=tc.momentum,
                                weight_decay=tc.weight_decay)
    sampler = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank,
                                 shuffle=True, seed=tc.seed, drop_last=True)
    steps_per_epoch = len(sampler) // tc.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f'{len(sampler)} samples per process is less than one batch of '
                         f'{tc.batch_size}')
    total_steps = steps_per_epoch * tc.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: poly_lr_factor(step, total_steps, tc.poly_power))
    use_amp = tc.amp and device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=use_amp)

    step, best_miou = 0, -1.0
    history = {'epoch': [], 'train_loss': [], 'lr': [], 'images_per_s': [], 'val_epoch': [],
               'val_miou': []}
    elapsed_before = 0.0
    # Loss sum and sample count of a partly trained epoch, so its average survives a resume.
    epoch_partial = {'loss_sum': 0.0, 'seen': 0}
    if resume:
        state = read_checkpoint(resume)
        load_state_dict_strict(model, state['model'], source=str(resume))
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        scaler.load_state_dict(state['scaler'])
        step, best_miou = state['step'], state['best_miou']
        history = state['history']
        elapsed_before = state.get('train_seconds', 0.0)
        epoch_partial = state.get('epoch_partial', epoch_partial)
    if ctx.enabled:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.index
                                        is not None else None)
    core_model = getattr(model, 'module', model)

    writer = None
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / 'config.yaml',
                     lambda t: Path(t).write_text(yaml.safe_dump(config_to_dict(config),
                                                                 sort_keys=False)))
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out_dir / 'tensorboard'))
        except ImportError:  # tensorboard is optional at run time
            writer = None

    def save(name: str, epoch_done: int, train_seconds: float) -> None:
        if ctx.is_main:
            save_checkpoint(out_dir / name, core_model, meta,
                            optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), scaler=scaler.state_dict(),
                            epoch=epoch_done, step=step, best_miou=best_miou,
                            history=history, config=config_to_dict(config),
                            train_seconds=train_seconds, epoch_partial=epoch_partial)

    started = time.perf_counter()
    stopped_early = False
    shard = list(range(ctx.rank, len(val_set), ctx.world_size))
    with _StopRequested() as stop:
        while step < total_steps:
            epoch, skip = divmod(step, steps_per_epoch)
            train_set.set_epoch(epoch)
            batches = _epoch_batches(sampler, epoch, tc.batch_size, skip)
            loader = DataLoader(train_set, batch_sampler=batches, num_workers=dc.num_workers,
                                pin_memory=device.type == 'cuda')
            model.train()
            loss_sum, seen = 0.0, 0
            if skip:
                loss_sum, seen = epoch_partial['loss_sum'], epoch_partial['seen']
            seen_before, epoch_start = seen, time.perf_counter()
            bar = tqdm(loader, desc=f'epoch {epoch + 1}/{tc.epochs}', leave=False,
                       disable=not (progress and ctx.is_main))
            for images, labels in bar:
                images = images.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                with torch.autocast(device.type, enabled=use_amp):
                    logits = model(images)
                    loss = F.cross_entropy(logits.float(), labels,
                                           ignore_index=dc.ignore_index)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                step += 1
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    raise FloatingPointError(f'loss became {loss_value} at step {step}')
                loss_sum += loss_value * len(images)
                seen += len(images)
                rate = ((seen - seen_before) * ctx.world_size
                        / (time.perf_counter() - epoch_start))
                lr = optimizer.param_groups[0]['lr']
                bar.set_postfix(loss=f'{loss_value:.3f}', lr=f'{lr:.4f}', img_s=f'{rate:.1f}')
                if writer and step % tc.log_every == 0:
                    writer.add_scalar('train/loss', loss_value, step)
                    writer.add_scalar('train/lr', lr, step)
                    writer.add_scalar('train/images_per_s', rate, step)
                if step % steps_per_epoch and (stop.requested or step == tc.max_steps):
                    stopped_early = True  # mid-epoch: resume skips the batches already seen
                    break
            train_seconds = elapsed_before + time.perf_counter() - started
            if stopped_early:
                ctx.sync_buffers(core_model)
                epoch_partial = {'loss_sum': loss_sum, 'seen': seen}
                save('last.pt', epoch, train_seconds)
                break
            epoch_done = epoch + 1
            history['epoch'].append(epoch_done)
            history['train_loss'].append(loss_sum / max(seen, 1))
            history['lr'].append(optimizer.param_groups[0]['lr'])
            history['images_per_s'].append((seen - seen_before) * ctx.world_size
                                           / (time.perf_counter() - epoch_start))
            ctx.sync_buffers(core_model)
            if epoch_done % tc.eval_every == 0 or epoch_done == tc.epochs:
                matrix = evaluate(core_model, val_set, device, flip=tc.eval_flip,
                                  ignore_index=dc.ignore_index, indices=shard,
                                  all_reduce=ctx.all_reduce if ctx.enabled else None)
                miou = matrix.miou()
                history['val_epoch'].append(epoch_done)
                history['val_miou'].append(miou)
                if writer:
                    writer.add_scalar('val/miou', miou, step)
                if ctx.is_main:
                    tqdm.write(f'epoch {epoch_done}: loss {history["train_loss"][-1]:.4f} '
                               f'val mIoU {100 * miou:.2f}% '
                               f'({history["images_per_s"][-1]:.1f} img/s)')
                if miou > best_miou:
                    best_miou = miou
                    save('best.pt', epoch_done, train_seconds)
            save('last.pt', epoch_done, train_seconds)
            if stop.requested or step == tc.max_steps:
                stopped_early = True
                break
    if writer:
        writer.close()

    summary = {'finished': not stopped_early, 'step': step, 'total_steps': total_steps,
               'best_val_miou': best_miou, 'history': history}
    if ctx.is_main and not stopped_early and (out_dir / 'best.pt').is_file():
        best = read_checkpoint(out_dir / 'best.pt')
        load_state_dict_strict(core_model, best['model'], source='best.pt')
        matrix = evaluate(core_model, val_set, device, ignore_index=dc.ignore_index)
        result = matrix.summary(val_set.classes.names)
        wall = elapsed_before + time.perf_counter() - started
        summary.update({
            'val': result, 'best_epoch': best['epoch'], 'epochs': tc.epochs,
            'wall_time_s': round(wall, 1),
            'images_per_s': round(float(np.mean(history['images_per_s'])), 2),
            'train_images': len(train_set), 'val_images': len(val_set),
            'world_size': ctx.world_size, 'device': str(device),
            'torch_threads': torch.get_num_threads()})
        atomic_write(out_dir / 'metrics.json',
                     lambda t: Path(t).write_text(json.dumps(summary, indent=2)))
        _plot_history(history, result, out_dir / 'curves.png')
    ctx.barrier()
    ctx.close()
    return {**summary, 'model': core_model}
