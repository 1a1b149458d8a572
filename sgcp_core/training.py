# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The training loop, in the parts of torchvision's reference scripts.

``setup`` builds what stays fixed for a run (a ``Run``: data, network, schedule) and the
``TrainState`` (everything a step changes); ``train_one_epoch`` takes the steps of one
epoch, or of its rest after a resume; ``validate`` scores the weights a checkpoint ships;
``save_state`` writes the state as a checkpoint, which ``setup(resume=...)`` reads back.
``train`` strings them together, single process or under torchrun (DDP). With a held-out
val split it keeps the best epoch (``best.pt``); when the val split is among the training
splits nothing is held out, and it keeps the last epoch (``final.pt``) instead of
selecting one on data it trained on.

Everything random is a function of (seed, epoch, sample index), so the step count is the
run's whole random position: a run stopped at any step and resumed from its checkpoint
takes the same steps, bit for bit, as one never stopped. Options (all in ``TrainConfig``):
OHEM, training-only auxiliary heads, an EMA of the weights, and distillation from a
teacher's cached logits.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field
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
from sgcp_core.data import EvalTransform, SegmentationDataset, TrainTransform, build_dataset
from sgcp_core.data.transforms import INTERPOLATIONS, PAD_MODES
from sgcp_core.errors import ModelFileError
from sgcp_core.evaluation import evaluate
from sgcp_core.files import atomic_write
from sgcp_core.losses import (LOSSES, channel_wise_divergence, pixel_kl_divergence,
                              pool_teacher_logits, segmentation_loss)
from sgcp_core.metadata import make_meta
from sgcp_core.metrics import ConfusionMatrix
from sgcp_core.models import build_sgcpnet, load_state_dict_strict

