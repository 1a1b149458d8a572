# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluate a checkpoint on a dataset split (same as `sgcp eval`).

Run from the repository root: python training/evaluate.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgcp_core.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(['eval', *sys.argv[1:]]))
