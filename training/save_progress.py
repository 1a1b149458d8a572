# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Put a running training run's progress on record: its log and its resume checkpoint.

`runs/` is ignored by git and does not outlive a development session, so a run longer than
one session keeps going only from what is committed. This copies, atomically, the run's log
(without the progress-bar redraws) and its `last.pt` into training/results/, from where the
next session resumes the run exactly:

    python training/save_progress.py runs/student_mobilenetv3 \
        --log runs/student_mobilenetv3.log --name student_mobilenetv3
    # later, wherever runs/ is gone: start the new log from the one on record, then resume
    cp training/results/student_mobilenetv3.log runs/student_mobilenetv3.log
    sgcp train --config training/camvid_student_mobilenetv3.yaml \
        --resume training/results/student_mobilenetv3_last.pt >> runs/student_mobilenetv3.log

A log that does not begin with the one on record (a fresh log after a resume) would drop
the run's history, so it is refused unless --force.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgcp_core.files import atomic_write  # noqa: E402
from sgcp_core.release import copy_file, log_without_progress_bars  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run_dir', help="the run's out_dir, holding last.pt")
    parser.add_argument('--log', required=True, help="the run's log (nohup output)")
    parser.add_argument('--name', required=True, help='file name stem in training/results')
    parser.add_argument('--no-checkpoint', action='store_true',
                        help='copy the log only (e.g. once the run is packaged)')
    parser.add_argument('--results', default=str(RESULTS),
                        help='folder to copy into (default: training/results)')
    parser.add_argument('--force', action='store_true',
                        help='replace the log on record even if the new one lacks its history')
    args = parser.parse_args()
    checkpoint = Path(args.run_dir) / 'last.pt'
    log = Path(args.log)
    for path in [log] + ([] if args.no_checkpoint else [checkpoint]):
        if not path.is_file():
            print(f'save_progress: error: {path} not found', file=sys.stderr)
            return 2
    # newline='': the progress bars' carriage returns must reach the stripping untouched.
    with open(log, encoding='utf-8', errors='replace', newline='') as source:
        text = log_without_progress_bars(source.read())
    results = Path(args.results)
    written = [results / f'{args.name}.log']
    if written[0].is_file() and not args.force:
        on_record = written[0].read_text(encoding='utf-8', errors='replace')
        if not text.startswith(on_record.rstrip('\n')):
            print(f'save_progress: error: {log} does not begin with {written[0]}, so copying '
                  f'it would drop the history on record; start the log from it (cp '
                  f'{written[0]} {log} before resuming), or give --force', file=sys.stderr)
            return 2
    atomic_write(written[0], lambda temp: Path(temp).write_text(text, encoding='utf-8'))
    if not args.no_checkpoint:
        written.append(results / f'{args.name}_last.pt')
        copy_file(checkpoint, written[1])
    for path in written:
        print(f'{path} ({path.stat().st_size} bytes)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
