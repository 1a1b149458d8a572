# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``sgcp`` command: one sub-module per sub-command, each with ``add_parser``/``run``."""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ['main', 'CommandError']

# sub-command -> module under sgcp_core.cli; imported lazily so `sgcp info` stays quick.
SUBCOMMANDS = {
    'info': 'info',
    'train': 'train',
    'eval': 'evaluate',
    'export': 'export',
    'infer': 'infer',
    'bench': 'bench',
}


class CommandError(Exception):
    """A user-facing failure: printed as 'sgcp <cmd>: error: ...' with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='sgcp',
        description='SGCPNet real-time semantic segmentation: train, evaluate, export, run.',
        epilog='Run "sgcp COMMAND --help" for the options of each command.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(f'sgcp_core.cli.{module_name}')
        except ModuleNotFoundError as error:
            if error.name != f'sgcp_core.cli.{module_name}':
                raise
            continue
        module.add_parser(commands, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CommandError as error:
        print(f'sgcp {args.command}: error: {error}', file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as error:
        # Library errors (missing file, bad config, wrong model file) already name the
        # problem; a traceback would only bury it.
        print(f'sgcp {args.command}: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'sgcp {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