__all__ = ['train', 'setup', 'train_one_epoch', 'validate', 'save_state', 'loss_terms',
           'Run', 'TrainState', 'poly_lr_factor', 'DistributedContext', 'AuxiliaryHeads',
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


def _new_history() -> dict:
    return {'epoch': [], 'train_loss': [], 'lr': [], 'images_per_s': [], 'val_epoch': [],
            'val_miou': []}


@dataclass
class Run:
    """What stays fixed for a whole run: config, device, data, the network and schedule."""

    config: ExperimentConfig
    device: torch.device
    ctx: DistributedContext
    train_set: SegmentationDataset
    val_set: SegmentationDataset | None
    network: nn.Module          # model + auxiliary heads, wrapped in DDP under torchrun
    sampler: DistributedSampler
    steps_per_epoch: int
    held_out: bool              # the val split is not among the training splits
    facts: dict                 # what the model metadata records about its training
    out_dir: Path
    writer: object | None = None    # TensorBoard SummaryWriter on rank 0, when installed

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.train.epochs

    @property
    def memory_format(self) -> torch.memory_format:
        return (torch.channels_last if self.config.train.channels_last
                else torch.contiguous_format)

    @property
    def use_amp(self) -> bool:
        return self.config.train.amp and self.device.type == 'cuda'

    @property
    def val_shard(self) -> list[int]:
        """This rank's share of the val frames."""
        if self.val_set is None:
            return []
        return list(range(self.ctx.rank, len(self.val_set), self.ctx.world_size))


@dataclass
class TrainState:
    """Everything a training step changes, saved in every checkpoint and restored by a resume.

    The random position needs no generator state of its own: the data order and each
    sample's augmentation are functions of (seed, epoch, sample index), and (epoch, batch)
    follow from ``step``.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    aux: AuxiliaryHeads | None = None
    average: WeightAverage | None = None
    step: int = 0
    best_miou: float = -1.0
    history: dict = field(default_factory=_new_history)
    # Loss sum and sample count of the epoch under way, so that a stopped epoch's average
    # loss still covers all of its batches after the resume.
    epoch_loss_sum: float = 0.0
    epoch_seen: int = 0
    # Training time of the run's earlier processes, and when this one began.
    seconds_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @property
    def train_seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def deployable_weights(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint ships: the average when one is kept."""
        return self.average.state if self.average is not None else self.model.state_dict()

    def checkpoint_fields(self) -> dict:
        """The checkpoint entries that resuming reads (beside the shipped ``model``)."""
        return {'optimizer': self.optimizer.state_dict(),
                'scheduler': self.scheduler.state_dict(), 'scaler': self.scaler.state_dict(),
                'step': self.step, 'best_miou': self.best_miou, 'history': self.history,
                'train_seconds': self.train_seconds,
                'epoch_partial': {'loss_sum': self.epoch_loss_sum, 'seen': self.epoch_seen},
                'train_state': {'model': self.model.state_dict(),
                                'aux_heads': (self.aux.state_dict() if self.aux is not None
                                              else None)}}

    def restore(self, data: dict, source: str, device: torch.device) -> None:
        """Continue from a ``read_checkpoint`` dict written by ``save_state``."""
        missing = [key for key in ('optimizer', 'scheduler', 'scaler', 'step', 'best_miou',
                                   'history') if key not in data]
        if missing:
            raise ModelFileError(f'{source} is a model file, not a training checkpoint (no '
                                 f'{", ".join(missing)}): resume from the last.pt in a '
                                 "run's out_dir; to start from its weights use --set "
                                 f'train.init_from={source}')
        # Files from before train_state kept only the shipped weights.
        saved = data.get('train_state') or {'model': data['model']}
        load_state_dict_strict(self.model, saved['model'], source=source)
        if self.aux is not None:
            if not saved.get('aux_heads'):
                raise ModelFileError(f'{source} was written without auxiliary heads; resume '
                                     'with the config its run started with')
            self.aux.load_state_dict(saved['aux_heads'])
        if self.average is not None:
            self.average.state = {k: v.to(device) for k, v in data['model'].items()}
        self.optimizer.load_state_dict(data['optimizer'])
        self.scheduler.load_state_dict(data['scheduler'])
        self.scaler.load_state_dict(data['scaler'])
        self.step, self.best_miou = data['step'], data['best_miou']
        self.history = data['history']
        self.seconds_before = data.get('train_seconds', 0.0)
        partial = data.get('epoch_partial', {'loss_sum': 0.0, 'seen': 0})
        self.epoch_loss_sum, self.epoch_seen = partial['loss_sum'], partial['seen']


def _check_aux_taps(config: ExperimentConfig) -> None:
    tc, mc = config.train, config.model
    if tc.aux_heads and not mc.td1:
        raise ConfigError('train.aux_heads read SGCP taps; model.td1 is off')
    if {'p4_td2', 'p5_td2'} & set(tc.aux_heads) and not mc.td2:
        raise ConfigError('train.aux_heads p4_td2/p5_td2 need model.td2')


def _datasets(config: ExperimentConfig, root_base: Path | None
              ) -> tuple[SegmentationDataset, SegmentationDataset | None]:
    dc = config.data
    jitter = (dc.jitter_brightness, dc.jitter_contrast, dc.jitter_saturation, dc.jitter_gamma)
    train_set = build_dataset(dc, dc.train_split,
                              TrainTransform(dc.crop_size, dc.scale_range, dc.hflip, dc.mean,
                                             dc.std, interpolation=dc.image_interpolation,
                                             pad_mode=dc.pad_mode, jitter=jitter), root_base)
    train_set.set_epoch(0, config.train.seed)
    val_set = (build_dataset(dc, dc.val_split, EvalTransform(dc.mean, dc.std), root_base)
               if dc.val_split else None)
    if train_set.classes.num_classes != config.model.num_classes:
        raise ValueError(f'model.num_classes is {config.model.num_classes} but the '
                         f'{dc.dataset} dataset has {train_set.classes.num_classes} classes')
    return train_set, val_set


def _attach_teacher(config: ExperimentConfig, train_set: SegmentationDataset,
                    ctx: DistributedContext, out_dir: Path, progress: bool) -> None:
    """Cache the teacher's logits once (rank 0) and hand them to the training set."""
    from sgcp_core.distillation import cache_teacher_logits
    tc = config.train
    cache = Path(tc.kd_cache) if tc.kd_cache else out_dir / 'teacher_logits'
    if ctx.is_main:
        cache_teacher_logits(tc.kd_teacher, train_set, cache, flip=tc.kd_teacher_flip,
                             progress=progress)
    ctx.barrier()
    train_set.teacher_logits = cache_teacher_logits(tc.kd_teacher, train_set, cache,
                                                    flip=tc.kd_teacher_flip)


def _start_output(config: ExperimentConfig, out_dir: Path):
    """The out_dir with the resolved config.yaml in it; a TensorBoard writer if installed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / 'config.yaml',
                 lambda t: Path(t).write_text(yaml.safe_dump(config_to_dict(config),
                                                             sort_keys=False)))
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional at run time
        return None
    return SummaryWriter(str(out_dir / 'tensorboard'))


def setup(config: ExperimentConfig, resume: str | Path | None = None,
          root_base: Path | None = None, progress: bool = True) -> tuple[Run, TrainState]:
    """Data, network, optimiser and schedule per ``config``; the state at step 0, or the
    state of ``resume`` (a checkpoint ``save_state`` wrote, e.g. a run's ``last.pt``)."""
    check_config(config)
    _check_aux_taps(config)
    tc, mc = config.train, config.model
    device = _select_device()
    ctx = DistributedContext(device)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    out_dir = Path(tc.out_dir)
    torch.manual_seed(tc.seed)
    train_set, val_set = _datasets(config, root_base)
    held_out = bool(config.data.val_split) and config.data.val_split not in config.data.train_split
    if tc.kd_teacher:
        _attach_teacher(config, train_set, ctx, out_dir, progress)

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
    network.to(memory_format=torch.channels_last if tc.channels_last
               else torch.contiguous_format)
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
    state = TrainState(
        model=model, optimizer=optimizer, scheduler=scheduler,
        scaler=torch.amp.GradScaler('cuda', enabled=tc.amp and device.type == 'cuda'),
        aux=aux, average=WeightAverage(model, tc.ema_decay) if tc.ema_decay else None)
    if resume:
        state.restore(read_checkpoint(resume), str(resume), device)
    if ctx.enabled:
        network = DistributedDataParallel(network, device_ids=[device.index] if device.index
                                          is not None else None)
    run = Run(config=config, device=device, ctx=ctx, train_set=train_set, val_set=val_set,
              network=network, sampler=sampler, steps_per_epoch=steps_per_epoch,
              held_out=held_out, facts=_training_facts(config, held_out), out_dir=out_dir)
    if ctx.is_main:
        run.writer = _start_output(config, out_dir)
    return run, state


def loss_terms(config: ExperimentConfig, logits: torch.Tensor, coarse_logits: torch.Tensor,
               aux_logits: dict[str, torch.Tensor], labels: torch.Tensor,
               teacher: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The weighted terms of the training loss, by name (the loss is their sum).

    Args:
        logits: (N, C, H, W) at the label size; ``coarse_logits`` the same at stride 8.
        aux_logits: the auxiliary heads' logits at the label size, by tap.
        teacher: the teacher's (N, C, H, W) cached logits (NaN on padding), or None.
    """
    tc, dc = config.train, config.data

    def segmentation(scores: torch.Tensor) -> torch.Tensor:
        return segmentation_loss(scores, labels, kind=tc.loss, ignore_index=dc.ignore_index,
                                 ohem_thresh=tc.ohem_thresh,
                                 ohem_min_fraction=tc.ohem_min_fraction)

    terms = {'seg': segmentation(logits.float())}
    for name, weight in zip(tc.aux_heads, tc.aux_weights):
        terms[f'aux_{name}'] = weight * segmentation(aux_logits[name].float())
    if teacher is not None:
        coarse_logits = coarse_logits.float()
        teacher = pool_teacher_logits(teacher, coarse_logits.shape[-2:])
        if tc.kd_weight:
            terms['kd'] = tc.kd_weight * pixel_kl_divergence(coarse_logits, teacher,
                                                             tc.kd_temperature)
        if tc.cwd_weight:
            terms['cwd'] = tc.cwd_weight * channel_wise_divergence(coarse_logits, teacher,
                                                                   tc.cwd_temperature)
    return terms


def train_one_epoch(run: Run, state: TrainState, epoch: int, stop: _StopRequested | None = None,
                    progress: bool = True) -> float | None:
    """Take the steps of ``epoch`` that ``state.step`` has not taken yet.

    Stops after a step inside the epoch when ``stop`` is requested or ``train.max_steps``
    is reached: the partial loss sums stay in ``state`` for the checkpoint, and a resume
    skips the batches already seen.

    Returns:
        The epoch's training speed in images/s (all ranks) when it ran to its end, None when
        it stopped early.
    """
    tc, device = run.config.train, run.device
    skip = state.step - epoch * run.steps_per_epoch
    if not skip:
        state.epoch_loss_sum, state.epoch_seen = 0.0, 0
    run.train_set.set_epoch(epoch)
    loader = DataLoader(run.train_set,
                        batch_sampler=_epoch_batches(run.sampler, epoch, tc.batch_size, skip),
                        num_workers=run.config.data.num_workers,
                        pin_memory=device.type == 'cuda')
    run.network.train()
    seen_before, epoch_start = state.epoch_seen, time.perf_counter()
    bar = tqdm(loader, desc=f'epoch {epoch + 1}/{tc.epochs}', leave=False,
               disable=not (progress and run.ctx.is_main))
    for batch in bar:
        images = batch[0].to(device, non_blocking=True).contiguous(
            memory_format=run.memory_format)
        labels = batch[1].to(device, non_blocking=True)
        teacher = batch[2].to(device, non_blocking=True) if len(batch) > 2 else None
        with torch.autocast(device.type, enabled=run.use_amp):
            terms = loss_terms(run.config, *run.network(images), labels, teacher)
            loss = sum(terms.values())
        state.optimizer.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.scheduler.step()
        state.step += 1
        if state.average is not None:
            state.average.update(state.model, state.step)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f'loss became {loss_value} at step {state.step}')
        state.epoch_loss_sum += loss_value * len(images)
        state.epoch_seen += len(images)
        rate = ((state.epoch_seen - seen_before) * run.ctx.world_size
                / (time.perf_counter() - epoch_start))
        lr = state.optimizer.param_groups[0]['lr']
        bar.set_postfix(loss=f'{loss_value:.3f}', lr=f'{lr:.4f}', img_s=f'{rate:.1f}')
        if run.writer and state.step % tc.log_every == 0:
            run.writer.add_scalar('train/loss', loss_value, state.step)
            for name, term in terms.items():
                run.writer.add_scalar(f'train/loss_{name}', term.item(), state.step)
            run.writer.add_scalar('train/lr', lr, state.step)
            run.writer.add_scalar('train/images_per_s', rate, state.step)
        if state.step % run.steps_per_epoch and (
                (stop is not None and stop.requested) or state.step == tc.max_steps):
            return None
    return ((state.epoch_seen - seen_before) * run.ctx.world_size
            / (time.perf_counter() - epoch_start))


def deployable(run: Run, state: TrainState, upsample: str = '') -> nn.Module:
    """A copy of the model with the weights a checkpoint ships, in eval mode."""
    mc = run.config.model
    copy = build_sgcpnet(**{**asdict(mc), 'pretrained_backbone': False,
                            'upsample': upsample or mc.upsample}).to(run.device)
    copy.load_state_dict(state.deployable_weights())
    return copy.eval()


def validate(run: Run, model: nn.Module, indices: list[int] | None) -> ConfusionMatrix:
    """``model``'s confusion matrix on the val split: ``indices`` (this rank's shard, summed
    over the ranks) or, with None, every frame on this rank alone."""
    tc = run.config.train
    return evaluate(model, run.val_set, run.device, flip=tc.eval_flip,
                    ignore_index=run.config.data.ignore_index, indices=indices,
                    all_reduce=run.ctx.all_reduce if run.ctx.enabled and indices else None)


def save_state(run: Run, state: TrainState, name: str, epoch_done: int) -> None:
    """Write the checkpoint ``out_dir/name`` (rank 0): the shipped weights under ``model``
    with their metadata, and what resuming needs (``TrainState.checkpoint_fields``)."""
    if not run.ctx.is_main:
        return
    config = run.config
    meta = make_meta(config.model, run.train_set.classes, config.data,
                     training={**run.facts, 'epoch': epoch_done})
    save_checkpoint(run.out_dir / name, deployable(run, state), meta, epoch=epoch_done,
                    config=config_to_dict(config), **state.checkpoint_fields())


def _end_epoch(run: Run, state: TrainState, epoch_done: int, images_per_s: float) -> None:
    """Record the finished epoch, validate it when due (keeping the best), save last.pt."""
    tc, split = run.config.train, run.config.data.val_split
    history = state.history
    history['epoch'].append(epoch_done)
    history['train_loss'].append(state.epoch_loss_sum / max(state.epoch_seen, 1))
    history['lr'].append(state.optimizer.param_groups[0]['lr'])
    history['images_per_s'].append(images_per_s)
    state.epoch_loss_sum, state.epoch_seen = 0.0, 0
    run.ctx.sync_buffers(state.model)
    line = f'epoch {epoch_done}: loss {history["train_loss"][-1]:.4f} '
    if run.val_set is not None and (epoch_done % tc.eval_every == 0 or epoch_done == tc.epochs):
        miou = validate(run, deployable(run, state, tc.eval_upsample), run.val_shard).miou()
        history['val_epoch'].append(epoch_done)
        history['val_miou'].append(miou)
        if run.writer:
            run.writer.add_scalar('val/miou', miou, state.step)
        line += (f'{split} mIoU {100 * miou:.2f}%{"" if run.held_out else " (trained on)"} ')
        if run.held_out and miou > state.best_miou:
            state.best_miou = miou
            save_state(run, state, 'best.pt', epoch_done)
    if run.ctx.is_main:
        tqdm.write(f'{line}({images_per_s:.1f} img/s)')
    save_state(run, state, 'last.pt', epoch_done)


def _finish(run: Run, state: TrainState) -> tuple[dict, nn.Module]:
    """After the last epoch (rank 0): final.pt when nothing is held out, the kept epoch's
    full val score, metrics.json and curves.png. Returns (summary additions, its model)."""
    tc, mc, dc = run.config.train, run.config.model, run.config.data
    selected = 'best.pt' if run.held_out else 'final.pt'
    if not run.held_out:
        save_state(run, state, 'final.pt', tc.epochs)
    chosen = read_checkpoint(run.out_dir / selected)
    model = deployable(run, state)
    load_state_dict_strict(model, chosen['model'], source=selected)
    result = None
    if run.val_set is not None:
        model.upsample = tc.eval_upsample or mc.upsample
        result = validate(run, model, None).summary(run.val_set.classes.names)
        model.upsample = mc.upsample
    history = state.history
    summary = {
        'val': result, 'val_trained_on': not run.held_out, 'best_epoch': chosen['epoch'],
        'epochs': tc.epochs, 'train_splits': list(dc.train_split),
        'wall_time_s': round(state.train_seconds, 1),
        'images_per_s': round(float(np.mean(history['images_per_s'])), 2),
        'train_images': len(run.train_set),
        'val_images': len(run.val_set) if run.val_set is not None else 0,
        'world_size': run.ctx.world_size, 'device': str(run.device),
        'torch_threads': torch.get_num_threads()}
    return summary, model


def train(config: ExperimentConfig, resume: str | Path | None = None,
          root_base: Path | None = None, progress: bool = True) -> dict:
    """Train per ``config``; returns the run summary (as in out_dir/metrics.json) plus the
    trained module under ``"model"``.

    ``resume`` is a checkpoint written by this function (``last.pt``): model, auxiliary
    heads, weight average, optimiser, scheduler, epoch and step continue exactly.
    Checkpoints hold the deployable weights under ``"model"`` (the weight average when
    ``ema_decay`` is on) and what resuming needs (``TrainState.checkpoint_fields``).
    """
    run, state = setup(config, resume, root_base, progress)
    tc = config.train
    stopped_early = False
    with _StopRequested() as stop:
        while state.step < run.total_steps:
            epoch = state.step // run.steps_per_epoch
            images_per_s = train_one_epoch(run, state, epoch, stop, progress)
            if images_per_s is None:   # stopped inside the epoch
                run.ctx.sync_buffers(state.model)
                save_state(run, state, 'last.pt', epoch)
                stopped_early = True
                break
            _end_epoch(run, state, epoch + 1, images_per_s)
            if stop.requested or state.step == tc.max_steps:
                stopped_early = True
                break
    if run.writer:
        run.writer.close()

    summary = {'finished': not stopped_early, 'step': state.step,
               'total_steps': run.total_steps, 'best_val_miou': state.best_miou,
               'history': state.history, 'held_out': run.held_out,
               'selected_checkpoint': 'best.pt' if run.held_out else 'final.pt',
               'epoch_selection': run.facts['epoch_selection']}
    model = None
    if run.ctx.is_main and not stopped_early:
        finished, model = _finish(run, state)
        summary.update(finished)
        atomic_write(run.out_dir / 'metrics.json',
                     lambda t: Path(t).write_text(json.dumps(summary, indent=2)))
        _plot_history(state.history, summary['val'], run.out_dir / 'curves.png')
    run.ctx.barrier()
    run.ctx.close()
    return {**summary, 'model': model if model is not None else deployable(run, state)}
