# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``evaluate_bag``: run the engine on a bag's camera frames, offline, and score it.

Reads an image topic (sensor_msgs/Image or CompressedImage) and, where the bag has one, a
ground-truth label topic (mono8 class ids), pairs them by header stamp within a tolerance,
runs ``sgcp_core.engine.Segmenter`` on every frame ``sgcp_ros.images`` decodes (the node's
decoder) and reports mIoU, per-class IoU, pixel accuracy, per-stage latency and how many
frames were processed, skipped (with the reason per frame) or without ground truth.
Writes a JSON report, plots and optionally a new bag with the predictions.

No ROS installation is needed: the bag is read with rosbags.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sgcp_core.cli import ArgumentParser
from sgcp_core.cli.engine_args import add_engine_arguments, engine_config_from_args
from sgcp_core.errors import CommandError
from sgcp_core.files import write_json
from sgcp_core.timing import plot_latency_histogram
from sgcp_ros import topics
from sgcp_ros.bag.bagfile import (STORAGE_CHOICES, WRITE_TYPES, BagReader, BagWriter,
                                  stamp_to_ns)
from sgcp_ros.bag.common import (Scorer, add_bag_topic_arguments, new_output, run_command,
                                 skip_reason)
from sgcp_ros.stamp_matching import StampMatcher
from sgcp_ros.bag.report import (LatencyLog, contact_sheet, format_counts,
                                 format_latency_table, plot_iou)
from sgcp_ros.images import array_to_image, image_to_labels, image_to_rgb

__all__ = ['EvaluationOptions', 'Evaluation', 'evaluate_bag', 'main']

MAX_PRINTED_PROBLEMS = 20


@dataclass
class EvaluationOptions:
    """What to read and produce; topics None = the make_bag defaults where present."""

    image_topic: str | None = None
    label_topic: str | None = None     # '' = none
    tolerance_ns: int = 1_000_000
    max_frames: int = 0
    contact_frames: int = 12
    write_bag: Path | None = None
    write_storage: str = 'mcap'
    say: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))


@dataclass
class Evaluation:
    """Everything ``evaluate_bag`` measured; ``report`` is the JSON-ready summary and
    ``report['frame_log']`` has one entry per frame read."""

    report: dict
    latency_samples: dict[str, list[float]]
    tiles: list[tuple[np.ndarray, str]] = field(default_factory=list)
    palette: tuple | None = None


class _Run:
    """One pass over a bag: counters, the scorer, the frame log."""

    def __init__(self, reader: BagReader, options: EvaluationOptions,
                 make_segmenter: Callable[[], object], writer: BagWriter | None) -> None:
        self.reader, self.options, self.writer = reader, options, writer
        self.make_segmenter = make_segmenter
        self.segmenter = self.scorer = None
        self.problems = 0
        self.latency = LatencyLog()
        self.frame_log: list[dict] = []
        self.skipped: Counter[str] = Counter()
        self.labels_read = self.bad_labels = self.unmatched_labels = 0
        self.matcher = StampMatcher(options.tolerance_ns)
        self.tiles: dict[int, tuple[np.ndarray, str]] = {}
        self.tile_stride = 1

    def problem(self, text: str) -> None:
        self.problems += 1
        if self.problems <= MAX_PRINTED_PROBLEMS:
            self.options.say(text)

    def on_label(self, message) -> None:
        self.labels_read += 1
        try:
            msg = self.reader.decode(message)
            target = image_to_labels(msg)
        except Exception as error:  # noqa: BLE001 - a bad label is reported, not fatal
            self.bad_labels += 1
            self.problem(f'label {self.labels_read - 1} on {message.topic}: skipped: {error}')
            return
        self.settle(self.matcher.add_label(stamp_to_ns(msg.header.stamp),
                                           message.log_time_ns, target))

    def on_image(self, message, with_ground_truth: bool) -> None:
        entry = {'index': len(self.frame_log), 'stamp_ns': None}
        self.frame_log.append(entry)
        started = time.perf_counter()
        try:
            msg = self.reader.decode(message)
            entry['stamp_ns'] = stamp_to_ns(msg.header.stamp)
            rgb = image_to_rgb(msg)
        except Exception as error:  # noqa: BLE001 - per-frame report, go on
            self.skipped[skip_reason(error)] += 1
            entry.update(status='skipped', reason=str(error))
            self.problem(f'frame {entry["index"]}: skipped: {error}')
            return
        decode_ms = 1e3 * (time.perf_counter() - started)
        if self.segmenter is None:
            self.segmenter = self.make_segmenter()
            self.scorer = Scorer(self.segmenter.classes.names,
                                 self.segmenter.meta.ignore_index,
                                 truth_groups=self.segmenter.class_groups)
        want_tile = (entry['index'] % self.tile_stride == 0
                     and len(self.tiles) < self.options.contact_frames)
        result = self.segmenter.segment(rgb, want_overlay=want_tile or bool(self.writer))
        total_ms = decode_ms + result.timings_ms['total']
        self.latency.add({'decode': decode_ms, **result.timings_ms, 'frame_total': total_ms})
        entry.update(status='processed', latency_ms=round(total_ms, 3))
        if want_tile:
            self.tiles[entry['index']] = (result.overlay,
                                          f'#{entry["index"]}  t={entry["stamp_ns"] / 1e9:.3f}')
        if self.writer is not None:
            image_class = WRITE_TYPES.types[topics.IMAGE_TYPE]
            for topic, pixels in ((topics.BAG_PREDICTIONS, result.labels),
                                  (topics.BAG_OVERLAY, result.overlay)):
                self.writer.write(topic, message.log_time_ns, array_to_image(
                    pixels, msg.header, message_class=image_class))
        if with_ground_truth:
            self.settle(self.matcher.add_frame(entry['stamp_ns'], message.log_time_ns,
                                               (entry, result.labels)))

    def settle(self, events) -> None:
        """Score matched pairs; mark what the matcher gave up on."""
        for event in events:
            if event.kind == 'label_unmatched':
                self.unmatched_labels += 1
            elif event.kind == 'frame_unmatched':
                event.frame[0]['ground_truth'] = False
            else:
                entry, prediction = event.frame
                scores = self.scorer.add(event.label, prediction)
                entry['ground_truth'] = scores is not None
                if scores is None:
                    self.problem(f'frame {entry["index"]}: ground truth is '
                                 f'{event.label.shape}, the frame {prediction.shape}; '
                                 'not scored')
                else:
                    entry.update(scores)


