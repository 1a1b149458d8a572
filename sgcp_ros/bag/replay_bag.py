# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``replay_bag``: play a bag's camera frames into the running segmentation node over DDS.

Frames are published exactly as recorded (the bag's CDR bytes, headers unchanged) at the
recorded rate, a multiple of it (``--rate``), or one at a time as fast as the node answers
(``--lockstep``). Each label map the node publishes is matched to its frame by header stamp
(the node copies the input header), which gives per-frame end-to-end latency (label
received - frame published, both on this machine's clock), throughput, the frames the node
dropped, and, where the bag has ground truth, the mIoU of what the node published.

A frame is sent only if ``sgcp_ros.images`` decodes it, the node's own decoder: a frame the
node would reject is reported as skipped (with the reason), never counted as a node drop.
Before the measured replay a probe frame (the first frame stamped 1 s earlier) is sent
until the node answers, so DDS discovery and first-frame costs are not counted as drops.

Each frame is scored as soon as its ground truth, the node's answer and the class list are
in, and both label maps are then let go: memory follows the frames in flight, not the
bag's length (see ``_Replay`` for what is held and for how long).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import time
from collections import Counter, deque
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sgcp_core.cli import ArgumentParser
from sgcp_core.errors import CommandError
from sgcp_core.files import write_json
from sgcp_core.timing import latency_stats
from sgcp_ros import topics
from sgcp_ros.bag.bagfile import (STORAGE_CHOICES, WRITE_TYPES, BagReader, BagWriter,
                                  make_header, stamp_to_ns)
from sgcp_ros.bag.common import (Scorer, add_bag_topic_arguments, new_output, run_command,
                                 skip_reason)
from sgcp_ros.bag.report import format_counts, format_latency_table
from sgcp_ros.images import image_to_labels, image_to_rgb
from sgcp_ros.ros_client import (LabelArrival, LabelListener, PrivateRosNode,
                                 use_large_message_profile)
from sgcp_ros.stamp_matching import FRAME_UNMATCHED, MATCHED, StampMatcher

__all__ = ['ReplayOptions', 'replay_bag', 'main']

PROBE_OFFSET_NS = 1_000_000_000
# How long to wait, once the node has answered, for its latched class_info.
CLASS_INFO_WAIT_S = 10.0
# Ground truth outlives its frame's answer window by this much: an answer received just
# inside the window may still be on its way through the executor thread to the replay.
HANDOFF_NS = 500_000_000


@dataclass
class ReplayOptions:
    """Topics, pacing and outputs of a replay (see ``build_parser`` for each meaning)."""

    image_topic: str | None = None
    label_topic: str | None = None
    publish_topic: str = topics.NODE_IMAGE
    node_labels_topic: str = topics.NODE_LABELS
    rate: float = 1.0
    lockstep: bool = False
    frame_timeout_s: float = 10.0
    wait_for_node_s: float = 60.0
    drain_s: float = 5.0
    max_frames: int = 0
    tolerance_ns: int = 1_000_000
    record: Path | None = None
    record_storage: str = 'mcap'
    classes: str = ''
    probe: bool = True


class _RosSide:
    """This process's node, spinning in the background: publishes frames and hears the
    node's labels (``LabelListener``), recording them if asked."""

    def __init__(self, options: ReplayOptions, image_type: str,
                 writer: BagWriter | None) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CompressedImage, Image
        self.options, self.writer = options, writer
        self.probe_stamp: int | None = None
        self.listener: LabelListener | None = None
        # Labels with their bytes, filled on the spinning thread, emptied by the replay
        # (take_labels); deque appends and pops are atomic, so no lock is needed.
        self._inbox: deque[LabelArrival] = deque()
        # No rclpy signal handlers: Ctrl-C raises KeyboardInterrupt here and we clean up.
        self.ros = PrivateRosNode('sgcp_bag_replay')
        message_class = CompressedImage if image_type == topics.COMPRESSED_IMAGE_TYPE else Image
        # A camera driver's QoS: what the node subscribes with.
        self.publisher = self.ros.node.create_publisher(message_class, options.publish_topic,
                                                        qos_profile_sensor_data)
        self.ros.spin_in_background()

    def _on_label(self, label: LabelArrival) -> None:
        """On the spinning thread: hand the label on, unscored (scoring a camera-sized map
        would hold up the executor), and record it."""
        self._inbox.append(label)
        if self.writer is not None and label.stamp_ns != self.probe_stamp:
            self.writer.write_raw(self.options.node_labels_topic, label.received_ns,
                                  label.data)

    def take_labels(self) -> list[LabelArrival]:
        """The labels heard since the last call, bytes included, in arrival order."""
        taken = []
        while self._inbox:
            taken.append(self._inbox.popleft())
        return taken

    def connect(self, timeout_s: float) -> None:
        """Wait for the node's label publisher and image subscription, then listen with
        the reliability the node offers (a reliable reader would not match a best-effort
        writer)."""
        from rclpy.qos import ReliabilityPolicy
        labels_topic = self.options.node_labels_topic
        deadline = time.monotonic() + timeout_s
        while not (writers := self.ros.node.get_publishers_info_by_topic(labels_topic)) or (
                self.publisher.get_subscription_count() == 0):
            if time.monotonic() > deadline:
                raise CommandError(
                    f'no segmentation node found within {timeout_s:g} s: '
                    f'{"a" if self.publisher.get_subscription_count() else "no"} subscriber '
                    f'on {self.options.publish_topic}, {"a" if writers else "no"} publisher '
                    f'of {labels_topic}. Start it first (segmentation_node, or ros2 launch '
                    'sgcp_ros segment.launch.py), on the same ROS_DOMAIN_ID, or pass '
                    '--publish-topic/--node-labels-topic to match its remapping')
            time.sleep(0.1)
        reliable = writers[0].qos_profile.reliability != ReliabilityPolicy.BEST_EFFORT
        # The listener keeps stamps and times only (latency, duplicates); the bytes go
        # through take_labels to the replay, which scores and drops them.
        self.listener = LabelListener(self.ros, labels_topic, reliable=reliable,
                                      on_label=self._on_label)
        # The probe frame then confirms the match (Humble's rclpy counts no matches).

    def publish(self, data: bytes) -> int:
        """Publish CDR bytes; returns the wall-clock ns just before handing them to DDS."""
        sent = time.time_ns()
        self.publisher.publish(data)
        return sent

    def probe(self, data: bytes, stamp: int, timeout_s: float) -> None:
        """Send the probe frame every second until the node answers it."""
        self.probe_stamp = stamp
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.publish(data)
            if self.listener.wait_for(lambda: stamp in self.listener.stamps, 1.0):
                time.sleep(0.3)  # answers to earlier copies may still be on their way
                return
        raise CommandError(f'the node is connected but answered no probe frame within '
                           f'{timeout_s:g} s (is it failing on every frame? see its log)')

    def close(self) -> None:
        self.ros.close()


class _Replay:
    """One replay: what was sent, skipped, answered and scored.

    Label maps (camera-sized: 690 KB at 720x960) are held only until their frame is scored:
    - ground truth waits for the node's answer ``answer_window_ns``, the longest the replay
      itself waits for a label (--drain; in lockstep --frame-timeout if longer), after the
      frame was sent. It is then let go: an answer received later still counts as answered
      (latency) but is not scored, so a node that drops frames does not pile up their
      ground truth;
    - an answer waits for its ground truth as long as the stamp matcher may still pair one
      (its window of bag time), as evaluate_bag's predictions do;
    - pairs wait for the class list (``_make_scorer``); any other label's bytes are dropped
      as soon as they are taken from the listener.
    """

    def __init__(self, reader: BagReader, options: ReplayOptions, say) -> None:
        self.reader, self.options, self.say = reader, options, say
        self.image_topic, self.label_topic = reader.image_topics(
            options.image_topic, options.label_topic, topics.BAG_IMAGE, topics.BAG_LABELS)
        self.matcher = StampMatcher(options.tolerance_ns)
        self.published: dict[int, int] = {}          # frame stamp -> wall ns at publish
        self.publish_lag_ms: list[float] = []
        self.skipped: Counter[str] = Counter()
        self.frame_log: list[dict] = []
        self.answer_window_ns = round(1e9 * max(
            options.drain_s, options.frame_timeout_s if options.lockstep else 0.0))
        self.scorer: Scorer | None = None
        self.scores: dict[int, dict | None] = {}     # frame stamp -> its scores (None: not)
        self.ground_truth: dict[int, object] = {}    # frame stamp -> label msg, unanswered
        self.answers: dict[int, bytes] = {}          # frame stamp -> answer, no truth yet
        self.pairs: list[tuple[int, object, bytes]] = []  # both in, no class list yet
        self.truth_pending: set[int] = set()         # frames the matcher may still pair
        self.answered: set[int] = set()              # frames whose first answer was taken
        self.late_answers = 0
        self.peak_held = 0                           # most label maps held at once
        self._first_answer_at: float | None = None   # monotonic
        self._told_no_class_info = False

    @property
    def held(self) -> int:
        """Label maps (ground truth or answers) held now, waiting to be scored."""
        return len(self.ground_truth) + len(self.answers) + 2 * len(self.pairs)

    def frames(self):
        """(message, stamp) of each frame the node's decoder accepts, ground truth paired
        on the way; every other frame is logged as skipped with its reason."""
        for message in self.reader.messages({self.image_topic, self.label_topic} - {None}):
            if message.topic == self.label_topic:
                try:
                    label = self.reader.decode(message)
                except Exception:  # noqa: BLE001 - an undecodable label scores nothing
                    continue
                self._keep(self.matcher.add_label(stamp_to_ns(label.header.stamp),
                                                  message.log_time_ns, label))
            else:
                entry = {'index': len(self.frame_log), 'stamp_ns': None}
                self.frame_log.append(entry)
                try:
                    msg = self.reader.decode(message)
                    entry['stamp_ns'] = stamp = stamp_to_ns(msg.header.stamp)
                    image_to_rgb(msg)   # what the node cannot decode is not sent
                except Exception as error:  # noqa: BLE001 - per-frame report, go on
                    self.skipped[skip_reason(error)] += 1
                    entry.update(status='skipped', reason=str(error))
                    self.say(f'frame {entry["index"]}: skipped: {error}')
                    continue
                if self.label_topic is not None:
                    self.truth_pending.add(stamp)
                self._keep(self.matcher.add_frame(stamp, message.log_time_ns, stamp))
                yield message, entry

    def _keep(self, events) -> None:
        """Pair matched ground truth with its frame's answer, or keep it for the answer;
        drop the answers of frames the matcher gave up on (no ground truth will come)."""
        for event in events:
            if event.kind == MATCHED:
                self.truth_pending.discard(event.frame)
                answer = self.answers.pop(event.frame, None)
                if answer is not None:
                    self.pairs.append((event.frame, event.label, answer))
                elif event.frame not in self.answered:   # else answered too late to score
                    self.ground_truth[event.frame] = event.label
            elif event.kind == FRAME_UNMATCHED:
                self.truth_pending.discard(event.frame)
                self.answers.pop(event.frame, None)
        self.peak_held = max(self.peak_held, self.held)

    def _take_answers(self, ros: _RosSide) -> None:
        """Pair each frame's first answer with its ground truth, or keep it while that may
        still come; the bytes of every other label are dropped here. Runs on this thread,
        after ``published`` has the stamp of every frame the node can have answered."""
        labels = ros.take_labels()
        self.peak_held = max(self.peak_held, self.held + len(labels))
        for label in labels:
            stamp = label.stamp_ns
            # Probe answers, unexpected stamps and duplicates (as report() counts them) are
            # not scored.
            if stamp == ros.probe_stamp or stamp not in self.published or (
                    stamp in self.answered):
                continue
            self.answered.add(stamp)
            if self._first_answer_at is None:
                self._first_answer_at = time.monotonic()
            if label.received_ns - self.published[stamp] > self.answer_window_ns:
                if self.label_topic is not None:
                    self.late_answers += 1
                self.ground_truth.pop(stamp, None)
            elif stamp in self.ground_truth:
                self.pairs.append((stamp, self.ground_truth.pop(stamp), label.data))
            elif stamp in self.truth_pending:
                self.answers[stamp] = label.data

    def _drain(self, ros: _RosSide, final: bool = False) -> None:
        """Take the node's answers, let go of ground truth whose answer is overdue and score
        every complete pair once the class list is known; ``final``: drop what is left."""
        self._take_answers(ros)
        horizon = time.time_ns() - self.answer_window_ns - HANDOFF_NS
        for stamp in [stamp for stamp in self.ground_truth
                      if self.published.get(stamp, horizon) < horizon]:
            del self.ground_truth[stamp]
        self._make_scorer(ros, final)
        if self.scorer is not None:
            for stamp, truth, answer in self.pairs:
                self.scores[stamp] = self._score(truth, answer)
            self.pairs.clear()
        if final:
            self.ground_truth.clear()
            self.answers.clear()
            self.pairs.clear()
            self.truth_pending.clear()

    def _make_scorer(self, ros: _RosSide, final: bool) -> None:
        """The scorer, once the class list is known: the node's class_info, which wins as it
        names the node's output classes, else --classes where no class_info has come
        CLASS_INFO_WAIT_S after the first answer (or by the end).

        Until then the pairs wait, unbounded: class_info comes on a DDS match of its own
        and can trail the labels by seconds, and every frame answered before it must still
        be scored. Only a node that never sends one, without --classes, lets them pile up
        for the whole replay; the user is told once, with the way out.
        """
        if self.scorer is not None or self.label_topic is None:
            return
        info = ros.listener.class_info
        waited = (self._first_answer_at is not None
                  and time.monotonic() - self._first_answer_at > CLASS_INFO_WAIT_S)
        if info is not None or (self.options.classes and (final or waited)):
            self.scorer = self._scorer(info)
        elif waited and not final and not self._told_no_class_info:
            self._told_no_class_info = True
            self.say(f'no class_info from the node {CLASS_INFO_WAIT_S:g} s after its first '
                     'label: holding the label maps until it comes (--classes scores them '
                     'as they come)')

    def _score(self, truth, answer: bytes) -> dict | None:
        """One frame's scores, added to the run's; None where it cannot be scored."""
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import Image
        try:
            prediction = image_to_labels(deserialize_message(answer, Image))
            return self.scorer.add(image_to_labels(truth), prediction)
        except Exception:  # noqa: BLE001 - counted as not scored
            return None

    def run(self, ros: _RosSide) -> None:
        options = self.options
        stream = self.frames()
        first = next(stream, None)
        if first is None:
            raise CommandError(f'{self.image_topic} in {self.reader.path} has no frame the '
                               'node can decode (see the skipped frames above)')
        if options.probe:
            probe_stamp = max(0, first[1]['stamp_ns'] - PROBE_OFFSET_NS)
            msg = self.reader.decode(first[0])
            msg.header = make_header(probe_stamp, msg.header.frame_id)
            ros.probe(bytes(WRITE_TYPES.serialize_cdr(msg, first[0].msgtype)), probe_stamp,
                      options.wait_for_node_s)
            self.say('node answered the probe frame; replaying')
        start_wall, first_log = time.monotonic(), first[0].log_time_ns
        for message, entry in itertools.chain([first], stream):
            if options.max_frames and len(self.published) >= options.max_frames:
                self.frame_log.remove(entry)   # read, never sent
                break
            stamp = entry['stamp_ns']
            if not options.lockstep:
                delay = (start_wall + (message.log_time_ns - first_log) / 1e9 / options.rate
                         - time.monotonic())
                time.sleep(max(0.0, delay))
                self.publish_lag_ms.append(max(0.0, -delay) * 1e3)
            self.published[stamp] = ros.publish(message.data)
            entry['status'] = 'published'
            if ros.writer is not None:
                ros.writer.write_raw(options.publish_topic, self.published[stamp],
                                     message.data)
            # Score what has come back while the node works on this frame: here, not on
            # the executor thread, and in the time before the next frame is due (it shows
            # in publish_lag only where scoring does not fit in it).
            self._drain(ros)
            if options.lockstep:
                ros.listener.wait_for(lambda: stamp in ros.listener.stamps,
                                      options.frame_timeout_s)
        # Let the last frames come back; frames the node dropped never will.
        ros.listener.wait_for(lambda: self.published.keys() <= ros.listener.stamps,
                              options.drain_s)
        self._keep(self.matcher.flush())
        if self.label_topic is not None and not options.classes:
            # The latched class_info (the scorer's class list) comes on a DDS match of its
            # own, which on a loaded machine can trail the labels' by seconds.
            if not ros.listener.wait_for(lambda: ros.listener.class_info is not None,
                                         CLASS_INFO_WAIT_S):
                self.say(f'no class_info from the node within {CLASS_INFO_WAIT_S:g} s')
        # A label heard after this comes too late to be scored (the waits above took at
        # least the answer window since any unanswered frame was sent): none is lost.
        self._drain(ros, final=True)
        if self.late_answers:
            self.say(f'{self.late_answers} frames were answered more than '
                     f'{self.answer_window_ns / 1e9:g} s after they were sent: counted as '
                     'answered, not scored (their ground truth is not kept that long)')

    def report(self, ros: _RosSide, profile: str | None) -> dict:
        """The JSON-ready report; fills each frame's status, latency and scores."""
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
        info = ros.listener.class_info
        scorer, note = self.scorer, None
        for entry in self.frame_log:
            stamp = entry['stamp_ns']
            if entry['status'] != 'published':
                continue
            entry['status'] = 'answered' if stamp in latency_ms else 'dropped'
            entry['latency_ms'] = latency_ms.get(stamp)
            if stamp in self.scores:
                scores = self.scores[stamp]
                entry['ground_truth'] = scores is not None
                entry.update(scores or {})
        if self.label_topic is None:
            note = 'the bag has no ground-truth topic'
        elif scorer is None:
            note = 'no class list: nothing on the node\'s class_info topic; pass --classes'
        elif not scorer.frames:
            note = 'no published label had ground truth'
        received = [label.received_ns for label in ros.listener.arrivals
                    if label.stamp_ns in latency_ms]
        sent = sorted(self.published.values())
        span_s = (max(received) - sent[0]) / 1e9 if received else 0.0
        publish_span_s = (sent[-1] - sent[0]) / 1e9 if len(sent) > 1 else 0.0
        return {
            'tool': 'replay_bag',
            'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
            'bag': str(self.reader.path), 'image_topic': self.image_topic,
            'label_topic': self.label_topic, 'publish_topic': options.publish_topic,
            'node_labels_topic': options.node_labels_topic,
            'pacing': 'lockstep' if options.lockstep else f'{options.rate:g}x recorded rate',
            'dds_profile': profile or os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE'),
            'engine': {key: info.get(key) for key in ('model', 'backend', 'device',
                                                      'input_size')} if info else None,
            'frames': {
                'in_bag': self.reader.message_counts.get(self.image_topic, 0),
                'published': len(self.published),
                'skipped': sum(self.skipped.values()),
                'skipped_by_reason': dict(self.skipped),
                'answered': len(latency_ms),
                'dropped': len(self.published) - len(latency_ms),
                'unexpected_stamps': len(unexpected),
                'duplicate_labels': duplicates,
                'probe_labels': probes,
                'scored_with_ground_truth': 0 if scorer is None else scorer.frames},
            'throughput_hz': len(latency_ms) / span_s if span_s > 0 else None,
            'publish_rate_hz': (len(sent) - 1) / publish_span_s if publish_span_s > 0 else None,
            # publish_lag: how late each frame left against its schedule (rate pacing only).
            'latency_ms': {'end_to_end': latency_stats(list(latency_ms.values())),
                           **({} if options.lockstep
                              else {'publish_lag': latency_stats(self.publish_lag_ms)})},
            'metrics': None if scorer is None else scorer.summary(),
            'metrics_note': note,
            'unexpected_stamps': unexpected[:100],
            'frame_log': self.frame_log,
        }

    def _scorer(self, info: dict | None) -> Scorer | None:
        if self.label_topic is None:
            return None
        if info is not None:
            from sgcp_core.class_groups import ClassGroups
            from sgcp_core.classes import ClassInfo
            # A node running class groups publishes output classes: score in those.
            return Scorer(ClassInfo.from_dict(info).names,
                          truth_groups=ClassGroups.from_class_info(info))
        if self.options.classes:
            from sgcp_core.classes import load_class_info
            return Scorer(load_class_info(self.options.classes).names)
        return None


def replay_bag(bag_path: str | Path, options: ReplayOptions | None = None,
               say=print) -> dict:
    """Replay ``bag_path`` into a running node; the JSON-ready report.

    Raises:
        CommandError: no node found, or it answered nothing.
        BagError: the bag is damaged or a topic is missing (the message lists the topics).
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
            writer = outputs.enter_context(BagWriter(options.record, options.record_storage))
            writer.add_topic(options.publish_topic, image_type, reader.typestore)
            writer.add_topic(options.node_labels_topic, topics.IMAGE_TYPE)
        ros = _RosSide(options, image_type, writer)
        outputs.callback(ros.close)  # runs before the writer closes (ExitStack is LIFO)
        say(f'waiting up to {options.wait_for_node_s:g} s for the node '
            f'({options.publish_topic} -> {options.node_labels_topic})')
        ros.connect(options.wait_for_node_s)
        replay.run(ros)
        return replay.report(ros, profile)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog='replay_bag',
        description='Publish a bag\'s camera frames into the running segmentation node over '
                    'DDS and measure what comes back: end-to-end latency per frame (matched '
                    'by header stamp), throughput, dropped frames and, where the bag has '
                    'ground truth, the mIoU of the labels the node published.',
        epilog='examples:\n'
               '  segmentation_node --ros-args -p model_path:=best.pt &\n'
               '  replay_bag camvid_val                 # at the recorded rate\n'
               '  replay_bag camvid_val --rate 2        # twice as fast\n'
               '  replay_bag camvid_val --lockstep --record camvid_val_live',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('bag', type=Path, help='rosbag2 folder, or a .mcap/.db3 file')
    add_bag_topic_arguments(parser)
    parser.add_argument('--publish-topic', default=topics.NODE_IMAGE,
                        help='topic the node subscribes to (default: %(default)s); '
                             'CompressedImage frames go to <topic>/compressed')
    parser.add_argument('--node-labels-topic', default=topics.NODE_LABELS,
                        help='the node\'s label output (default: %(default)s)')
    pacing = parser.add_mutually_exclusive_group()
    pacing.add_argument('--rate', type=float, default=1.0,
                        help='multiple of the recorded rate (default: %(default)s)')
    pacing.add_argument('--lockstep', action='store_true',
                        help='send each frame when the previous one came back (as fast as '
                             'the node keeps up, nothing dropped by design)')
    parser.add_argument('--frame-timeout', type=float, default=10.0,
                        help='lockstep: seconds to wait for each label (default: %(default)s)')
    parser.add_argument('--wait-for-node', type=float, default=60.0,
                        help='seconds to wait for the node to appear (default: %(default)s)')
    parser.add_argument('--drain', type=float, default=5.0,
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
    parser.add_argument('--no-probe', action='store_true',
                        help='start without first waiting for an answer to a probe frame')
    return parser


def options_from_args(args: argparse.Namespace) -> ReplayOptions:
    return ReplayOptions(
        image_topic=args.image_topic, label_topic=args.label_topic,
        publish_topic=args.publish_topic, node_labels_topic=args.node_labels_topic,
        rate=args.rate, lockstep=args.lockstep, frame_timeout_s=args.frame_timeout,
        wait_for_node_s=args.wait_for_node, drain_s=args.drain, max_frames=args.max_frames,
        tolerance_ns=round(args.stamp_tolerance_ms * 1e6),
        record=new_output(args.record, '--record'), record_storage=args.record_storage,
        classes=args.classes, probe=not args.no_probe)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        from sgcp_core.metrics import format_iou_table
        new_output(args.json, '--json')
        report = replay_bag(args.bag, options_from_args(args),
                            say=lambda text: print(text, file=sys.stderr))
        frames = report['frames']
        print(f'{args.bag}: {report["image_topic"]} -> {report["publish_topic"]} '
              f'({report["pacing"]}); node labels on {report["node_labels_topic"]}')
        if report['metrics'] is not None:
            print(format_iou_table(report['metrics']))
        else:
            print(f'no mIoU: {report["metrics_note"]}')
        print(format_latency_table(report['latency_ms']))
        rates = {key: 'n/a' if report[key] is None else f'{report[key]:.2f}'
                 for key in ('throughput_hz', 'publish_rate_hz')}
        print(format_counts({**frames, **rates}))
        if args.json is not None:
            write_json(args.json, report)
            print(f'wrote {args.json}')
        if args.record is not None:
            print(f'wrote {args.record}: {report["publish_topic"]} (published frames) + '
                  f'{report["node_labels_topic"]} (node labels)')
        if not frames['answered']:
            raise CommandError(f'the node answered none of the {frames["published"]} frames '
                               'within the timeouts')
        return 0

    return run_command('replay_bag', run)


if __name__ == '__main__':
    sys.exit(main())
