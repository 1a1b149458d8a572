# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Package a finished run (best.pt, metrics, plots, log) into a shipped model folder.

Example (from the repository root):
    python training/package_model.py runs/camvid_mobilenetv3 models/camvid \
        --stem sgcpnet_camvid --log runs/camvid_mobilenetv3.log
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgcp_core.release import package_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run_dir', help='training out_dir holding best.pt and metrics.json')
    parser.add_argument('out_dir', help='folder to write the shipped files into')
    parser.add_argument('--stem', required=True, help='file name stem, e.g. sgcpnet_camvid')
    parser.add_argument('--log', help='the training log to ship beside the model')
    parser.add_argument('--parity-frames', default='../shared/data/camvid/val',
                        help='folder of real frames for the ONNX parity check')
    args = parser.parse_args()
    from sgcp_core.data import read_rgb
    frames = [read_rgb(p) for p in sorted(Path(args.parity_frames).glob('*.png'))[:2]]
    if not frames:
        parser.error(f'no frames in {args.parity_frames} for the ONNX parity check')
    try:
        summary = package_run(args.run_dir, args.out_dir, args.stem, args.log, frames)
    except (FileNotFoundError, ValueError) as error:
        print(f'package_model: error: {error}', file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
