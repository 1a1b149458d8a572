# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp bench``: engine stage timings per backend and resolution, on real frames."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
from pathlib import Path

from sgcp_core.cli.arg_types import (non_negative_int, output_file, parse_resolution,
                                     positive_int)
from sgcp_core.cli.engine_args import add_engine_arguments, engine_config_from_args
from sgcp_core.config import LABEL_MODES

__all__ = ['add_parser', 'run']

DEFAULT_RESOLUTIONS = ('360x480', '720x960')

EPILOG = '''examples:
  sgcp bench -m best.pt
      both backends at 360x480 and 720x960 on CamVid val frames (from the data config)
  sgcp bench -m best.pt --frames my_frames/ --resolution 480x640 1080x1920 --runs 50
  sgcp bench -m best.pt --label-modes --no-timing
      mIoU and cost of the label modes on the labelled CamVid val split
  sgcp bench --models models/camvid/sgcpnet_camvid_mobilenetv2.pt \
      models/camvid/sgcpnet_camvid_mobilenetv3.pt --no-timing --batch 4 --resolution 360x480
      four cameras' frames through one network run against one by one, per frame: what the
      node's camera_batching chooses between
  sgcp bench --models models/camvid/sgcpnet_camvid_mobilenetv2.pt \
      models/camvid/sgcpnet_camvid_mobilenetv3.pt --int8 --backends onnx --miou
      each model next to its <stem>_int8.onnx ("sgcp export --int8"): ms per frame at both
      resolutions, the int8/fp32 speed ratios, and CamVid val mIoU of every file

How to read it: every row is the median over --runs frames of one backend with the
network running at HxW on frames of that size. The stage columns add up to "total" and
show their share of it; "bare" is the network alone (model(x) / session.run on a ready
tensor, its own upsampling included) and "total/bare" what the engine adds on top.
The last lines compare backends at each resolution. Other processes on the machine
slow every row alike, but compare rows of one run only.
'''


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(
        name, help='time the engine per stage, per backend, per resolution',
        description='Time preprocess, inference, postprocess, colorize and overlay for each\n'
                    'backend at each resolution on real frames, next to the bare network\n'
                    'forward; optionally compare the label modes on labelled frames.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', nargs='+', metavar='PATH',
                        help='images or folders to time on (default: the val split of the '
                             'data config\'s CamVid root)')
    parser.add_argument('--num-frames', type=positive_int, default=8, metavar='N',
                        help='distinct frames to cycle through (default 8)')
    parser.add_argument('--resolution', nargs='+', type=parse_resolution, metavar='HxW',
                        default=[parse_resolution(r) for r in DEFAULT_RESOLUTIONS],
                        help='network and frame sizes (default 360x480 720x960)')
    parser.add_argument('--backends', nargs='+', choices=('torch', 'onnx'),
                        help='backends to time (default: every one installed)')
    parser.add_argument('--runs', type=positive_int, default=30,
                        help='timed frames per row (30)')
    parser.add_argument('--no-bare', action='store_true',
                        help='skip timing the bare network forward')
    parser.add_argument('--no-timing', action='store_true',
                        help='skip the stage timings (e.g. with --label-modes)')
    parser.add_argument('--label-modes', action='store_true',
                        help=f'compare the label modes ({", ".join(LABEL_MODES)}): mIoU and '
                             'postprocess time on labelled frames (--data)')
    parser.add_argument('--data', metavar='ROOT',
                        help='CamVid root with val/ and valannot/ for --label-modes '
                             '(default: the data config\'s root)')
    parser.add_argument('--limit', type=non_negative_int, default=0, metavar='N',
                        help='use only the first N labelled frames (default: all)')
    parser.add_argument('--confidence', action='store_true',
                        help='also time the confidence map (the node computes it for '
                             '~/confidence subscribers)')
    parser.add_argument('--cloud', nargs='+', type=parse_resolution, metavar='HxW',
                        help='also time the semantic point cloud from registered depth images '
                             'of these sizes, labels at the first --resolution')
    parser.add_argument('--cloud-decimation', type=positive_int, default=2, metavar='N',
                        help='cloud decimation for --cloud (default 2)')
    parser.add_argument('--models', nargs='+', metavar='PATH',
                        help='several model files, each timed (instead of --model)')
    parser.add_argument('--int8', action='store_true',
                        help='add each model\'s <stem>_int8.onnx (sgcp export --int8) and '
                             'compare it with the model')
    parser.add_argument('--miou', action='store_true',
                        help='also score every model file on the labelled val split (--data, '
                             '--limit) through the engine, at its own input size')
    parser.add_argument('--batch', type=positive_int, metavar='N',
                        help='also time N frames in one network run against the same N one '
                             'by one (the node\'s camera_batching; interleaved, ms per frame)')
    parser.add_argument('--json', metavar='PATH', type=output_file,
                        help='also write every figure as JSON')
    add_engine_arguments(parser, backend_choice=False)
    parser.set_defaults(run=run)


