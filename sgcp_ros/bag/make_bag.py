# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``make_bag``: a rosbag2 bag of camera frames (and ground truth) from images or a video.

Frames go on an image topic as sensor_msgs/Image (rgb8/bgr8) or CompressedImage (jpeg/png);
where a frame has a label map, it goes on a label topic as a mono8 Image with the very same
header (stamp and frame_id), which is how ``evaluate_bag`` and ``replay_bag`` pair them.
Stamps advance by 1/rate from a start time; the log time of each message is its stamp.

Sources:
    --images DIR [--labels DIR]   image files (sorted by path); a label is the file with the
                                  same relative path, or the same stem as .png; label values
                                  are stored as they are (class ids, 255 = ignore).
    --dataset camvid|cityscapes   a split of a dataset as sgcp_core reads it, so the labels
                                  are its train ids (CamVid "Unlabelled" 11 -> 255), exactly
                                  what ``sgcp eval`` scores against.
    --video FILE                  every frame of a video (OpenCV), no labels.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sgcp_core.cli import ArgumentParser
from sgcp_core.errors import CommandError
from sgcp_ros import topics
from sgcp_ros.bag.bagfile import STORAGE_CHOICES, WRITE_TYPES, BagWriter, make_header
from sgcp_ros.bag.common import new_output, run_command
from sgcp_ros.images import COMPRESSED_FORMATS, array_to_image, rgb_to_compressed

__all__ = ['Frame', 'MakeBagResult', 'write_frames_bag', 'folder_frames', 'dataset_frames',
           'video_frames', 'main']

IMAGE_FORMATS = ('rgb8', 'bgr8') + COMPRESSED_FORMATS
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


@dataclass
class Frame:
    """One camera frame: rgb (H, W, 3) uint8, labels (H, W) uint8 or None."""

    name: str
    rgb: np.ndarray
    labels: np.ndarray | None = None


@dataclass
class MakeBagResult:
    path: Path
    frames: int
    labels: int
    first_stamp_ns: int
    last_stamp_ns: int
    frame_size: tuple[int, int]


def _read_rgb(path: Path) -> np.ndarray:
    from sgcp_core.data import read_rgb
    return read_rgb(path)


def _read_label(path: Path) -> np.ndarray:
    from sgcp_core.data import read_label
    return read_label(path)


