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
BENCH_BACKENDS = ('torch', 'onnx', 'openvino')

EPILOG = '''examples:
  sgcp bench -m best.pt
      every backend installed (torch, onnx, openvino at each precision the CPU has) at
      360x480 and 720x960 on CamVid val frames (from the data config)
  sgcp bench -m best.pt --frames my_frames/ --resolution 480x640 1080x1920 --runs 50
  sgcp bench -m best.pt --label-modes --no-timing
      mIoU and cost of the label modes on the labelled CamVid val split
  sgcp bench --models models/camvid/sgcpnet_camvid_mobilenetv2.pt \
      models/camvid/sgcpnet_camvid_mobilenetv3.pt --no-timing --batch 4 --resolution 360x480
      four cameras' frames through one network run against one by one, per frame: what the
      node's camera_batching chooses between
  sgcp bench --models models/camvid/sgcpnet_camvid_mobilenetv2.pt \
      models/camvid/sgcpnet_camvid_mobilenetv3.pt --int8 --miou
      each model next to its int8 files (<stem>_int8.onnx from "sgcp export --int8", and
      <stem>_int8.xml from "sgcp export --int8 --openvino" where it exists) on every
      backend: ms per frame at both resolutions, each row's speed against ONNX Runtime
      fp32 of the same model, and CamVid val mIoU of every file and precision

How to read it: every row is the median over --runs frames of one backend with the
network running at HxW on frames of that size ("openvino f32", "openvino bf16": OpenVINO
at that inference precision; --precision picks one, default every one the device has).
The stage columns add up to "total" and show their share of it; "bare" is the network
alone (model(x) / session.run on a ready tensor, its own upsampling included) and
"total/bare" what the engine adds on top. "inf x" and "total x" are how many times faster
than ONNX Runtime running the same model's fp32 graph at that size the row's inference and
total are. Other processes on the machine slow every row alike, but compare rows of one
run only.
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
    parser.add_argument('--backends', nargs='+', choices=BENCH_BACKENDS,
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
                        help='add each model\'s <stem>_int8.onnx (sgcp export --int8) and, '
                             'when it exists, <stem>_int8.xml (sgcp export --int8 '
                             '--openvino), and compare them with the model')
    parser.add_argument('--miou', action='store_true',
                        help='also score every model file on the labelled val split (--data, '
                             '--limit) through the engine, at its own input size')
    parser.add_argument('--batch', type=positive_int, metavar='N',
                        help='also time N frames in one network run against the same N one '
                             'by one (the node\'s camera_batching; interleaved, ms per frame)')
    parser.add_argument('--json', metavar='PATH', type=output_file,
                        help='also write every figure as JSON')
    parser.add_argument('--force', action='store_true',
                        help='replace the --json file if it exists (without, an existing file '
                             'is an error)')
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


def _installed_backends() -> list[str]:
    return ['torch'] + [backend for backend, module in (('onnx', 'onnxruntime'),
                                                        ('openvino', 'openvino'))
                        if importlib.util.find_spec(module) is not None]


def _openvino_precisions(config) -> list[str]:
    """--precision, or with 'auto' every precision OpenVINO's device computes in."""
    if config.precision != 'auto':
        return [config.precision]
    from sgcp_core.engine.openvino_backend import device_precisions
    return device_precisions(config.openvino_device)


def _model_title(segmenter_path: Path) -> str:
    from sgcp_core.checkpoint import read_meta
    if segmenter_path.suffix.lower() == '.xml':
        from sgcp_core.engine.openvino_backend import read_ir_meta
        meta = read_ir_meta(segmenter_path)
    else:
        meta = read_meta(segmenter_path)
    epoch = meta.training.epoch if meta.training is not None else None
    return (f'{segmenter_path} ({meta.variant}, {meta.precision}'
            + (f', epoch {epoch}' if epoch is not None else '') + ')')


def _model_paths(args: argparse.Namespace, config) -> list[Path]:
    """--models or --model, each followed by its int8 files with --int8 (the QDQ .onnx,
    and the OpenVINO IR where one was made)."""
    from sgcp_core.cli import CommandError
    from sgcp_core.quantize import int8_path, openvino_int8_path
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
            if openvino_int8_path(path).is_file():
                paths.append(openvino_int8_path(path))
    return list(dict.fromkeys(paths))


def _base_stem(model: str) -> str:
    """The fp32 model a file belongs to: 'x' for x.pt, x.onnx, x_int8.onnx, x_int8.xml."""
    stem = Path(model).stem
    return stem[:-len('_int8')] if stem.endswith('_int8') else stem


def _ort_fp32(row, rows):
    """The ONNX Runtime row of ``row``'s model's fp32 graph at the same size, or None."""
    return next((r for r in rows if r.resolution == row.resolution and r.backend == 'onnx'
                 and r.precision == 'fp32' and _base_stem(r.model) == _base_stem(row.model)),
                None)


def _timing_table(timings) -> list[str]:
    from sgcp_core.benchmark import STAGES
    several = len({t.model for t in timings}) > 1
    header = ((f'{"model":<34} {"prec":<5} ' if several else '')
              + f'{"backend":<13} {"device":<6} {"input":>9}  '
              + '  '.join(f'{s:>15}' for s in STAGES)
              + f'  {"total":>8} {"FPS":>6} {"bare":>8} {"total/bare":>10}'
              + f' {"inf x":>6} {"total x":>7}')
    lines = [header, '-' * len(header)]
    for t in timings:
        cells = [f'{t.stages_ms[s]:7.2f} ({100 * t.share(s):3.0f}%)' if s in t.stages_ms
                 else f'{"-":>15}' for s in STAGES]
        bare = '-' if t.bare_forward_ms is None else f'{t.bare_forward_ms:.2f}'
        ratio = '-' if t.bare_forward_ms is None else f'{t.total_ms / t.bare_forward_ms:.2f}x'
        base = _ort_fp32(t, timings)
        speed = (f'{base.stages_ms["inference"] / t.stages_ms["inference"]:5.2f}x '
                 f'{base.total_ms / t.total_ms:6.2f}x' if base is not None
                 else f'{"-":>6} {"-":>7}')
        model = f'{Path(t.model).name[:34]:<34} {t.precision:<5} ' if several else ''
        lines.append(model
                     + f'{t.label:<13} {t.device:<6} {t.resolution[0]:>4}x{t.resolution[1]:<4}  '
                     + '  '.join(cells)
                     + f'  {t.total_ms:8.2f} {t.fps:6.1f} {bare:>8} {ratio:>10} {speed}')
    if several:
        return lines
    by_size: dict = {}
    for t in timings:
        by_size.setdefault(t.resolution, []).append(t)
    for (height, width), rows in by_size.items():
        if len(rows) > 1:
            fastest = min(rows, key=lambda r: r.total_ms)
            others = ', '.join(f'{r.label} {r.total_ms / fastest.total_ms:.2f}x slower'
                               for r in rows if r is not fastest)
            lines.append(f'at {height}x{width}: {fastest.label} fastest; {others}')
    sizes = sorted(by_size, key=lambda s: s[0] * s[1])
    if len(sizes) > 1:
        for backend in dict.fromkeys(t.label for t in timings):
            small = next((t for t in by_size[sizes[0]] if t.label == backend), None)
            large = next((t for t in by_size[sizes[-1]] if t.label == backend), None)
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
    backends = args.backends or _installed_backends()
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


def _miou_cases(args: argparse.Namespace, config, model_paths: list[Path]):
    """(model, backend, OpenVINO precision) of every file and precision --miou scores: a
    checkpoint with --backend's choice (auto), an .onnx with ONNX Runtime and, when
    --backends has openvino (or leaves it to what is installed), OpenVINO at each of its
    precisions; an OpenVINO IR with OpenVINO."""
    backends = args.backends or _installed_backends()
    precisions = _openvino_precisions(config) if 'openvino' in backends else []
    for path in model_paths:
        suffix = path.suffix.lower()
        if suffix == '.pt':
            yield path, config.backend, config.precision
            continue
        if suffix == '.onnx':
            yield path, 'onnx', 'auto'
        for precision in (precisions if suffix == '.onnx' else precisions or ['auto']):
            yield path, 'openvino', precision


def _model_mious(args: argparse.Namespace, config, model_paths: list[Path]) -> list[dict]:
    """Val mIoU of every model file (and OpenVINO precision) through the engine (labels by
    upsampled logits), each against its model's fp32 graph under ONNX Runtime."""
    from sgcp_core.config import DataConfig
    from sgcp_core.data import build_dataset
    from sgcp_core.engine import Segmenter
    from sgcp_core.evaluation import evaluate_engine
    dataset = build_dataset(DataConfig(root=str(_data_root(args.data)), preload=False), 'val')
    count = len(dataset) if args.limit <= 0 else min(args.limit, len(dataset))
    results = []
    for path, backend, precision in _miou_cases(args, config, model_paths):
        segmenter = Segmenter(dataclasses.replace(
            config, model_path=str(path), input_height=0, input_width=0, backend=backend,
            precision=precision, label_mode='upsample_logits', warmup_runs=1))
        compute = (segmenter.backend.inference_precision
                   if segmenter.backend_name == 'openvino' else '')
        matrix = evaluate_engine(segmenter, dataset, range(count), progress=True)
        results.append({'model': str(path), 'precision': segmenter.meta.precision,
                        'backend': segmenter.backend_name, 'compute': compute,
                        'miou': matrix.miou(), 'pixel_accuracy': matrix.pixel_accuracy(),
                        'frames': count, 'engine': segmenter.describe()})
        segmenter.close()
    print(f'val mIoU on {count} labelled frames (engine, labels from upsampled logits, '
          "each model at its own input size):")
    print(f'{"model":<40} {"prec":<5} {"backend":<13} {"mIoU %":>7} {"pixel acc %":>11} '
          f'{"vs ORT fp32":>11}')
    for r in results:
        fp32 = next((f for f in results if f['precision'] == 'fp32' and f['backend'] == 'onnx'
                     and _base_stem(f['model']) == _base_stem(r['model'])), None)
        delta = (f'{100 * (r["miou"] - fp32["miou"]):+.2f}'
                 if fp32 is not None and r is not fp32 else '')
        label = f'{r["backend"]} {r["compute"]}'.strip()
        print(f'{Path(r["model"]).name[:40]:<40} {r["precision"]:<5} {label:<13} '
              f'{100 * r["miou"]:7.2f} {100 * r["pixel_accuracy"]:11.2f} {delta:>11}')
    return results


def run(args: argparse.Namespace) -> int:
    from sgcp_core import benchmark
    from sgcp_core.engine import Segmenter
    from sgcp_core.files import atomic_write, new_output
    if args.json:
        new_output(args.json, '--json', args.force)
    config = engine_config_from_args(args)
    model_paths = _model_paths(args, config)
    model_path = model_paths[0]
    config = dataclasses.replace(config, model_path=str(model_path))
    report: dict = {'model': str(model_path), 'models': [str(p) for p in model_paths]}
    for path in model_paths:
        print(f'sgcp bench: {_model_title(path)}')
    if not args.no_timing:
        frames, source = _load_frames(args)
        backends = args.backends or _installed_backends()
        if all(p.suffix.lower() != '.pt' for p in model_paths):
            backends = [b for b in backends if b != 'torch']
        precisions = _openvino_precisions(config) if 'openvino' in backends else ['auto']
        print(f'{source}; median of {args.runs} runs per row (rows interleaved), milliseconds')
        timings = benchmark.bench_engines(config, backends, args.resolution, frames,
                                          args.runs, bare=not args.no_bare,
                                          confidence=args.confidence, models=model_paths,
                                          openvino_precisions=precisions)
        print('\n'.join(_timing_table(timings)))
        report['timings'] = [t.to_dict() for t in timings]
    if args.batch and args.batch > 1:
        report['batching'] = _batching(args, config, model_paths)
    if args.miou:
        report['miou'] = _model_mious(args, config, model_paths)
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
            for fields in ((), ('rgb', 'confidence'), ('per_class',)):
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
