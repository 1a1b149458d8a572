# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the bag commands share: their options, reading frames with their ground
truth, scoring."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sgcp_core.cli import ArgumentParser
from sgcp_core.cli.arg_types import in_range, non_negative_int
from sgcp_ros import topics
from sgcp_ros.bag.bagfile import VERIFIED, BagReader, RawMessage, stamp_to_ns
from sgcp_ros.images import ImageConversionError, image_to_labels, image_to_rgb
from sgcp_ros.stamp_matching import LABEL_UNMATCHED, MATCHED, StampMatcher

__all__ = ['topic_name', 'command_parser', 'bag_parser', 'options_from',
           'BagOptions', 'Frame', 'FrameStream', 'Scorer']

MAX_PRINTED_PROBLEMS = 20
# A ROS 2 topic name: tokens of letters, digits and underscores, not starting with a digit,
# separated by single slashes; '~' may start it.
_TOPIC = re.compile(r'~?/?(?:[A-Za-z_][A-Za-z0-9_]*)(?:/[A-Za-z_][A-Za-z0-9_]*)*')


def topic_name(text: str) -> str:
    """argparse type: a valid ROS 2 topic name."""
    if not _TOPIC.fullmatch(text):
        raise argparse.ArgumentTypeError(f'{text!r} is not a valid ROS topic name (letters, '
                                         'digits and _ between single slashes)')
    return text


