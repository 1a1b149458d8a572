# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sgcp_core's log records reach the node's ROS logger while the engine is built."""

import logging

from sgcp_ros.ros_logging import library_logs_to


class RecordingLogger:
    """The part of rclpy's RcutilsLogger the handler calls."""

    def __init__(self):
        self.lines = []

    def __getattr__(self, severity):
        return lambda message: self.lines.append((severity, message))


def test_library_records_go_to_the_ros_logger_only_within_the_block():
    ros_logger = RecordingLogger()
    engine = logging.getLogger('sgcp_core.engine')
    level = engine.level
    engine.setLevel(logging.DEBUG)   # someone turned debug on: the ROS log still gets INFO+
    with library_logs_to(ros_logger):
        engine.info('engine: onnx on cpu for %s', 'model.pt')
        engine.warning('no CUDA provider')
        engine.error('broken')
        engine.debug('below INFO: dropped')
    engine.info('after the block')
    engine.setLevel(level)
    assert ros_logger.lines == [('info', 'engine: onnx on cpu for model.pt'),
                                ('warning', 'no CUDA provider'), ('error', 'broken')]
    assert not any(type(h).__name__ == 'RosLogHandler'
                   for h in logging.getLogger('sgcp_core').handlers + engine.handlers)
