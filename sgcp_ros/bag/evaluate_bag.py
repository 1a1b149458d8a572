# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``evaluate_bag``: run the engine on a bag's camera frames, offline, and score it.

Reads an image topic (sensor_msgs/Image or CompressedImage) and, where the bag has one, a
ground-truth label topic (mono8 class ids), pairs them by header stamp within a tolerance,
runs ``sgcp_core.engine.Segmenter`` on every decodable frame and reports mIoU, per-class IoU,
pixel accuracy, per-stage latency (mean, p50, p95, p99, max) and how many frames were
processed, skipped (with the reason per frame) or without ground truth. Writes a JSON
report, plots and optionally a new bag with the predictions next to the camera stream.

No ROS installation is needed: the bag is read with rosbags.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from contextlib import ExitStack
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sgcp_ros.bag.bag_io import STORAGE_CHOICES, BagReader, BagWriter, TopicNotFoundError
from sgcp_ros.bag.bag_io import describe_topics
from sgcp_ros.bag.cli import CommandError, add_engine_arguments, engine_config, run_command
from sgcp_ros.bag.make_bag import DEFAULT_IMAGE_TOPIC, DEFAULT_LABEL_TOPIC
from sgcp_ros.bag.matching import StampMatcher
from sgcp_ros.bag.messages import (IMAGE_TYPES, FrameError, UnsupportedEncodingError,
                                   deserialize, image_to_labels, image_to_rgb,
                                   labels_to_image, rgb_to_image, stamp_to_ns)
from sgcp_ros.bag.report import (LatencyLog, contact_sheet, format_counts,
                                 format_latency_table, plot_iou, plot_latency, write_json)

__all__ = ['EvaluationOptions', 'Evaluation', 'resolve_topics', 'evaluate_bag', 'main']

MAX_PRINTED_PROBLEMS = 20


@dataclass
class EvaluationOptions:
    """What to read and what to produce; topics None = the make_bag defaults if present."""

    image_topic: str | None = None
    label_topic: str | None = None     # None: DEFAULT_LABEL_TOPIC if present; '' = none
    tolerance_ns: int = 1_000_000
    window_ns: int = 10_000_000_000
    max_frames: int = 0
    contact_frames: int = 12
    write_bag: Path | None = None
    write_storage: str = 'mcap'
    prediction_topic: str = '/sgcp/labels'
    overlay_topic: str = '/sgcp/overlay'
    problem_printer: Callable[[str], None] | None = None


@dataclass
class Evaluation:
    """Everything ``evaluate_bag`` measured; ``report`` is the JSON-ready summary."""

    report: dict
    latency_samples: dict[str, list[float]]
    tiles: list[tuple[np.ndarray, str]] = field(default_factory=list)
    summary: dict | None = None
    palette: tuple | None = None
    engine_description: str = ''


def resolve_topics(reader: BagReader, options: EvaluationOptions) -> tuple[str, str | None]:
    """(image topic, label topic or None), checked against the bag.

    Raises:
        TopicNotFoundError: listing the bag's topics and types.
    """
    image_topic = options.image_topic
    if image_topic is None:
        image_topic = DEFAULT_IMAGE_TOPIC
        if image_topic not in reader.topics:
            # A bag from elsewhere: accept its only camera topic, never guess between two.
            candidates = [t for t, kind in reader.topics.items()
                          if kind in IMAGE_TYPES and t != options.label_topic
                          and t != DEFAULT_LABEL_TOPIC]
            if len(candidates) != 1:
                raise TopicNotFoundError(
                    f'{reader.path} has no {DEFAULT_IMAGE_TOPIC} and '
                    f'{"no" if not candidates else len(candidates)} other image topics; pass '
                    '--image-topic. Its topics are:\n'
                    + describe_topics(reader.topics, reader.message_counts))
            image_topic = candidates[0]
    reader.require_topic(image_topic, IMAGE_TYPES)
    label_topic = options.label_topic
    if label_topic is None:
        label_topic = DEFAULT_LABEL_TOPIC if DEFAULT_LABEL_TOPIC in reader.topics else ''
    if label_topic:
        reader.require_topic(label_topic, IMAGE_TYPES)
    return image_topic, label_topic or None


def _pixel_accuracy(target: np.ndarray, prediction: np.ndarray, num_classes: int) -> float:
    valid = target < num_classes
    return float((prediction[valid] == target[valid]).mean()) if valid.any() else float('nan')