def evaluate_bag(bag_path: str | Path, make_segmenter: Callable[[], object],
                 options: EvaluationOptions | None = None) -> Evaluation:
    """Run the engine over a bag.

    Args:
        bag_path: a rosbag2 folder or a bare .mcap/.db3 file.
        make_segmenter: returns a ``sgcp_core.engine.Segmenter``; called at the first
            decodable frame.
        options: topics, matching tolerance, outputs.

    Raises:
        BagError: the bag is damaged or unreadable, or a topic is missing (the message
            lists the bag's topics).
    """
    options = options or EvaluationOptions()
    with BagReader(bag_path) as reader, ExitStack() as outputs:
        image_topic, label_topic = reader.image_topics(
            options.image_topic, options.label_topic, topics.BAG_IMAGE, topics.BAG_LABELS)
        writer = None
        if options.write_bag is not None:
            writer = outputs.enter_context(BagWriter(options.write_bag,
                                                     options.write_storage))
            for topic, msgtype in reader.topics.items():
                writer.add_topic(topic, msgtype, reader.typestore)
        run = _Run(reader, options, make_segmenter, writer)
        expected = reader.message_counts.get(image_topic, 0)
        expected = min(expected, options.max_frames or expected)
        run.tile_stride = max(1, expected // max(1, options.contact_frames))
        # With an output bag every topic is copied; otherwise only two are read.
        wanted = None if writer is not None else {image_topic, label_topic} - {None}
        for message in reader.messages(wanted):
            if writer is not None:
                writer.write_raw(message.topic, message.log_time_ns, message.data)
            if message.topic == label_topic:
                run.on_label(message)
            elif message.topic == image_topic:
                if not options.max_frames or len(run.frame_log) < options.max_frames:
                    run.on_image(message, label_topic is not None)
                elif writer is None:
                    break
        run.settle(run.matcher.flush())
        storage, image_type = reader.storage, reader.topics[image_topic]
    if run.problems > MAX_PRINTED_PROBLEMS:
        options.say(f'... {run.problems - MAX_PRINTED_PROBLEMS} more problems (all are in '
                    'the report)')
    segmenter = run.segmenter
    log = run.frame_log
    processed = sum(entry['status'] == 'processed' for entry in log)
    scored = sum(bool(entry.get('ground_truth')) for entry in log)
    tiles = [(overlay, caption + (f'  mIoU {log[index]["miou"]:.1f}%'
                                  if log[index].get('miou') is not None else ''))
             for index, (overlay, caption) in sorted(run.tiles.items())]
    report = {
        'tool': 'evaluate_bag',
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'bag': str(bag_path), 'storage': storage,
        'image_topic': image_topic, 'image_type': image_type, 'label_topic': label_topic,
        'stamp_tolerance_ms': options.tolerance_ns / 1e6,
        'engine': None if segmenter is None else {
            'model': str(segmenter.model_path), 'backend': segmenter.backend_name,
            'device': segmenter.device, 'input_size': list(segmenter.input_size),
            'label_mode': segmenter.label_mode, 'description': segmenter.describe()},
        'frames': {
            'images_read': len(log), 'processed': processed,
            'skipped': sum(run.skipped.values()), 'skipped_by_reason': dict(run.skipped),
            'evaluated_with_ground_truth': scored,
            'without_ground_truth': processed - scored,
            'labels_read': run.labels_read, 'labels_unmatched': run.unmatched_labels,
            'labels_bad': run.bad_labels},
        'metrics': None if run.scorer is None else run.scorer.summary(),
        'latency_ms': run.latency.stats(),
        'frame_log': log,
    }
    return Evaluation(report, run.latency.samples, tiles,
                      None if segmenter is None else segmenter.classes.palette)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog='evaluate_bag',
        description='Offline evaluation of the segmentation engine on a rosbag2 bag: mIoU, '
                    'per-class IoU and pixel accuracy against a ground-truth label topic '
                    '(paired by header stamp), per-stage latency and frame counts; writes '
                    'report.json, iou.png, latency.png and contact_sheet.png.',
        epilog='examples:\n'
               '  evaluate_bag camvid_val --model best.pt\n'
               '  evaluate_bag drive.mcap --image-topic /front/image_raw/compressed '
               '--label-topic "" --write-bag drive_segmented',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('bag', type=Path, help='rosbag2 folder, or a .mcap/.db3 file')
    add_bag_topic_arguments(parser)
    parser.add_argument('--out', type=Path,
                        help='new folder for report.json and the plots (default: '
                             '<bag>_eval in the working directory)')
    parser.add_argument('--contact-frames', type=int, default=12,
                        help='overlays on the contact sheet (default: %(default)s)')
    parser.add_argument('--write-bag', type=Path,
                        help='also write a bag with every input topic plus predicted labels '
                             f'({topics.BAG_PREDICTIONS}) and overlays ({topics.BAG_OVERLAY})')
    parser.add_argument('--write-storage', default='mcap', choices=STORAGE_CHOICES)
    add_engine_arguments(parser)
    return parser


def write_outputs(evaluation: Evaluation, out: Path, title: str) -> list[Path]:
    """report.json, iou.png, latency.png and contact_sheet.png in ``out``."""
    report = evaluation.report
    written = [write_json(out / 'report.json', report)]
    if report['metrics'] is not None:
        written.append(plot_iou(report['metrics'], out / 'iou.png', f'{title}: '
                                f'{report["frames"]["evaluated_with_ground_truth"]} frames',
                                evaluation.palette))
    samples = evaluation.latency_samples
    if samples:
        stages = ('decode', 'preprocess', 'inference', 'postprocess', 'frame_total')
        written.append(plot_latency_histogram(
            {stage: samples[stage] for stage in stages if stage in samples},
            out / 'latency.png', f'{title}: per-frame latency'))
    if evaluation.tiles:
        written.append(contact_sheet(evaluation.tiles, out / 'contact_sheet.png'))
    return written


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        from sgcp_core.engine import Segmenter
        from sgcp_core.metrics import format_iou_table
        out = new_output(args.out or Path(f'{args.bag.name.rsplit(".", 1)[0]}_eval'), '--out')
        options = EvaluationOptions(
            image_topic=args.image_topic, label_topic=args.label_topic,
            tolerance_ns=round(args.stamp_tolerance_ms * 1e6), max_frames=args.max_frames,
            contact_frames=args.contact_frames,
            write_bag=new_output(args.write_bag, '--write-bag'),
            write_storage=args.write_storage)
        config = engine_config_from_args(args)
        evaluation = evaluate_bag(args.bag, lambda: Segmenter(config), options)
        report = evaluation.report
        frames = report['frames']
        print(f'{args.bag} ({report["storage"]}): {report["image_topic"]} '
              f'({report["image_type"]}), ground truth {report["label_topic"] or "none"}')
        if report['engine']:
            print(f'engine: {report["engine"]["description"]}')
        if report['metrics'] is not None:
            print(format_iou_table(report['metrics']))
        elif report['label_topic']:
            print('no frame was paired with ground truth: no IoU (see frames below)')
        print(format_latency_table(report['latency_ms']))
        print(format_counts(frames))
        written = write_outputs(evaluation, out, args.bag.name)
        print('wrote ' + ', '.join(str(p) for p in written))
        if args.write_bag is not None:
            print(f'wrote {args.write_bag}: input topics + {topics.BAG_PREDICTIONS} (mono8) '
                  f'+ {topics.BAG_OVERLAY} (rgb8)')
        if not frames['processed']:
            raise CommandError(f'no frame of {report["image_topic"]} could be evaluated: '
                               f'{frames["images_read"]} read, skipped by reason '
                               f'{frames["skipped_by_reason"]}')
        return 0

    return run_command('evaluate_bag', run)


if __name__ == '__main__':
    sys.exit(main())
