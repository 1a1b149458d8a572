# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``make_bag``: a rosbag2 bag of camera frames (and ground truth) from images, a dataset
split (labels as its train ids, what ``sgcp eval`` scores against) or a video.

Frames go on an image topic as sensor_msgs/Image (rgb8/bgr8) or CompressedImage (jpeg/png);
a frame's label map goes on a label topic as a mono8 Image with the very same header, which
is how the other bag commands pair them. Stamps (and log times) advance by 1/rate.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sgcp_core.cli import run_command
from sgcp_core.cli.arg_types import in_range, non_negative_int, positive_int
from sgcp_core.errors import CommandError
from sgcp_core.files import image_files, new_output, video_frames, video_info
from sgcp_ros import topics
from sgcp_ros.bag.bagfile import STORAGE_CHOICES, WRITE_TYPES, BagWriter, make_header
from sgcp_ros.bag.common import command_parser, topic_name
from sgcp_ros.images import COMPRESSED_FORMATS, array_to_image, rgb_to_compressed

__all__ = ['Frame', 'write_frames_bag', 'folder_frames', 'dataset_frames', 'main']

IMAGE_FORMATS = ('rgb8', 'bgr8') + COMPRESSED_FORMATS
# A frame: (name, rgb (H, W, 3) uint8, labels (H, W) uint8 or None).
Frame = tuple[str, np.ndarray, 'np.ndarray | None']


def folder_frames(image_dir: Path, label_dir: Path | None = None) -> Iterator[Frame]:
    """Frames from image files under ``image_dir``; labels from ``label_dir`` where present
    (same relative path, or same stem with .png)."""
    from sgcp_core.data import read_label, read_rgb
    for folder in (image_dir, label_dir):
        if folder is not None and not folder.is_dir():
            raise FileNotFoundError(f'folder not found: {folder}')
    images = image_files(image_dir)
    labelled = 0
    for image_path in images:
        relative = image_path.relative_to(image_dir)
        candidates = [] if label_dir is None else [
            label_dir / relative, label_dir / relative.parent / (relative.stem + '.png')]
        label_path = next((p for p in candidates if p.is_file()), None)
        labelled += label_path is not None
        yield (str(relative), read_rgb(image_path),
               None if label_path is None else read_label(label_path))
    if label_dir is not None and not labelled:
        raise CommandError(f'no image in {image_dir} has a label in {label_dir} (same '
                           'relative path, or same stem with .png)')


def dataset_frames(dataset: str, root: Path, split: str) -> Iterator[Frame]:
    """Frames and train-id labels of a dataset split, read by sgcp_core.data."""
    from sgcp_core.config import DataConfig
    from sgcp_core.data import build_dataset
    data = build_dataset(DataConfig(dataset=dataset, root=str(root), preload=False), split)
    for index, (image_path, _) in enumerate(data.pairs):
        yield (image_path.name, *data.load_raw(index))


def write_frames_bag(path: str | Path, frames: Iterator[Frame], *, storage: str = 'mcap',
                     rate_hz: float = 10.0, frame_id: str = 'camera',
                     image_topic: str = topics.BAG_IMAGE, label_topic: str = topics.BAG_LABELS,
                     image_format: str = 'rgb8', start_ns: int | None = None,
                     max_frames: int = 0, stride: int = 1, source: str = '',
                     replace: bool = False) -> dict:
    """Write ``frames`` into a new bag at ``path`` (atomically, see BagWriter). Frame i
    (after ``stride``) is stamped ``start_ns + i / rate_hz``; its label, if any, carries the
    identical header on ``label_topic``. Returns {'frames', 'labels', 'first_stamp_ns',
    'last_stamp_ns', 'size': (H, W)}."""
    if rate_hz <= 0 or stride < 1 or image_topic == label_topic:
        raise ValueError(f'need rate > 0 Hz, stride >= 1 and two topics; got {rate_hz} Hz, '
                         f'stride {stride}, topics {image_topic} and {label_topic}')
    start_ns = time.time_ns() // 1_000_000 * 1_000_000 if start_ns is None else int(start_ns)
    image_class = WRITE_TYPES.types[topics.IMAGE_TYPE]
    compressed_class = WRITE_TYPES.types[topics.COMPRESSED_IMAGE_TYPE]
    result = {'frames': 0, 'labels': 0, 'first_stamp_ns': start_ns}
    with BagWriter(path, storage, replace) as writer:
        writer.add_topic(image_topic, topics.COMPRESSED_IMAGE_TYPE
                         if image_format in COMPRESSED_FORMATS else topics.IMAGE_TYPE)
        writer.set_custom_data('sgcp_ros.source', source or 'sgcp_ros make_bag')
        for index, (name, rgb, labels) in enumerate(frames):
            if index % stride:
                continue
            if max_frames and result['frames'] >= max_frames:
                break
            stamp_ns = start_ns + round(result['frames'] * 1e9 / rate_hz)
            header = make_header(stamp_ns, frame_id)
            if image_format in COMPRESSED_FORMATS:
                image = rgb_to_compressed(rgb, header, image_format,
                                          message_class=compressed_class)
            else:
                pixels = rgb if image_format == 'rgb8' else rgb[:, :, ::-1]
                image = array_to_image(pixels, header, image_format, message_class=image_class)
            writer.write(image_topic, stamp_ns, image)
            result.update(frames=result['frames'] + 1, last_stamp_ns=stamp_ns,
                          size=result.get('size', rgb.shape[:2]))
            if labels is not None:
                if labels.shape != rgb.shape[:2]:
                    raise CommandError(f'label of {name} is {labels.shape[1]}x'
                                       f'{labels.shape[0]}, the frame {rgb.shape[1]}x'
                                       f'{rgb.shape[0]}')
                writer.write(label_topic, stamp_ns,
                             array_to_image(labels, header, message_class=image_class))
                result['labels'] += 1
        if not result['frames']:
            raise CommandError('no frames to write')
    return result