def _data_root(explicit: str | None) -> Path:
    from sgcp_core.cli import CommandError
    from sgcp_core.config import DataConfig
    if explicit:
        return Path(explicit)
    default = Path(DataConfig().root)
    if (default / 'val').is_dir():
        return default
    raise CommandError(f'no CamVid data at {default} (relative to the working directory); '
                       'pass --frames / --data')


def _load_frames(args: argparse.Namespace) -> tuple[list, str]:
    from sgcp_core.cli.infer import collect_inputs
    from sgcp_core.data import read_rgb
    paths = args.frames or [str(_data_root(args.data) / 'val')]
    images, _ = collect_inputs(paths)
    if not images:
        raise ValueError(f'no images in {" ".join(paths)}')
    chosen = images[:max(1, args.num_frames)]
    return [read_rgb(p) for p, _ in chosen], f'{len(chosen)} frames from {" ".join(paths)}'


def _model_title(segmenter_path: Path) -> str:
    from sgcp_core.metadata import read_meta
    meta = read_meta(segmenter_path)
    epoch = meta.training.epoch if meta.training is not None else None
    return (f'{segmenter_path} ({meta.variant}, {meta.precision}'
            + (f', epoch {epoch}' if epoch is not None else '') + ')')


def _model_paths(args: argparse.Namespace, config) -> list[Path]:
    """--models or --model, each followed by its int8 file with --int8."""
    from sgcp_core.cli import CommandError
    from sgcp_core.quantize import int8_path
    from sgcp_core.resources import resolve_model_path
    if args.models and args.model:
        raise CommandError('give --model or --models, not both')
    paths = []
    for given in (args.models or [config.model_path]):
        path = resolve_model_path(given)
        paths.append(path)
        if args.int8 and not path.stem.endswith('_int8'):
            quantized = int8_path(path)
            if not quantized.is_file():
                raise CommandError(f'--int8: {quantized} not found; make it with "sgcp export '
                                   f'--int8 -m {path}"')
            paths.append(quantized)
    return list(dict.fromkeys(paths))


def _int8_lines(timings) -> list[str]:
    """'int8 vs fp32' speed ratios for each int8 row with its fp32 model's onnx row."""
    lines = []
    for t in timings:
        if t.precision != 'int8':
            continue
        base = Path(t.model).name.replace('_int8.onnx', '')
        fp32 = next((r for r in timings if r.resolution == t.resolution and r.backend == 'onnx'
                     and r.precision != 'int8' and Path(r.model).stem == base), None)
        if fp32 is not None:
            lines.append(
                f'int8 {base} at {t.resolution[0]}x{t.resolution[1]}: total '
                f'{fp32.total_ms:.2f} -> {t.total_ms:.2f} ms ({fp32.total_ms / t.total_ms:.2f}x)'
                f', inference {fp32.stages_ms["inference"]:.2f} -> '
                f'{t.stages_ms["inference"]:.2f} ms '
                f'({fp32.stages_ms["inference"] / t.stages_ms["inference"]:.2f}x)')
    return lines


