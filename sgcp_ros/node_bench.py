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

With ``--cameras N`` (N > 1) each case is one node with N cameras (its ``cameras``
parameter: cam0 ... camN-1) and one publisher per camera at the rate, each playing the
frames from its own starting point; the figures are per camera and for all together, and
the case is followed by the same model under one camera, for the memory one node for N
cameras saves (RSS against a single-camera node's):

    node_bench --cameras 4 --rate 15 --resolution 360x480 --duration 30

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
from sgcp_ros.node_process import NodeProcess, node_arguments, private_environment, stop
from sgcp_ros.ros_client import LabelListener, PrivateRosNode

__all__ = ['main', 'parse_args', 'run_case', 'run_cameras_case', 'camera_topics',
           'write_camera_video', 'format_table', 'format_camera_table', 'write_histogram']

NAMESPACE = '/sgcp_node_bench'
NODE_NAME = 'sgcp_segmentation'
CAMERA_TOPIC = f'{NAMESPACE}/camera/image'
LABELS_TOPIC = f'{NAMESPACE}/{NODE_NAME}/labels'
DEFAULT_FRAMES = Path(DataConfig().root) / 'val'
PERCENTILES = (50, 95, 99)
RSS_TARGET = 1.3   # one node for N cameras against one single-camera node (issue 14)


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
    parser.add_argument('--rate', type=float, default=30.0,
                        help='camera Hz, of each camera (default 30)')
    parser.add_argument('--cameras', type=int, default=1, metavar='N',
                        help='cameras served by one node (its cameras parameter), each with '
                             'its own publisher at --rate; N > 1 also runs the model under one '
                             'camera to compare memory (default 1)')
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
    if not 1 <= args.cameras <= 64:
        parser.error(f'--cameras must be 1 to 64, got {args.cameras}')
    for param in args.param:
        if ':=' not in param:
            parser.error(f'--param {param!r}: expected NAME:=VALUE')
    return args


def _source_frames(args: argparse.Namespace):
    """BGR frames of the camera loop, from --video or the images in --frames."""
    from sgcp_core.files import image_files, video_frames
    if args.video is not None:
        for rgb in video_frames(args.video, args.max_source_frames):
            yield cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        return
    folder = args.frames or DEFAULT_FRAMES
    if not folder.is_dir():
        raise FileNotFoundError(f'no frame folder {folder}; pass --frames DIR or --video')
    images = image_files(folder, recursive=False, error=FileNotFoundError)
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
        from sgcp_core.checkpoint import read_meta
        return read_meta(model).precision
    except Exception:   # the node reports an unusable file itself, with context
        return '?'


def camera_topics(count: int) -> list[tuple[str, str, str]]:
    """(camera name, image topic, labels topic) for a node with ``count`` cameras. One is
    the node's unnamed camera with its image remapped, as a single-camera node is run."""
    if count == 1:
        return [('', CAMERA_TOPIC, LABELS_TOPIC)]
    return [(f'cam{k}', f'{NAMESPACE}/cam{k}/image', f'{NAMESPACE}/{NODE_NAME}/cam{k}/labels')
            for k in range(count)]


def _camera_videos(args: argparse.Namespace, size: tuple[int, int], count: int,
                   out: Path) -> list[Path]:
    """One video per camera: the same source loop, camera k starting k/count of the way in,
    so the cameras show different frames at any moment, as real ones would."""
    videos = [out / f'camera_{size[0]}x{size[1]}' f'{"" if k == 0 else f"_{k}"}.avi'
              for k in range(count)]
    missing = [k for k, video in enumerate(videos) if not video.is_file()]
    if missing:
        frames = list(_source_frames(args))
        for k in missing:
            shift = k * len(frames) // count
            write_camera_video(iter(frames[shift:] + frames[:shift]), size, videos[k])
    return videos


def _camera_figures(listener: LabelListener, published: dict) -> dict:
    """What one camera's publisher sent and its labels' arrivals, as figures."""
    latency_ms = listener.latency_ms()
    received = len(latency_ms)
    arrivals = [label.received_ns / 1e9 for label in listener.arrivals]
    processed_hz = ((received - 1) / (arrivals[-1] - arrivals[0])
                    if received > 1 and arrivals[-1] > arrivals[0] else 0.0)
    sent = published['frames_published']
    return {
        'input_rate_hz': published['rate_hz'], 'frames_published': sent,
        'labels_received': received, 'dropped': sent - received,
        'dropped_percent': round(100 * (sent - received) / sent, 1) if sent else None,
        'processed_rate_hz': round(processed_hz, 2),
        'latency_ms': _latency(latency_ms),
        'latency_samples_ms': [round(v, 3) for v in latency_ms],
    }


def _latency(samples: list[float]) -> dict:
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in
            latency_stats(samples, PERCENTILES).items()}


