# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The training loop: single process or torchrun DDP, exact resume, best-on-val kept.

Everything random is a function of (seed, epoch, sample index), so a run stopped at any
step and resumed from its checkpoint follows the same trajectory as one never stopped.
Options (all in ``TrainConfig``): OHEM, training-only auxiliary heads, an EMA of the
weights, and distillation from a teacher's cached logits. When the val split is among the
training splits nothing is held out, and the run keeps its last epoch (``final.pt``)
instead of selecting one on data it trained on.
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
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from sgcp_core.checkpoint import read_checkpoint, save_checkpoint
from sgcp_core.config import ConfigError, ExperimentConfig, config_to_dict
from sgcp_core.data import EvalTransform, TrainTransform, build_dataset
from sgcp_core.data.transforms import INTERPOLATIONS, PAD_MODES
from sgcp_core.evaluation import evaluate
from sgcp_core.files import atomic_write
from sgcp_core.losses import (LOSSES, channel_wise_divergence, pixel_kl_divergence,
                              pool_teacher_logits, segmentation_loss)
from sgcp_core.metadata import make_meta
from sgcp_core.models import build_sgcpnet, load_state_dict_strict

__all__ = ['train', 'poly_lr_factor', 'DistributedContext', 'AuxiliaryHeads',
           'WeightAverage', 'check_config', 'AUX_TAPS']

# SGCP module taps an auxiliary head can read (see SGCPModule.forward).
AUX_TAPS = ('p3_td1', 'p4_td2', 'p5_td2')


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


def check_config(config: ExperimentConfig) -> None:
    """ConfigError naming the key for values the loop cannot run with."""
    tc, dc = config.train, config.data
    checks = [
        (tc.epochs >= 1, 'train.epochs', 'at least 1'),
        (tc.batch_size >= 1, 'train.batch_size', 'at least 1'),
        (tc.lr > 0, 'train.lr', 'above 0'),
        (tc.eval_every >= 1, 'train.eval_every', 'at least 1'),
        (tc.threads >= 0, 'train.threads', '0 (default) or more'),
        (tc.max_steps >= 0, 'train.max_steps', '0 (no limit) or more'),
        (min(dc.crop_size) >= 1, 'data.crop_size', '[H, W] of at least 1 pixel'),
        (0 < dc.scale_range[0] <= dc.scale_range[1], 'data.scale_range', '0 < min <= max'),
        (len(dc.train_split) >= 1, 'data.train_split', 'one split or more'),
        (dc.image_interpolation in INTERPOLATIONS, 'data.image_interpolation',
         f'one of {sorted(INTERPOLATIONS)}'),
        (dc.pad_mode in PAD_MODES, 'data.pad_mode', f'one of {list(PAD_MODES)}'),
        (all(0 <= v < 1 for v in (dc.jitter_brightness, dc.jitter_contrast,
                                  dc.jitter_saturation, dc.jitter_gamma)),
         'data.jitter_*', 'within [0, 1)'),
        (tc.loss in LOSSES, 'train.loss', f'one of {list(LOSSES)}'),
        (0 < tc.ohem_thresh <= 1, 'train.ohem_thresh', 'within (0, 1]'),
        (0 < tc.ohem_min_fraction <= 1, 'train.ohem_min_fraction', 'within (0, 1]'),
        (set(tc.aux_heads) <= set(AUX_TAPS), 'train.aux_heads', f'names from {list(AUX_TAPS)}'),
        (len(tc.aux_weights) == len(tc.aux_heads), 'train.aux_weights',
         'one weight per entry of train.aux_heads'),
        (0 <= tc.ema_decay < 1, 'train.ema_decay', 'within [0, 1)'),
        (tc.kd_weight >= 0 and tc.cwd_weight >= 0, 'train.kd_weight/cwd_weight', '>= 0'),
        (tc.kd_temperature > 0 and tc.cwd_temperature > 0, 'train.*_temperature', '> 0'),
        (bool(tc.kd_teacher) == (tc.kd_weight + tc.cwd_weight > 0), 'train.kd_teacher',
         'set exactly when kd_weight or cwd_weight is above 0'),
        (tc.eval_upsample in ('', 'bilinear', 'bicubic'), 'train.eval_upsample',
         "'', 'bilinear' or 'bicubic'"),
    ]
    for ok, key, expected in checks:
        if not ok:
            raise ConfigError(f'{key} must be {expected}')


