# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp train``: train from a YAML config (single process or under torchrun)."""

from __future__ import annotations

import argparse

import yaml

from sgcp_core.cli import CommandError


def parse_assignment(text: str) -> tuple[list[str], object]:
    """'train.epochs=3' -> (['train', 'epochs'], 3); the value is parsed as YAML."""
    key, sep, value = text.partition('=')
    if not sep or '.' not in key:
        raise argparse.ArgumentTypeError(f'{text!r} is not SECTION.KEY=VALUE, e.g. '
                                         'train.epochs=10')
    return key.split('.'), yaml.safe_load(value)


def overrides_from(assignments: list[tuple[list[str], object]]) -> dict:
    nested: dict = {}
    for path, value in assignments:
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return nested


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(
        name, help='train SGCPNet from a YAML config',
        description='Train with the paper recipe. Every knob lives in the YAML config '
                    '(training/*.yaml); --set overrides single keys. Under torchrun it runs '
                    'DDP (NCCL on GPUs, gloo on CPU). Writes config.yaml, last.pt, best.pt, '
                    'metrics.json, curves.png and TensorBoard logs to train.out_dir.',
        epilog='examples:\n  sgcp train --config training/camvid_cpu.yaml\n'
               '  sgcp train --config training/camvid_cpu.yaml --set train.epochs=5 '
               '--set train.out_dir=runs/try\n'
               '  torchrun --nproc-per-node 2 -m sgcp_core train --config ...\n'
               '  sgcp train --config training/camvid_cpu.yaml --resume runs/camvid_cpu/last.pt\n'
               '  sgcp train --config training/ab/base.yaml --config training/ab/3_ohem_aux.yaml',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', required=True, action='append',
                        help='YAML config (see training/); repeat to layer files, each '
                             'overriding the ones before (e.g. a base and an A/B option)')
    parser.add_argument('--set', dest='assignments', action='append', default=[],
                        type=parse_assignment, metavar='SECTION.KEY=VALUE',
                        help='override one config key (repeatable)')
    parser.add_argument('--resume', help='continue exactly from this last.pt')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm bars')
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgcp_core.config import load_config
    from sgcp_core.training import train
    config = load_config(args.config, overrides_from(args.assignments))
    summary = train(config, resume=args.resume, progress=not args.no_progress)
    if summary['finished'] and summary.get('val'):
        split = config.data.val_split
        chosen = (f'best {split} mIoU' if summary['held_out']
                  else f'{split} mIoU (trained on {split}, so not held out)')
        print(f'{chosen} {100 * summary["val"]["miou"]:.2f}% at epoch '
              f'{summary["best_epoch"]}; wrote {config.train.out_dir}/'
              f'{summary["selected_checkpoint"]}')
    elif not summary['finished']:
        print(f'stopped at step {summary["step"]}/{summary["total_steps"]}; resume with '
              f'--resume {config.train.out_dir}/last.pt')
    if not summary['finished'] and summary['step'] == 0:
        raise CommandError('no training step ran')
    return 0


__all__ = ['add_parser', 'run', 'parse_assignment', 'overrides_from']
