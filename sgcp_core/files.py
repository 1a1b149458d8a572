# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Files in and out: atomic writes, image and video suffixes, PNG writing, video frames.

Every file this package writes goes through ``atomic_write`` (write a temporary beside the
target, then rename), so a reader never sees half a file and a killed writer leaves at most
a temporary that the next write to the same path removes.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ['IMAGE_SUFFIXES', 'VIDEO_SUFFIXES', 'atomic_write', 'remove_orphan_temps',
           'file_digest', 'write_png', 'VideoInfo', 'video_info', 'video_frames']

# What OpenCV reads here; lower case, compared with ``Path.suffix.lower()``.
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')

# Temporary files are ".<name>.<pid>.<random>.tmp" beside the target.
_TEMP_NAME = re.compile(r'^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[^.]+\.tmp$')
_ORPHAN_AGE_S = 3600.0   # temporaries without a pid (older writers): removed after an hour


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # alive, owned by another user
        return True
    return True


def remove_orphan_temps(path: str | Path) -> list[Path]:
    """Delete temporaries that killed writers of ``path`` left beside it.

    One is orphaned when the process that created it is gone (or, for names without a
    pid, when it is over an hour old). Returns the files removed.
    """
    path = Path(path)
    removed: list[Path] = []
    try:
        siblings = list(path.parent.glob(f'.{glob.escape(path.name)}.*.tmp'))
    except OSError:
        return removed
    for temp in siblings:
        match = _TEMP_NAME.match(temp.name)
        if not match or match['name'] != path.name:
            continue
        try:
            if match['pid'] is not None:
                pid = int(match['pid'])
                orphan = pid != os.getpid() and not _process_alive(pid)
            else:
                orphan = time.time() - temp.stat().st_mtime > _ORPHAN_AGE_S
            if orphan:
                temp.unlink()
                removed.append(temp)
        except OSError:   # raced with its owner, or not ours to delete
            continue
    return removed


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(temp_path)`` then rename onto ``path``: readers never see half a file.

    Orphaned temporaries of earlier, killed writes to ``path`` are removed first.

    Raises:
        OSError: the folder cannot be created or written (e.g. a path under a file, no
            permission, read-only file system), or ``path`` is an existing folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, 'Is a directory (expected a file path)', str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphan_temps(path)
    fd, temp = tempfile.mkstemp(prefix=f'.{path.name}.{os.getpid()}.', suffix='.tmp',
                                dir=path.parent)
    os.close(fd)
    try:
        write(temp)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file, hex: names the exact weights a derived file was made from."""
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write (H, W) uint8 (e.g. labels) or (H, W, 3) uint8 RGB as a PNG, atomically."""
    import cv2
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode('.png', image)
    if not ok:
        raise ValueError(f'OpenCV could not encode a {image.shape} {image.dtype} image as PNG '
                         f'for {path}')
    return atomic_write(path, lambda temp: Path(temp).write_bytes(encoded.tobytes()))


@dataclass(frozen=True)
class VideoInfo:
    """What a video container says about itself (0 where it does not say)."""

    path: Path
    fps: float
    frame_count: int
    width: int
    height: int


def _open(path: Path):
    import cv2
    if not path.is_file():
        raise FileNotFoundError(f'video not found: {path}')
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise ValueError(f'cannot open video {path} (unsupported codec or not a video)')
    return capture


def video_info(path: str | Path) -> VideoInfo:
    """Frame rate, frame count and size of a video file, without decoding it."""
    import cv2
    path = Path(path)
    capture = _open(path)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        return VideoInfo(path, float(fps) if fps and np.isfinite(fps) else 0.0,
                         max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
                         int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        capture.release()


def video_frames(path: str | Path, max_frames: int = 0) -> Iterator[np.ndarray]:
    """Decode a video file: (H, W, 3) uint8 RGB frames, the first ``max_frames`` (0: all).

    Raises:
        FileNotFoundError / ValueError: missing file, unreadable video, or no frame in it.
    """
    import cv2
    path = Path(path)
    capture = _open(path)
    decoded = 0
    try:
        while max_frames <= 0 or decoded < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            decoded += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
    if decoded == 0:
        raise ValueError(f'video {path} has no readable frames')