def build_parser():
    parser = command_parser(
        'make_bag', 'Write a rosbag2 bag (mcap or sqlite3) of sensor_msgs/Image frames from an '
        'image folder, a dataset split or a video, with mono8 ground-truth labels carrying the '
        'same header stamps where labels exist.',
        ['make_bag camvid_val --dataset camvid --data-root ../shared/data/camvid --split val '
         '--rate 15', 'make_bag drive --images frames/ --labels labels/ --storage sqlite3',
         'make_bag bikes --video bikes.mp4 --image-format jpeg'])
    parser.add_argument('output', type=Path, help='bag folder to create')
    parser.add_argument('--force', action='store_true', help='replace an existing output')
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
    parser.add_argument('--rate', type=in_range(float, 1e-3, 1e6),
                        help='frames per second of the stamps (default: the video\'s rate, '
                             'else 10)')
    parser.add_argument('--frame-id', default='camera', help='header.frame_id')
    parser.add_argument('--image-topic', type=topic_name, default=topics.BAG_IMAGE)
    parser.add_argument('--label-topic', type=topic_name, default=topics.BAG_LABELS)
    parser.add_argument('--image-format', default='rgb8', choices=IMAGE_FORMATS,
                        help='rgb8/bgr8: sensor_msgs/Image; jpeg/png: CompressedImage')
    # A header stamp's seconds are an int32; log times are unsigned.
    parser.add_argument('--start-time', type=in_range(float, 0, 2**31 - 3600),
                        help='stamp of the first frame, seconds since the epoch (default: now)')
    parser.add_argument('--max-frames', type=non_negative_int, default=0,
                        help='stop after N frames')
    parser.add_argument('--stride', type=positive_int, default=1,
                        help='keep every Nth source frame')
    return parser


def _run(args) -> int:
    new_output(args.output, 'output', args.force)
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
        rate = rate or video_info(args.video).fps
        frames = ((f'{args.video.name}#{i}', rgb, None)
                  for i, rgb in enumerate(video_frames(args.video)))
        source = f'video {args.video}'
    rate = rate or 10.0
    result = write_frames_bag(
        args.output, frames, storage=args.storage, rate_hz=rate, frame_id=args.frame_id,
        image_topic=args.image_topic, label_topic=args.label_topic,
        image_format=args.image_format,
        start_ns=None if args.start_time is None else round(args.start_time * 1e9),
        max_frames=args.max_frames, stride=args.stride, source=source, replace=args.force)
    size_mb = sum(f.stat().st_size for f in args.output.iterdir()) / 1e6
    height, width = result['size']
    first, last = result['first_stamp_ns'] / 1e9, result['last_stamp_ns'] / 1e9
    print(f'wrote {args.output} ({args.storage}, {size_mb:.1f} MB) from {source}')
    print(f'  {args.image_topic}: {result["frames"]} frames {width}x{height} '
          f'{args.image_format}, frame_id {args.frame_id!r}, {rate:g} Hz')
    if result['labels']:
        print(f'  {args.label_topic}: {result["labels"]} mono8 labels with the same stamps')
    print(f'  stamps {first:.3f} .. {last:.3f} ({last - first:.2f} s)')
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command('make_bag', lambda: _run(build_parser().parse_args(argv)))


if __name__ == '__main__':
    sys.exit(main())