class AuxiliaryHeads(nn.Module):
    """Training-only 1x1 classifiers on SGCP taps; never part of the saved model.

    Args:
        taps: the maps ``SGCPNet.head_features(images, taps)`` filled in.
        size: (H, W) to upsample their logits to (the label size).

    Returns:
        {tap name: (N, C, H, W) logits}.
    """

    def __init__(self, names: tuple[str, ...], channels: int, num_classes: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({name: nn.Conv2d(channels, num_classes, 1)
                                    for name in names})

    def forward(self, taps: dict[str, torch.Tensor],
                size: tuple[int, int]) -> dict[str, torch.Tensor]:
        return {name: F.interpolate(head(taps[name]), size=size, mode='bilinear',
                                    align_corners=False)
                for name, head in self.heads.items()}


class WeightAverage:
    """Exponential moving average of a model's parameters and float buffers.

    The decay ramps up as min(decay, (1 + step) / (10 + step)), so early averages are not
    dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for key, value in model.state_dict().items():
            average = self.state[key]
            if average.dtype.is_floating_point:
                average.mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                average.copy_(value)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.state)


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
        axes[2].set(title=f'val per-class IoU, shipped epoch (mIoU {100 * summary["miou"]:.1f}%)',
                    xlabel='IoU %')
    fig.tight_layout()
    atomic_write(path, lambda temp: fig.savefig(temp, dpi=100, format='png'))
    plt.close(fig)


class _TrainingNetwork(nn.Module):
    """The model plus its training-only auxiliary heads, as one module for DDP."""

    def __init__(self, model: nn.Module, aux: AuxiliaryHeads | None) -> None:
        super().__init__()
        self.model = model
        self.aux = aux

    def forward(self, images: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(logits at the input size, the same at stride 8, auxiliary logits)."""
        taps = {} if self.aux is not None else None
        coarse = self.model(images, coarse=True, taps=taps)
        # What model(images) returns, with the stride-8 map kept for distillation.
        logits = F.interpolate(coarse, size=images.shape[-2:], mode=self.model.upsample,
                               align_corners=False)
        return logits, coarse, (self.aux(taps, images.shape[-2:]) if self.aux is not None
                                else {})


def _training_facts(config: ExperimentConfig, held_out: bool) -> dict:
    """What the weights were trained on and how, recorded in the model's metadata."""
    tc, dc = config.train, config.data
    return {
        'train_splits': list(dc.train_split), 'epochs': tc.epochs,
        'epoch_selection': (f'best {dc.val_split} mIoU' if held_out
                            else 'last epoch (no split held out)'),
        'teacher': Path(tc.kd_teacher).name if tc.kd_teacher else None,
        'recipe': {'init_from': Path(tc.init_from).name if tc.init_from else None,
                   'loss': tc.loss, 'aux_heads': list(tc.aux_heads),
                   'ema_decay': tc.ema_decay, 'kd_weight': tc.kd_weight,
                   'cwd_weight': tc.cwd_weight, 'lr': tc.lr, 'batch_size': tc.batch_size,
                   'crop_size': list(dc.crop_size), 'pad_mode': dc.pad_mode,
                   'image_interpolation': dc.image_interpolation}}


def train(config: ExperimentConfig, resume: str | Path | None = None,
          root_base: Path | None = None, progress: bool = True) -> dict:
    """Train per ``config``; returns the run summary (as in out_dir/metrics.json) plus the
    trained module under ``"model"``.

    ``resume`` is a checkpoint written by this function (``last.pt``): model, auxiliary
    heads, weight average, optimiser, scheduler, epoch and step continue exactly.
    Checkpoints hold the deployable weights under ``"model"`` (the weight average when
    ``ema_decay`` is on) and what resuming needs under ``"train_state"``.
    """
    check_config(config)
    tc, dc, mc = config.train, config.data, config.model
    if tc.aux_heads and not mc.td1:
        raise ConfigError('train.aux_heads read SGCP taps; model.td1 is off')
    if {'p4_td2', 'p5_td2'} & set(tc.aux_heads) and not mc.td2:
        raise ConfigError('train.aux_heads p4_td2/p5_td2 need model.td2')
    device = _select_device()
    ctx = DistributedContext(device)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    out_dir = Path(tc.out_dir)
    torch.manual_seed(tc.seed)
    held_out = bool(dc.val_split) and dc.val_split not in dc.train_split

    jitter = (dc.jitter_brightness, dc.jitter_contrast, dc.jitter_saturation, dc.jitter_gamma)
    train_set = build_dataset(dc, dc.train_split,
                              TrainTransform(dc.crop_size, dc.scale_range, dc.hflip, dc.mean,
                                             dc.std, interpolation=dc.image_interpolation,
                                             pad_mode=dc.pad_mode, jitter=jitter), root_base)
    train_set.set_epoch(0, tc.seed)
    val_set = (build_dataset(dc, dc.val_split, EvalTransform(dc.mean, dc.std), root_base)
               if dc.val_split else None)
    if train_set.classes.num_classes != mc.num_classes:
        raise ValueError(f'model.num_classes is {mc.num_classes} but the {dc.dataset} dataset '
                         f'has {train_set.classes.num_classes} classes')
    facts = _training_facts(config, held_out)
    if tc.kd_teacher:
        from sgcp_core.distillation import cache_teacher_logits
        cache = Path(tc.kd_cache) if tc.kd_cache else out_dir / 'teacher_logits'
        if ctx.is_main:
            cache_teacher_logits(tc.kd_teacher, train_set, cache, flip=tc.kd_teacher_flip,
                                 progress=progress)
        ctx.barrier()
        train_set.teacher_logits = cache_teacher_logits(tc.kd_teacher, train_set, cache,
                                                        flip=tc.kd_teacher_flip)

    # Seeded here, after the teacher cache (which builds a model only when it misses), so the
    # initial weights never depend on whether the cache existed.
    torch.manual_seed(tc.seed)
    model = build_sgcpnet(**asdict(mc)).to(device)
    if tc.init_from and not resume:
        load_state_dict_strict(model, read_checkpoint(tc.init_from)['model'],
                               source=tc.init_from)
    aux = (AuxiliaryHeads(tc.aux_heads, mc.channels, mc.num_classes).to(device)
           if tc.aux_heads else None)
    network: nn.Module = _TrainingNetwork(model, aux)
    memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
    network.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(network.parameters(), lr=tc.lr, momentum=tc.momentum,
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
    average = WeightAverage(model, tc.ema_decay) if tc.ema_decay else None

    step, best_miou = 0, -1.0
    history = {'epoch': [], 'train_loss': [], 'lr': [], 'images_per_s': [], 'val_epoch': [],
               'val_miou': []}
    elapsed_before = 0.0
    # Loss sum and sample count of a partly trained epoch, so its average survives a resume.
    epoch_partial = {'loss_sum': 0.0, 'seen': 0}
    if resume:
        state = read_checkpoint(resume)
        train_state = state.get('train_state') or {'model': state['model']}
        load_state_dict_strict(model, train_state['model'], source=str(resume))
        if aux is not None:
            aux.load_state_dict(train_state['aux_heads'])
        if average is not None:
            average.state = {k: v.to(device) for k, v in state['model'].items()}
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        scaler.load_state_dict(state['scaler'])
        step, best_miou = state['step'], state['best_miou']
        history = state['history']
        elapsed_before = state.get('train_seconds', 0.0)
        epoch_partial = state.get('epoch_partial', epoch_partial)
    if ctx.enabled:
        network = DistributedDataParallel(network, device_ids=[device.index] if device.index
                                          is not None else None)
    core_model = model

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

    def deployable(upsample: str = '') -> nn.Module:
        """A copy of the model with the weights a checkpoint ships (the average if on)."""
        copy = build_sgcpnet(**{**asdict(mc), 'pretrained_backbone': False,
                                'upsample': upsample or mc.upsample}).to(device)
        copy.load_state_dict(average.state if average is not None else core_model.state_dict())
        return copy.eval()

    def save(name: str, epoch_done: int, train_seconds: float) -> None:
        if ctx.is_main:
            meta = make_meta(mc, train_set.classes, dc, training={**facts, 'epoch': epoch_done})
            train_state = {'model': core_model.state_dict(),
                           'aux_heads': aux.state_dict() if aux is not None else None}
            save_checkpoint(out_dir / name, deployable(), meta,
                            optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), scaler=scaler.state_dict(),
                            epoch=epoch_done, step=step, best_miou=best_miou,
                            history=history, config=config_to_dict(config),
                            train_seconds=train_seconds, epoch_partial=epoch_partial,
                            train_state=train_state)

    def validate(model_to_score: nn.Module, indices):
        return evaluate(model_to_score, val_set, device, flip=tc.eval_flip,
                        ignore_index=dc.ignore_index, indices=indices,
                        all_reduce=ctx.all_reduce if ctx.enabled and indices else None)

    started = time.perf_counter()
    stopped_early = False
    teacher_on = train_set.teacher_logits is not None
    shard = (list(range(ctx.rank, len(val_set), ctx.world_size)) if val_set is not None
             else [])
    with _StopRequested() as stop:
        while step < total_steps:
            epoch, skip = divmod(step, steps_per_epoch)
            train_set.set_epoch(epoch)
            batches = _epoch_batches(sampler, epoch, tc.batch_size, skip)
            loader = DataLoader(train_set, batch_sampler=batches, num_workers=dc.num_workers,
                                pin_memory=device.type == 'cuda')
            network.train()
            loss_sum, seen = 0.0, 0
            if skip:
                loss_sum, seen = epoch_partial['loss_sum'], epoch_partial['seen']
            seen_before, epoch_start = seen, time.perf_counter()
            bar = tqdm(loader, desc=f'epoch {epoch + 1}/{tc.epochs}', leave=False,
                       disable=not (progress and ctx.is_main))
            for batch in bar:
                images = batch[0].to(device, non_blocking=True).contiguous(
                    memory_format=memory_format)
                labels = batch[1].to(device, non_blocking=True)
                with torch.autocast(device.type, enabled=use_amp):
                    logits, coarse_logits, aux_logits = network(images)
                    logits = logits.float()
                    terms = {'seg': segmentation_loss(
                        logits, labels, kind=tc.loss, ignore_index=dc.ignore_index,
                        ohem_thresh=tc.ohem_thresh, ohem_min_fraction=tc.ohem_min_fraction)}
                    for name, weight in zip(tc.aux_heads, tc.aux_weights):
                        terms[f'aux_{name}'] = weight * segmentation_loss(
                            aux_logits[name].float(), labels, kind=tc.loss,
                            ignore_index=dc.ignore_index, ohem_thresh=tc.ohem_thresh,
                            ohem_min_fraction=tc.ohem_min_fraction)
                    if teacher_on:
                        coarse_logits = coarse_logits.float()
                        teacher = pool_teacher_logits(batch[2].to(device, non_blocking=True),
                                                      coarse_logits.shape[-2:])
                        if tc.kd_weight:
                            terms['kd'] = tc.kd_weight * pixel_kl_divergence(
                                coarse_logits, teacher, tc.kd_temperature)
                        if tc.cwd_weight:
                            terms['cwd'] = tc.cwd_weight * channel_wise_divergence(
                                coarse_logits, teacher, tc.cwd_temperature)
                    loss = sum(terms.values())
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                step += 1
                if average is not None:
                    average.update(core_model, step)
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
                    for name, term in terms.items():
                        writer.add_scalar(f'train/loss_{name}', term.item(), step)
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
            if val_set is not None and (epoch_done % tc.eval_every == 0
                                        or epoch_done == tc.epochs):
                miou = validate(deployable(tc.eval_upsample), shard).miou()
                history['val_epoch'].append(epoch_done)
                history['val_miou'].append(miou)
                if writer:
                    writer.add_scalar('val/miou', miou, step)
                if ctx.is_main:
                    tqdm.write(f'epoch {epoch_done}: loss {history["train_loss"][-1]:.4f} '
                               f'{dc.val_split} mIoU {100 * miou:.2f}%'
                               f'{"" if held_out else " (trained on)"} '
                               f'({history["images_per_s"][-1]:.1f} img/s)')
                if held_out and miou > best_miou:
                    best_miou = miou
                    save('best.pt', epoch_done, train_seconds)
            elif ctx.is_main:
                tqdm.write(f'epoch {epoch_done}: loss {history["train_loss"][-1]:.4f} '
                           f'({history["images_per_s"][-1]:.1f} img/s)')
            save('last.pt', epoch_done, train_seconds)
            if stop.requested or step == tc.max_steps:
                stopped_early = True
                break
    if writer:
        writer.close()

    selected = 'best.pt' if held_out else 'final.pt'
    summary = {'finished': not stopped_early, 'step': step, 'total_steps': total_steps,
               'best_val_miou': best_miou, 'history': history, 'held_out': held_out,
               'selected_checkpoint': selected, 'epoch_selection': facts['epoch_selection']}
    if ctx.is_main and not stopped_early:
        if not held_out:
            save('final.pt', tc.epochs, elapsed_before + time.perf_counter() - started)
        chosen = read_checkpoint(out_dir / selected)
        selected_model = deployable()
        load_state_dict_strict(selected_model, chosen['model'], source=selected)
        result = None
        if val_set is not None:
            selected_model.upsample = tc.eval_upsample or mc.upsample
            result = validate(selected_model, None).summary(val_set.classes.names)
            selected_model.upsample = mc.upsample
        wall = elapsed_before + time.perf_counter() - started
        summary.update({
            'val': result, 'val_trained_on': not held_out, 'best_epoch': chosen['epoch'],
            'epochs': tc.epochs, 'train_splits': list(dc.train_split),
            'wall_time_s': round(wall, 1),
            'images_per_s': round(float(np.mean(history['images_per_s'])), 2),
            'train_images': len(train_set),
            'val_images': len(val_set) if val_set is not None else 0,
            'world_size': ctx.world_size, 'device': str(device),
            'torch_threads': torch.get_num_threads()})
        atomic_write(out_dir / 'metrics.json',
                     lambda t: Path(t).write_text(json.dumps(summary, indent=2)))
        _plot_history(history, result, out_dir / 'curves.png')
    ctx.barrier()
    ctx.close()
    return {**summary, 'model': selected_model if ctx.is_main and not stopped_early
            else deployable()}