def _run_node(listeners: list[LabelListener], model: str, size: tuple[int, int],
              args: argparse.Namespace, env: dict[str, str], out: Path
              ) -> tuple[list[dict], dict, dict, dict]:
    """One node process with one camera per listener, each camera's publisher playing at
    --rate; (per-camera figures, node usage, class_info, log paths)."""
    cameras = camera_topics(len(listeners))
    tag = (f'{Path(model).stem or "default"}_{size[0]}x{size[1]}'
           + (f'_{len(cameras)}cams' if len(cameras) > 1 else ''))
    videos = _camera_videos(args, size, len(cameras), out)
    parameters = {'publish_overlay': False, 'publish_color_mask': False}
    if len(cameras) > 1:
        parameters['cameras'] = '[' + ', '.join(name for name, _, _ in cameras) + ']'
    if model:
        parameters['model_path'] = Path(model).resolve()
    parameters.update(param.split(':=', 1) for param in args.param)
    node_args = node_arguments(NAMESPACE, {'image': CAMERA_TOPIC} if len(cameras) == 1 else {},
                               parameters)
    node_log = out / f'node_{tag}.log'
    frames = max(2, round(args.rate * args.duration))
    for listener in listeners:
        listener.reset()
    spin = listeners[0].ros.spin_until
    node = NodeProcess(node_log, node_args, env)

    def spin_step(seconds: float) -> None:
        spin(lambda: False, seconds, every=sampler.sample if sampler else None)
    sampler = None
    publishers = []
    summaries = []
    try:
        # Every camera's class_info is latched at start-up: the node is ready when all are in.
        node.wait_until(lambda: all(listener.class_info is not None for listener in listeners),
                        args.startup_timeout, 'start (no class_info)', spin_step)
        sampler = ProcessSampler(node.process.pid)
        rss_idle_mb = round(sampler.process.memory_info().rss / 2**20, 1)
        for (name, topic, _), video in zip(cameras, videos):
            suffix = f'_{name}' if name else ''
            summary_path = out / f'publisher_{tag}{suffix}.json'
            summary_path.unlink(missing_ok=True)
            summaries.append(summary_path)
            publishers.append(subprocess.Popen(
                [sys.executable, '-m', 'sgcp_ros.video_publisher', '--video', str(video),
                 '--topic', topic, '--frame-id', name or 'camera', '--rate', str(args.rate),
                 '--loop', '--max-frames', str(frames), '--wait-for-subscribers', '30',
                 '--summary-json', str(summary_path)],
                stdout=(out / f'publisher_{tag}{suffix}.log').open('wb'),
                stderr=subprocess.STDOUT, env=env))
        sampler.start()
        limit = args.duration * 3 + 60
        node.wait_until(lambda: all(p.poll() is not None for p in publishers), limit,
                        'see every publisher finish', spin_step)
        usage = sampler.result()
        # The last frames are still in flight: wait for them (bounded by the worst so far).
        worst = max((max(listener.latency_ms(), default=0.0) for listener in listeners))
        spin(lambda: False, min(5.0, 0.5 + 2 * worst / 1e3))
        published = [json.loads(path.read_text()) for path in summaries]
    finally:
        for publisher in publishers:
            stop(publisher)
        node_exit = node.stop()
    figures = [dict(_camera_figures(listener, sent), camera=name)
               for listener, sent, (name, _, _) in zip(listeners, published, cameras)]
    usage = dict(usage, rss_idle_mb=rss_idle_mb, exit_code=node_exit)
    logs = {'node': str(node_log), 'publishers': [str(p.with_suffix('.log')) for p in summaries]}
    return figures, usage, listeners[0].class_info, logs


