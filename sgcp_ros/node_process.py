# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The segmentation node as a child process, for the tools and tests that run it: the demo,
``node_bench``, ``check_bag``'s live mode and the node tests.

No rclpy here: ``NodeProcess.wait_until`` checks a condition the caller's own ROS side
answers (class_info heard, labels matched), between steps of the caller's spin function,
and fails with the node's exit status and the end of its log if the node exits first.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ['NodeProcessError', 'NodeProcess', 'node_arguments', 'node_environment',
           'private_environment', 'use_large_message_profile', 'start_node', 'stop']


class NodeProcessError(RuntimeError):
    """The node exited, or did not do what was waited for in time."""


def use_large_message_profile() -> str | None:
    """Point Fast DDS at the shipped large-image profile unless the user chose a profile or
    another RMW: frames of 512 KB and more do not fit Fast DDS's default shared-memory
    segment and stall over fragmented UDP. Sets it in ``os.environ``, so it must run before
    this process's participant exists; child processes inherit it. Returns the profile set,
    or None."""
    from sgcp_core.resources import share_file
    if os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp') != 'rmw_fastrtps_cpp' or (
            os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE')
            or os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE')):
        return None
    try:
        profile = str(share_file('config/fastdds_large_images.xml'))
    except FileNotFoundError:
        return None
    os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = profile
    return profile


def node_environment() -> dict[str, str]:
    """This process's environment (with the large-image profile, which this process then
    shares) plus unbuffered logs, and this very sgcp_ros importable, even from a checkout
    that is not installed."""
    use_large_message_profile()
    package = Path(importlib.util.find_spec('sgcp_ros').submodule_search_locations[0])
    env = dict(os.environ, RCUTILS_LOGGING_BUFFERED_STREAM='0', PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(package.parent),
                                                      env.get('PYTHONPATH')]))
    return env


def private_environment(log_dir: Path) -> dict[str, str]:
    """Loopback-only discovery, a private ROS domain (unless ROS_DOMAIN_ID is set) and ROS
    logs in ``log_dir``, for this process and the node processes it starts: set in
    ``os.environ``, so call it before this process's first participant. Returns the
    children's environment (``node_environment``)."""
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
    os.environ.setdefault('ROS_LOG_DIR', str(log_dir))
    return node_environment()


def node_arguments(namespace: str | None = None, remaps: Mapping[str, str] | None = None,
                   parameters: Mapping[str, object] | None = None,
                   params_file: str | Path | None = None) -> list[str]:
    """The node's ROS arguments: namespace, remappings, a params file, then parameters
    (which win over the file's)."""
    arguments = []
    if namespace:
        arguments += ['-r', f'__ns:={namespace}']
    for source, target in (remaps or {}).items():
        arguments += ['-r', f'{source}:={target}']
    if params_file is not None:
        arguments += ['--params-file', str(params_file)]
    for name, value in (parameters or {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        arguments += ['-p', f'{name}:={text}']
    return arguments


def start_node(log_path: Path, *ros_args: str, env: Mapping[str, str] | None = None,
               lifecycle: bool = False) -> subprocess.Popen:
    """The node as its console script runs it, with ``ros_args`` after ``--ros-args``
    (``node_arguments``), stdout and stderr in ``log_path``."""
    command = [sys.executable, '-m', 'sgcp_ros.entry_points',
               *(['--lifecycle'] if lifecycle else []), '--ros-args', *ros_args]
    with open(log_path, 'wb') as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else node_environment())


def stop(process: subprocess.Popen, sig: int = signal.SIGINT, timeout_s: float = 30.0) -> int:
    """Send ``sig`` (SIGINT: a node's clean shutdown) and return the exit status; a process
    still running ``timeout_s`` later is killed (its status is then -SIGKILL)."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=10)


class NodeProcess:
    """One node process: started with ``ros_args``, logging to ``log_path``, stopped (and
    its exit status kept) on ``stop`` or at the end of a ``with`` block."""

    def __init__(self, log_path: Path, ros_args: Sequence[str],
                 env: Mapping[str, str] | None = None) -> None:
        self.log_path = Path(log_path)
        self.process = start_node(self.log_path, *ros_args, env=env)
        self.exit_code: int | None = None

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _last_words(self) -> str:
        """The last line of the node's log and where the log is."""
        text = self.log_path.read_text(errors='replace') if self.log_path.exists() else ''
        return f'{(text.strip().splitlines() or ["(empty log)"])[-1]} (log: {self.log_path})'

    def check(self) -> None:
        """NodeProcessError if the node has exited."""
        if self.process.poll() is not None:
            raise NodeProcessError(f'the node exited ({self.process.returncode}): '
                                   f'{self._last_words()}')

    def wait_until(self, condition: Callable[[], object], timeout_s: float, what: str,
                   spin: Callable[[float], object] = time.sleep) -> None:
        """Call ``spin(step)`` until ``condition()`` holds; NodeProcessError naming ``what``
        if the node exits first or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            self.check()
            if time.monotonic() > deadline:
                raise NodeProcessError(f'the node did not {what} within {timeout_s:g} s: '
                                       f'{self._last_words()}')
            spin(0.05)

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 30.0) -> int:
        """Stop the node (once); its exit status."""
        if self.exit_code is None:
            self.exit_code = stop(self.process, sig, timeout_s)
        return self.exit_code
