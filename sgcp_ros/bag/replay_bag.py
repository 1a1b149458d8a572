# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``replay_bag``: play a bag's camera frames into the running segmentation node over DDS.

Frames are published exactly as recorded (the bag's CDR bytes, headers unchanged) at the
recorded rate, a multiple of it (``--rate``), or one at a time as fast as the node answers
(``--lockstep``). Every label map the node publishes is matched to the frame it came from by
header stamp, the node copies the input header, which gives per-frame end-to-end latency
(label received - frame published, both on this machine's clock), throughput, the frames the
node dropped, and, where the bag has ground truth, the mIoU of what the node actually
published. ``--record`` writes the published frames and the node's labels to a new bag.

Before the measured replay a probe frame (the first frame with its stamp moved 1 s earlier)
is sent until the node answers it, so DDS discovery and the node's first-frame costs are
not counted as drops. Labels with the probe stamp are left out of every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import struct
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sgcp_ros.bag.bag_io import STORAGE_CHOICES, BagReader, BagWriter
from sgcp_ros.bag.cli import CommandError, run_command
from sgcp_ros.bag.evaluate_bag import EvaluationOptions, resolve_topics
from sgcp_ros.bag.matching import StampMatcher
from sgcp_ros.bag.messages import (COMPRESSED_IMAGE_TYPE, IMAGE_TYPE, FrameError,
                                   deserialize, image_to_labels, image_to_rgb, make_header,
                                   serialize, stamp_to_ns)
from sgcp_ros.bag.report import format_counts, format_latency_table, latency_stats, write_json

__all__ = ['ReplayOptions', 'replay_bag', 'fastdds_profile', 'main']

DDS_PROFILE_NAME = 'fastdds_large_images.xml'
PROBE_OFFSET_NS = 1_000_000_000


@dataclass
class ReplayOptions:
    """Topics, pacing and outputs of a replay (see ``build_parser`` for each meaning)."""

    image_topic: str | None = None
    label_topic: str | None = None
    publish_topic: str = '/image'
    node_labels_topic: str = '/sgcp_segmentation/labels'
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


def fastdds_profile() -> Path | None:
    """The shipped Fast DDS profile for large images: source checkout, then install share."""
    candidates = [Path(__file__).resolve().parents[2] / 'config' / DDS_PROFILE_NAME]
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory('sgcp_ros')) / 'config'
                          / DDS_PROFILE_NAME)
    except Exception:  # noqa: BLE001 - not installed with colcon: no share directory
        pass
    return next((p for p in candidates if p.is_file()), None)


def _use_large_message_profile() -> str | None:
    """Point Fast DDS at the shipped profile unless the user chose a profile or another RMW.

    Camera frames of 512 KB and more do not fit Fast DDS's default shared-memory segment
    and stall over fragmented UDP; the profile must be set before the participant exists.
    """
    if os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp') != 'rmw_fastrtps_cpp':
        return None
    if os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE') or os.environ.get(
            'FASTRTPS_DEFAULT_PROFILES_FILE'):
        return None
    profile = fastdds_profile()
    if profile is not None:
        os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(profile)
        return str(profile)
    return None


class _Inbox:
    """What the executor thread received: raw CDR bytes with the middleware's receive time."""

    def __init__(self, writer: BagWriter | None, topic: str) -> None:
        self.lock = threading.Condition()
        self.labels: list[tuple[int, bytes]] = []        # (receive time ns, CDR)
        self.stamps: set[int] = set()                    # header stamps received
        self.probe_stamp: int | None = None              # not recorded
        self.class_info: str | None = None
        self._writer = writer
        self._topic = topic

    def on_label(self, data: bytes, info) -> None:
        received = info.get('received_timestamp', 0) or time.time_ns()
        stamp = _cdr_header_stamp_ns(data)
        with self.lock:
            self.labels.append((received, data))
            self.stamps.add(stamp)
            self.lock.notify_all()
        if self._writer is not None and stamp != self.probe_stamp:
            self._writer.write_raw(self._topic, received, data)

    def on_class_info(self, msg) -> None:
        with self.lock:
            self.class_info = msg.data
            self.lock.notify_all()

    def wait_for(self, predicate, timeout_s: float) -> bool:
        with self.lock:
            return self.lock.wait_for(predicate, timeout=max(0.0, timeout_s))


