# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``sgcp`` command: one sub-module per sub-command, each with ``add_parser``/``run``."""

from __future__ import annotations

import argparse
import importlib
import sys

from sgcp_core.errors import USER_ERRORS, CommandError, describe_error

__all__ = ['main', 'CommandError', 'ArgumentParser']

# sub-command -> module under sgcp_core.cli; imported lazily so `sgcp info` stays quick.
SUBCOMMANDS = {
    'info': 'info',
    'train': 'train',
    'eval': 'evaluate',
    'export': 'export',
    'infer': 'infer',
    'bench': 'bench',
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``sgcp infer: error: ...`` and exit status 2.

    The usage block argparse prints first would push the reason off a narrow terminal or
    out of a log line; ``--help`` still shows it.
    """

    def error(self, message: str) -> None:
        self.exit(2, f'{self.prog}: error: {" ".join(message.split())} '
                     f'(see "{self.prog} --help")\n')


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog='sgcp',
        description='SGCPNet real-time semantic segmentation: train, evaluate, export, run.',
        epilog='Run "sgcp COMMAND --help" for the options of each command.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for name, module_name in SUBCOMMANDS.items():
        importlib.import_module(f'sgcp_core.cli.{module_name}').add_parser(commands, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f'sgcp {args.command}: interrupted', file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        # Bad input (a missing or unwritable file, a bad value, a wrong model file): the
        # message names the problem; a traceback would only bury it.
        print(f'sgcp {args.command}: error: {describe_error(error)}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
