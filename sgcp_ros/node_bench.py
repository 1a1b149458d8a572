# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Node benchmark: the real node under a camera of a given rate and resolution.

For every (model, resolution) asked for, three processes on loopback discovery in a
private ROS domain, as ``sgcp_ros.demo`` runs them:
  1. the segmentation node (``python -m sgcp_ros.segmentation_node``), labels only;
  2. ``sgcp_ros.video_publisher`` playing CamVid frames (or a video) resized to the
     resolution, at the rate, each frame stamped when published, like a camera driver;
  3. this one: subscribes to the labels, measures latency from the camera stamp to the
     labels' arrival, and samples the node's CPU time and resident memory (psutil).

    node_bench --rate 30 --resolution 720x960 360x480 --duration 20 \\
        --model models/camvid/sgcpnet_camvid.pt models/camvid/sgcpnet_camvid_int8.onnx
    python -m sgcp_ros.node_bench --video drive.mp4 --rate 15 --resolution 480x640

Prints a table; writes ``node_bench.json`` and ``latency_histogram.png`` into --out.
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

import cv2

from sgcp_core.config import DataConfig
from sgcp_core.timing import latency_stats, plot_latency_histogram
from sgcp_ros.demo import _tail, child_environment
from sgcp_ros.ros_client import LabelListener, PrivateRosNode, stop_process

__all__ = ['main', 'parse_args', 'run_case', 'write_camera_video', 'format_table',
           'markdown_table', 'write_histogram']

NAMESPACE = '/sgcp_node_bench'
NODE_NAME = 'sgcp_segmentation'
CAMERA_TOPIC = f'{NAMESPACE}/camera/image'
LABELS_TOPIC = f'{NAMESPACE}/{NODE_NAME}/labels'
DEFAULT_FRAMES = Path(DataConfig().root) / 'val'
PERCENTILES = (50, 95, 99)


def _resolution(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HxW such as 720x960, got {text!r}')
    if height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError(f'resolution must be positive, got {text!r}')
    return height, width


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='node_bench', description=__doc__.split('\n\n')[0],
        epilog='Every case starts a fresh node. Latency is the labels\' arrival here minus '
               'the camera stamp, so it includes DDS transport both ways; "dropped" is '
               'frames published minus label maps received.')
    parser.add_argument('--model', nargs='+', default=[''], metavar='PATH',
                        help="model files (.pt / .onnx); default: the node's own")
    parser.add_argument('--resolution', nargs='+', type=_resolution, default=[(720, 960)],
                        metavar='HxW', help='camera resolutions (default 720x960)')
    parser.add_argument('--rate', type=float, default=30.0, help='camera Hz (default 30)')
    parser.add_argument('--duration', type=float, default=20.0, metavar='SECONDS',
                        help='seconds of camera frames per case (default 20)')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--frames', type=Path, metavar='DIR',
                        help=f'folder of images to play (default {DEFAULT_FRAMES})')
    source.add_argument('--video', type=Path, help='a video to play instead of images')
    parser.add_argument('--max-source-frames', type=int, default=120, metavar='N',
                        help='distinct frames in the camera loop (default 120)')
    parser.add_argument('--param', action='append', default=[], metavar='NAME:=VALUE',
                        help='extra node parameter, e.g. --param label_mode:=argmax_then_nearest')
    parser.add_argument('--out', type=Path, default=Path('node_bench_out'),
                        help='output folder (default node_bench_out)')
    parser.add_argument('--startup-timeout', type=float, default=300.0, metavar='SECONDS',
                        help='how long the node may take to load the model (default 300)')
    parser.add_argument('--no-plot', action='store_true', help='skip the histogram PNG')
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        parser.error('--rate and --duration must be positive')
    return args


def _source_frames(args: argparse.Namespace):
    """BGR frames of the camera loop, from --video or the images in --frames."""
    from sgcp_core.files import IMAGE_SUFFIXES, video_frames
    if args.video is not None:
        for rgb in video_frames(args.video, args.max_source_frames):
            yield cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        return
    folder = args.frames or DEFAULT_FRAMES
    if not folder.is_dir():
        raise FileNotFoundError(f'no frame folder {folder}; pass --frames DIR or --video')
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f'no images in {folder}')
    for path in images[:args.max_source_frames]:
        yield cv2.imread(str(path), cv2.IMREAD_COLOR)


def write_camera_video(frames, size: tuple[int, int], path: Path) -> int:
    """Write ``frames`` (BGR) resized to (H, W) as an MJPG video; return the frame count.

    Motion JPEG decodes fast and every frame is a key frame, so the publisher spends
    little CPU per frame and loops without a seek penalty.
    """
    height, width = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 30.0, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write {path}')
    count = 0
    try:
        for bgr in frames:
            if bgr.shape[:2] != (height, width):
                bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA
                                 if bgr.shape[0] > height else cv2.INTER_LINEAR)
            writer.write(bgr)
            count += 1
    finally:
        writer.release()
    if count == 0:
        raise RuntimeError('no frames to play')
    return count


