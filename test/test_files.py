# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sgcp_core.files: atomic writes clean up after killed writers; video in and out."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from sgcp_core.files import (AtomicVideoWriter, atomic_write, remove_orphan_temps,
                             video_frames, video_info, write_json)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, '-c', 'pass'])
    process.wait()
    return process.pid


def test_killed_writers_temp_files_are_removed_by_the_next_write_in_the_folder(tmp_path):
    target = tmp_path / 'last.pt'
    orphan = tmp_path / f'.last.pt.{_dead_pid()}.abc123.tmp'          # writer gone
    live = tmp_path / f'.last.pt.{os.getppid()}.def456.tmp'           # writer still running
    old_style = tmp_path / '.last.pt.ghi789.tmp'                      # no pid, two hours old
    fresh_old_style = tmp_path / '.last.pt.jkl012.tmp'                # no pid, just written
    other = tmp_path / f'.best.pt.{_dead_pid()}.mno345.tmp'           # another file's
    video = tmp_path / f'.clip.mp4.{_dead_pid()}.pqr678.tmp.mp4'      # a video writer's
    unrelated = tmp_path / '.hidden.tmp.notes'                         # not ours at all
    for path in (orphan, live, old_style, fresh_old_style, other, video, unrelated):
        path.write_bytes(b'half a checkpoint')
    two_hours_ago = time.time() - 7200
    os.utime(old_style, (two_hours_ago, two_hours_ago))

    atomic_write(tmp_path / 'config.yaml', lambda temp: open(temp, 'w').write('epochs: 3\n'))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(['config.yaml', live.name, old_style.name, fresh_old_style.name,
                           unrelated.name])
    atomic_write(target, lambda temp: open(temp, 'wb').write(b'whole'))   # its own old one
    assert target.read_bytes() == b'whole'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ['config.yaml', 'last.pt', live.name, fresh_old_style.name, unrelated.name])
    assert remove_orphan_temps(target) == []


def test_a_failed_write_leaves_nothing_and_folders_are_refused(tmp_path):
    def fail(temp):
        raise RuntimeError('disk full')
    with pytest.raises(RuntimeError, match='disk full'):
        atomic_write(tmp_path / 'x.json', fail)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path, lambda temp: None)


def test_json_reports_are_strict_json(tmp_path):
    import json
    path = write_json(tmp_path / 'r.json', {'miou': float('nan'), 'p95': np.float32(2.5),
                                            'count': np.int64(3), 'rows': [(1, float('inf'))]})
    text = path.read_text()
    assert text.endswith('}\n') and 'NaN' not in text and 'Infinity' not in text
    assert json.loads(text) == {'miou': None, 'p95': 2.5, 'count': 3, 'rows': [[1, None]]}
    assert [p.name for p in tmp_path.iterdir()] == ['r.json']


def test_video_round_trip_and_bad_videos(tmp_path):
    frames = [np.full((48, 64, 3), value, np.uint8) for value in (0, 120, 240)]
    with AtomicVideoWriter(tmp_path / 'clip.mp4', fps=12.0) as writer:
        for frame in frames:
            writer.write(frame)
        path = writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['clip.mp4']
    info = video_info(path)
    assert (info.width, info.height, info.frame_count) == (64, 48, 3)
    assert info.fps == pytest.approx(12.0)
    decoded = list(video_frames(path))
    assert len(decoded) == 3 and decoded[0].shape == (48, 64, 3)
    # Order and content kept (mp4v is lossy and maps to video range: within 25 levels).
    assert all(abs(float(got.mean()) - float(sent.mean())) < 25
               for got, sent in zip(decoded, frames))
    assert len(list(video_frames(path, max_frames=2))) == 2

    with pytest.raises(FileNotFoundError, match='gone.mp4'):
        video_info(tmp_path / 'gone.mp4')
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'not a video')
    with pytest.raises(ValueError, match='junk.mp4'):
        list(video_frames(junk))
    with AtomicVideoWriter(tmp_path / 'empty.mp4', fps=10) as writer:
        with pytest.raises(ValueError, match='no frames'):
            writer.close()
    assert not (tmp_path / 'empty.mp4').exists()
    assert not list(tmp_path.glob('.*'))