def _case_facts(info: dict, model: str, size: tuple[int, int], args) -> dict:
    return {'model': info.get('model', model), 'precision': _precision(info.get('model', model)),
            'backend': info.get('backend'), 'device': info.get('device'),
            'resolution': list(size), 'input_size': info.get('input_size'),
            'requested_rate_hz': args.rate}


def run_case(listener: LabelListener, model: str, size: tuple[int, int],
             args: argparse.Namespace, env: dict[str, str], out: Path) -> dict:
    """One node process under one camera; the measured figures as a dict."""
    (figures,), usage, info, logs = _run_node([listener], model, size, args, env, out)
    figures.pop('camera')
    return {**_case_facts(info, model, size, args), **figures, 'node': usage,
            'logs': {'node': logs['node'], 'publisher': logs['publishers'][0]}}


def run_cameras_case(listeners: list[LabelListener], single: LabelListener, model: str,
                     size: tuple[int, int], args: argparse.Namespace, env: dict[str, str],
                     out: Path) -> list[dict]:
    """One node for ``len(listeners)`` cameras, then the same model under one camera.

    Returns:
        [the cameras case, the single-camera case]. The cameras case holds the figures of
        all cameras together (rates summed, latency over every label map) at the top level,
        as a single-camera case does, each camera's in 'per_camera', and its node's peak
        RSS against the single-camera node's ('rss_vs_single_camera').
    """
    figures, usage, info, logs = _run_node(listeners, model, size, args, env, out)
    sent = sum(f['frames_published'] for f in figures)
    received = sum(f['labels_received'] for f in figures)
    samples = [v for f in figures for v in f['latency_samples_ms']]
    case = {**_case_facts(info, model, size, args), 'cameras': len(listeners),
            'input_rate_hz': round(sum(f['input_rate_hz'] for f in figures), 3),
            'frames_published': sent, 'labels_received': received, 'dropped': sent - received,
            'dropped_percent': round(100 * (sent - received) / sent, 1) if sent else None,
            'processed_rate_hz': round(sum(f['processed_rate_hz'] for f in figures), 2),
            'latency_ms': _latency(samples), 'latency_samples_ms': samples,
            'per_camera': figures, 'node': usage, 'logs': logs}
    print('node_bench: the same model under one camera, for the memory comparison',
          flush=True)
    baseline = run_case(single, model, size, args, env, out)
    case['single_camera_rss_peak_mb'] = baseline['node']['rss_peak_mb']
    case['rss_vs_single_camera'] = round(usage['rss_peak_mb']
                                         / baseline['node']['rss_peak_mb'], 3)
    return [case, baseline]


def _case_name(result: dict, width: int = 40) -> str:
    """The model file's name (cut to ``width``), and the cameras of a many-camera case."""
    cameras = result.get('cameras', 1)
    suffix = f' [{cameras} cameras]' if cameras > 1 else ''
    return Path(result['model']).name[:width - len(suffix)] + suffix


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
            f'{_case_name(r):<40} {r["precision"]:<7} '
            f'{r["resolution"][0]:>4}x{r["resolution"][1]:<4} {r["input_rate_hz"]:6.1f} '
            f'{r["processed_rate_hz"]:6.1f} {r["frames_published"]:5d} {r["dropped"]:5d} '
            f'{r["dropped_percent"]:5.1f} {ms("p50"):>6} {ms("p95"):>6} {ms("p99"):>6} '
            f'{ms("max"):>6} {r["node"]["cpu_percent"]:5.0f} {r["node"]["rss_peak_mb"]:7.0f}')
    lines.append('latency ms: camera stamp to labels received here; out Hz: label maps per '
                 'second; RSS: the node\'s peak while playing; [N cameras]: one node, all its '
                 'cameras together (Hz summed)')
    return '\n'.join(lines)