def _int8_markdown(timings: list[dict], mious: list[dict]) -> list[str]:
    """The README's int8 table: per model and resolution, fp32 vs int8 ms and mIoU."""
    miou = {Path(r['model']).name: 100 * r['miou'] for r in mious}
    lines = ['| model | input | fp32 ms | int8 ms | speed-up | fp32 mIoU % | int8 mIoU % |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for t in timings:
        if t['precision'] != 'int8':
            continue
        name = Path(t['model']).name
        base = name.replace('_int8.onnx', '')
        fp32 = next((r for r in timings if r['resolution'] == t['resolution']
                     and r['backend'] == 'onnx' and r['precision'] != 'int8'
                     and Path(r['model']).stem == base), None)
        if fp32 is None:
            continue
        fp32_name = Path(fp32['model']).name
        lines.append(f'| {base} | {t["resolution"][0]}x{t["resolution"][1]} | '
                     f'{fp32["total_ms"]:.2f} | {t["total_ms"]:.2f} | '
                     f'{fp32["total_ms"] / t["total_ms"]:.2f}x | '
                     + (f'{miou[fp32_name]:.2f}' if fp32_name in miou else '-') + ' | '
                     + (f'{miou[name]:.2f}' if name in miou else '-') + ' |')
    return lines


def _timing_table(timings) -> list[str]:
    from sgcp_core.benchmark import STAGES
    several = len({t.model for t in timings}) > 1
    header = ((f'{"model":<34} {"prec":<5} ' if several else '')
              + f'{"backend":<7} {"device":<6} {"input":>9}  '
              + '  '.join(f'{s:>15}' for s in STAGES)
              + f'  {"total":>8} {"FPS":>6} {"bare":>8} {"total/bare":>10}')
    lines = [header, '-' * len(header)]
    for t in timings:
        cells = [f'{t.stages_ms[s]:7.2f} ({100 * t.share(s):3.0f}%)' if s in t.stages_ms
                 else f'{"-":>15}' for s in STAGES]
        bare = '-' if t.bare_forward_ms is None else f'{t.bare_forward_ms:.2f}'
        ratio = '-' if t.bare_forward_ms is None else f'{t.total_ms / t.bare_forward_ms:.2f}x'
        model = f'{Path(t.model).stem[:34]:<34} {t.precision:<5} ' if several else ''
        lines.append(model
                     + f'{t.backend:<7} {t.device:<6} {t.resolution[0]:>4}x{t.resolution[1]:<4}  '
                     + '  '.join(cells)
                     + f'  {t.total_ms:8.2f} {t.fps:6.1f} {bare:>8} {ratio:>10}')
    if several:
        return lines + _int8_lines(timings)
    by_size: dict = {}
    for t in timings:
        by_size.setdefault(t.resolution, []).append(t)
    for (height, width), rows in by_size.items():
        if len(rows) > 1:
            fastest = min(rows, key=lambda r: r.total_ms)
            others = ', '.join(f'{r.backend} {r.total_ms / fastest.total_ms:.2f}x slower'
                               for r in rows if r is not fastest)
            lines.append(f'at {height}x{width}: {fastest.backend} fastest; {others}')
    sizes = sorted(by_size, key=lambda s: s[0] * s[1])
    if len(sizes) > 1:
        for backend in dict.fromkeys(t.backend for t in timings):
            small = next((t for t in by_size[sizes[0]] if t.backend == backend), None)
            large = next((t for t in by_size[sizes[-1]] if t.backend == backend), None)
            if small and large:
                lines.append(f'{backend}: {large.resolution[0]}x{large.resolution[1]} takes '
                             f'{large.total_ms / small.total_ms:.2f}x the time of '
                             f'{small.resolution[0]}x{small.resolution[1]} '
                             f'({large.resolution[0] * large.resolution[1] / (small.resolution[0] * small.resolution[1]):.0f}x the pixels)')  # noqa: E501
    return lines


def _batching(args: argparse.Namespace, config, model_paths: list[Path]) -> list[dict]:
    """--batch: batched against sequential per model, backend and resolution."""
    from sgcp_core import benchmark
    frames, source = _load_frames(args)
    backends = args.backends or [
        b for b in ('torch', 'onnx')
        if b == 'torch' or importlib.util.find_spec('onnxruntime') is not None]
    timings, notes = benchmark.compare_batching(config, backends, args.resolution, frames,
                                                args.runs, args.batch, models=model_paths)
    print(f'batches of {args.batch} frames ({source}) against the same frames one by one, '
          f'ms per frame through the engine (labels only), median of {args.runs} rounds, '
          'the two alternating:')
    print(f'{"model":<34} {"backend":<7} {"device":<6} {"input":>9} {"one by one":>10} '
          f'{"batched":>8} {"speed-up":>8}')
    for t in timings:
        print(f'{Path(t.model).stem[:34]:<34} {t.backend:<7} {t.device:<6} '
              f'{t.resolution[0]:>4}x{t.resolution[1]:<4} {t.sequential_ms:10.2f} '
              f'{t.batched_ms:8.2f} {t.speedup:7.2f}x')
    for note in notes:
        print(f'not batched: {note}')
    return [t.to_dict() for t in timings]


def _model_mious(args: argparse.Namespace, config, model_paths: list[Path]) -> list[dict]:
    """Val mIoU of every model file through the engine (labels by upsampled logits)."""
    from sgcp_core.config import DataConfig
    from sgcp_core.data import build_dataset
    from sgcp_core.engine import Segmenter
    from sgcp_core.evaluation import evaluate_engine
    dataset = build_dataset(DataConfig(root=str(_data_root(args.data)), preload=False), 'val')
    count = len(dataset) if args.limit <= 0 else min(args.limit, len(dataset))
    results = []
    for path in model_paths:
        segmenter = Segmenter(dataclasses.replace(
            config, model_path=str(path), input_height=0, input_width=0,
            backend='onnx' if path.suffix.lower() == '.onnx' else config.backend,
            label_mode='upsample_logits', warmup_runs=1))
        matrix = evaluate_engine(segmenter, dataset, range(count), progress=True)
        results.append({'model': str(path), 'precision': segmenter.meta.precision,
                        'miou': matrix.miou(), 'pixel_accuracy': matrix.pixel_accuracy(),
                        'frames': count, 'engine': segmenter.describe()})
        segmenter.close()
    print(f'val mIoU on {count} labelled frames (engine, labels from upsampled logits, '
          "each model at its own input size):")
    print(f'{"model":<40} {"prec":<5} {"mIoU %":>7} {"pixel acc %":>11} {"vs fp32":>8}')
    for r in results:
        base = Path(r['model']).name.replace('_int8.onnx', '')
        fp32 = next((f for f in results if f['precision'] != 'int8'
                     and Path(f['model']).stem == base), None)
        delta = (f'{100 * (r["miou"] - fp32["miou"]):+.2f}'
                 if fp32 is not None and r is not fp32 and r['precision'] == 'int8' else '')
        print(f'{Path(r["model"]).name[:40]:<40} {r["precision"]:<5} {100 * r["miou"]:7.2f} '
              f'{100 * r["pixel_accuracy"]:11.2f} {delta:>8}')
    return results


def run(args: argparse.Namespace) -> int:
    from sgcp_core import benchmark
    from sgcp_core.engine import Segmenter
    from sgcp_core.files import atomic_write
    config = engine_config_from_args(args)
    model_paths = _model_paths(args, config)
    model_path = model_paths[0]
    config = dataclasses.replace(config, model_path=str(model_path))
    report: dict = {'model': str(model_path), 'models': [str(p) for p in model_paths]}
    for path in model_paths:
        print(f'sgcp bench: {_model_title(path)}')
    if not args.no_timing:
        frames, source = _load_frames(args)
        backends = args.backends or [
            b for b in ('torch', 'onnx')
            if b == 'torch' or importlib.util.find_spec('onnxruntime') is not None]
        if all(p.suffix.lower() == '.onnx' for p in model_paths):
            backends = [b for b in backends if b == 'onnx']
        print(f'{source}; median of {args.runs} runs per row (rows interleaved), milliseconds')
        timings = benchmark.bench_engines(config, backends, args.resolution, frames,
                                          args.runs, bare=not args.no_bare,
                                          confidence=args.confidence, models=model_paths)
        print('\n'.join(_timing_table(timings)))
        report['timings'] = [t.to_dict() for t in timings]
    if args.batch and args.batch > 1:
        report['batching'] = _batching(args, config, model_paths)
    if args.miou:
        report['miou'] = _model_mious(args, config, model_paths)
    if args.int8 and 'timings' in report:
        print('\n'.join(_int8_markdown(report['timings'], report.get('miou', []))))
    if args.label_modes:
        from sgcp_core.config import DataConfig
        from sgcp_core.data import build_dataset
        dataset = build_dataset(DataConfig(root=str(_data_root(args.data)), preload=False),
                                'val')
        count = len(dataset) if args.limit <= 0 else min(args.limit, len(dataset))
        segmenter = Segmenter(config)
        samples = [dataset.load_raw(i) for i in range(count)]
        results = benchmark.compare_label_modes(segmenter, samples, progress=True)
        print(f'label modes on {count} labelled val frames ({segmenter.describe()}):')
        width = max(map(len, LABEL_MODES))
        print(f'{"output":>9}  {"mode":<{width}} {"mIoU %":>7} {"pixel acc %":>11} '
              f'{"postprocess ms":>14}')
        for r in results:
            print(f'{r.output_size[0]:>4}x{r.output_size[1]:<4}  {r.mode:<{width}} '
                  f'{100 * r.miou:7.2f} {100 * r.pixel_accuracy:11.2f} '
                  f'{r.postprocess_ms:14.2f}')
        first, second = results[0], results[1]   # both modes at the dataset's resolution
        deltas = sorted(((name, first.per_class_iou[name], second.per_class_iou[name])
                         for name in segmenter.model_classes.names
                         if first.per_class_iou[name] is not None
                         and second.per_class_iou[name] is not None),
                        key=lambda item: abs(item[1] - item[2]), reverse=True)
        print(f'largest per-class IoU differences ({second.mode} - {first.mode}): '
              + ', '.join(f'{name} {100 * (b - a):+.2f}' for name, a, b in deltas[:4]))
        report['label_modes'] = [r.to_dict() for r in results]
    if args.cloud:
        from sgcp_core.config import CloudConfig
        label_size = tuple(args.resolution[0])
        report['cloud'] = []
        for depth_size in args.cloud:
            for fields in ((), ('rgb', 'confidence')):
                cloud = CloudConfig(decimation=args.cloud_decimation,
                                    **dict.fromkeys(fields, True))
                ms = benchmark.time_semantic_cloud(depth_size, label_size, cloud, args.runs)
                print(f'semantic cloud: depth {depth_size[0]}x{depth_size[1]}, decimation '
                      f'{args.cloud_decimation}, labels {label_size[0]}x{label_size[1]}, '
                      f'fields x y z label{"".join(" " + f for f in fields)}: {ms:.2f} ms '
                      f'(median of {args.runs}; the node adds depth decoding and packing)')
                report['cloud'].append({'depth_size': list(depth_size),
                                        'decimation': args.cloud_decimation,
                                        'fields': ['x', 'y', 'z', 'label', *fields],
                                        'ms': ms})
    if args.json:
        text = json.dumps(report, indent=2)
        atomic_write(args.json, lambda temp: Path(temp).write_text(text))
        print(f'wrote {args.json}')
    return 0
