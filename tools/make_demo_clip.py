#!/usr/bin/env python3
# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Encode the demo clip: CamVid val sequence 0016E5 (101 consecutive frames) at 15 Hz.

    .venv/bin/python tools/make_demo_clip.py [--data-root ../shared/data/camvid]

writes demo/camvid_val_0016E5.mp4 (mp4v, 480x360), the road scene `make demo` plays.
The CamVid licence terms and attribution are in demo/README.md beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sgcp_core.data import read_rgb  # noqa: E402
from sgcp_core.files import AtomicVideoWriter  # noqa: E402

SEQUENCE = '0016E5'
FPS = 15.0   # the val frames of 0016E5 are every second frame of the 30 Hz recording
CLIP = REPO / 'demo' / 'camvid_val_0016E5.mp4'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', type=Path, default=REPO.parent / 'shared' / 'data'
                        / 'camvid')
    parser.add_argument('--out', type=Path, default=CLIP)
    args = parser.parse_args(argv)
    frames = sorted((args.data_root / 'val').glob(f'{SEQUENCE}_*.png'))
    if not frames:
        print(f'error: no {SEQUENCE}_*.png in {args.data_root / "val"}', file=sys.stderr)
        return 2
    with AtomicVideoWriter(args.out, FPS) as writer:
        for path in frames:
            writer.write(read_rgb(path))
        writer.close()
    print(f'wrote {args.out} ({len(frames)} frames at {FPS:g} Hz, '
          f'{args.out.stat().st_size / 1e6:.1f} MB) from {frames[0].name}..{frames[-1].name}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
