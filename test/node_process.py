# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start and stop the segmentation node as its own process (shared by the ROS tests).

No rclpy import here, so test modules that only run processes stay importable without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DDS_PROFILE = REPO / 'config' / 'fastdds_large_images.xml'


def node_environment() -> dict[str, str]:
    """This environment plus the large-image Fast DDS profile, unbuffered logs, the repo."""
    env = dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=str(DDS_PROFILE),
               RCUTILS_LOGGING_BUFFERED_STREAM='0', PYTHONUNBUFFERED='1',
               OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    return env


def start_node(log_path: Path, *ros_args: str) -> subprocess.Popen:
    """The node as the console script runs it (``sgcp_ros.entry_points``), output in a file."""
    command = [sys.executable, '-m', 'sgcp_ros.entry_points', '--ros-args', *ros_args]
    log = open(log_path, 'wb')
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                            env=node_environment())


def stop(process: subprocess.Popen, sig: int = signal.SIGINT, timeout_s: float = 30.0) -> int:
    """Signal the node and return its exit status; kill it and fail if it hangs."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f'node did not exit within {timeout_s} s of signal {sig}')
