# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Live replay: a real CamVid bag published over DDS into the segmentation node process.

The node runs as its own process (``python -m sgcp_ros.segmentation_node``) and so does
``replay_bag`` (its Fast DDS profile must be set before the process's first participant).
Discovery stays on loopback in a private domain (test/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sgcp_ros.node_process import node_environment, start_node, stop

REPO = Path(__file__).resolve().parents[1]

NAMESPACE = '/sgcp_bag_replay'
LABELS_TOPIC = f'{NAMESPACE}/sgcp_segmentation/labels'
FRAMES = 5
NODE_STARTUP_S = 150       # python + torch + the model on two busy cores
REPLAY_TIMEOUT_S = 240

pytestmark = pytest.mark.heavy   # a node process and replays through DDS


@pytest.fixture(scope='module')
def camvid_bag(camvid_root, tmp_path_factory) -> Path:
    from sgcp_ros.bag.make_bag import main as make_bag_main
    path = tmp_path_factory.mktemp('replay') / 'camvid_val'
    assert make_bag_main([str(path), '--dataset', 'camvid', '--data-root', str(camvid_root),
                          '--max-frames', str(FRAMES), '--rate', '15',
                          '--start-time', '1700000000']) == 0
    return path


@pytest.fixture(scope='module')
def node(tiny_checkpoint, tmp_path_factory):
    """The segmentation node process with the tiny checkpoint, in its own namespace."""
    pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
    log_path = tmp_path_factory.mktemp('node') / 'node.log'
    process = start_node(log_path, '-r', f'__ns:={NAMESPACE}', '-p',
                         f'model_path:={tiny_checkpoint}')
    yield process, log_path
    try:
        stop(process)
    except AssertionError:
        pass  # a node that hung on exit was killed; the tests have their results


def _replay(bag: Path, node, tmp_path: Path, *extra: str) -> tuple[dict, Path]:
    process, log_path = node
    report, record = tmp_path / 'replay.json', tmp_path / 'recorded'
    command = [sys.executable, '-m', 'sgcp_ros.bag.replay_bag', str(bag),
               '--publish-topic', f'{NAMESPACE}/image', '--node-labels-topic', LABELS_TOPIC,
               '--wait-for-node', str(NODE_STARTUP_S), '--json', str(report),
               '--record', str(record), *extra]
    result = subprocess.run(command, cwd=REPO, env=node_environment(), capture_output=True,
                            text=True, timeout=REPLAY_TIMEOUT_S)
    assert process.poll() is None, 'node exited:\n' + log_path.read_text(errors='replace')
    assert result.returncode == 0, (result.stdout + result.stderr + '\nnode log:\n'
                                    + log_path.read_text(errors='replace')[-3000:])
    assert 'end_to_end' in result.stdout
    return json.loads(report.read_text()), record


def _stamps(bag: Path, topic: str) -> list[int]:
    from sgcp_ros.bag.bagfile import BagReader, stamp_to_ns
    with BagReader(bag) as reader:
        return [stamp_to_ns(reader.decode(m).header.stamp) for m in reader.messages([topic])]


def test_lockstep_replay_every_label_matches_a_bag_frame_and_scores_like_offline(
        camvid_bag, node, tmp_path, tiny_checkpoint):
    report, record = _replay(camvid_bag, node, tmp_path, '--lockstep')
    bag_stamps = _stamps(camvid_bag, '/camera/image_raw')
    label_stamps = _stamps(record, LABELS_TOPIC)
    # Every label the node published carries the header of a frame from the bag: all five
    # came back (lockstep waits for each), none with a stamp the bag does not have.
    assert sorted(label_stamps) == sorted(bag_stamps)
    assert _stamps(record, f'{NAMESPACE}/image') == bag_stamps
    frames = report['frames']
    assert (frames['published'], frames['answered'], frames['dropped']) == (FRAMES, FRAMES, 0)
    assert frames['unexpected_stamps'] == 0 and report['integrity'] == 'verified'
    latency = report['latency_ms']['end_to_end']
    assert latency['count'] == FRAMES and 0 < latency['p50'] <= latency['max']
    assert report['throughput_hz'] > 0
    # The node runs the same engine as evaluate_bag (model input size, default backend), so
    # what it published scores exactly like the offline evaluation of the same bag.
    from sgcp_core.config import EngineConfig
    from sgcp_core.engine import Segmenter
    from sgcp_ros.bag.evaluate_bag import evaluate_bag
    offline = evaluate_bag(camvid_bag, lambda: Segmenter(EngineConfig(
        model_path=str(tiny_checkpoint), threads=1, warmup_runs=1))).report
    assert frames['scored_with_ground_truth'] == FRAMES
    assert abs(report['metrics']['miou'] - offline['metrics']['miou']) < 1e-3


def test_rate_replay_reports_drops_and_only_bag_stamps(camvid_bag, node, tmp_path):
    """At 4x the recorded 15 Hz the node (newest frame only) may drop frames; whatever it
    publishes must still belong to the bag, and published = answered + dropped."""
    report, record = _replay(camvid_bag, node, tmp_path, '--rate', '4', '--drain', '10')
    bag_stamps = set(_stamps(camvid_bag, '/camera/image_raw'))
    label_stamps = _stamps(record, LABELS_TOPIC)
    assert label_stamps and set(label_stamps) <= bag_stamps
    frames = report['frames']
    assert frames['published'] == FRAMES and frames['unexpected_stamps'] == 0
    assert frames['answered'] + frames['dropped'] == FRAMES
    assert frames['answered'] == len(set(label_stamps))
    assert report['latency_ms']['publish_lag']['count'] == FRAMES


def test_replay_without_a_node_names_the_problem(camvid_bag, tmp_path):
    pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
    result = subprocess.run(
        [sys.executable, '-m', 'sgcp_ros.bag.replay_bag', str(camvid_bag),
         '--publish-topic', '/nobody_listens/image', '--node-labels-topic',
         '/nobody_listens/labels', '--wait-for-node', '2'],
        cwd=REPO, env=node_environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert 'no segmentation node found within 2 s' in result.stderr
    assert '/nobody_listens/image' in result.stderr


def test_frames_the_node_cannot_decode_are_skipped_not_dropped(camvid_val_frames, node,
                                                               tmp_path):
    """A bag whose frames 1 and 3 are in encodings the node's decoder rejects (32FC1 depth,
    nv21): replay_bag decodes with the node's own module, so it reports them as skipped
    with the reason and never sends them; the node answers every frame it is sent."""
    from sgcp_ros.bag.bagfile import WRITE_TYPES, BagWriter, make_header
    from sgcp_ros.images import array_to_image
    image_class = WRITE_TYPES.types['sensor_msgs/msg/Image']
    bag = tmp_path / 'mixed'
    with BagWriter(bag) as writer:
        for index, encoding in enumerate(['rgb8', '32FC1', 'rgb8', 'nv21', 'rgb8']):
            stamp = 1_700_000_000 * 10**9 + index * 10**8
            image = array_to_image(camvid_val_frames[index][1], make_header(stamp, 'cam'),
                                   message_class=image_class)
            image.encoding = encoding
            writer.write('/camera/image_raw', stamp, image)
    report, _ = _replay(bag, node, tmp_path, '--lockstep')
    frames = report['frames']
    assert (frames['published'], frames['answered'], frames['dropped']) == (3, 3, 0)
    assert frames['skipped_by_reason'] == {'unsupported encoding': 2}
    skipped = [(f['index'], f['reason']) for f in report['frame_log']
               if f['status'] == 'skipped']
    assert [index for index, _ in skipped] == [1, 3]
    assert "'32FC1'" in skipped[0][1] and "'nv21'" in skipped[1][1]


# A replay against a node in this process (no DDS): what is held while replaying, and how
# the streaming scores compare with evaluate_bag's offline run of the same frames.
SYNTHETIC_FRAMES = 30
DROPPED = set(range(10, 18))   # never answered: each waits frame_timeout_s in lockstep
LATE = {22}                    # answered after the answer window: answered, not scored


def _predict(rgb):
    """The stand-in node's and engine's label map: CamVid ids 0-10 from the red channel."""
    return (rgb[:, :, 0] // 24).astype('uint8')


class _InProcessNode:
    """What _Replay uses of _RosSide, with a node that answers each published frame at once
    (``_predict``, the frame's header copied, as the node does), except DROPPED and LATE."""

    probe_stamp = None
    writer = None

    def __init__(self, late_s: float) -> None:
        from types import SimpleNamespace

        from sgcp_core.classes import CAMVID
        self.late_ns = round(late_s * 1e9)
        self.listener = SimpleNamespace(stamps=set(), arrivals=[], wait_for=self._wait_for,
                                        class_info={**CAMVID.to_dict(), 'model': 'in-process'})
        self.inbox, self.sent = [], 0

    def publish(self, data: bytes) -> int:
        import dataclasses
        import time

        from sgcp_ros.bag.bagfile import WRITE_TYPES
        from sgcp_ros.images import array_to_image, image_to_rgb
        from sgcp_ros.ros_client import LabelArrival, header_stamp_ns
        sent, index = time.time_ns(), self.sent
        self.sent += 1
        if index not in DROPPED:
            frame = WRITE_TYPES.deserialize_cdr(data, 'sensor_msgs/msg/Image')
            label = array_to_image(_predict(image_to_rgb(frame)), frame.header,
                                   message_class=WRITE_TYPES.types['sensor_msgs/msg/Image'])
            arrival = LabelArrival(header_stamp_ns(data), sent + (
                self.late_ns if index in LATE else 1_000_000),
                bytes(WRITE_TYPES.serialize_cdr(label, 'sensor_msgs/msg/Image')))
            self.inbox.append(arrival)
            self.listener.arrivals.append(dataclasses.replace(arrival, data=None))
            self.listener.stamps.add(arrival.stamp_ns)
        return sent

    def take_labels(self) -> list:
        taken, self.inbox = self.inbox, []
        return taken

    def _wait_for(self, predicate, timeout_s: float) -> bool:
        import time
        if not predicate():
            time.sleep(timeout_s)
        return bool(predicate())


class _InProcessEngine:
    """evaluate_bag's Segmenter, as far as it uses one, predicting ``_predict``."""

    meta = type('Meta', (), {'ignore_index': 255})
    class_groups = None
    model_path = backend_name = device = label_mode = 'in-process'
    input_size = (48, 64)

    @property
    def classes(self):
        from sgcp_core.classes import CAMVID
        return CAMVID

    def describe(self) -> str:
        return 'in-process'

    def segment(self, rgb, want_overlay=False):
        from types import SimpleNamespace
        return SimpleNamespace(labels=_predict(rgb), overlay=rgb, timings_ms={'total': 0.0})


def test_replay_scores_frames_as_they_come_and_holds_only_those_in_flight(tmp_path):
    """30 frames with ground truth: each is scored as its answer comes and its ground truth
    let go, so the replay holds a handful at a time, never the whole bag's: at most the
    ground truth of the last dropped frames (8 in a row, 0.2 s apart), whose answer is
    overdue 0.2 s + HANDOFF_NS after they were sent. A late answer counts as answered, not
    scored. The scores equal evaluate_bag's on the frames that were scored."""
    pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
    import numpy as np

    from sgcp_ros.bag.bagfile import BagReader
    from sgcp_ros.bag.evaluate_bag import evaluate_bag
    from sgcp_ros.bag.make_bag import write_frames_bag
    from sgcp_ros.bag.replay_bag import ReplayOptions, _Replay
    rng = np.random.default_rng(0)
    frames = []
    for index in range(SYNTHETIC_FRAMES):
        labels = rng.integers(0, 11, (48, 64)).astype(np.uint8)
        labels[:4] = 255                                   # ignored rows
        frames.append((f'f{index}', rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
                       labels))
    write_frames_bag(tmp_path / 'bag', iter(frames), rate_hz=30, start_ns=1_700_000_000 * 10**9)
    options = ReplayOptions(lockstep=True, frame_timeout_s=0.2, drain_s=0.2, probe=False)
    node, said = _InProcessNode(late_s=1.0), []
    with BagReader(tmp_path / 'bag') as reader:
        replay = _Replay(reader, options, said.append)
        replay.run(node)
        report = replay.report(node, None)
    assert replay.held == 0
    # At most the ground truth of the dropped frames sent in the last 0.7 s (>= 0.2 s apart)
    # and the pair just answered; all 8 dropped ones without letting go.
    assert 1 <= replay.peak_held <= 6, said
    scored = [i for i in range(SYNTHETIC_FRAMES) if i not in DROPPED | LATE]
    counts = report['frames']
    assert (counts['published'], counts['answered'], counts['dropped']) == (
        SYNTHETIC_FRAMES, SYNTHETIC_FRAMES - len(DROPPED), len(DROPPED))
    assert counts['scored_with_ground_truth'] == len(scored)
    assert counts['unexpected_stamps'] == counts['duplicate_labels'] == 0
    assert any('1 frames were answered more than 0.2 s after' in line for line in said)
    log = report['frame_log']
    assert [entry['status'] for entry in log] == [
        'dropped' if i in DROPPED else 'answered' for i in range(SYNTHETIC_FRAMES)]
    assert [i for i, entry in enumerate(log) if entry.get('ground_truth')] == scored
    write_frames_bag(tmp_path / 'scored', iter([frames[i] for i in scored]), rate_hz=30,
                     start_ns=1_700_000_000 * 10**9)
    offline = evaluate_bag(tmp_path / 'scored', _InProcessEngine).report
    assert report['metrics'] == offline['metrics']
    assert [log[i]['miou'] for i in scored] == [f['miou'] for f in offline['frame_log']]
