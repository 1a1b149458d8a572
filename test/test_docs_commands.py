# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every command printed in README.md and docs/*.md runs as printed, checked cheaply.

Commands are read from fenced code blocks: every line of a ``bash``/``sh``/``shell`` block,
and the ``$ ``-prompted lines of any other block (``console``, ``text`` or none). Each one is
parsed the way its program parses it, without running it:

- the package's own commands (``sgcp``, ``make_bag``, ..., ``python -m sgcp_ros.demo``,
  ``python training/X.py``, ``torchrun ... -m sgcp_core``) go through their real argparse
  parsers, stopped right after a successful parse;
- ``ros2 VERB ...`` goes through ros2cli's real parser, and must use ``--no-daemon`` wherever
  the verb accepts it (without it a script meets "Node not found" from a daemon that has not
  yet seen the node); ``ros2 run``/``ros2 launch`` must name an executable or launch file of
  this package and launch arguments the launch file declares; ``-p NAME:=VALUE``,
  ``--param NAME:=VALUE`` and ``ros2 param VERB NODE NAME`` must name parameters the node
  declares;
- ``make TARGET`` must name a Makefile target, ``python -m pytest PATH`` an existing test file.

docs/node.md's parameter table must list every parameter the node declares, and every
relative link of the documents must name a file that exists and a heading it has.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.metadata
import inspect
import io
import os
import re
import runpy
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO_ROOT / 'README.md', *sorted((REPO_ROOT / 'docs').glob('*.md'))]
SHELL_LANGUAGES = ('bash', 'sh', 'shell', 'zsh')
PACKAGE = 'sgcp_ros'
# Words that run the command after them: `timeout -s INT 30 ros2 launch ...`.
_PREFIX_WORDS = {'do', 'then', 'else', 'time', 'exec', 'nohup', 'sudo', 'env', '!'}
_OPERATORS = re.compile(r'[;&|()<>]+')
_ASSIGNMENT = re.compile(r'[A-Za-z_][A-Za-z0-9_]*=')


@dataclass(frozen=True)
class Command:
    document: str
    line: int
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f'{self.document}:{self.line}: {shlex.join(self.argv)}'


def _code_lines(text: str):
    """(line number, command text) of each command line in the fenced blocks."""
    language = None
    pending, start = '', 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith('```'):
            language = None if language is not None else (stripped[3:].strip().lower() or '')
            pending = ''
            continue
        if language is None:
            continue
        if stripped.startswith('$ '):
            stripped = stripped[2:]
        elif language not in SHELL_LANGUAGES and not pending:
            continue            # output lines of a console block
        if not pending:
            start = number
        if stripped.endswith('\\'):
            pending += stripped[:-1] + ' '
            continue
        command, pending = pending + stripped, ''
        if command and not command.startswith('#'):
            yield start, command


