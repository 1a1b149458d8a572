# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""training/save_progress.py: a run's log and resume checkpoint put on record, history kept."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'training' / 'save_progress.py'


def _save(run: Path, log: Path, results: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(run), '--log', str(log), '--name',
                           'student', '--results', str(results), *extra],
                          capture_output=True, text=True, timeout=120)


def test_save_progress_copies_the_log_and_checkpoint_and_refuses_to_drop_history(tmp_path):
    run, results = tmp_path / 'run', tmp_path / 'results'
    run.mkdir()
    results.mkdir()
    (run / 'last.pt').write_bytes(b'checkpoint 1')
    log = tmp_path / 'run.log'
    log.write_text('epoch 1: loss 3.0\n\repoch 2/9:  50%|#    | 1/2 [00:01<00:01,  1.0s/it]'
                   '\repoch 2/9: 100%|##| 2/2 [00:02<00:00,  1.0s/it]\nepoch 2: loss 2.9\n',
                   newline='')
    saved = _save(run, log, results)
    assert saved.returncode == 0, saved.stderr
    on_record = (results / 'student.log').read_text()
    assert 'epoch 1: loss 3.0' in on_record and '%|' not in on_record, on_record
    assert (results / 'student_last.pt').read_bytes() == b'checkpoint 1'

    # The next session starts its log from the one on record and appends: accepted.
    resumed = tmp_path / 'resumed.log'
    resumed.write_text(on_record + 'epoch 3: loss 2.8\n')
    (run / 'last.pt').write_bytes(b'checkpoint 2')
    saved = _save(run, resumed, results)
    assert saved.returncode == 0, saved.stderr
    assert (results / 'student.log').read_text().endswith('epoch 3: loss 2.8\n')
    assert (results / 'student_last.pt').read_bytes() == b'checkpoint 2'

    # A fresh log would drop epochs 1-3 from the record: refused, nothing changed.
    fresh = tmp_path / 'fresh.log'
    fresh.write_text('epoch 4: loss 2.7\n')
    (run / 'last.pt').write_bytes(b'checkpoint 3')
    saved = _save(run, fresh, results)
    assert saved.returncode == 2
    assert saved.stderr.count('\n') == 1 and 'drop the history' in saved.stderr, saved.stderr
    assert 'epoch 1: loss 3.0' in (results / 'student.log').read_text()
    assert (results / 'student_last.pt').read_bytes() == b'checkpoint 2'
    saved = _save(run, fresh, results, '--force')
    assert saved.returncode == 0 and (results / 'student.log').read_text() == 'epoch 4: loss 2.7\n'

    # A missing checkpoint is one line naming it.
    (run / 'last.pt').unlink()
    saved = _save(run, resumed, results, '--force')
    assert saved.returncode == 2 and saved.stderr.strip().endswith("last.pt not found")
