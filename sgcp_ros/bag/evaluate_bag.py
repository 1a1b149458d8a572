# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``evaluate_bag``: run the engine on a bag's camera frames, offline, and score it.

Frames (sensor_msgs/Image or CompressedImage) are paired with a ground-truth label topic
(mono8 class ids) by header stamp and run through ``sgcp_core.engine.Segmenter`` where the
node's decoder (``sgcp_ros.images``) accepts them. No ROS installation is needed (rosbags).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sgcp_core.cli import run_command
from sgcp_core.cli.arg_types import in_range
from sgcp_core.cli.engine_args import add_engine_arguments, engine_config_from_args
from sgcp_core.errors import CommandError
from sgcp_core.files import new_output, write_json
from sgcp_core.timing import latency_stats, plot_latency_histogram
from sgcp_ros import topics
from sgcp_ros.bag.bagfile import STORAGE_CHOICES, WRITE_TYPES, BagReader, BagWriter
from sgcp_ros.bag.common import BagOptions, FrameStream, Scorer, bag_parser, options_from, say
from sgcp_ros.bag.report import contact_sheet, print_report
from sgcp_ros.images import array_to_image

__all__ = ['EvaluationOptions', 'Evaluation', 'evaluate_bag', 'main']


@dataclass
class EvaluationOptions(BagOptions):
    """What to read and produce (the command's options)."""

    contact_frames: int = 12
    write_bag: Path | None = None
    write_storage: str = 'mcap'
    say: Callable[[str], None] = say


@dataclass
class Evaluation:
    """What ``evaluate_bag`` measured: ``report`` is JSON-ready, one ``frame_log`` entry
    per frame read."""

    report: dict
    latency_samples: dict[str, list[float]]
    tiles: list[tuple[np.ndarray, str]] = field(default_factory=list)
    palette: tuple | None = None

    def write(self, out: Path, title: str) -> list[Path]:
        """report.json, iou.png, latency.png and contact_sheet.png (where there is something
        to draw) in ``out``, each written atomically; the paths written."""
        from sgcp_core.metrics import plot_iou
        written = [write_json(out / 'report.json', self.report)]
        if self.report['metrics'] is not None:
            scored = self.report['frames']['evaluated_with_ground_truth']
            written.append(plot_iou(self.report['metrics'], out / 'iou.png',
                                    f'{title}: {scored} frames', self.palette))
        if self.latency_samples:
            stages = ('decode', 'preprocess', 'inference', 'postprocess', 'frame_total')
            written.append(plot_latency_histogram(
                {stage: self.latency_samples[stage] for stage in stages
                 if stage in self.latency_samples},
                out / 'latency.png', f'{title}: per-frame latency'))
        if self.tiles:
            written.append(contact_sheet(self.tiles, out / 'contact_sheet.png'))
        return written