def _simple_commands(text: str):
    """The argv of each simple command in a shell line (split at ; && || | & and parens)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = '#'
    words = []
    for token in list(lexer) + [';']:
        if _OPERATORS.fullmatch(token):
            while words and (words[0] in _PREFIX_WORDS or _ASSIGNMENT.match(words[0])):
                words.pop(0)
            if words and words[0] == 'timeout':
                words.pop(0)
                while words and words[0].startswith('-'):
                    words[:2 if words[0] in ('-s', '--signal', '-k') else 1] = []
                words = words[1:]         # the duration
            if words and words[0] not in ('for', 'while', 'if', 'done', 'fi', 'export', 'cd'):
                yield tuple(words)
            words = []
        else:
            words.append(token)


def _commands() -> list[Command]:
    found = []
    for path in DOCUMENTS:
        name = str(path.relative_to(REPO_ROOT))
        for number, text in _code_lines(path.read_text(encoding='utf-8')):
            found += [Command(name, number, argv) for argv in _simple_commands(text)]
    return found


COMMANDS = _commands()


def _console_scripts() -> dict[str, importlib.metadata.EntryPoint]:
    try:
        points = importlib.metadata.distribution(PACKAGE).entry_points
    except importlib.metadata.PackageNotFoundError:
        return {}
    return {point.name: point for point in points if point.group == 'console_scripts'}


CONSOLE_SCRIPTS = _console_scripts()


def _kind(argv: tuple[str, ...]) -> str | None:
    program = Path(argv[0]).name
    if program in CONSOLE_SCRIPTS:
        return 'console'
    if re.fullmatch(r'python(3(\.\d+)?)?', program):
        return 'python'
    if program in ('torchrun', 'ros2', 'make'):
        return program
    return None


CHECKED = [command for command in COMMANDS if _kind(command.argv)]
# The ros2 commands are checked in one test: without ros2cli (a pip venv without the ROS
# tools) that is one skip, not one per command.
ROS2_CHECKED = [command for command in CHECKED if _kind(command.argv) == 'ros2']
CHECKED = [command for command in CHECKED if _kind(command.argv) != 'ros2']


class _Parsed(BaseException):
    """Raised right after a successful parse, so nothing runs (BaseException: no
    ``except Exception`` on the way swallows it)."""


@contextlib.contextmanager
def _parse_only(monkeypatch, prog: str, argv: list[str]):
    original = argparse.ArgumentParser.parse_args

    def parse_args(parser, args=None, namespace=None):
        original(parser, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', parse_args)
    monkeypatch.setattr(sys, 'argv', [prog, *argv])
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            yield
        except _Parsed:
            return
        except SystemExit as stop:
            if stop.code not in (0, None):          # 0: --help
                pytest.fail(f'{prog} {shlex.join(argv)}: exit {stop.code}: '
                            f'{stderr.getvalue().strip()}')
            return
    pytest.fail(f'{prog} {shlex.join(argv)} ran without parsing its arguments with argparse')


def _check_console_script(monkeypatch, argv):
    point = CONSOLE_SCRIPTS[Path(argv[0]).name]
    if point.name in ('segmentation_node', 'segmentation_lifecycle_node'):
        _check_ros_arguments(argv[1:])          # ROS arguments, no argparse
        return
    with _parse_only(monkeypatch, point.name, list(argv[1:])):
        _call_main(point.load(), list(argv[1:]))


def _call_main(main, argv):
    if inspect.signature(main).parameters:
        main(argv)
    else:
        main()                                  # reads sys.argv


def _check_python(monkeypatch, argv):
    args = list(argv[1:])
    while args and args[0] in ('-u', '-B', '-O', '-X'):
        args = args[2:] if args[0] == '-X' else args[1:]
    if args[:1] == ['-m']:
        module, rest = args[1], args[2:]
        if module == 'pytest':
            _check_pytest_paths(rest)
        elif module.split('.')[0] in ('sgcp_core', 'sgcp_ros'):
            main = getattr(importlib.import_module(module), 'main', None)
            with _parse_only(monkeypatch, module, rest):
                if main is None:        # a package: its __main__ module
                    runpy.run_module(module, run_name='__main__', alter_sys=True)
                else:
                    _call_main(main, rest)
        return
    script = REPO_ROOT / args[0]
    assert script.is_file(), f'{args[0]} does not exist'
    with _parse_only(monkeypatch, args[0], args[1:]):
        runpy.run_path(str(script), run_name='__main__')


def _check_torchrun(monkeypatch, argv):
    args = list(argv)
    assert '-m' in args, 'torchrun without -m MODULE'
    _check_python(monkeypatch, ('python', *args[args.index('-m'):]))


def _check_pytest_paths(args):
    for arg in args:
        path = arg.split('::')[0]
        if path.startswith('test/') or path.endswith('.py'):
            assert (REPO_ROOT / path).exists(), f'pytest path {path} does not exist'


def _check_make(monkeypatch, argv):
    text = (REPO_ROOT / 'Makefile').read_text()
    targets = set(re.findall(r'^([A-Za-z0-9_.-]+)\s*:(?!=)', text, re.MULTILINE))
    for word in argv[1:]:
        if not word.startswith('-') and '=' not in word:
            assert word in targets, f'make {word}: no such target in the Makefile'


def _declared_parameters() -> set[str]:
    """The names of the parameters the segmentation node declares."""
    rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed (pip install .[ros])')
    from rclpy.node import Node

    from sgcp_core.config import EngineConfig
    from sgcp_ros.parameters import (ENGINE_PARAMETERS, NODE_PARAMETERS, NodeConfig,
                                     declare_config)
    from sgcp_ros.robot_outputs import declare_outputs_config
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    try:
        node = Node('docs_parameters', context=context)
        declare_config(node, EngineConfig, ENGINE_PARAMETERS)
        declare_config(node, NodeConfig, NODE_PARAMETERS)
        declare_outputs_config(node)
        names = set(node._parameters) - {'use_sim_time', 'start_type_description_service'}
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return names


@pytest.fixture(scope='module')
def node_parameters() -> set[str]:
    return _declared_parameters()


_PARAMETERS = None


def _check_ros_arguments(args):
    """-p NAME:=VALUE after --ros-args names a declared parameter."""
    global _PARAMETERS
    words = list(args)
    for flag, value in zip(words, words[1:]):
        if flag in ('-p', '--param') and ':=' in value:
            if _PARAMETERS is None:
                _PARAMETERS = _declared_parameters()
            name = value.split(':=')[0]
            assert name in _PARAMETERS, f'{name} is not a parameter of the node'


@functools.lru_cache(maxsize=None)
def _installed_ros2_verbs() -> set[str]:
    return {point.name for point in importlib.metadata.entry_points(group='ros2cli.command')}


def _ros2_parses(monkeypatch, argv: list[str]) -> str | None:
    """None when ros2cli's parser accepts ``ros2 argv``, else its error."""
    import ros2cli.cli
    original = argparse.ArgumentParser.parse_args

    def parse_args(parser, args=None, namespace=None):
        original(parser, args, namespace)
        raise _Parsed

    stderr = io.StringIO()
    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, 'parse_args', parse_args)
        # ros2cli's nested verbs read sys.argv, not the argv given to main.
        patch.setattr(sys, 'argv', ['ros2', *argv])
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                ros2cli.cli.main()
            except _Parsed:
                return None
            except SystemExit as stop:
                return None if stop.code in (0, None) else stderr.getvalue().strip()
    return 'ros2cli ran the command instead of stopping after parsing it'