class _RosSide:
    """One rclpy context, node and executor thread for the replay."""

    def __init__(self, options: ReplayOptions, image_type: str, inbox: _Inbox,
                 labels_topic: str, class_info_topic: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import CompressedImage, Image
        self.rclpy = rclpy
        self.context = rclpy.Context()
        # No rclpy signal handlers: Ctrl-C raises KeyboardInterrupt here and we clean up.
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('sgcp_bag_replay', context=self.context)
        self.inbox = inbox
        self.labels_topic = labels_topic
        self.class_info_topic = class_info_topic
        self.publish_topic = options.publish_topic
        message_class = CompressedImage if image_type == COMPRESSED_IMAGE_TYPE else Image
        # A camera driver's QoS: what the node subscribes with (best effort, newest frames).
        self.publisher = self.node.create_publisher(message_class, options.publish_topic,
                                                    qos_profile_sensor_data)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self._spin, name='replay_executor',
                                         daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown races end the spin; nothing to report
            pass

    def connect(self, timeout_s: float) -> None:
        """Wait for the node's label publisher and image subscription, then subscribe with
        the reliability the node offers (a reliable reader would not match a best-effort
        writer)."""
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from std_msgs.msg import String
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            writers = self.node.get_publishers_info_by_topic(self.labels_topic)
            if writers and self.publisher.get_subscription_count() > 0:
                break
            time.sleep(0.1)
        else:
            has_reader = self.publisher.get_subscription_count() > 0
            raise CommandError(
                f'no segmentation node found within {timeout_s:g} s: '
                f'{"a" if has_reader else "no"} subscriber on {self.publish_topic}, '
                f'{"a" if self.node.get_publishers_info_by_topic(self.labels_topic) else "no"}'
                f' publisher of {self.labels_topic}. Start it first (segmentation_node, or '
                'ros2 launch sgcp_ros segment.launch.py), on the same ROS_DOMAIN_ID, or pass '
                '--publish-topic/--node-labels-topic to match its remapping')
        offered = writers[0].qos_profile.reliability
        reliability = (ReliabilityPolicy.BEST_EFFORT if offered == ReliabilityPolicy.BEST_EFFORT
                       else ReliabilityPolicy.RELIABLE)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=reliability)
        labels = self.node.create_subscription(Image, self.labels_topic, self.inbox.on_label,
                                               qos, raw=True)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(String, self.class_info_topic, self.inbox.on_class_info,
                                      latched)
        # Our label reader must be matched too before the first frame goes out.
        while labels.get_publisher_count() == 0:
            if time.monotonic() > deadline:
                raise CommandError(f'{self.labels_topic} has a publisher but it never matched '
                                   f'this reader ({reliability.name.lower()})')
            time.sleep(0.05)

    def publish(self, data: bytes) -> int:
        """Publish CDR bytes; returns the wall-clock ns just before handing them to DDS."""
        sent = time.time_ns()
        self.publisher.publish(data)
        return sent

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)
        self._spinner.join(timeout=5.0)


def _cdr_header_stamp_ns(data: bytes) -> int:
    """Header stamp of a CDR message whose first field is a std_msgs/Header.

    Read straight from the bytes (4-byte encapsulation, then int32 sec, uint32 nanosec) so
    the executor thread does almost nothing between receiving a label and the next one.
    """
    order = '<' if data[1] & 1 else '>'   # encapsulation 0x0001 = CDR little endian
    seconds, nanoseconds = struct.unpack_from(f'{order}iI', data, 4)
    return seconds * 1_000_000_000 + nanoseconds


def _restamped(data: bytes, msgtype: str, stamp_ns: int) -> bytes:
    msg = deserialize(data, msgtype)
    msg.header = make_header(stamp_ns, msg.header.frame_id)
    return serialize(msg)