def evaluate_bag(bag_path: str | Path, make_segmenter: Callable[[], object],
                 options: EvaluationOptions | None = None) -> Evaluation:
    """Run the engine (``make_segmenter()``, called at the first decodable frame) over a
    bag folder or a bare .mcap/.db3 file.

    Raises:
        BagError: the bag is damaged or unreadable, or a topic is missing (the message
            lists the bag's topics).
    """
    options = options or EvaluationOptions()
    segmenter = scorer = writer = None
    samples: dict[str, list[float]] = {}
    tiles = {}
    with BagReader(bag_path) as reader, ExitStack() as outputs:
        stream = FrameStream(reader, options, options.say)
        image_topic, label_topic = stream.image_topic, stream.label_topic
        if options.write_bag is not None:
            writer = outputs.enter_context(BagWriter(options.write_bag, options.write_storage,
                                                     options.force))
            for topic, msgtype in reader.topics.items():
                writer.add_topic(topic, msgtype, reader.typestore)
        expected = reader.message_counts.get(image_topic, 0)
        expected = min(expected, options.max_frames or expected)
        tile_stride = max(1, expected // max(1, options.contact_frames))
        # With an output bag every topic is copied; otherwise only two are read.
        copy = writer and (lambda m: writer.write_raw(m.topic, m.log_time_ns, m.data))
        for frame in stream.frames(copy):
            entry = frame.entry
            if segmenter is None:
                segmenter = make_segmenter()
                scorer = Scorer(segmenter.classes.names, segmenter.meta.ignore_index,
                                truth_groups=segmenter.class_groups)
            want_tile = (entry['index'] % tile_stride == 0
                         and len(tiles) < options.contact_frames)
            result = segmenter.segment(frame.rgb, want_overlay=want_tile or bool(writer))
            total_ms = frame.decode_ms + result.timings_ms['total']
            for stage, value in {'decode': frame.decode_ms, **result.timings_ms,
                                 'frame_total': total_ms}.items():
                samples.setdefault(stage, []).append(float(value))
            entry.update(status='processed', latency_ms=round(total_ms, 3))
            if want_tile:
                tiles[entry['index']] = result.overlay
            if writer is not None:
                for topic, pixels in ((topics.BAG_PREDICTIONS, result.labels),
                                      (topics.BAG_OVERLAY, result.overlay)):
                    writer.write(topic, frame.message.log_time_ns, array_to_image(
                        pixels, frame.image.header,
                        message_class=WRITE_TYPES.types[topics.IMAGE_TYPE]))
            if frame.truth is not None and not scorer.add(entry, frame.truth, result.labels):
                stream.problem(f'frame {entry["index"]}: ground truth is {frame.truth.shape}, '
                               f'the frame {result.labels.shape}; not scored')
    log = stream.log
    processed = sum(entry.get('status') == 'processed' for entry in log)
    scored = 0 if scorer is None else scorer.frames
    report = {
        'tool': 'evaluate_bag',
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'bag': str(bag_path), 'storage': reader.storage, 'integrity': reader.integrity,
        'image_topic': image_topic, 'image_type': reader.topics[image_topic],
        'label_topic': label_topic, 'stamp_tolerance_ms': options.stamp_tolerance_ms,
        'engine': None if segmenter is None else {
            'model': str(segmenter.model_path), 'backend': segmenter.backend_name,
            'device': segmenter.device, 'input_size': list(segmenter.input_size),
            'label_mode': segmenter.label_mode, 'description': segmenter.describe()},
        'frames': {**stream.counts(), 'processed': processed,
                   'evaluated_with_ground_truth': scored,
                   'without_ground_truth': processed - scored},
        'metrics': None if scorer is None else scorer.summary(),
        'metrics_note': ('the bag has no ground-truth topic' if label_topic is None
                         else None if scored else 'no frame was paired with ground truth'),
        'latency_ms': {stage: latency_stats(values) for stage, values in samples.items()},
        'frame_log': log,
    }
    captions = [(overlay, f'#{index}  t={log[index]["stamp_ns"] / 1e9:.3f}' + (
        f'  mIoU {log[index]["miou"]:.1f}%' if log[index].get('miou') is not None else ''))
        for index, overlay in sorted(tiles.items())]
    return Evaluation(report, samples, captions,
                      None if segmenter is None else segmenter.classes.palette)


def build_parser():
    parser = bag_parser(
        'evaluate_bag', 'Offline evaluation of the segmentation engine on a rosbag2 bag: '
        'mIoU, per-class IoU and pixel accuracy against a ground-truth label topic (paired by '
        'header stamp), per-stage latency and frame counts; writes report.json, iou.png, '
        'latency.png and contact_sheet.png.',
        ['evaluate_bag camvid_val --model best.pt',
         'evaluate_bag drive.mcap --image-topic /front/image_raw/compressed --label-topic "" '
         '--write-bag drive_segmented'], force='--out and --write-bag')
    parser.add_argument('--out', type=Path,
                        help='new folder for report.json and the plots (default: '
                             '<bag>_eval in the working directory)')
    parser.add_argument('--contact-frames', type=in_range(int, 0, 1000), default=12,
                        help='overlays on the contact sheet, 0 for none (default: %(default)s)')
    parser.add_argument('--write-bag', type=Path,
                        help='also write a bag with every input topic plus predicted labels '
                             f'({topics.BAG_PREDICTIONS}) and overlays ({topics.BAG_OVERLAY})')
    parser.add_argument('--write-storage', default='mcap', choices=STORAGE_CHOICES)
    add_engine_arguments(parser)
    return parser


def _run(args) -> int:
    from sgcp_core.engine import Segmenter
    out = new_output(args.out or Path(f'{args.bag.name.rsplit(".", 1)[0]}_eval'), '--out',
                     args.force)
    if args.write_bag is not None:
        new_output(args.write_bag, '--write-bag', args.force)
    config = engine_config_from_args(args)
    evaluation = evaluate_bag(args.bag, lambda: Segmenter(config),
                              options_from(EvaluationOptions, args))
    report = evaluation.report
    print(f'{args.bag} ({report["storage"]}): {report["image_topic"]} '
          f'({report["image_type"]}), ground truth {report["label_topic"] or "none"}')
    if report['engine']:
        print(f'engine: {report["engine"]["description"]}')
    print_report(report)
    print('wrote ' + ', '.join(str(p) for p in evaluation.write(out, args.bag.name)))
    if args.write_bag is not None:
        print(f'wrote {args.write_bag}: input topics + {topics.BAG_PREDICTIONS} (mono8) '
              f'+ {topics.BAG_OVERLAY} (rgb8)')
    frames = report['frames']
    if not frames['processed']:
        raise CommandError(f'no frame of {report["image_topic"]} could be evaluated: '
                           f'{frames["images_read"]} read, skipped by reason '
                           f'{frames["skipped_by_reason"]}')
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command('evaluate_bag', lambda: _run(build_parser().parse_args(argv)))


if __name__ == '__main__':
    sys.exit(main())
