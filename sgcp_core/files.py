# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Files in and out: atomic writes, image and video suffixes, PNG and JSON writing, video
frames.

Every file this package writes goes through ``atomic_write`` (write a temporary beside the
target, then rename), so a reader never sees half a file and a killed writer leaves at most
a temporary that the next write into the same folder removes. The commands share one
overwrite rule, ``new_output``: an existing file is replaced only with ``--force``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ['IMAGE_SUFFIXES', 'VIDEO_SUFFIXES', 'image_files', 'atomic_write', 'new_output',
           'remove_orphan_temps', 'file_digest', 'write_png', 'write_json', 'VideoInfo',
           'video_info', 'video_frames', 'AtomicVideoWriter']

# What OpenCV reads here; lower case, compared with ``Path.suffix.lower()``.
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')

# Temporary files are ".<name>.<pid>.<random>.tmp" beside the target (videos keep their
# container suffix after it: ".<name>.<pid>.<random>.tmp.mp4").
_TEMP_NAME = re.compile(r'^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[^.]+\.tmp(?:\.\w+)?$')
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
    """Delete temporaries that killed writers left in the folder ``path`` is written to.

    One is orphaned when the process named in it is gone (names without a pid, from
    older writers: only ``path``'s own, when over an hour old); a live writer's are kept.
    The whole folder is swept, so a run's first write (e.g. its config) already removes
    what the previous, killed run left of its checkpoint. Returns the files removed.
    """
    path = Path(path)
    removed: list[Path] = []
    try:
        candidates = sorted(path.parent.glob('.*.tmp*'))
    except OSError:
        return removed
    for temp in candidates:
        match = _TEMP_NAME.match(temp.name)
        if match is None:
            continue
        try:
            if match['pid'] is not None:
                pid = int(match['pid'])
                orphan = pid != os.getpid() and not _process_alive(pid)
            else:   # an older writer's name: only ``path``'s own, and only when stale
                orphan = match['name'] == path.name and (
                    time.time() - temp.stat().st_mtime > _ORPHAN_AGE_S)
            if orphan:
                temp.unlink()
                removed.append(temp)
        except OSError:   # raced with its owner, or not ours to delete
            continue
    return removed


def new_output(path: str | Path, option: str, force: bool = False) -> Path:
    """``path``, a file a command is about to write, checked before the work starts.

    The one overwrite rule of the command lines: a file that exists already is replaced
    only when the user passed ``--force`` (and then, as every file, atomically).

    Raises:
        FileExistsError: ``path`` exists and ``force`` is False; the text names ``option``
            (the flag that chose the path, or what the file is) and the way out.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f'{option} {path} exists already; choose another path, remove '
                              'it or pass --force')
    return path


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_orphan_temps(path)
        fd, temp = tempfile.mkstemp(prefix=f'.{path.name}.{os.getpid()}.', suffix='.tmp',
                                    dir=path.parent)
    except OSError as error:   # name the file asked for, not the temporary
        raise type(error)(error.errno, error.strerror, str(path)) from error
    os.close(fd)
    try:
        write(temp)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def _json_ready(value):
    """NaN/inf -> None so the file is strict JSON; numpy scalars -> Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data: object, indent: int = 2) -> Path:
    """``data`` as strict JSON (NaN and infinities as null, numpy scalars as numbers), one
    trailing newline, written atomically."""
    text = json.dumps(_json_ready(data), indent=indent, allow_nan=False) + '\n'
    return atomic_write(path, lambda temp: Path(temp).write_text(text))


def image_files(folder: str | Path, recursive: bool = True,
                error: type[Exception] = ValueError) -> list[Path]:
    """The image files (IMAGE_SUFFIXES) in ``folder`` and, if ``recursive``, below it,
    sorted; ``error`` naming the folder where there are none."""
    folder = Path(folder)
    found = sorted(p for p in (folder.rglob('*') if recursive else folder.iterdir())
                   if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise error(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {folder}')
    return found


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
    # FFmpeg prints its own lines (e.g. "moov atom not found") straight to stderr; the
    # errors raised here already say what failed. Set the variable to see them anyway.
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')
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


class AtomicVideoWriter:
    """An mp4v video written beside ``path`` and renamed onto it by ``close()``.

    Frames are (H, W, 3) uint8 RGB, all of the first frame's size. Leaving the ``with``
    block through an exception deletes the partial file; a killed writer's temporary is
    removed by the next writer of ``path``.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 25.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_orphan_temps(self.path)
        # The writer picks the container by suffix, so the temporary keeps it.
        fd, temp = tempfile.mkstemp(prefix=f'.{self.path.name}.{os.getpid()}.',
                                    suffix='.tmp' + self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self.temp = Path(temp)
        self._writer = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        import cv2
        if self._writer is None:
            height, width = rgb.shape[:2]
            self._writer = cv2.VideoWriter(str(self.temp), cv2.VideoWriter_fourcc(*'mp4v'),
                                           self.fps, (width, height))
            if not self._writer.isOpened():
                raise OSError(f'cannot write video {self.path} (no mp4v encoder)')
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place; ValueError if no frame was written."""
        if self._writer is None:
            self.discard()
            raise ValueError(f'no frames to write to {self.path}')
        self._writer.release()
        self._writer = None
        os.chmod(self.temp, 0o666 & ~_umask())
        os.replace(self.temp, self.path)
        return self.path

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> 'AtomicVideoWriter':
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None or self._writer is not None:
            self.discard()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