def command_parser(prog: str, description: str, examples: Sequence[str]) -> ArgumentParser:
    """A bag command's parser, its examples after the options."""
    return ArgumentParser(prog=prog, description=description,
                          epilog='examples:\n' + '\n'.join(f'  {e}' for e in examples),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def bag_parser(prog: str, description: str, examples: Sequence[str],
               force: str) -> ArgumentParser:
    """The parser of a command that reads frames and ground truth from a bag: the bag,
    --image-topic, --label-topic, --stamp-tolerance-ms, --max-frames and --force."""
    parser = command_parser(prog, description, examples)
    parser.add_argument('bag', type=Path, help='rosbag2 folder, or a .mcap/.db3 file')
    parser.add_argument('--image-topic', type=topic_name, help='camera topic (default: '
                        f'{topics.BAG_IMAGE}, or the bag\'s only Image/CompressedImage topic)')
    parser.add_argument('--label-topic', type=lambda t: t and topic_name(t),
                        help=f'ground-truth mono8 topic (default: {topics.BAG_LABELS} if '
                             'present; "" for none)')
    parser.add_argument('--stamp-tolerance-ms', type=in_range(float, 0, 3.6e6),
                        default=1.0, help='largest stamp difference that pairs a label with '
                                          'a frame (default: %(default)s)')
    parser.add_argument('--max-frames', type=non_negative_int, default=0,
                        help='stop after N frames of the image topic (default: all)')
    parser.add_argument('--force', action='store_true', help=f'replace existing {force}')
    return parser


def options_from(kind: type, source, **more):
    """A ``kind`` dataclass from the attributes of ``source`` (parsed arguments, a
    scenario) that share its fields' names, and ``more``."""
    names = {f.name for f in dataclasses.fields(kind)} - set(more)
    return kind(**{name: getattr(source, name) for name in names if hasattr(source, name)},
                **more)


def say(text: str) -> None:
    """Progress and per-frame problems: on stderr, apart from the report."""
    print(text, file=sys.stderr)


@dataclass
class BagOptions:
    """What every command that reads frames from a bag takes (``bag_parser``'s options);
    topics None = make_bag's where present, label_topic '' = none."""

    image_topic: str | None = None
    label_topic: str | None = None
    stamp_tolerance_ms: float = 1.0
    max_frames: int = 0
    force: bool = False              # an output bag may replace an existing one


@dataclass
class Frame:
    """A decodable frame of the image topic and its ground truth, once settled."""

    message: RawMessage
    entry: dict                      # its frame_log entry
    image: object                    # the decoded sensor_msgs message
    rgb: np.ndarray
    decode_ms: float
    truth: np.ndarray | None = None  # ground-truth class ids, where a label paired
    settled: bool = False            # no label can pair any more


class FrameStream:
    """The frames of a bag's image topic in bag order, each with its ground truth.

    Opening says the bag's integrity where unverified and checks the topics. A frame is
    yielded once the stamp matcher has settled it (its label read, or given up), which is
    at the next message in a bag whose labels follow their frames. A message that fails to
    deserialize or decode is counted and logged, never yielded or scored.
    """

    def __init__(self, reader: BagReader, options: BagOptions,
                 say: Callable[[str], None]) -> None:
        if reader.integrity != VERIFIED:
            say(f'integrity: {reader.path} ({reader.storage}) has no CRCs, so damage inside a '
                'message cannot be detected; a message that fails to decode is skipped and '
                'counted')
        self.image_topic, self.label_topic = reader.image_topics(options.image_topic,
                                                                 options.label_topic)
        self.reader, self.say, self.max_frames = reader, say, options.max_frames
        self.matcher = StampMatcher(round(options.stamp_tolerance_ms * 1e6))
        self.log: list[dict] = []
        self.skipped: Counter[str] = Counter()
        self.labels_read = self.labels_bad = self.labels_unmatched = self.problems = 0

    def problem(self, text: str) -> None:
        self.problems += 1
        if self.problems <= MAX_PRINTED_PROBLEMS:
            self.say(text)
        elif self.problems == MAX_PRINTED_PROBLEMS + 1:
            self.say('... more problems: every one is in the report')

    def counts(self) -> dict:
        return {'images_read': len(self.log), 'skipped': sum(self.skipped.values()),
                'skipped_by_reason': dict(self.skipped), 'labels_read': self.labels_read,
                'labels_unmatched': self.labels_unmatched, 'labels_bad': self.labels_bad}

    def frames(self, copy: Callable[[RawMessage], object] | None = None) -> Iterator[Frame]:
        """Frames as they settle; ``copy`` is given every message of every topic."""
        waiting: deque[Frame] = deque()
        wanted = None if copy else {self.image_topic, self.label_topic} - {None}
        for message in self.reader.messages(wanted):
            if copy is not None:
                copy(message)
            if message.topic == self.label_topic:
                self._settle(self._label(message))
            elif message.topic == self.image_topic:
                if self.max_frames and len(self.log) >= self.max_frames:
                    if copy is None:
                        break
                    continue
                frame = self._image(message)
                if frame is None:
                    continue
                waiting.append(frame)
                if self.label_topic is None:
                    frame.settled = True
                else:
                    self._settle(self.matcher.add_frame(frame.entry['stamp_ns'],
                                                        message.log_time_ns, frame))
            while waiting and waiting[0].settled:
                yield waiting.popleft()
        self._settle(self.matcher.flush())
        yield from waiting

    def _image(self, message: RawMessage) -> Frame | None:
        entry = {'index': len(self.log), 'stamp_ns': None}
        self.log.append(entry)
        started = time.perf_counter()
        try:
            image = self.reader.decode(message)
            entry['stamp_ns'] = stamp_to_ns(image.header.stamp)
            rgb = image_to_rgb(image)
        except Exception as error:  # noqa: BLE001 - per-frame report, go on
            reason = ('undecodable record' if not isinstance(error, ImageConversionError)
                      else 'unsupported encoding' if error.unsupported else 'corrupt frame')
            self.skipped[reason] += 1
            entry.update(status='skipped', reason=str(error))
            self.problem(f'frame {entry["index"]}: skipped ({reason}): {error}')
            return None
        return Frame(message, entry, image, rgb, 1e3 * (time.perf_counter() - started))

    def _label(self, message: RawMessage) -> list:
        self.labels_read += 1
        try:
            label = self.reader.decode(message)
            truth = image_to_labels(label)
        except Exception as error:  # noqa: BLE001 - a bad label is reported, not fatal
            self.labels_bad += 1
            self.problem(f'label {self.labels_read - 1} on {message.topic}: skipped: {error}')
            return []
        return self.matcher.add_label(stamp_to_ns(label.header.stamp), message.log_time_ns,
                                      truth)

    def _settle(self, events) -> None:
        for event in events:
            if event.kind == LABEL_UNMATCHED:
                self.labels_unmatched += 1
                continue
            event.frame.settled = True
            if event.kind == MATCHED:
                event.frame.truth = event.label
            else:
                event.frame.entry['ground_truth'] = False


class Scorer:
    """IoU over a run (one confusion matrix) and each frame's mIoU and pixel accuracy.

    ``truth_groups``: the class groups (``sgcp_core.class_groups.ClassGroups``) the
    predictions went through, or None; ground truth in the model's classes is mapped through
    them, so both sides are scored in the output classes.
    """

    def __init__(self, class_names: Sequence[str], ignore_index: int = 255,
                 truth_groups=None) -> None:
        from sgcp_core.metrics import ConfusionMatrix
        self.new_matrix = lambda: ConfusionMatrix(len(self.class_names), ignore_index)
        self.class_names, self.truth_groups = list(class_names), truth_groups
        self.matrix, self.frames = self.new_matrix(), 0

    def add(self, entry: dict, target: np.ndarray, prediction: np.ndarray) -> bool:
        """Score (H, W) class ids into ``entry`` ('ground_truth', 'miou', 'pixel_accuracy'
        in percent); False where the shapes differ (not scored)."""
        entry['ground_truth'] = target.shape == prediction.shape
        if not entry['ground_truth']:
            return False
        if self.truth_groups is not None:
            target = self.truth_groups.apply(target)
        frame = self.new_matrix()
        frame.update(target, prediction)
        self.matrix.update(target, prediction)
        self.frames += 1
        entry.update(miou=_percent(frame.miou()), pixel_accuracy=_percent(
            frame.pixel_accuracy()))
        return True

    def summary(self) -> dict | None:
        """The run's mIoU, per-class IoU and pixel accuracy; None before the first frame."""
        return self.matrix.summary(self.class_names) if self.frames else None


def _percent(value: float) -> float | None:
    return round(100 * float(value), 3) if np.isfinite(value) else None