def format_camera_table(results: list[dict]) -> str:
    """Each camera of the many-camera cases, and the node's memory against one camera's."""
    lines = []
    for r in (r for r in results if r.get('cameras', 1) > 1):
        lines += [f'{_case_name(r)} at {r["resolution"][0]}x{r["resolution"][1]}, '
                  f'{r["requested_rate_hz"]:g} Hz per camera:',
                  f'{"camera":<8} {"in Hz":>6} {"out Hz":>6} {"sent":>5} {"drop":>5} '
                  f'{"drop%":>5} {"p50":>6} {"p95":>6} {"p99":>6} {"max":>6}']
        for camera in [*r['per_camera'], dict(r, camera='all')]:
            lat = camera['latency_ms']
            cells = ' '.join('-'.rjust(6) if lat[k] is None else f'{lat[k]:6.1f}'
                             for k in ('p50', 'p95', 'p99', 'max'))
            lines.append(f'{camera["camera"]:<8} {camera["input_rate_hz"]:6.1f} '
                         f'{camera["processed_rate_hz"]:6.1f} {camera["frames_published"]:5d} '
                         f'{camera["dropped"]:5d} {camera["dropped_percent"]:5.1f} {cells}')
        lines.append(f'node RSS peak {r["node"]["rss_peak_mb"]:.0f} MB for {r["cameras"]} '
                     f'cameras, {r["single_camera_rss_peak_mb"]:.0f} MB for one: '
                     f'{r["rss_vs_single_camera"]:.2f}x (target <= {RSS_TARGET:g}x); node CPU '
                     f'{r["node"]["cpu_percent"]:.0f} %')
    return '\n'.join(lines)


def write_histogram(results: list[dict], path: Path) -> Path:
    """One step histogram of label latency per case, with each case's p99 marked."""
    return plot_latency_histogram(
        {f'{Path(r["model"]).stem} {r["resolution"][0]}x{r["resolution"][1]} '
         f'@{r["requested_rate_hz"]:g} Hz'
         + (f' x {r["cameras"]} cameras' if r.get('cameras', 1) > 1 else ''):
         r['latency_samples_ms'] for r in results},
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
    env = private_environment(out / 'ros_log')   # this process joins the children's domain
    load_average = os.getloadavg()[0]
    ros = PrivateRosNode('sgcp_node_bench')
    # Best effort, as a camera consumer listens: a label lost on the way counts as dropped.
    listener = LabelListener(ros, LABELS_TOPIC, reliable=False)
    camera_listeners = []
    if args.cameras > 1:
        camera_listeners = [LabelListener(ros, labels, reliable=False)
                            for _, _, labels in camera_topics(args.cameras)]
    results = []
    try:
        for model in args.model:
            for size in args.resolution:
                cameras = f'{args.cameras} cameras at ' if args.cameras > 1 else ''
                print(f'node_bench: {model or "default model"} at {size[0]}x{size[1]}, '
                      f'{cameras}{args.rate:g} Hz for {args.duration:g} s', flush=True)
                if camera_listeners:
                    results += run_cameras_case(camera_listeners, listener, model, size, args,
                                                env, out)
                else:
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
    if camera_listeners:
        print(format_camera_table(results))
    if not args.no_plot:
        print(f'histogram: {write_histogram(results, out / "latency_histogram.png")}')
    print(f'json: {out / "node_bench.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