def folder_frames(image_dir: Path, label_dir: Path | None = None) -> Iterator[Frame]:
    """Frames from image files under ``image_dir``; labels from ``label_dir`` where present.

    Raises:
        FileNotFoundError: a folder is missing.
        CommandError: no images, or ``label_dir`` given but no image has a label.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f'image folder not found: {image_dir}')
    if label_dir is not None and not Path(label_dir).is_dir():
        raise FileNotFoundError(f'label folder not found: {label_dir}')
    images = sorted(p for p in image_dir.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise CommandError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {image_dir}')
    with_labels = 0
    for index, image_path in enumerate(images):
        labels = None
        if label_dir is not None:
            relative = image_path.relative_to(image_dir)
            for candidate in (Path(label_dir) / relative,
                              Path(label_dir) / relative.parent / (relative.stem + '.png')):
                if candidate.is_file():
                    labels = _read_label(candidate)
                    break
            with_labels += labels is not None
            if index == len(images) - 1 and with_labels == 0:
                raise CommandError(f'no image in {image_dir} has a label in {label_dir} '
                                   '(same relative path, or same stem with .png)')
        yield Frame(str(image_path.relative_to(image_dir)), _read_rgb(image_path), labels)


def dataset_frames(dataset: str, root: Path, split: str) -> Iterator[Frame]:
    """Frames and train-id labels of a dataset split, read by sgcp_core.data."""
    from sgcp_core.config import DataConfig
    from sgcp_core.data import build_dataset
    data = build_dataset(DataConfig(dataset=dataset, root=str(root), preload=False), split)
    for index, (image_path, _) in enumerate(data.pairs):
        rgb, labels = data.load_raw(index)
        yield Frame(image_path.name, rgb, labels)


def video_frames(path: Path) -> Iterator[Frame]:
    """Every frame of a video file, decoded by OpenCV."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'video not found: {path}')
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise CommandError(f'OpenCV cannot open the video {path}')
    try:
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield Frame(f'{path.name}#{index}', cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
        if index == 0:
            raise CommandError(f'OpenCV decoded no frame from {path}')
    finally:
        capture.release()


def video_rate(path: Path) -> float:
    """The video's frame rate, or 0 when the container does not say."""
    capture = cv2.VideoCapture(str(path))
    try:
        rate = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return float(rate) if rate and np.isfinite(rate) else 0.0


def write_frames_bag(path: str | Path, frames: Iterator[Frame], *, storage: str = 'mcap',
                     rate_hz: float = 10.0, frame_id: str = 'camera',
                     image_topic: str = topics.BAG_IMAGE,
                     label_topic: str = topics.BAG_LABELS, image_format: str = 'rgb8',
                     start_ns: int | None = None, max_frames: int = 0, stride: int = 1,
                     source: str = '') -> MakeBagResult:
    """Write ``frames`` into a new bag at ``path`` (atomically; see BagWriter).

    Frame i (after ``stride``) is stamped ``start_ns + i / rate_hz``; its label, if any,
    carries the identical header on ``label_topic``.
    """
    if rate_hz <= 0:
        raise ValueError(f'rate must be > 0 Hz, got {rate_hz}')
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f'image format must be one of {IMAGE_FORMATS}, got {image_format!r}')
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    if image_topic == label_topic:
        raise ValueError(f'image and label topics are both {image_topic!r}')
    start_ns = time.time_ns() // 1_000_000 * 1_000_000 if start_ns is None else int(start_ns)
    period_ns = 1e9 / rate_hz
    written = labelled = 0
    first_size = None
    image_class = WRITE_TYPES.types[topics.IMAGE_TYPE]
    with BagWriter(path, storage) as writer:
        writer.add_topic(image_topic, topics.COMPRESSED_IMAGE_TYPE
                         if image_format in COMPRESSED_FORMATS else topics.IMAGE_TYPE)
        writer.set_custom_data('sgcp_ros.image_topic', image_topic)
        if source:
            writer.set_custom_data('sgcp_ros.source', source)
        for index, frame in enumerate(frames):
            if index % stride:
                continue
            if max_frames and written >= max_frames:
                break
            stamp_ns = start_ns + round(written * period_ns)
            header = make_header(stamp_ns, frame_id)
            if image_format in COMPRESSED_FORMATS:
                image = rgb_to_compressed(
                    frame.rgb, header, image_format,
                    message_class=WRITE_TYPES.types[topics.COMPRESSED_IMAGE_TYPE])
            else:
                pixels = frame.rgb if image_format == 'rgb8' else frame.rgb[:, :, ::-1]
                image = array_to_image(pixels, header, image_format, message_class=image_class)
            writer.write(image_topic, stamp_ns, image)
            first_size = first_size or frame.rgb.shape[:2]
            if frame.labels is not None:
                if frame.labels.shape != frame.rgb.shape[:2]:
                    raise CommandError(f'label of {frame.name} is {frame.labels.shape[1]}x'
                                       f'{frame.labels.shape[0]} but the frame is '
                                       f'{frame.rgb.shape[1]}x{frame.rgb.shape[0]}')
                if not labelled:
                    writer.set_custom_data('sgcp_ros.label_topic', label_topic)
                writer.write(label_topic, stamp_ns, array_to_image(
                    frame.labels, header, message_class=image_class))
                labelled += 1
            written += 1
        if not written:
            raise CommandError('no frames to write')
    return MakeBagResult(Path(path), written, labelled, start_ns,
                         start_ns + round((written - 1) * period_ns), tuple(first_size))


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog='make_bag',
        description='Write a rosbag2 bag (mcap or sqlite3) of sensor_msgs/Image frames from '
                    'an image folder, a dataset split or a video, with mono8 ground-truth '
                    'labels carrying the same header stamps where labels exist.',
        epilog='examples:\n'
               '  make_bag camvid_val --dataset camvid --data-root ../shared/data/camvid '
               '--split val --rate 15\n'
               '  make_bag drive --images frames/ --labels labels/ --storage sqlite3\n'
               '  make_bag bikes --video bikes.mp4 --image-format jpeg',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('output', type=Path, help='bag folder to create (must not exist)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--images', type=Path, help='folder of image files')
    source.add_argument('--dataset', choices=('camvid', 'cityscapes'),
                        help='a dataset split as sgcp_core reads it (labels as train ids)')
    source.add_argument('--video', type=Path, help='video file')
    parser.add_argument('--labels', type=Path, help='label folder for --images')
    parser.add_argument('--data-root', type=Path, help='dataset root for --dataset')
    parser.add_argument('--split', default='val', help='dataset split (default: %(default)s)')
    parser.add_argument('--storage', default='mcap', choices=STORAGE_CHOICES,
                        help='rosbag2 storage plugin (default: %(default)s)')
    parser.add_argument('--rate', type=float, default=0.0,
                        help='frames per second of the stamps (default: the video\'s rate, '
                             'else 10)')
    parser.add_argument('--frame-id', default='camera', help='header.frame_id')
    parser.add_argument('--image-topic', default=topics.BAG_IMAGE)
    parser.add_argument('--label-topic', default=topics.BAG_LABELS)
    parser.add_argument('--image-format', default='rgb8', choices=IMAGE_FORMATS,
                        help='rgb8/bgr8: sensor_msgs/Image; jpeg/png: CompressedImage')
    parser.add_argument('--start-time', type=float,
                        help='stamp of the first frame, seconds since the epoch (default: now)')
    parser.add_argument('--max-frames', type=int, default=0, help='stop after N frames')
    parser.add_argument('--stride', type=int, default=1, help='keep every Nth source frame')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        new_output(args.output, 'output')
        if args.labels is not None and args.images is None:
            raise CommandError('--labels goes with --images')
        rate = args.rate
        if args.images is not None:
            frames = folder_frames(args.images, args.labels)
            source = f'images {args.images}' + (f', labels {args.labels}' if args.labels
                                                else '')
        elif args.dataset is not None:
            if args.data_root is None:
                raise CommandError('--dataset needs --data-root')
            frames = dataset_frames(args.dataset, args.data_root, args.split)
            source = f'{args.dataset} {args.split} from {args.data_root}'
        else:
            frames = video_frames(args.video)
            rate = rate or video_rate(args.video)
            source = f'video {args.video}'
        start_ns = None if args.start_time is None else round(args.start_time * 1e9)
        result = write_frames_bag(
            args.output, frames, storage=args.storage, rate_hz=rate or 10.0,
            frame_id=args.frame_id, image_topic=args.image_topic, label_topic=args.label_topic,
            image_format=args.image_format, start_ns=start_ns, max_frames=args.max_frames,
            stride=args.stride, source=source)
        size_mb = sum(f.stat().st_size for f in result.path.iterdir()) / 1e6
        height, width = result.frame_size
        duration = (result.last_stamp_ns - result.first_stamp_ns) / 1e9
        print(f'wrote {result.path} ({args.storage}, {size_mb:.1f} MB) from {source}')
        print(f'  {args.image_topic}: {result.frames} frames {width}x{height} '
              f'{args.image_format}, frame_id {args.frame_id!r}, {rate or 10.0:g} Hz')
        if result.labels:
            print(f'  {args.label_topic}: {result.labels} mono8 labels with the same stamps')
        print(f'  stamps {result.first_stamp_ns / 1e9:.3f} .. {result.last_stamp_ns / 1e9:.3f}'
              f' ({duration:.2f} s)')
        return 0

    return run_command('make_bag', run)


if __name__ == '__main__':
    sys.exit(main())
