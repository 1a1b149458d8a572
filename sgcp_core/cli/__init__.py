# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``sgcp`` command: one sub-module per sub-command, each with ``add_parser``/``run``."""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys
from collections.abc import Callable

from sgcp_core.errors import USER_ERRORS, CommandError, describe_error

__all__ = ['main', 'run_command', 'CommandError', 'ArgumentParser']

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


def run_command(prog: str, run: Callable[[], int | None]) -> int:
    """Call ``run``; bad input (``USER_ERRORS``: a missing or unwritable file, a bad value, a
    wrong model file or bag) becomes one ``<prog>: error: ...`` line on stderr and exit
    status 2, an interrupt 130, a reader that closed standard output (``sgcp info | head``)
    a quiet 141, as a Unix tool stopped by SIGPIPE. Every command line of the package ends
    here."""
    try:
        status = int(run() or 0)
        sys.stdout.flush()      # a closed reader surfaces here, not at interpreter exit
        return status
    except BrokenPipeError as error:
        if _stdout_is_closed():
            return 141
        return _report(prog, error)     # another pipe broke (a child process), not stdout
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        return _report(prog, error)


def _report(prog: str, error: BaseException) -> int:
    # The message names the file, topic or value at fault; a traceback would bury it.
    print(f'{prog}: error: {describe_error(error)}', file=sys.stderr)
    return 2


def _stdout_is_closed() -> bool:
    """Whether standard output's reader has gone (poll reports an error on a pipe without
    a reader); if so, point stdout at /dev/null so the interpreter's final flush does not
    print a second broken-pipe message."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False                        # not a file (captured output)
    if not hasattr(select, 'poll'):
        return False
    poller = select.poll()
    poller.register(descriptor, select.POLLOUT)
    if not any(events & select.POLLERR for _, events in poller.poll(0)):
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)
    return True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(f'sgcp {args.command}', lambda: args.run(args))


if __name__ == '__main__':
    sys.exit(main())