_NO_DAEMON: dict[tuple[str, str], bool] = {}


def _takes_no_daemon(monkeypatch, args) -> bool:
    """Whether ``ros2 VERB SUB`` accepts --no-daemon (asked once per VERB SUB)."""
    key = (args[0], args[1])
    if key not in _NO_DAEMON:
        _NO_DAEMON[key] = _ros2_parses(monkeypatch, [*args[:2], '--no-daemon', *args[2:]]) is None
    return _NO_DAEMON[key]


def _check_ros2(monkeypatch, argv):
    pytest.importorskip('ros2cli', reason='ros2cli is not installed (a ROS 2 install, or '
                        '../shared/ros2-tools through make setup)')
    args = list(argv[1:])
    verb = args[0]
    if verb not in _installed_ros2_verbs():
        pytest.skip(f'ros2 {verb} is not installed here (package ros2{verb})')
    problem = _ros2_parses(monkeypatch, args)
    assert problem is None, problem
    if '--no-daemon' not in args and len(args) > 1 and _takes_no_daemon(monkeypatch, args):
        pytest.fail(f'ros2 {" ".join(args[:2])} accepts --no-daemon: add it (the daemon may '
                    'not know a node that has just started and answer "Node not found")')
    if verb == 'run' and args[1] == PACKAGE:
        assert args[2] in CONSOLE_SCRIPTS, f'{PACKAGE} has no executable {args[2]}'
        if '--ros-args' in args:
            _check_ros_arguments(args[args.index('--ros-args') + 1:])
    elif verb == 'launch' and args[1] == PACKAGE:
        _check_launch_arguments(args[2], args[3:], monkeypatch)
    elif verb == 'param' and args[1] in ('get', 'set', 'describe'):
        words = [a for a in args[2:] if not a.startswith('-')]
        if len(words) > 1 and words[0].endswith('sgcp_segmentation'):
            _check_ros_arguments(['-p', words[1] + ':=x'])