class ProcessSampler:
    """CPU time and resident memory of one process (psutil), over a measured window."""

    def __init__(self, pid: int) -> None:
        import psutil
        self.process = psutil.Process(pid)
        self.rss_peak = 0
        self._start: tuple[float, float] | None = None

    def _cpu_s(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def start(self) -> None:
        self._start = (time.monotonic(), self._cpu_s())
        self.sample()

    def sample(self) -> None:
        try:
            self.rss_peak = max(self.rss_peak, self.process.memory_info().rss)
        except Exception:  # psutil.NoSuchProcess: the node ended; its last sample stands
            pass

    def result(self) -> dict:
        wall = time.monotonic() - self._start[0]
        cpu = self._cpu_s() - self._start[1]
        return {'cpu_percent': round(100 * cpu / wall, 1) if wall > 0 else None,
                'rss_mb': round(self.process.memory_info().rss / 2**20, 1),
                'rss_peak_mb': round(self.rss_peak / 2**20, 1)}


def _precision(model: str) -> str:
    try:
        from sgcp_core.metadata import read_meta
        return read_meta(model).precision
    except Exception:   # the node reports an unusable file itself, with context
        return '?'


def run_case(listener: LabelListener, model: str, size: tuple[int, int],
             args: argparse.Namespace, env: dict[str, str], out: Path) -> dict:
    """One node process under one camera; the measured figures as a dict."""
    tag = f'{Path(model).stem or "default"}_{size[0]}x{size[1]}'
    video = out / f'camera_{size[0]}x{size[1]}.avi'
    if not video.is_file():
        write_camera_video(_source_frames(args), size, video)
    node_args = ['--ros-args', '-r', f'__ns:={NAMESPACE}', '-r', f'image:={CAMERA_TOPIC}',
                 '-p', 'publish_overlay:=false', '-p', 'publish_color_mask:=false']
    if model:
        node_args += ['-p', f'model_path:={Path(model).resolve()}']
    for param in args.param:
        node_args += ['-p', param]
    node_log = out / f'node_{tag}.log'
    publisher_log = out / f'publisher_{tag}.log'
    frames = max(2, round(args.rate * args.duration))
    listener.reset()
    spin = listener.ros.spin_until
    node = subprocess.Popen([sys.executable, '-m', 'sgcp_ros.segmentation_node', *node_args],
                            stdout=node_log.open('wb'), stderr=subprocess.STDOUT, env=env)
    publisher = None
    try:
        ready = spin(lambda: listener.class_info is not None or node.poll() is not None,
                     args.startup_timeout)
        if not ready or listener.class_info is None:
            raise RuntimeError(f'the node did not start (exit code {node.poll()}):\n'
                               f'{_tail(node_log)}')
        sampler = ProcessSampler(node.pid)
        rss_idle_mb = round(sampler.process.memory_info().rss / 2**20, 1)
        summary_path = out / f'publisher_{tag}.json'
        summary_path.unlink(missing_ok=True)
        publisher = subprocess.Popen(
            [sys.executable, '-m', 'sgcp_ros.video_publisher', '--video', str(video),
             '--topic', CAMERA_TOPIC, '--rate', str(args.rate), '--loop', '--max-frames',
             str(frames), '--wait-for-subscribers', '30', '--summary-json', str(summary_path)],
            stdout=publisher_log.open('wb'), stderr=subprocess.STDOUT, env=env)
        sampler.start()
        limit = args.duration * 3 + 60
        spin(lambda: publisher.poll() is not None or node.poll() is not None, limit,
             every=sampler.sample)
        usage = sampler.result()
        if publisher.poll() is None or node.poll() is not None:
            raise RuntimeError(f'playback did not finish: publisher exit {publisher.poll()}, '
                               f'node exit {node.poll()}\n{_tail(node_log)}')
        # The last frames are still in flight: wait for them (bounded by the worst so far).
        grace = min(5.0, 0.5 + 2 * max(listener.latency_ms(), default=0.0) / 1e3)
        spin(lambda: False, grace)
        published = json.loads(summary_path.read_text())
    finally:
        if publisher is not None:
            stop_process(publisher)
        node_exit = stop_process(node)
    latency_ms = listener.latency_ms()
    received = len(latency_ms)
    arrivals = [label.received_ns / 1e9 for label in listener.arrivals]
    processed_hz = ((received - 1) / (arrivals[-1] - arrivals[0])
                    if received > 1 and arrivals[-1] > arrivals[0] else 0.0)
    sent = published['frames_published']
    info = listener.class_info
    return {
        'model': info.get('model', model), 'precision': _precision(info.get('model', model)),
        'backend': info.get('backend'), 'device': info.get('device'),
        'resolution': list(size), 'input_size': info.get('input_size'),
        'requested_rate_hz': args.rate, 'input_rate_hz': published['rate_hz'],
        'frames_published': sent, 'labels_received': received,
        'dropped': sent - received,
        'dropped_percent': round(100 * (sent - received) / sent, 1) if sent else None,
        'processed_rate_hz': round(processed_hz, 2),
        'latency_ms': {k: (round(v, 2) if isinstance(v, float) else v) for k, v in
                       latency_stats(latency_ms, PERCENTILES).items()},
        'latency_samples_ms': [round(v, 3) for v in latency_ms],
        'node': dict(usage, rss_idle_mb=rss_idle_mb, exit_code=node_exit),
        'logs': {'node': str(node_log), 'publisher': str(publisher_log)},
    }


def format_table(results: list[dict]) -> str:
    header = (f'{"model":<40} {"prec":<7} {"camera":>9} {"in Hz":>6} {"out Hz":>6} '
              f'{"sent":>5} {"drop":>5} {"drop%":>5} {"p50":>6} {"p95":>6} {"p99":>6} '
              f'{"max":>6} {"CPU%":>5} {"RSS MB":>7}')
    lines = [header, '-' * len(header)]
    for r in results:
        lat = r['latency_ms']

        def ms(key: str) -> str:
            return '-' if lat[key] is None else f'{lat[key]:.1f}'
        lines.append(
            f'{Path(r["model"]).name[:40]:<40} {r["precision"]:<7} '
            f'{r["resolution"][0]:>4}x{r["resolution"][1]:<4} {r["input_rate_hz"]:6.1f} '
            f'{r["processed_rate_hz"]:6.1f} {r["frames_published"]:5d} {r["dropped"]:5d} '
            f'{r["dropped_percent"]:5.1f} {ms("p50"):>6} {ms("p95"):>6} {ms("p99"):>6} '
            f'{ms("max"):>6} {r["node"]["cpu_percent"]:5.0f} {r["node"]["rss_peak_mb"]:7.0f}')
    lines.append('latency ms: camera stamp to labels received here; out Hz: label maps per '
                 'second; RSS: the node\'s peak while playing')
    return '\n'.join(lines)


def markdown_table(results: list[dict]) -> str:
    """The README's node benchmark table, one row per case."""
    lines = ['| model | precision | camera | input Hz | processed Hz | dropped % | p50 ms | '
             'p95 ms | p99 ms | max ms | node CPU % | node RSS MB |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in results:
        lat = r['latency_ms']
        cells = ['-' if lat[k] is None else f'{lat[k]:.1f}' for k in ('p50', 'p95', 'p99', 'max')]
        lines.append(f'| {Path(r["model"]).name} | {r["precision"]} | '
                     f'{r["resolution"][0]}x{r["resolution"][1]} | {r["input_rate_hz"]:.1f} | '
                     f'{r["processed_rate_hz"]:.1f} | {r["dropped_percent"]:.1f} | '
                     + ' | '.join(cells)
                     + f' | {r["node"]["cpu_percent"]:.0f} | {r["node"]["rss_peak_mb"]:.0f} |')
    return '\n'.join(lines)


def write_histogram(results: list[dict], path: Path) -> Path:
    """One step histogram of label latency per case, with each case's p99 marked."""
    return plot_latency_histogram(
        {f'{Path(r["model"]).stem} {r["resolution"][0]}x{r["resolution"][1]} '
         f'@{r["requested_rate_hz"]:g} Hz': r['latency_samples_ms'] for r in results},
        path, 'sgcp_ros node benchmark', percentile=99,
        xlabel='latency, camera stamp to labels received (ms)')


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        # Bad input is a one-line error and status 2 before anything starts.
        from sgcp_core.resources import resolve_model_path
        args.model = [str(resolve_model_path(m)) if m else '' for m in args.model]
        if args.video is not None and not args.video.is_file():
            raise FileNotFoundError(f'video not found: {args.video}')
        folder = args.frames or DEFAULT_FRAMES
        if args.video is None and not folder.is_dir():
            raise FileNotFoundError(f'no frame folder {folder}; pass --frames DIR or --video')
    except (FileNotFoundError, IsADirectoryError) as error:
        print(f'node_bench: error: {error}', file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = child_environment(out)   # this process joins the children's domain and profile
    load_average = os.getloadavg()[0]
    ros = PrivateRosNode('sgcp_node_bench')
    # Best effort, as a camera consumer listens: a label lost on the way counts as dropped.
    listener = LabelListener(ros, LABELS_TOPIC, reliable=False)
    results = []
    try:
        for model in args.model:
            for size in args.resolution:
                print(f'node_bench: {model or "default model"} at {size[0]}x{size[1]}, '
                      f'{args.rate:g} Hz for {args.duration:g} s', flush=True)
                results.append(run_case(listener, model, size, args, env, out))
    except (OSError, ValueError, RuntimeError) as error:
        print(f'node_bench: error: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('node_bench: interrupted', file=sys.stderr)
        return 130
    finally:
        ros.close()
    report = {'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                          'load_average_1min_at_start': round(load_average, 2)},
              'source': str(args.video or args.frames or DEFAULT_FRAMES),
              'cases': results}
    from sgcp_core.files import write_json
    write_json(out / 'node_bench.json', report, indent=1)
    print(format_table(results))
    print(markdown_table(results))
    if not args.no_plot:
        print(f'histogram: {write_histogram(results, out / "latency_histogram.png")}')
    print(f'json: {out / "node_bench.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
