# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node executables: the console scripts, and the same for ``python -m``.

    segmentation_node            plain node, works from start-up (~/enable pauses it)
    segmentation_lifecycle_node  managed node: ros2 lifecycle set ... configure / activate
    python -m sgcp_ros.entry_points [--lifecycle] --ros-args ...

A module of their own so that ``python -m`` never runs the node module as ``__main__`` (a
second copy of its classes beside the imported one).
"""

import sys

from sgcp_ros.segmentation_node import main

__all__ = ['segmentation_node', 'segmentation_lifecycle_node']


def segmentation_node() -> int:
    """The plain node: loads the model and segments from start-up."""
    return main()


def segmentation_lifecycle_node() -> int:
    """The managed node: configure loads the model, activate subscribes and publishes."""
    return main(lifecycle=True)


if __name__ == '__main__':
    arguments = sys.argv[1:]
    managed = arguments[:1] == ['--lifecycle']
    sys.exit(main([sys.argv[0]] + arguments[1 if managed else 0:], lifecycle=managed))
