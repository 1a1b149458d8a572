# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Export a checkpoint to ONNX with its metadata (same as `sgcp export`).

Run from the repository root: python training/export_onnx.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgcp_core.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(['export', *sys.argv[1:]]))