def replay_bag(bag_path: str | Path, options: ReplayOptions | None = None,
               say=print) -> dict:
    """Replay ``bag_path`` into a running node; the JSON-ready report.

    Raises:
        CommandError: no node found, or it answered nothing.
        TopicNotFoundError: a topic is missing (the message lists the bag's topics).
    """
    options = options or ReplayOptions()
    if not options.lockstep and options.rate <= 0:
        raise CommandError(f'--rate must be > 0 (or use --lockstep), got {options.rate}')
    labels_topic = options.node_labels_topic
    class_info_topic = labels_topic.rsplit('/', 1)[0] + '/class_info'
    profile = _use_large_message_profile()
    published: dict[int, int] = {}         # stamp -> wall ns just before publishing
    publish_lag_ms: list[float] = []
    skipped: Counter[str] = Counter()
    skipped_log: list[dict] = []
    ground_truth: dict[int, tuple[str, bytes]] = {}   # frame stamp -> (msgtype, label CDR)
    probe_stamp = None
    with BagReader(bag_path) as reader, ExitStack() as outputs:
        image_topic, label_topic = resolve_topics(reader, EvaluationOptions(
            image_topic=options.image_topic, label_topic=options.label_topic))
        image_type = reader.topics[image_topic]
        if (image_type == COMPRESSED_IMAGE_TYPE
                and not options.publish_topic.endswith('/compressed')):
            # The node takes CompressedImage on image/compressed (subscribe_compressed).
            options = dataclasses.replace(options,
                                          publish_topic=options.publish_topic + '/compressed')
            say(f'{image_topic} holds CompressedImage: publishing on {options.publish_topic} '
                '(start the node with -p subscribe_compressed:=true)')
        writer = None
        if options.record is not None:
            writer = outputs.enter_context(BagWriter(options.record, options.record_storage))
            writer.add_topic(options.publish_topic, image_type)
            writer.add_topic(labels_topic, IMAGE_TYPE)
        inbox = _Inbox(writer, labels_topic)
        ros = _RosSide(options, image_type, inbox, labels_topic, class_info_topic)
        outputs.callback(ros.close)  # runs before the writer closes (ExitStack is LIFO)
        say(f'waiting up to {options.wait_for_node_s:g} s for the node '
            f'({options.publish_topic} -> {labels_topic})')
        ros.connect(options.wait_for_node_s)
        matcher = StampMatcher(options.tolerance_ns)

        def frames():
            """(message, stamp) of each decodable frame; ground truth recorded on the way."""
            index = 0
            for message in reader.messages({image_topic, label_topic} - {None}):
                if message.topic == label_topic:
                    try:
                        stamp = stamp_to_ns(deserialize(message.data, message.msgtype)
                                            .header.stamp)
                    except Exception:  # noqa: BLE001 - counted below as an unmatched label
                        continue
                    events = matcher.add_label(stamp, message.log_time_ns,
                                               (message.msgtype, message.data))
                else:
                    index += 1
                    try:
                        msg = deserialize(message.data, message.msgtype)
                        stamp = stamp_to_ns(msg.header.stamp)
                        image_to_rgb(msg)   # what the node could not decode is not sent
                    except Exception as error:  # noqa: BLE001 - per-frame report, go on
                        reason = (type(error).__name__ if isinstance(error, FrameError)
                                  else 'undecodable record')
                        skipped[reason] += 1
                        skipped_log.append({'index': index - 1, 'reason': str(error)})
                        say(f'frame {index - 1}: skipped: {error}')
                        continue
                    events = matcher.add_frame(stamp, message.log_time_ns, stamp)
                    yield message, stamp
                for event in events:
                    if event.kind == 'matched':
                        ground_truth[event.frame] = event.label

        stream = frames()
        first = next(stream, None)
        if first is None:
            raise CommandError(f'{image_topic} in {bag_path} has no frame this tool can send')
        if options.probe:
            probe_stamp = inbox.probe_stamp = max(0, first[1] - PROBE_OFFSET_NS)
            _probe(ros, inbox, _restamped(first[0].data, first[0].msgtype, probe_stamp),
                   probe_stamp, options.wait_for_node_s)
            say('node answered the probe frame; replaying')
        start_wall = time.monotonic()
        first_log = first[0].log_time_ns
        count = 0
        for message, stamp in _chain(first, stream):
            if options.max_frames and count >= options.max_frames:
                break
            if not options.lockstep:
                due = start_wall + (message.log_time_ns - first_log) / 1e9 / options.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                publish_lag_ms.append(max(0.0, -delay) * 1e3)
            published[stamp] = ros.publish(message.data)
            count += 1
            if writer is not None:
                writer.write_raw(options.publish_topic, published[stamp], message.data)
            if options.lockstep:
                inbox.wait_for(lambda: stamp in inbox.stamps, options.frame_timeout_s)
        # Let the last frames come back; frames the node dropped never will.
        inbox.wait_for(lambda: published.keys() <= inbox.stamps, options.drain_s)
        for event in matcher.flush():
            if event.kind == 'matched':
                ground_truth[event.frame] = event.label
        received = list(inbox.labels)
        class_info = inbox.class_info
        health = reader.health
        frames_in_bag = reader.message_counts.get(image_topic, 0)
    return _replay_report(bag_path, options, image_topic, label_topic, profile, published,
                          publish_lag_ms, received, probe_stamp, ground_truth, class_info,
                          skipped, skipped_log, health, frames_in_bag)


