# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp infer``: segment images, folders of images, or videos; write labels and overlays."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sgcp_core.cli.arg_types import non_negative_int
from sgcp_core.cli.engine_args import add_engine_arguments, engine_config_from_args
from sgcp_core.files import VIDEO_SUFFIXES, image_files

__all__ = ['add_parser', 'run', 'collect_inputs']
PROGRESS_MIN_FRAMES = 10   # below this a progress bar is only noise

EPILOG = '''examples:
  sgcp infer frame.png                     labels + overlay of one image into ./sgcp_out
  sgcp infer ../shared/data/camvid/val -m best.pt --out val_pred
  sgcp infer drive.mp4 -m model.onnx --out vids --max-frames 300
      video in -> drive_overlay.mp4 out (same frame rate)
  sgcp infer a.png b.jpg --input-size 720x960 --label-mode argmax_then_nearest

outputs per image NAME: NAME_labels.png (8-bit class ids, 255 = unknown) and
NAME_overlay.png (the frame under the class colours); --color adds NAME_color.png. Folder
inputs keep their sub-folder layout under --out. Files are written atomically; result files
already in --out are replaced only with --force. The last line is the timing summary: mean
ms per engine stage and the frame rate, e.g.
  sgcp infer: 101 frames, onnx on cpu at 360x480: preprocess 0.6 + inference 9.1 + ...
'''


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(
        name, help='segment images, folders or videos',
        description='Segment images, folders of images, or video files with a checkpoint\n'
                    '(.pt) or ONNX model. Writes a label PNG and an overlay per image, and an\n'
                    'overlay video per video.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='image files, folders (searched recursively) or video files')
    parser.add_argument('--out', '-o', default='sgcp_out', metavar='DIR',
                        help='output folder (default ./sgcp_out)')
    parser.add_argument('--color', action='store_true',
                        help='also write the colour mask (NAME_color.png)')
    parser.add_argument('--no-overlay', action='store_true',
                        help='write label PNGs only (images); videos always get an overlay')
    parser.add_argument('--max-frames', type=non_negative_int, default=0, metavar='N',
                        help='stop each video after N frames (default: all)')
    parser.add_argument('--force', action='store_true',
                        help='replace result files already in --out (without, an existing '
                             'result file is an error)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_engine_arguments(parser)
    parser.set_defaults(run=run)


def collect_inputs(paths: list[str]) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Images as (path, output stem relative to --out) and video paths, in order.

    Raises:
        FileNotFoundError: naming the first path that does not exist.
        ValueError: an empty folder, or two inputs that would write the same outputs.
    """
    images: list[tuple[Path, Path]] = []
    videos: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            images += [(p, Path(path.name) / p.relative_to(path).with_suffix(''))
                       for p in image_files(path)]
        elif path.is_file():
            if path.suffix.lower() in VIDEO_SUFFIXES:
                videos.append(path)
            else:
                images.append((path, Path(path.stem)))
        else:
            raise FileNotFoundError(f'input not found: {path}')
    stems: dict[Path, Path] = {}
    for path, stem in images + [(v, Path(v.stem)) for v in videos]:
        if stem in stems and stems[stem] != path:
            raise ValueError(f'{stems[stem]} and {path} would both write {stem}_*; run them '
                             'separately or with different --out folders')
        stems[stem] = path
    return images, videos


class _Timings:
    """Sums of per-stage milliseconds over frames, for the summary line."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.frames = 0
        self.start = time.perf_counter()

    def add(self, timings: dict[str, float]) -> None:
        for stage, value in timings.items():
            self.sums[stage] = self.sums.get(stage, 0.0) + value
        self.frames += 1

    def summary(self, segmenter) -> str:
        if not self.frames:
            return 'sgcp infer: no frames processed'
        mean = {k: v / self.frames for k, v in self.sums.items()}
        stages = ' + '.join(f'{k} {mean[k]:.1f}' for k in
                            ('preprocess', 'inference', 'postprocess', 'colorize', 'overlay')
                            if k in mean)
        wall = time.perf_counter() - self.start
        height, width = segmenter.input_size
        return (f'sgcp infer: {self.frames} frames, {segmenter.backend_name} on '
                f'{segmenter.device} at {height}x{width}: {stages} = {mean["total"]:.1f} '
                f'ms/frame mean ({1e3 / mean["total"]:.1f} FPS engine, '
                f'{self.frames / wall:.1f} FPS with file reading and writing)')


def _segment_video(segmenter, video: Path, out_dir: Path, args, timings: _Timings,
                   progress: bool) -> Path:
    from tqdm import tqdm

    from sgcp_core.files import AtomicVideoWriter, video_frames, video_info
    info = video_info(video)
    count = info.frame_count or None
    if args.max_frames > 0:
        count = min(count or args.max_frames, args.max_frames)
    with AtomicVideoWriter(out_dir / f'{video.stem}_overlay.mp4', info.fps) as writer, \
            tqdm(total=count, desc=video.name, unit='frame', disable=not progress,
                 leave=False) as bar:
        for rgb in video_frames(video, args.max_frames):
            result = segmenter.segment(rgb, want_overlay=True)
            timings.add(result.timings_ms)
            writer.write(result.overlay)
            bar.update()
        return writer.close()


def _prepare_out_dir(out_dir: Path) -> None:
    """Create --out, or CommandError saying why it cannot hold the results."""
    import os

    from sgcp_core.cli import CommandError
    for folder in [out_dir, *out_dir.parents]:
        if folder.exists() and not folder.is_dir():
            raise CommandError(f'--out {out_dir} is a file; name a folder for the results'
                               if folder == out_dir else
                               f'--out {out_dir} is inside {folder}, which is a file')
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f'--out {out_dir} cannot be created: '
                           f'{error.strerror or error}') from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise CommandError(f'--out {out_dir} is not writable')


def _result_files(images: list[tuple[Path, Path]], videos: list[Path], out_dir: Path,
                  args: argparse.Namespace) -> list[Path]:
    """Every file the run will write, in order."""
    kinds = ['labels'] + ([] if args.no_overlay else ['overlay']) + (
        ['color'] if args.color else [])
    files = [(out_dir / stem).with_name(f'{(out_dir / stem).name}_{kind}.png')
             for _, stem in images for kind in kinds]
    return files + [out_dir / f'{video.stem}_overlay.mp4' for video in videos]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sgcp_core.cli import CommandError
    from sgcp_core.data import read_rgb
    from sgcp_core.engine import Segmenter
    from sgcp_core.files import write_png
    # Check every input and the output folder before the (slower) model load, so a typo
    # fails at once.
    images, videos = collect_inputs(args.inputs)
    out_dir = Path(args.out)
    _prepare_out_dir(out_dir)
    existing = [path for path in _result_files(images, videos, out_dir, args) if path.exists()]
    if existing and not args.force:
        raise CommandError(f'--out {out_dir} holds {len(existing)} of the files this run '
                           f'writes already (first: {existing[0]}); choose another folder, '
                           'remove them or pass --force')
    segmenter = Segmenter(engine_config_from_args(args))
    timings = _Timings()
    progress = not args.no_progress
    failures: list[str] = []
    for path, stem in tqdm(images, desc='images', unit='image', leave=False,
                           disable=not progress or len(images) < PROGRESS_MIN_FRAMES):
        try:
            rgb = read_rgb(path)
        except ValueError as error:
            # Keep going: one corrupt file should not cost the rest of a folder.
            failures.append(str(error))
            if len(images) > 1:   # with one image the final error line says it all
                print(f'sgcp infer: skipping {path}: {error}', file=sys.stderr)
            continue
        result = segmenter.segment(rgb, want_color=args.color,
                                   want_overlay=not args.no_overlay)
        timings.add(result.timings_ms)
        base = out_dir / stem
        write_png(base.with_name(f'{base.name}_labels.png'), result.labels)
        if result.overlay is not None:
            write_png(base.with_name(f'{base.name}_overlay.png'), result.overlay)
        if result.color_mask is not None:
            write_png(base.with_name(f'{base.name}_color.png'), result.color_mask)
    for video in videos:
        written = _segment_video(segmenter, video, out_dir, args, timings, progress)
        print(f'wrote {written}')
    print(timings.summary(segmenter))
    if failures:
        raise CommandError(f'{len(failures)} of {len(images)} images could not be read; '
                           f'first: {failures[0]}')
    return 0
