# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Entry points of the node executables, light enough to own SIGINT/SIGTERM from line one.

``timeout -s INT``, ``ros2 launch`` shutting down or a Ctrl-C can stop the node at any
moment, including while Python still imports torch and rclpy (about a second), and
``timeout`` plus launch often deliver two signals. Python's own SIGINT handler raises
KeyboardInterrupt wherever the main thread is (a traceback, exit status -2 when it escapes)
and SIGTERM's default kills the process (-15). So the handler is installed here, before
the heavy imports: the first SIGINT or SIGTERM raises KeyboardInterrupt, which ``main``
turns into a clean shutdown and exit status 0; it also switches both signals to "ignore"
at the OS level, so a second one cannot interrupt the shutdown, not even during
interpreter finalization (which resets Python-level handlers to the default). rclpy's
handlers, installed later by ``rclpy.init``, shut the context down first and then call
this one.

    segmentation_node            plain node, works from start-up (~/enable pauses it)
    segmentation_lifecycle_node  managed node: ros2 lifecycle set ... configure / activate
    python -m sgcp_ros.entry_points [--lifecycle] --ros-args ...
"""

import os
import signal
import sys

__all__ = ['segmentation_node', 'segmentation_lifecycle_node', 'stop_on_first_signal',
           'ignore_stop_signals']

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_stop_signals() -> None:
    """From now on SIGINT and SIGTERM do nothing: the process is already stopping."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


_stopped_by_signal = False


def _quiet_stopping_noise(unraisable) -> None:
    # Once stopping, two things print a traceback at exit for nothing wrong:
    # - an rclpy object the stop cut short in its __init__ (by the KeyboardInterrupt below,
    #   or by rclpy shutting the context down from its own thread meanwhile) fails in its
    #   __del__ on an attribute never set;
    # - a second signal that came while rclpy.try_shutdown put CPython's C handler back,
    #   found "ignore" as the Python handler: CPython reports it as "Signal N ignored due
    #   to race condition", and ignoring it is what was wanted.
    # Anything else still reaches the default hook.
    if getattr(unraisable.object, '__module__', '').startswith('rclpy'):
        return
    if (isinstance(unraisable.exc_value, OSError)
            and 'ignored due to race condition' in str(unraisable.exc_value)):
        return
    sys.__unraisablehook__(unraisable)


def _first_stop_signal(signum, frame) -> None:
    global _stopped_by_signal
    _stopped_by_signal = True
    ignore_stop_signals()
    sys.unraisablehook = _quiet_stopping_noise
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _exit_now(code: int) -> None:
    # After the KeyboardInterrupt above, exit without interpreter finalization: when the
    # interrupt landed in code a C extension ran through PyRun_* (pybind11 does), CPython
    # marks it unhandled although it was caught, and its normal exit then ends in death by
    # SIGINT (status -2) after all. Everything ROS was shut down by then.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stop_on_first_signal() -> None:
    """The first SIGINT or SIGTERM raises KeyboardInterrupt; the ones after it are ignored."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _first_stop_signal)


def _run(lifecycle: bool, args: list[str] | None = None) -> int:
    stop_on_first_signal()
    try:
        # The pip launcher (resource/launchers) starts the node with these signals blocked,
        # so one sent during Python's start-up waits, pending, for this handler.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        from sgcp_ros.segmentation_node import main
    except KeyboardInterrupt:
        _exit_now(0)   # stopped while importing: nothing exists yet to clean up
    except Exception:
        # The interrupt can land inside a C extension's module init (rclpy's pybind11
        # library), which turns it into "ImportError: initialization failed".
        if _stopped_by_signal:
            _exit_now(0)
        raise
    code = main(args=args, lifecycle=lifecycle)
    if _stopped_by_signal:
        _exit_now(code)
    return code


def segmentation_node() -> int:
    """The plain node: loads the model and segments from start-up."""
    return _run(lifecycle=False)


def segmentation_lifecycle_node() -> int:
    """The managed node: configure loads the model, activate subscribes and publishes."""
    return _run(lifecycle=True)


if __name__ == '__main__':
    arguments = sys.argv[1:]
    managed = '--lifecycle' in arguments[:1]
    sys.exit(_run(managed, [sys.argv[0]] + arguments[1 if managed else 0:]))
