# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""`make demo`: a real video through DDS into the real node; an overlay video and timings.

Three processes on loopback discovery in a private ROS domain:
  1. ``sgcp_ros.video_publisher`` plays the video (default: demo/camvid_val_0016E5.mp4, a
     CamVid road sequence; see demo/README.md) as a camera, bgr8 frames at the video's
     rate, stamped when published;
  2. ``sgcp_ros.segmentation_node`` segments them as it would a real camera;
  3. this one subscribes to the node's overlay, labels and /diagnostics, writes
     ``overlay.mp4`` and ``overlay_preview.png``, and ``summary.json`` with the timings.

    python -m sgcp_ros.demo --out demo_out [--model path.pt] [--video clip.mp4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sgcp_core.files import AtomicVideoWriter, write_json, write_png
from sgcp_core.files import video_info as read_video_info
from sgcp_core.resources import share_file
from sgcp_core.timing import latency_stats
from sgcp_ros.diagnostics import (COUNTERS, INPUT_RATE_KEY, NOT_RUN, STAGES, stage_key,
                                  status_name, total_key)
from sgcp_ros.node_process import NodeProcess, node_arguments, private_environment, stop

__all__ = ['main', 'parse_args', 'run_demo']

NAMESPACE = '/sgcp_demo'
NODE_OUTPUT = f'{NAMESPACE}/sgcp_segmentation'   # the node's fully qualified name
CAMERA_TOPIC = f'{NAMESPACE}/camera/image'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', type=Path, default=Path('demo_out'), help='output folder')
    parser.add_argument('--video', type=Path,
                        help='default: the shipped CamVid road clip (demo/README.md)')
    parser.add_argument('--model', default='',
                        help="model file; default: the node's own (the shipped checkpoint)")
    parser.add_argument('--backend', default='', help='auto | torch | onnx (default: auto)')
    parser.add_argument('--rate', type=float, default=0.0,
                        help="playback frames per second; 0 = the video's own rate")
    parser.add_argument('--max-frames', type=int, default=0, help='play only N frames')
    parser.add_argument('--startup-timeout', type=float, default=300.0, metavar='SECONDS',
                        help='how long the node may take to load the model')
    return parser.parse_args(argv)


DEMO_CLIP = 'demo/camvid_val_0016E5.mp4'


def default_video() -> Path:
    """The shipped road clip (CamVid val 0016E5, 101 frames at 15 Hz)."""
    return share_file(DEMO_CLIP)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {key: value if key == 'count' else round(value, 2)
            for key, value in latency_stats(values, (50, 95)).items()}


class Recorder:
    """This process's ROS side: records overlays into a video and keeps every report."""

    def __init__(self, out: Path) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image

        from sgcp_ros.ros_client import LabelListener, PrivateRosNode
        self.ros = PrivateRosNode('sgcp_demo_recorder')
        self.node = self.ros.node
        self.labels = LabelListener(self.ros, f'{NODE_OUTPUT}/labels')
        self.out = out
        self.reports: list[dict[str, str]] = []
        self.overlay_latency_ms: list[float] = []
        self.overlay_stamps: list[int] = []
        self._writer = None
        self._pending: tuple[np.ndarray, int] | None = None
        self.fps = 25.0
        self.preview_written = False
        self.node.create_subscription(Image, f'{NODE_OUTPUT}/overlay', self._on_overlay, 10)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      10)

    def _latency_ms(self, msg) -> tuple[float, int]:
        from rclpy.time import Time
        stamp = Time.from_msg(msg.header.stamp)
        return (self.node.get_clock().now() - stamp).nanoseconds / 1e6, stamp.nanoseconds

    @property
    def class_info(self) -> dict | None:
        return self.labels.class_info

    def _on_overlay(self, msg) -> None:
        from sgcp_ros.images import image_to_rgb
        latency_ms, stamp_ns = self._latency_ms(msg)
        self.overlay_latency_ms.append(latency_ms)
        self.overlay_stamps.append(stamp_ns)
        rgb = image_to_rgb(msg)
        if self._writer is None:
            self._writer = AtomicVideoWriter(self.out / 'overlay.mp4', self.fps)
        self._write_pending(until_ns=stamp_ns)
        self._pending = (rgb, stamp_ns)
        if len(self.overlay_stamps) == 60 or not self.preview_written:
            write_png(self.out / 'overlay_preview.png', rgb)
            self.preview_written = True

    def _write_pending(self, until_ns: int | None) -> None:
        # Hold each result on screen until the next one, as a viewer of the topic sees it:
        # the video then runs in real time and shows how many frames the node dropped.
        if self._pending is None:
            return
        frame, stamp_ns = self._pending
        repeats = 1
        if until_ns is not None:
            repeats = max(1, round((until_ns - stamp_ns) / 1e9 * self.fps))
        for _ in range(repeats):
            self._writer.write(frame)
        self._pending = None

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name == status_name(NODE_OUTPUT):
                values = {kv.key: kv.value for kv in status.values}
                values['level'] = int.from_bytes(status.level, 'little')
                values['message'] = status.message
                values['received_at'] = time.monotonic()
                self.reports.append(values)

    def spin_for(self, seconds: float, until=None) -> bool:
        return bool(self.ros.spin_until(until or (lambda: False), seconds))

    def close(self) -> None:
        if self._writer is not None:
            self._write_pending(until_ns=None)
            self._writer.close()
        self.ros.close()


