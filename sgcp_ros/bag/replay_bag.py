# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``replay_bag``: play a bag's camera frames into the running segmentation node over DDS.

Frames leave as recorded (the bag's CDR bytes, headers unchanged), paced by the recorded
rate or one at a time (``--lockstep``); the node copies each input header onto its label
map, which pairs answers with frames by stamp. Before the paced loop everything is ready
(publisher matched, a probe frame answered, the scorer built), so the loop only publishes
and scores; a late frame moves the schedule instead of leaving in a burst that a node
keeping the newest frame would mostly drop. Answers are scored while the loop waits for the
next frame's time. Ground truth is held only for the frames in flight (until the answer,
or ``answer_window_ns`` after sending), answers until scored (at most MAX_UNSCORED).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sgcp_core.cli import run_command
from sgcp_core.cli.arg_types import in_range
from sgcp_core.errors import CommandError
from sgcp_core.files import new_output, write_json
from sgcp_core.timing import latency_stats
from sgcp_ros import topics
from sgcp_ros.bag.bagfile import STORAGE_CHOICES, WRITE_TYPES, BagReader, BagWriter, make_header
from sgcp_ros.bag.common import (BagOptions, FrameStream, Scorer, bag_parser, options_from,
                                 say, topic_name)
from sgcp_ros.bag.report import print_report
from sgcp_ros.images import image_to_labels
from sgcp_ros.node_process import use_large_message_profile

__all__ = ['ReplayOptions', 'replay_bag', 'main']

PROBE_OFFSET_NS = 1_000_000_000
CLASS_INFO_WAIT_S = 10.0   # for the node's latched class_info, once it has answered
# Ground truth outlives its frame's answer window by this much: an answer received just
# inside the window may still be on its way through the executor thread to the replay.
HANDOFF_NS = 500_000_000
MAX_UNSCORED = 64   # answers waiting to be scored (label map pairs) before scoring delays frames


@dataclass
class ReplayOptions(BagOptions):
    """Topics, pacing and outputs of a replay (the command's options)."""

    publish_topic: str = topics.NODE_IMAGE
    node_labels_topic: str = topics.NODE_LABELS
    rate: float = 1.0
    lockstep: bool = False
    frame_timeout_s: float = 10.0
    wait_for_node_s: float = 60.0
    drain_s: float = 5.0
    record: Path | None = None
    record_storage: str = 'mcap'
    classes: str = ''
    probe: bool = True