def _check_launch_arguments(launch_file: str, arguments, monkeypatch):
    # The launch file finds its params file through the ament index: the venv's, as
    # `make setup` links it (AMENT_PREFIX_PATH=.venv), where no ROS environment is sourced.
    if not os.environ.get('AMENT_PREFIX_PATH'):
        monkeypatch.setenv('AMENT_PREFIX_PATH', sys.prefix)
    path = REPO_ROOT / 'launch' / launch_file
    assert path.is_file(), f'{PACKAGE} has no launch file {launch_file}'
    pytest.importorskip('launch', reason='launch is not installed')
    declared = _launch_arguments(str(path))
    for argument in arguments:
        if ':=' in argument:
            name = argument.split(':=')[0]
            assert name in declared, (f'{launch_file} declares no argument {name} '
                                      f'(it has {sorted(declared)})')


@functools.lru_cache(maxsize=None)
def _launch_arguments(path: str) -> frozenset[str]:
    from launch.launch_description_sources import get_launch_description_from_python_launch_file
    description = get_launch_description_from_python_launch_file(path)
    return frozenset(argument.name for argument in description.get_launch_arguments())


_CHECKS = {'console': _check_console_script, 'python': _check_python,
           'torchrun': _check_torchrun, 'ros2': _check_ros2, 'make': _check_make}


def test_the_documents_have_commands():
    assert len(CHECKED) >= 20, [str(command) for command in CHECKED]


@pytest.mark.parametrize('command', CHECKED, ids=str)
def test_command_parses_as_printed(command, monkeypatch):
    _CHECKS[_kind(command.argv)](monkeypatch, command.argv)


def test_ros2_commands_parse_as_printed(monkeypatch):
    pytest.importorskip('ros2cli', reason='ros2cli is not installed (a ROS 2 install, or '
                        '../shared/ros2-tools through make setup)')
    assert ROS2_CHECKED, 'the documents show no ros2 command'
    failures, checked = [], 0
    for command in ROS2_CHECKED:
        try:
            _check_ros2(monkeypatch, command.argv)
            checked += 1
        except pytest.skip.Exception:
            continue    # a verb this install lacks (e.g. ros2 bag): nothing to check it with
        except (AssertionError, pytest.fail.Exception) as error:
            failures.append(f'{command}: {error}')
    assert not failures, '\n'.join(failures)
    assert checked, 'no ros2 command could be checked: none of their verbs is installed'


def test_node_reference_lists_every_parameter(node_parameters):
    text = (REPO_ROOT / 'docs' / 'node.md').read_text(encoding='utf-8')
    text = text.split('\n## Parameters\n', 1)[1].split('\n## ', 1)[0]
    listed = set(re.findall(r'^\| `([a-z0-9_.]+)` \|', text, re.MULTILINE))
    assert node_parameters - listed == set(), 'parameters missing from docs/node.md'
    assert listed - node_parameters == set(), 'docs/node.md lists parameters the node lacks'


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a markdown file."""
    text = re.sub(r'```.*?```', '', path.read_text(encoding='utf-8'), flags=re.DOTALL)
    return {re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
            for heading in re.findall(r'^#+ (.+)$', text, re.MULTILINE)}


def test_relative_links_resolve():
    broken = []
    for path in DOCUMENTS:
        text = re.sub(r'```.*?```', '', path.read_text(encoding='utf-8'), flags=re.DOTALL)
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if re.match(r'[a-z]+:', target):
                continue                        # https:, mailto:
            file, _, anchor = target.partition('#')
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f'{path.name}: {target} (no such file)')
            elif anchor and linked.suffix == '.md' and anchor not in _anchors(linked):
                broken.append(f'{path.name}: {target} (no such heading)')
    assert not broken, broken


def test_documents_are_references_not_lab_notes():
    """Figures belong to the command that measures them, not to a machine or a session."""
    notes = [f'{path.name}:{number}: {line.strip()}' for path in DOCUMENTS
             for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1)
             if re.search(r'\b(this|the development|an earlier) (machine|session)\b', line,
                          re.IGNORECASE)]
    assert not notes, notes