def _stage_means(reports: list[dict[str, str]]) -> dict[str, float | None]:
    """Per-stage mean over the run: window means weighted by the frames in each window."""
    means = {}
    previous = 0
    weights = []
    for report in reports:
        total = int(report.get(total_key('processed'), previous))
        weights.append(total - previous)
        previous = total
    for stage in STAGES:
        pairs = [(float(r[stage_key(stage)]), w) for r, w in zip(reports, weights)
                 if w > 0 and r.get(stage_key(stage), NOT_RUN) != NOT_RUN]
        frames = sum(w for _, w in pairs)
        means[stage] = round(sum(v * w for v, w in pairs) / frames, 2) if frames else None
    return means


def run_demo(args: argparse.Namespace) -> dict:
    """Run the three processes; return the summary (also written to out/summary.json)."""
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = private_environment(out / 'ros_log')
    video = (args.video or default_video()).resolve()
    info = read_video_info(video)
    video_info = {'path': str(video), 'frames': info.frame_count, 'fps': info.fps,
                  'size': f'{info.width}x{info.height}'}

    parameters = {'model_path': args.model and Path(args.model).resolve(),
                  'backend': args.backend}
    node_args = node_arguments(NAMESPACE, {'image': CAMERA_TOPIC},
                               {name: value for name, value in parameters.items() if value},
                               share_file('config/segmentation.yaml'))
    node_log = out / 'node.log'
    publisher_log = out / 'publisher.log'
    load_average = os.getloadavg()[0]
    recorder = Recorder(out)
    recorder.fps = args.rate or video_info['fps'] or 25.0
    node = NodeProcess(node_log, node_args, env)
    publisher = None

    def spin(seconds: float) -> None:
        recorder.spin_for(seconds)
    try:
        print(f'demo: starting the node (log: {node_log})', flush=True)
        node.wait_until(lambda: recorder.class_info is not None, args.startup_timeout,
                        'start (no class_info)', spin)
        print(f'demo: node ready ({recorder.class_info["backend"]} on '
              f'{recorder.class_info["device"]}, model {recorder.class_info["model"]}); '
              f'playing {video.name}', flush=True)
        publisher_args = ['--video', str(video), '--topic', CAMERA_TOPIC,
                          '--wait-for-subscribers', '30', '--summary-json',
                          str(out / 'publisher.json')]
        if args.rate:
            publisher_args += ['--rate', str(args.rate)]
        if args.max_frames:
            publisher_args += ['--max-frames', str(args.max_frames)]
        publisher = subprocess.Popen(
            [sys.executable, '-m', 'sgcp_ros.video_publisher', *publisher_args],
            stdout=publisher_log.open('wb'), stderr=subprocess.STDOUT, env=env)
        playing_limit = (video_info['frames'] or 10_000) / recorder.fps * 3 + 60
        node.wait_until(lambda: publisher.poll() is not None, playing_limit,
                        f'see the whole video played (publisher log: {publisher_log})', spin)
        published = json.loads((out / 'publisher.json').read_text())

        def settled() -> bool:
            # A report after the last frame, with every received frame accounted for.
            if not recorder.reports:
                return False
            last = recorder.reports[-1]
            done = sum(int(last.get(total_key(k), 0)) for k in COUNTERS if k != 'received')
            return float(last.get(INPUT_RATE_KEY, 1)) == 0 and done >= int(
                last.get(total_key('received'), 1))
        recorder.spin_for(15.0, until=settled)
    finally:
        if publisher is not None:
            stop(publisher)
        node_exit = node.stop()
        recorder.close()

    last = recorder.reports[-1] if recorder.reports else {}
    # Judge health while the video played; the reports after it rightly say "no images".
    playing = [r for r in recorder.reports if float(r.get(INPUT_RATE_KEY, 0)) > 0]
    levels = [r['level'] for r in playing]
    overlay_frames = len(recorder.overlay_stamps)
    span_s = ((recorder.overlay_stamps[-1] - recorder.overlay_stamps[0]) / 1e9
              if overlay_frames > 1 else 0.0)
    info = recorder.class_info
    summary = {
        'video': dict(video_info, encoding='bgr8', frames_published=published[
            'frames_published'], playback_rate_hz=published['rate_hz']),
        'model': {'path': info['model'], 'backend': info['backend'], 'device': info['device'],
                  'input_size': info['input_size'], 'classes': len(info['names'])},
        'machine': {'cpus': os.cpu_count(), 'load_average_1min_at_start': round(load_average, 2),
                    'platform': platform.platform(), 'python': platform.python_version()},
        'node': {key: int(last.get(total_key(key), 0)) for key in COUNTERS}
        | {'exit_code': node_exit},
        'recorded': {'overlay_frames': overlay_frames,
                     'labels_frames': len(recorder.labels.arrivals),
                     'overlay_rate_hz': round((overlay_frames - 1) / span_s, 2)
                     if span_s > 0 else None},
        'stage_ms_mean': _stage_means(recorder.reports),
        'latency_ms': {
            'labels_at_recorder': _percentiles(recorder.labels.latency_ms()),
            'overlay_at_recorder': _percentiles(recorder.overlay_latency_ms)},
        'diagnostics_while_playing': {
            'reports': len(levels), 'ok': levels.count(0), 'warn': levels.count(1),
            'error': levels.count(2),
            'messages': sorted({r['message'] for r in playing if r['level'] != 0})},
        'outputs': {'video': str(out / 'overlay.mp4'),
                    'preview': str(out / 'overlay_preview.png'),
                    'node_log': str(node_log)},
        'notes': ('latency = receive time in the recorder minus the camera stamp (publisher '
                  'stamps at publish time); overlay.mp4 holds each result until the next one, '
                  'at the video rate, so dropped frames show as repeats'),
    }
    write_json(out / 'summary.json', summary)
    return summary


