# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sgcp_core's Python log records on a node's ROS logger (console, log file and /rosout).

The library logs through ``logging`` (it never imports rclpy), e.g. which backend the engine
chose and why; without this a node's user would never see those lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ['RosLogHandler', 'library_logs_to']


class RosLogHandler(logging.Handler):
    """Forwards records to an rclpy logger at the matching severity."""

    def __init__(self, ros_logger) -> None:
        super().__init__(logging.DEBUG)
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                self._ros_logger.error(message)
            elif record.levelno >= logging.WARNING:
                self._ros_logger.warning(message)
            elif record.levelno >= logging.INFO:
                self._ros_logger.info(message)
            else:
                self._ros_logger.debug(message)
        except Exception:  # a log line must never take the node down
            self.handleError(record)


@contextmanager
def library_logs_to(ros_logger, name: str = 'sgcp_core',
                    level: int = logging.INFO) -> Iterator[RosLogHandler]:
    """Within the block, records of logger ``name`` (and its children) go to ``ros_logger``.

    Scoped rather than permanent, so several nodes in one process each get their own
    lines (the engine logs while it is built).
    """
    library = logging.getLogger(name)
    # Loggers that do not propagate (launch's logger class, once imported, makes every new
    # logger so) need the handler themselves.
    loggers = [library] + [logger for key, logger in logging.root.manager.loggerDict.items()
                           if key.startswith(name + '.') and isinstance(logger, logging.Logger)
                           and not logger.propagate]
    handler = RosLogHandler(ros_logger)
    handler.setLevel(level)
    previous = library.level
    for logger in loggers:
        logger.addHandler(handler)
    if library.getEffectiveLevel() > level:
        library.setLevel(level)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        library.setLevel(previous)