def _chain(first, rest):
    yield first
    yield from rest


def _probe(ros: _RosSide, inbox: _Inbox, data: bytes, stamp: int, timeout_s: float) -> None:
    """Send the probe frame every second until the node answers it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ros.publish(data)
        if inbox.wait_for(lambda: stamp in inbox.stamps, 1.0):
            # Answers to earlier copies may still be on their way: let them arrive now.
            time.sleep(0.3)
            return
    raise CommandError(f'the node is connected but answered no probe frame within '
                       f'{timeout_s:g} s (is it failing on every frame? see its log)')


def _replay_report(bag_path, options, image_topic, label_topic, profile, published,
                   publish_lag_ms, received, probe_stamp, ground_truth, class_info, skipped,
                   skipped_log, health, frames_in_bag) -> dict:
    from sgcp_core.metrics import ConfusionMatrix
    latency_ms: dict[int, float] = {}
    unexpected: list[int] = []
    duplicates = probes = 0
    first_label: dict[int, bytes] = {}
    receive_times = []
    for received_ns, data in received:
        stamp = _cdr_header_stamp_ns(data)
        if stamp == probe_stamp:
            probes += 1
            continue
        if stamp not in published:
            unexpected.append(stamp)
            continue
        if stamp in latency_ms:
            duplicates += 1
            continue
        latency_ms[stamp] = (received_ns - published[stamp]) / 1e6
        first_label[stamp] = data
        receive_times.append(received_ns)

    summary, scored, note = None, 0, None
    classes = None
    if class_info is not None:
        from sgcp_core.classes import ClassInfo
        classes = ClassInfo.from_dict(json.loads(class_info))
    elif options.classes:
        from sgcp_core.classes import load_class_info
        classes = load_class_info(options.classes)
    if label_topic is None:
        note = 'the bag has no ground-truth topic'
    elif classes is None:
        note = 'no class list: nothing on the node\'s class_info topic; pass --classes'
    else:
        matrix = ConfusionMatrix(classes.num_classes)
        for stamp, data in first_label.items():
            if stamp not in ground_truth:
                continue
            msgtype, target_data = ground_truth[stamp]
            try:
                prediction = image_to_labels(deserialize(data, IMAGE_TYPE))
                target = image_to_labels(deserialize(target_data, msgtype))
            except Exception:  # noqa: BLE001 - counted as not scored
                continue
            if prediction.shape == target.shape:
                matrix.update(target, prediction)
                scored += 1
        if scored:
            summary = matrix.summary(classes.names)
        else:
            note = 'no published label had ground truth'

    sent = sorted(published.values())
    span_s = ((max(receive_times) - sent[0]) / 1e9) if receive_times and sent else 0.0
    publish_span_s = (sent[-1] - sent[0]) / 1e9 if len(sent) > 1 else 0.0
    frame_log = [{'stamp_ns': stamp, 'latency_ms': latency_ms.get(stamp)}
                 for stamp in sorted(published, key=published.get)]
    return {
        'tool': 'replay_bag',
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'bag': str(bag_path),
        'image_topic': image_topic,
        'label_topic': label_topic,
        'publish_topic': options.publish_topic,
        'node_labels_topic': options.node_labels_topic,
        'pacing': 'lockstep' if options.lockstep else f'{options.rate:g}x recorded rate',
        'dds_profile': profile or os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE'),
        'frames': {
            'in_bag': frames_in_bag,
            'published': len(published),
            'skipped': sum(skipped.values()),
            'skipped_by_reason': dict(skipped),
            'answered': len(latency_ms),
            'dropped': len(published) - len(latency_ms),
            'unexpected_stamps': len(unexpected),
            'duplicate_labels': duplicates,
            'probe_labels': probes,
            'scored_with_ground_truth': scored,
        },
        'throughput_hz': len(latency_ms) / span_s if span_s > 0 else None,
        'publish_rate_hz': (len(sent) - 1) / publish_span_s if publish_span_s > 0 else None,
        # publish_lag: how late each frame left against its schedule (rate pacing only).
        'latency_ms': {'end_to_end': latency_stats(list(latency_ms.values())),
                       **({} if options.lockstep
                          else {'publish_lag': latency_stats(publish_lag_ms)})},
        'metrics': summary,
        'metrics_note': note,
        'unexpected_stamps': unexpected[:100],
        'skipped_frames': skipped_log,
        'read': health.to_dict(),
        'frame_log': frame_log,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser.add_argument('bag', type=Path, help='rosbag2 folder, or a .db3/.mcap file')
    parser.add_argument('--image-topic', help='camera topic in the bag (default: '
                        '/camera/image_raw, or the bag\'s only image topic)')
    parser.add_argument('--label-topic', help='ground-truth topic in the bag (default: '
                        '/camera/ground_truth if present; "" for none)')
    parser.add_argument('--publish-topic', default='/image',
                        help='topic the node subscribes to (default: %(default)s); '
                             'CompressedImage frames go to <topic>/compressed')
    parser.add_argument('--node-labels-topic', default='/sgcp_segmentation/labels',
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
    parser.add_argument('--max-frames', type=int, default=0, help='stop after N frames')
    parser.add_argument('--stamp-tolerance-ms', type=float, default=1.0,
                        help='ground truth pairing tolerance (default: %(default)s)')
    parser.add_argument('--classes', default='',
                        help='class list for the mIoU if the node publishes no class_info '
                             '(camvid, cityscapes or a file)')
    parser.add_argument('--record', type=Path,
                        help='write the published frames and the node\'s labels to this bag')
    parser.add_argument('--record-storage', default='mcap', choices=STORAGE_CHOICES)
    parser.add_argument('--json', type=Path, help='write the report to this JSON file')
    parser.add_argument('--no-probe', action='store_true',
                        help='start without first waiting for an answer to a probe frame')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        from sgcp_core.metrics import format_iou_table
        if args.record is not None and args.record.exists():
            raise CommandError(f'--record {args.record} exists already')
        options = ReplayOptions(
            image_topic=args.image_topic, label_topic=args.label_topic,
            publish_topic=args.publish_topic, node_labels_topic=args.node_labels_topic,
            rate=args.rate, lockstep=args.lockstep, frame_timeout_s=args.frame_timeout,
            wait_for_node_s=args.wait_for_node, drain_s=args.drain, max_frames=args.max_frames,
            tolerance_ns=round(args.stamp_tolerance_ms * 1e6), record=args.record,
            record_storage=args.record_storage, classes=args.classes,
            probe=not args.no_probe)
        report = replay_bag(args.bag, options,
                            say=lambda text: print(text, file=sys.stderr))
        frames = report['frames']
        print(f'{args.bag}: {report["image_topic"]} -> {report["publish_topic"]} '
              f'({report["pacing"]}); node labels on {report["node_labels_topic"]}')
        if report['metrics'] is not None:
            print(format_iou_table(report['metrics']))
        else:
            print(f'no mIoU: {report["metrics_note"]}')
        print(format_latency_table(report['latency_ms']))
        print(format_counts({
            **frames,
            'throughput_hz': _fmt(report['throughput_hz']),
            'publish_rate_hz': _fmt(report['publish_rate_hz'])}))
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


def _fmt(value) -> str:
    return 'n/a' if value is None else f'{value:.2f}'


if __name__ == '__main__':
    sys.exit(main())