class _RosSide:
    """This process's node, spinning in the background: publishes frames and hears the
    node's labels (``LabelListener``), recording them if asked. ``node``: the node's
    process where this process started it (its exit ends every wait)."""

    def __init__(self, options: ReplayOptions, image_type: str, writer: BagWriter | None,
                 node=None) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CompressedImage, Image

        from sgcp_ros.ros_client import PrivateRosNode
        self.options, self.writer, self.node = options, writer, node
        self.probe_stamp: int | None = None
        self.listener = None
        # Labels with their bytes, filled on the spinning thread, emptied by the replay
        # (take_labels); deque appends and pops are atomic, so no lock is needed.
        self._inbox: deque = deque()
        self.ros = PrivateRosNode('sgcp_bag_replay')
        message_class = CompressedImage if image_type == topics.COMPRESSED_IMAGE_TYPE else Image
        # A camera driver's QoS: what the node subscribes with.
        self.publisher = self.ros.node.create_publisher(message_class, options.publish_topic,
                                                        qos_profile_sensor_data)
        self.ros.spin_in_background()

    def _on_label(self, label) -> None:   # on the spinning thread: no scoring here
        self._inbox.append(label)
        if self.writer is not None and label.stamp_ns != self.probe_stamp:
            self.writer.write_raw(self.options.node_labels_topic, label.received_ns,
                                  label.data)

    def take_labels(self) -> list:   # LabelArrivals, bytes included, since the last call
        return [self._inbox.popleft() for _ in range(len(self._inbox))]

    def _wait(self, condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if self.node is not None:
                self.node.check()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def connect(self, timeout_s: float) -> None:
        """Wait for the node's label publisher and image subscription, then listen with
        the reliability the node offers (the probe frame then confirms the match)."""
        from rclpy.qos import ReliabilityPolicy

        from sgcp_ros.ros_client import LabelListener
        topic, node = self.options.node_labels_topic, self.ros.node
        if not self._wait(lambda: node.get_publishers_info_by_topic(topic)
                          and self.publisher.get_subscription_count(), timeout_s):
            found = ('a' if self.publisher.get_subscription_count() else 'no',
                     'a' if node.get_publishers_info_by_topic(topic) else 'no')
            raise CommandError(
                f'no segmentation node found within {timeout_s:g} s: {found[0]} subscriber '
                f'on {self.options.publish_topic}, {found[1]} publisher of {topic}. Start it '
                'first (segmentation_node, or ros2 launch sgcp_ros segment.launch.py), on the '
                'same ROS_DOMAIN_ID, or pass --publish-topic/--node-labels-topic to match its '
                'remapping')
        # A reliable reader would not match a best-effort writer.
        reliable = (node.get_publishers_info_by_topic(topic)[0].qos_profile.reliability
                    != ReliabilityPolicy.BEST_EFFORT)
        self.listener = LabelListener(self.ros, topic, reliable=reliable,
                                      on_label=self._on_label)

    def publish(self, data: bytes) -> int:
        """Publish CDR bytes; the wall-clock ns just before handing them to DDS."""
        sent = time.time_ns()
        self.publisher.publish(data)
        return sent

    def probe(self, data: bytes, stamp: int, timeout_s: float) -> None:
        """Send the probe frame (the first one, stamped 1 s earlier) every second until the
        node answers it."""
        self.probe_stamp = stamp
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.publish(data)
            if self._wait(lambda: stamp in self.listener.stamps, 1.0):
                time.sleep(0.3)  # answers to earlier copies may still be on their way
                self.take_labels()
                return
        raise CommandError(f'the node is connected but answered no probe frame within '
                           f'{timeout_s:g} s (is it failing on every frame? see its log)')

    def close(self) -> None:
        self.ros.close()


class _Replay:
    """One replay: what was sent, skipped, answered and scored."""

    def __init__(self, reader: BagReader, options: ReplayOptions, say) -> None:
        self.reader, self.options, self.say = reader, options, say
        self.stream = FrameStream(reader, options, say)
        self.image_topic, self.label_topic = self.stream.image_topic, self.stream.label_topic
        self.published: dict[int, int] = {}          # frame stamp -> wall ns at publish
        self.publish_lag_ms: list[float] = []
        self.answer_window_ns = round(1e9 * max(
            options.drain_s, options.frame_timeout_s if options.lockstep else 0.0))
        self.scorer: Scorer | None = None
        self.metrics_note: str | None = None
        self.truth: dict[int, tuple] = {}           # stamp -> (frame log entry, truth)
        self.unscored: deque[tuple] = deque()        # (entry, truth, answer bytes)
        self.answered: set[int] = set()              # frames whose first answer was taken
        self.late_answers = self.peak_held = 0

    @property
    def held(self) -> int:   # label maps held: ground truth awaiting answers, pairs to score
        return len(self.truth) + 2 * len(self.unscored)

    def _take_answers(self, ros: _RosSide) -> None:
        """Pair each frame's first answer with its ground truth, to be scored; let go of
        ground truth whose answer is overdue. Runs on this thread only."""
        for label in ros.take_labels():
            stamp = label.stamp_ns
            if stamp not in self.published or stamp in self.answered:
                continue    # the probe's, unexpected or duplicate (report() counts them)
            self.answered.add(stamp)
            entry, truth = self.truth.pop(stamp, (None, None))
            if truth is None:
                continue
            if label.received_ns - self.published[stamp] > self.answer_window_ns:
                self.late_answers += 1
                continue
            self.unscored.append((entry, truth, label.data))
        horizon = time.time_ns() - self.answer_window_ns - HANDOFF_NS
        self.truth = {s: held for s, held in self.truth.items() if self.published[s] >= horizon}
        self.peak_held = max(self.peak_held, self.held)

    def _score(self, until: float | None = None) -> None:
        """Score waiting pairs until the monotonic time ``until`` (None: all); beyond
        MAX_UNSCORED, whatever the time."""
        while self.unscored and (until is None or time.monotonic() < until
                                 or len(self.unscored) > MAX_UNSCORED):
            entry, truth, answer = self.unscored.popleft()
            self.scorer.add(entry, truth, image_to_labels(
                WRITE_TYPES.deserialize_cdr(answer, topics.IMAGE_TYPE)))

    def _make_scorer(self, ros: _RosSide) -> None:
        """The scorer, before the paced loop: from the node's class_info (its output
        classes), else --classes; without either nothing is scored, as the note says."""
        if self.label_topic is None:
            self.metrics_note = 'the bag has no ground-truth topic'
            return
        ros.listener.wait_for(lambda: ros.listener.class_info is not None, CLASS_INFO_WAIT_S)
        info = ros.listener.class_info
        if info is not None:
            from sgcp_core.class_groups import ClassGroups
            from sgcp_core.classes import ClassInfo
            # A node running class groups publishes output classes: score in those.
            self.scorer = Scorer(ClassInfo.from_dict(info).names,
                                 truth_groups=ClassGroups.from_class_info(info))
        elif self.options.classes:
            from sgcp_core.classes import load_class_info
            self.scorer = Scorer(load_class_info(self.options.classes).names)
        else:
            self.metrics_note = ('no class list: nothing on the node\'s class_info topic within '
                                 f'{CLASS_INFO_WAIT_S:g} s; pass --classes')
            self.say(self.metrics_note)

    def run(self, ros: _RosSide) -> None:
        options = self.options
        stream = self.stream.frames()
        first = next(stream, None)
        if first is None:
            raise CommandError(f'{self.image_topic} in {self.reader.path} has no frame the '
                               'node can decode (see the skipped frames above)')
        if options.probe:
            msg, stamp = first.image, max(0, first.entry['stamp_ns'] - PROBE_OFFSET_NS)
            msg.header = make_header(stamp, msg.header.frame_id)
            ros.probe(bytes(WRITE_TYPES.serialize_cdr(msg, first.message.msgtype)), stamp,
                      options.wait_for_node_s)
            self.say('node answered the probe frame; replaying')
        self._make_scorer(ros)
        start_wall, first_log = time.monotonic(), first.message.log_time_ns
        for frame in itertools.chain([first], stream):
            stamp = frame.entry['stamp_ns']
            if not options.lockstep:
                due = start_wall + (frame.message.log_time_ns - first_log) / 1e9 / options.rate
                self._score(until=due - 0.005)
                delay = due - time.monotonic()
                time.sleep(max(0.0, delay))
                self.publish_lag_ms.append(max(0.0, -delay) * 1e3)
                start_wall += max(0.0, -delay)   # keep the recorded spacing after a stall
            if frame.truth is not None and self.scorer is not None:
                self.truth[stamp] = (frame.entry, frame.truth)
            self.published[stamp] = ros.publish(frame.message.data)
            frame.entry['status'] = 'published'
            if ros.writer is not None:
                ros.writer.write_raw(options.publish_topic, self.published[stamp],
                                     frame.message.data)
            self._take_answers(ros)
            if options.lockstep:
                self._score()
                ros.listener.wait_for(lambda: stamp in ros.listener.stamps,
                                      options.frame_timeout_s)
        # Let the last frames come back; frames the node dropped never will.
        ros.listener.wait_for(lambda: self.published.keys() <= ros.listener.stamps,
                              options.drain_s)
        self._take_answers(ros)
        self._score()
        self.truth.clear()
        if self.late_answers:
            self.say(f'{self.late_answers} frames were answered more than '
                     f'{self.answer_window_ns / 1e9:g} s after they were sent: counted as '
                     'answered, not scored (their ground truth is not kept that long)')

    def report(self, ros: _RosSide, profile: str | None) -> dict:
        """The JSON-ready report; fills in each frame's status and latency."""
        options = self.options
        latency_ms: dict[int, float] = {}
        unexpected, duplicates, probes = [], 0, 0
        for label in ros.listener.arrivals:
            stamp = label.stamp_ns
            if stamp == ros.probe_stamp:
                probes += 1
            elif stamp not in self.published:
                unexpected.append(stamp)
            elif stamp in latency_ms:
                duplicates += 1
            else:
                latency_ms[stamp] = (label.received_ns - self.published[stamp]) / 1e6
        for entry in self.stream.log:
            if entry.get('status') == 'published':
                entry['status'] = 'answered' if entry['stamp_ns'] in latency_ms else 'dropped'
                entry['latency_ms'] = latency_ms.get(entry['stamp_ns'])
        scored = 0 if self.scorer is None else self.scorer.frames
        if self.scorer is not None and not scored:
            self.metrics_note = 'no published label had ground truth'
        received = [label.received_ns for label in ros.listener.arrivals
                    if label.stamp_ns in latency_ms]
        sent = sorted(self.published.values())
        span_s = (max(received) - sent[0]) / 1e9 if received else 0.0
        publish_span_s = (sent[-1] - sent[0]) / 1e9 if len(sent) > 1 else 0.0
        info = ros.listener.class_info
        return {
            'tool': 'replay_bag',
            'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
            'bag': str(self.reader.path), 'integrity': self.reader.integrity,
            'image_topic': self.image_topic, 'label_topic': self.label_topic,
            'publish_topic': options.publish_topic,
            'node_labels_topic': options.node_labels_topic,
            'pacing': 'lockstep' if options.lockstep else f'{options.rate:g}x recorded rate',
            'dds_profile': profile or os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE'),
            'engine': {key: info.get(key) for key in ('model', 'backend', 'device',
                                                      'input_size')} if info else None,
            'frames': {
                'in_bag': self.reader.message_counts.get(self.image_topic, 0),
                **self.stream.counts(), 'published': len(self.published),
                'answered': len(latency_ms), 'dropped': len(self.published) - len(latency_ms),
                'unexpected_stamps': len(unexpected), 'duplicate_labels': duplicates,
                'probe_labels': probes, 'scored_with_ground_truth': scored},
            'throughput_hz': len(latency_ms) / span_s if span_s > 0 else None,
            'publish_rate_hz': (len(sent) - 1) / publish_span_s if publish_span_s > 0 else None,
            # publish_lag: how late each frame left against its schedule (rate pacing only).
            'latency_ms': {'end_to_end': latency_stats(list(latency_ms.values())),
                           **({} if options.lockstep
                              else {'publish_lag': latency_stats(self.publish_lag_ms)})},
            'metrics': None if self.scorer is None else self.scorer.summary(),
            'metrics_note': self.metrics_note,
            'unexpected_stamps': unexpected[:100],
            'frame_log': self.stream.log,
        }


def replay_bag(bag_path: str | Path, options: ReplayOptions | None = None, say=say,
               node=None) -> dict:
    """Replay ``bag_path`` into a running node; the JSON-ready report. ``node``: a
    ``sgcp_ros.node_process.NodeProcess`` this process started, whose exit ends the waits.

    Raises:
        CommandError: no node found, or it answered nothing.
        BagError: the bag is damaged or a topic is missing (the message lists the topics).
        NodeProcessError: ``node`` exited.
    """
    options = options or ReplayOptions()
    if not options.lockstep and options.rate <= 0:
        raise CommandError(f'--rate must be > 0 (or use --lockstep), got {options.rate}')
    profile = use_large_message_profile()
    with BagReader(bag_path) as reader, ExitStack() as outputs:
        replay = _Replay(reader, options, say)
        image_type = reader.topics[replay.image_topic]
        if (image_type == topics.COMPRESSED_IMAGE_TYPE
                and not options.publish_topic.endswith('/compressed')):
            options = replay.options = dataclasses.replace(
                options, publish_topic=options.publish_topic + '/compressed')
            say(f'{replay.image_topic} holds CompressedImage: publishing on '
                f'{options.publish_topic} (the node\'s compressed transport)')
        writer = None
        if options.record is not None:
            writer = outputs.enter_context(BagWriter(options.record, options.record_storage,
                                                     options.force))
            writer.add_topic(options.publish_topic, image_type, reader.typestore)
            writer.add_topic(options.node_labels_topic, topics.IMAGE_TYPE)
        ros = _RosSide(options, image_type, writer, node)
        outputs.callback(ros.close)  # runs before the writer closes (ExitStack is LIFO)
        say(f'waiting up to {options.wait_for_node_s:g} s for the node '
            f'({options.publish_topic} -> {options.node_labels_topic})')
        ros.connect(options.wait_for_node_s)
        if replay.label_topic is not None:
            import torch   # the scorer's: one thread, beside the node it measures
            torch.set_num_threads(1)
        replay.run(ros)
        return replay.report(ros, profile)


def build_parser():
    parser = bag_parser(
        'replay_bag', 'Publish a bag\'s camera frames into the running segmentation node '
        'over DDS and measure what comes back: end-to-end latency per frame (matched by header '
        'stamp), throughput, dropped frames and, where the bag has ground truth, the mIoU of '
        'the labels the node published.',
        ['segmentation_node --ros-args -p model_path:=best.pt &',
         'replay_bag camvid_val                 # at the recorded rate',
         'replay_bag camvid_val --rate 2        # twice as fast',
         'replay_bag camvid_val --lockstep --record camvid_val_live'],
        force='--json and --record')
    parser.add_argument('--publish-topic', type=topic_name, default=topics.NODE_IMAGE,
                        help='topic the node subscribes to (default: %(default)s); '
                             'CompressedImage frames go to <topic>/compressed')
    parser.add_argument('--node-labels-topic', type=topic_name, default=topics.NODE_LABELS,
                        help='the node\'s label output (default: %(default)s)')
    pacing = parser.add_mutually_exclusive_group()
    pacing.add_argument('--rate', type=in_range(float, 1e-3, 1e3), default=1.0,
                        help='multiple of the recorded rate (default: %(default)s)')
    pacing.add_argument('--lockstep', action='store_true',
                        help='send each frame when the previous one came back (as fast as '
                             'the node keeps up, nothing dropped by design)')
    seconds = {'type': in_range(float, 0, 3600), 'metavar': 'SECONDS'}
    parser.add_argument('--frame-timeout', dest='frame_timeout_s', default=10.0, **seconds,
                        help='lockstep: seconds to wait for each label (default: %(default)s)')
    parser.add_argument('--wait-for-node', dest='wait_for_node_s', default=60.0, **seconds,
                        help='seconds to wait for the node to appear (default: %(default)s)')
    parser.add_argument('--drain', dest='drain_s', default=5.0, **seconds,
                        help='seconds to wait for labels after the last frame '
                             '(default: %(default)s)')
    parser.add_argument('--classes', default='',
                        help='class list for the mIoU if the node publishes no class_info '
                             '(camvid, cityscapes or a file)')
    parser.add_argument('--record', type=Path,
                        help='write the published frames and the node\'s labels to this '
                             'new bag')
    parser.add_argument('--record-storage', default='mcap', choices=STORAGE_CHOICES)
    parser.add_argument('--json', type=Path, help='write the report to this new JSON file')
    parser.add_argument('--no-probe', dest='probe', action='store_false',
                        help='start without first waiting for an answer to a probe frame')
    return parser


def _run(args) -> int:
    for path, option in ((args.json, '--json'), (args.record, '--record')):
        if path is not None:
            new_output(path, option, args.force)
    report = replay_bag(args.bag, options_from(ReplayOptions, args))
    print(f'{args.bag}: {report["image_topic"]} -> {report["publish_topic"]} '
          f'({report["pacing"]}); node labels on {report["node_labels_topic"]}')
    print_report(report, **{key: 'n/a' if report[key] is None else f'{report[key]:.2f}'
                            for key in ('throughput_hz', 'publish_rate_hz')})
    if args.json is not None:
        write_json(args.json, report)
        print(f'wrote {args.json}')
    if args.record is not None:
        print(f'wrote {args.record}: {report["publish_topic"]} (published frames) + '
              f'{report["node_labels_topic"]} (node labels)')
    if not report['frames']['answered']:
        raise CommandError(f'the node answered none of the {report["frames"]["published"]}'
                           ' frames within the timeouts')
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command('replay_bag', lambda: _run(build_parser().parse_args(argv)))


if __name__ == '__main__':
    sys.exit(main())