def _format_stages(means: dict[str, float | None]) -> str:
    # A stage the node ran for no frame (confidence or cloud without a subscriber) is named
    # as such, not printed as a mean of None.
    ran = ', '.join(f'{stage} {ms}' for stage, ms in means.items() if ms is not None)
    idle = [stage for stage, ms in means.items() if ms is None]
    return f'stage ms  {ran}' + (f' (not run: {", ".join(idle)})' if idle else '')


def format_summary(summary: dict) -> str:
    model, node, recorded = summary['model'], summary['node'], summary['recorded']
    lines = [
        f"video     {summary['video']['path']} ({summary['video']['size']}, "
        f"{summary['video']['frames_published']} frames published at "
        f"{summary['video']['playback_rate_hz']} Hz)",
        f"model     {model['path']} ({model['backend']} on {model['device']}, input "
        f"{model['input_size'][0]}x{model['input_size'][1]})",
        f"machine   {summary['machine']['cpus']} CPUs, load average "
        f"{summary['machine']['load_average_1min_at_start']} at start",
        f"node      received {node['received']}, processed {node['processed']}, dropped "
        f"{node['dropped']}, rejected {node['rejected']}, exit code {node['exit_code']}",
        f"recorded  {recorded['overlay_frames']} overlays ({recorded['overlay_rate_hz']} Hz), "
        f"{recorded['labels_frames']} label maps",
        _format_stages(summary['stage_ms_mean']),
    ]
    for name, stats in summary['latency_ms'].items():
        if stats:
            lines.append(f'latency   {name}: mean {stats["mean"]} ms, p50 {stats["p50"]}, '
                         f'p95 {stats["p95"]}, max {stats["max"]} ({stats["count"]} frames)')
    diagnostics = summary['diagnostics_while_playing']
    lines.append(f"status    {diagnostics['reports']} /diagnostics reports while playing: "
                 f"{diagnostics['ok']} OK, {diagnostics['warn']} WARN, {diagnostics['error']} "
                 'ERROR' + ''.join(f'\n          {m}' for m in diagnostics['messages']))
    lines.append(f"outputs   {summary['outputs']['video']}, {summary['outputs']['preview']}")
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = run_demo(args)
    except (OSError, ValueError, RuntimeError) as error:
        print(f'demo failed: {error}', file=sys.stderr)
        return 1
    print(format_summary(summary))
    print(f'summary: {args.out.resolve() / "summary.json"}')
    ok = summary['recorded']['overlay_frames'] > 0 and summary['node']['exit_code'] == 0
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