class _Run:
    """State of one pass over a bag: counters, the confusion matrix, the frame log."""

    def __init__(self, options: EvaluationOptions,
                 make_segmenter: Callable[[tuple[int, ...]], object]) -> None:
        self.options = options
        self.make_segmenter = make_segmenter
        self.say = options.problem_printer or (lambda text: print(text, file=sys.stderr))
        self.problems_seen = 0
        self.latency = LatencyLog()
        self.frame_log: list[dict] = []
        self.skipped: Counter[str] = Counter()
        self.bad_labels: Counter[str] = Counter()
        self.tiles: dict[int, tuple[np.ndarray, str]] = {}
        self.segmenter = self.matrix = None
        self.matcher = StampMatcher(options.tolerance_ns, options.window_ns)
        self.images_read = self.labels_read = self.matched = 0
        self.unmatched_frames = self.unmatched_labels = self.size_mismatches = 0
        self.tile_stride = 1
        self.writer: BagWriter | None = None

    def problem(self, text: str) -> None:
        """Print the first MAX_PRINTED_PROBLEMS per-frame problems; the log keeps them all."""
        self.problems_seen += 1
        if self.problems_seen <= MAX_PRINTED_PROBLEMS:
            self.say(text)

    def on_label(self, message, label_topic: str) -> None:
        index = self.labels_read
        self.labels_read += 1
        try:
            label_msg = deserialize(message.data, message.msgtype)
            target = image_to_labels(label_msg)
        except FrameError as error:
            self.bad_labels[type(error).__name__] += 1
            self.problem(f'label {index} on {label_topic}: skipped: {error}')
            return
        except Exception as error:  # noqa: BLE001 - CDR of a corrupt record
            self.bad_labels['undecodable record'] += 1
            self.problem(f'label {index} on {label_topic}: skipped: record does not '
                         f'deserialise as {message.msgtype} ({error})')
            return
        self.settle(self.matcher.add_label(stamp_to_ns(label_msg.header.stamp),
                                           message.log_time_ns, target))

    def on_image(self, message, with_ground_truth: bool) -> None:
        index = self.images_read
        self.images_read += 1
        started = time.perf_counter()
        try:
            msg = deserialize(message.data, message.msgtype)
        except Exception as error:  # noqa: BLE001 - CDR of a corrupt record
            self.skip(index, None, 'undecodable record',
                      f'record does not deserialise as {message.msgtype} ({error})')
            return
        stamp_ns = stamp_to_ns(msg.header.stamp)
        try:
            rgb = image_to_rgb(msg)
        except FrameError as error:
            self.skip(index, stamp_ns, 'unsupported encoding'
                      if isinstance(error, UnsupportedEncodingError) else 'corrupt frame',
                      str(error))
            return
        decode_ms = 1e3 * (time.perf_counter() - started)
        if self.segmenter is None:
            from sgcp_core.metrics import ConfusionMatrix
            self.segmenter = self.make_segmenter(rgb.shape)
            self.matrix = ConfusionMatrix(self.segmenter.classes.num_classes,
                                          self.segmenter.meta.ignore_index)
        want_tile = (index % self.tile_stride == 0
                     and len(self.tiles) < self.options.contact_frames)
        result = self.segmenter.segment(rgb, want_overlay=want_tile or self.writer is not None)
        total_ms = decode_ms + result.timings_ms['total']
        self.latency.add({'decode': decode_ms, **result.timings_ms, 'frame_total': total_ms})
        entry = {'index': index, 'stamp_ns': stamp_ns, 'status': 'processed',
                 'total_ms': round(total_ms, 3)}
        self.frame_log.append(entry)
        if want_tile:
            self.tiles[index] = (result.overlay, f'#{index}  t={stamp_ns / 1e9:.3f}')
        if self.writer is not None:
            self.writer.write(self.options.prediction_topic, message.log_time_ns,
                              labels_to_image(result.labels, msg.header))
            self.writer.write(self.options.overlay_topic, message.log_time_ns,
                              rgb_to_image(result.overlay, msg.header))
        if with_ground_truth:
            entry['_prediction'] = result.labels
            self.settle(self.matcher.add_frame(stamp_ns, message.log_time_ns, entry))

    def skip(self, index: int, stamp_ns: int | None, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        self.frame_log.append({'index': index, 'stamp_ns': stamp_ns, 'status': 'skipped',
                               'reason': detail})
        stamp = '' if stamp_ns is None else f' (stamp {stamp_ns / 1e9:.3f})'
        self.problem(f'frame {index}{stamp}: skipped: {detail}')

    def settle(self, events) -> None:
        """Score matched pairs; count what the matcher gave up on."""
        for event in events:
            if event.kind == 'label_unmatched':
                self.unmatched_labels += 1
                continue
            entry = event.frame
            prediction = entry.pop('_prediction')
            if event.kind == 'frame_unmatched':
                self.unmatched_frames += 1
                entry['status'] = 'no_ground_truth'
                continue
            target = event.label
            if target.shape != prediction.shape:
                self.size_mismatches += 1
                entry['status'] = 'label_size_mismatch'
                self.problem(f'frame {entry["index"]}: ground truth is {target.shape[1]}x'
                             f'{target.shape[0]}, the frame {prediction.shape[1]}x'
                             f'{prediction.shape[0]}; not scored')
                continue
            self.matrix.update(target, prediction)
            self.matched += 1
            entry['status'] = 'evaluated'
            entry['pixel_accuracy'] = _pixel_accuracy(target, prediction,
                                                      self.matrix.num_classes)


def evaluate_bag(bag_path: str | Path, make_segmenter: Callable[[tuple[int, ...]], object],
                 options: EvaluationOptions | None = None) -> Evaluation:
    """Run the engine over a bag.

    Args:
        bag_path: a rosbag2 folder or a bare .db3/.mcap file.
        make_segmenter: called once with the first decodable frame's shape (H, W, 3);
            returns a ``sgcp_core.engine.Segmenter``.
        options: topics, matching tolerance, outputs.

    Raises:
        TopicNotFoundError: a topic is missing (the message lists the bag's topics).
        BagError: the bag cannot be read at all.
    """
    options = options or EvaluationOptions()
    run = _Run(options, make_segmenter)
    with BagReader(bag_path) as reader, ExitStack() as outputs:
        image_topic, label_topic = resolve_topics(reader, options)
        expected_images = reader.message_counts.get(image_topic, 0)
        if options.max_frames:
            expected_images = min(expected_images or options.max_frames, options.max_frames)
        run.tile_stride = max(1, expected_images // max(1, options.contact_frames))
        if options.write_bag is not None:
            run.writer = outputs.enter_context(BagWriter(options.write_bag,
                                                         options.write_storage))
        # With an output bag every topic is copied; otherwise only two are read.
        wanted = None if run.writer is not None else {image_topic, label_topic} - {None}
        for message in reader.messages(wanted):
            if run.writer is not None:
                run.writer.add_topic(message.topic, message.msgtype)
                run.writer.write_raw(message.topic, message.log_time_ns, message.data)
            if message.topic == label_topic:
                run.on_label(message, label_topic)
            elif message.topic == image_topic:
                if not options.max_frames or run.images_read < options.max_frames:
                    run.on_image(message, label_topic is not None)
                elif run.writer is None:
                    break
        if label_topic is not None:
            run.settle(run.matcher.flush())
        health, storage = reader.health, reader.storage
        counts, image_type = dict(reader.message_counts), reader.topics[image_topic]

    if run.problems_seen > MAX_PRINTED_PROBLEMS:
        run.say(f'... {run.problems_seen - MAX_PRINTED_PROBLEMS} more problems (all are in '
                'the report)')
    for text in health.problems:
        run.say(f'bag: {text}')
    segmenter = run.segmenter
    summary = (run.matrix.summary(segmenter.classes.names)
               if run.matrix is not None and run.matched else None)
    missing = {topic: max(0, expected - counts.get(topic, 0))
               for topic, expected in health.expected_counts.items()
               if topic in (image_topic, label_topic)}
    tiles = []
    for index in sorted(run.tiles):
        overlay, caption = run.tiles[index]
        accuracy = run.frame_log[index].get('pixel_accuracy')
        if accuracy is not None and np.isfinite(accuracy):
            caption = f'{caption}  acc {100 * accuracy:.1f}%'
        tiles.append((overlay, caption))
    processed = sum(1 for entry in run.frame_log if entry['status'] != 'skipped')
    report = {
        'tool': 'evaluate_bag',
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'bag': str(bag_path),
        'storage': storage,
        'image_topic': image_topic,
        'image_type': image_type,
        'label_topic': label_topic,
        'stamp_tolerance_ms': options.tolerance_ns / 1e6,
        'engine': None if segmenter is None else {
            'model': str(segmenter.model_path), 'backend': segmenter.backend_name,
            'device': segmenter.device, 'input_size': list(segmenter.input_size),
            'label_mode': segmenter.label_mode, 'variant': segmenter.meta.variant},
        'frames': {
            'images_read': run.images_read,
            'processed': processed,
            'skipped': sum(run.skipped.values()),
            'skipped_by_reason': dict(run.skipped),
            'evaluated_with_ground_truth': run.matched,
            'without_ground_truth': run.unmatched_frames if label_topic else processed,
            'label_size_mismatch': run.size_mismatches,
            'labels_read': run.labels_read,
            'labels_unmatched': run.unmatched_labels,
            'labels_bad': dict(run.bad_labels),
        },
        'read': {**health.to_dict(), 'missing_vs_index': missing},
        'metrics': summary,
        'latency_ms': run.latency.stats(),
        'frame_log': run.frame_log,
    }
    return Evaluation(report, run.latency.samples, tiles, summary,
                      None if segmenter is None else segmenter.classes.palette,
                      '' if segmenter is None else segmenter.describe())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='evaluate_bag',
        description='Offline evaluation of the segmentation engine on a rosbag2 bag: mIoU, '
                    'per-class IoU and pixel accuracy against a ground-truth label topic '
                    '(paired by header stamp), per-stage latency and frame counts; writes '
                    'report.json, iou.png, latency.png and contact_sheet.png.',
        epilog='examples:\n'
               '  evaluate_bag camvid_val --model best.pt --input-size native\n'
               '  evaluate_bag drive.mcap --image-topic /front/image_raw/compressed '
               '--label-topic "" --write-bag drive_segmented',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('bag', type=Path, help='rosbag2 folder, or a .db3/.mcap file')
    parser.add_argument('--image-topic', help=f'camera topic (default: {DEFAULT_IMAGE_TOPIC}'
                        ', or the bag\'s only Image/CompressedImage topic)')
    parser.add_argument('--label-topic', help='ground-truth mono8 topic (default: '
                        f'{DEFAULT_LABEL_TOPIC} if present; "" for none)')
    parser.add_argument('--stamp-tolerance-ms', type=float, default=1.0,
                        help='largest stamp difference that pairs a label with a frame '
                             '(default: %(default)s)')
    parser.add_argument('--max-frames', type=int, default=0, help='stop after N frames')
    parser.add_argument('--out', type=Path,
                        help='folder for report.json and the plots (default: <bag>_eval '
                             'in the working directory)')
    parser.add_argument('--contact-frames', type=int, default=12,
                        help='overlays on the contact sheet (default: %(default)s)')
    parser.add_argument('--write-bag', type=Path,
                        help='also write a bag with every input topic plus predicted labels '
                             '(mono8) and overlays (rgb8) with the input headers')
    parser.add_argument('--write-storage', default='mcap', choices=STORAGE_CHOICES)
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        from sgcp_core.engine import Segmenter
        from sgcp_core.metrics import format_iou_table
        if args.stamp_tolerance_ms < 0:
            raise CommandError('--stamp-tolerance-ms must be >= 0')
        options = EvaluationOptions(
            image_topic=args.image_topic, label_topic=args.label_topic,
            tolerance_ns=round(args.stamp_tolerance_ms * 1e6), max_frames=args.max_frames,
            contact_frames=args.contact_frames, write_bag=args.write_bag,
            write_storage=args.write_storage)
        if args.write_bag is not None and args.write_bag.exists():
            raise CommandError(f'--write-bag {args.write_bag} exists already')
        evaluation = evaluate_bag(args.bag, lambda shape: Segmenter(engine_config(args, shape)),
                                  options)
        report = evaluation.report
        frames = report['frames']
        print(f'{args.bag} ({report["storage"]}): {report["image_topic"]} '
              f'({report["image_type"]}), ground truth '
              f'{report["label_topic"] or "none"}')
        if evaluation.engine_description:
            print(f'engine: {evaluation.engine_description}')
        if evaluation.summary is not None:
            print(format_iou_table(evaluation.summary))
        elif report['label_topic']:
            print('no frame was paired with ground truth: no IoU (see frames below)')
        print(format_latency_table(report['latency_ms']))
        print(format_counts(frames))
        if report['read']['problems'] or report['read']['bad_records']:
            print(f'bag read: {report["read"]["bad_records"]} bad records, salvaged: '
                  f'{report["read"]["salvaged"]}, missing vs index: '
                  f'{report["read"]["missing_vs_index"]}')
        out = args.out or Path(f'{args.bag.name.rsplit(".", 1)[0]}_eval')
        written = [write_json(out / 'report.json', report)]
        if evaluation.summary is not None:
            written.append(plot_iou(evaluation.summary, out / 'iou.png',
                                    f'{args.bag.name}: {frames["evaluated_with_ground_truth"]}'
                                    ' frames', evaluation.palette))
        if evaluation.latency_samples:
            stages = [s for s in ('decode', 'preprocess', 'inference', 'postprocess',
                                  'frame_total') if s in evaluation.latency_samples]
            written.append(plot_latency(evaluation.latency_samples, out / 'latency.png',
                                        f'{args.bag.name}: per-frame latency', stages))
        if evaluation.tiles:
            written.append(contact_sheet(evaluation.tiles, out / 'contact_sheet.png'))
        print('wrote ' + ', '.join(str(p) for p in written))
        if args.write_bag is not None:
            print(f'wrote {args.write_bag}: input topics + {options.prediction_topic} (mono8) '
                  f'+ {options.overlay_topic} (rgb8)')
        if not frames['processed']:
            raise CommandError(f'no frame of {report["image_topic"]} could be evaluated: '
                               f'{frames["images_read"]} read, skipped by reason '
                               f'{frames["skipped_by_reason"]}')
        return 0

    return run_command('evaluate_bag', run)


if __name__ == '__main__':
    sys.exit(main())
