# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``check_bag SCENARIO.yaml``: a segmentation regression test on a bag, pass or fail.

A scenario (config/check_bag_camvid_val.yaml; docs/bags.md) names a bag, its topics, an
engine (any EngineConfig field), a mode (``offline``: ``evaluate_bag``; ``live``:
``replay_bag`` into a node process started here, or ``running_node: NAMESPACE``) and the
criteria (CRITERIA) to meet. Writes results.jsonl (per frame), summary.json (criteria,
measured values, bag hash and integrity, engine) and junit.xml. Exit status: 0 pass, 1 a
criterion fails, 2 the scenario could not run (bad file, key or value, topic, damaged bag).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sgcp_core.cli import ArgumentParser, run_command
from sgcp_core.config import EngineConfig, replace_from_dict
from sgcp_core.errors import CommandError
from sgcp_core.files import atomic_write, file_digest, new_output, write_json
from sgcp_core.timing import latency_stats
from sgcp_ros import topics
from sgcp_ros.bag.common import options_from, topic_name

__all__ = ['Scenario', 'load_scenario', 'run_scenario', 'main']

MODES = ('offline', 'live')
CRITERIA = {  # name -> (comparison, unit, lowest, highest limit, live only)
    'min_miou': ('>=', '%', 0, 100, False),
    'min_class_iou': ('>=', '%', 0, 100, False),
    'max_latency_p95_ms': ('<=', 'ms', 0, 3.6e6, False),
    'max_drop_rate': ('<=', '', 0, 1, True),
    'min_frame_miou': ('>=', '%', 0, 100, False),
}
NUMBERS = {  # scenario key -> (type, lowest, highest; 0 excluded where marked)
    'stamp_tolerance_ms': (float, 0, 3.6e6), 'max_frames': (int, 0, 10**9),
    'rate': (float, 1e-3, 1e3), 'node_start_timeout_s': (float, 1, 3600),
}


@dataclass(frozen=True)
class Scenario:
    """A scenario file, checked: every key known, every value of the right type and range."""

    path: Path
    bag: Path
    image_topic: str | None = None
    label_topic: str | None = None
    mode: str = 'offline'
    engine: EngineConfig = EngineConfig()
    criteria: dict = field(default_factory=dict)
    stamp_tolerance_ms: float = 1.0
    max_frames: int = 0
    rate: float = 1.0                   # live: multiple of the recorded rate
    node_start_timeout_s: float = 180.0
    running_node: str | None = None     # live: namespace of a running node; None = start one


def _fail(path: Path, text: str):
    raise CommandError(f'{path}: {text}')


def _number(path: Path, key: str, value, kind: type, low: float, high: float):
    """``value`` if a finite ``kind`` from ``low`` to ``high``; else exit 2 naming ``key``."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (kind is int and not isinstance(value, int))
            or not (math.isfinite(value) and low <= value <= high)):
        _fail(path, f'key {key}: expected {"a whole number" if kind is int else "a number"} '
                    f'from {low:g} to {high:g}, got {value!r}')
    return kind(value)


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; CommandError naming the file and the key at fault."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        _fail(path, f'not valid YAML: {" ".join(str(error).split())}')
    if not isinstance(values, dict):
        _fail(path, 'expected a mapping of scenario keys (bag, mode, criteria, ...)')
    engine_fields = {f.name for f in dataclasses.fields(EngineConfig)}
    known = {f.name for f in dataclasses.fields(Scenario)} - {'path'} | {'model'} | engine_fields
    for key in values:
        if key not in known:
            _fail(path, f'unknown key {key!r}; known keys: {", ".join(sorted(known))}')
    if not values.get('bag'):
        _fail(path, "missing key 'bag' (the bag's path, relative to the scenario file)")
    mode = values.get('mode', 'offline')
    if mode not in MODES:
        _fail(path, f"key 'mode': expected one of {MODES}, got {mode!r}")
    engine_values = values.get('engine') or {}
    if not isinstance(engine_values, dict):
        _fail(path, "key 'engine': expected a mapping of EngineConfig fields")
    # EngineConfig fields may also stand at the top level (backend: onnx), not in both places.
    for key in engine_fields & set(values):
        if key in engine_values:
            _fail(path, f'key {key!r} is set both at the top level and under engine:')
        engine_values = {**engine_values, key: values[key]}
    if 'model' in values:
        engine_values = {**engine_values, 'model_path': values['model'] or ''}
    model = engine_values.get('model_path', '')
    if model and not Path(model).is_absolute():
        engine_values['model_path'] = str(path.parent / model)
    try:
        engine = replace_from_dict(EngineConfig(), engine_values, f'{path}: engine')
    except ValueError as error:
        raise CommandError(str(error)) from None
    criteria = values.get('criteria') or {}
    if not isinstance(criteria, dict) or not criteria:
        _fail(path, f"key 'criteria': expected a mapping with at least one of "
                    f'{", ".join(CRITERIA)}')
    for name, limit in criteria.items():
        if name not in CRITERIA:
            _fail(path, f'unknown key criteria.{name}; known: {", ".join(CRITERIA)}')
        low, high = CRITERIA[name][2:4]
        if name != 'min_class_iou':
            criteria[name] = _number(path, f'criteria.{name}', limit, float, low, high)
        elif not isinstance(limit, dict) or not limit:
            _fail(path, 'key criteria.min_class_iou: expected a number per class name, like '
                        f'{{Road: 90.0}}, got {limit!r}')
        else:
            for class_name, value in limit.items():
                limit[class_name] = _number(path, f'criteria.min_class_iou.{class_name}',
                                            value, float, low, high)
    numbers = {key: _number(path, key, values[key], *NUMBERS[key])
               for key in NUMBERS if key in values}
    if values.get('running_node') is not None and (engine_values or mode != 'live'):
        _fail(path, "key 'running_node' is for mode: live with the running node's own engine "
                    f'(remove {", ".join(sorted(engine_values)) or "it or set mode: live"})')
    for key in ('image_topic', 'label_topic', 'running_node'):
        if values.get(key) not in (None, '' if key == 'label_topic' else None):
            try:
                topic_name(values[key] if isinstance(values[key], str) else repr(values[key]))
            except argparse.ArgumentTypeError as error:
                _fail(path, f'key {key!r}: {error}')
    return Scenario(path=path, bag=path.parent / str(values['bag']),
                    image_topic=values.get('image_topic'),
                    label_topic=values.get('label_topic'), mode=mode, engine=engine,
                    running_node=values.get('running_node'), criteria=criteria, **numbers)


def _bag_hash(bag: Path) -> str:
    """sha256 over the bag's files: each one's name and sha256, in name order."""
    files = [bag] if bag.is_file() else sorted(p for p in bag.iterdir() if p.is_file())
    return hashlib.sha256(''.join(f'{f.name}\0{file_digest(f)}\n' for f in files).encode()
                          ).hexdigest()


def _run_offline(scenario: Scenario, out: Path) -> dict:
    from sgcp_core.engine import Segmenter
    from sgcp_ros.bag.evaluate_bag import EvaluationOptions, evaluate_bag
    evaluation = evaluate_bag(scenario.bag, lambda: Segmenter(scenario.engine),
                              options_from(EvaluationOptions, scenario))
    evaluation.write(out / 'evaluation', scenario.bag.name)
    return evaluation.report


def _run_live(scenario: Scenario, out: Path) -> dict:
    """replay_bag into the running node, or into one started here (the scenario's engine,
    the transport of the bag's frames)."""
    from sgcp_ros.bag.bagfile import BagReader
    from sgcp_ros.bag.replay_bag import ReplayOptions, replay_bag
    from sgcp_ros.node_process import NodeProcess, NodeProcessError, node_arguments
    with BagReader(scenario.bag) as reader:   # a bad bag or topic fails before the node starts
        image_topic, _ = reader.image_topics(scenario.image_topic, scenario.label_topic)
        compressed = reader.topics[image_topic] == topics.COMPRESSED_IMAGE_TYPE
    namespace, node = scenario.running_node, None
    if namespace is None:
        namespace = f'/check_bag_{os.getpid()}'
        parameters = {'image_transport': 'compressed' if compressed else 'raw'}
        parameters.update({spec.name: getattr(scenario.engine, spec.name)
                           for spec in dataclasses.fields(EngineConfig)
                           if getattr(scenario.engine, spec.name) != spec.default})
        node = NodeProcess(out / 'node.log', node_arguments(namespace, parameters=parameters))
    namespace = namespace.rstrip('/')
    options = options_from(ReplayOptions, scenario, publish_topic=namespace + topics.NODE_IMAGE,
                           node_labels_topic=namespace + topics.NODE_LABELS,
                           wait_for_node_s=scenario.node_start_timeout_s)
    try:
        return replay_bag(scenario.bag, options, node=node)
    except NodeProcessError as error:   # the scenario's engine options, a bad model, ...
        raise CommandError(str(error)) from None
    finally:
        if node is not None:
            node.stop(timeout_s=20)


def _measure(scenario: Scenario, report: dict, latency: dict) -> list[dict]:
    """One entry per criterion (per class for min_class_iou): limit, measured, verdict."""
    metrics, frames = report['metrics'], report['frame_log']
    needs_truth = sorted({'min_miou', 'min_class_iou', 'min_frame_miou'} & set(scenario.criteria))
    if needs_truth and report['label_topic'] is None:
        raise CommandError(f'{scenario.path}: criteria {", ".join(needs_truth)} need ground '
                           f'truth, and {scenario.bag} has no label topic (set label_topic)')
    per_class = {} if metrics is None else metrics['per_class_iou']
    measured = {
        'min_miou': None if metrics is None else 100 * metrics['miou'],
        'max_latency_p95_ms': latency['p95'],
        'min_frame_miou': min((f['miou'] for f in frames if f.get('miou') is not None),
                              default=None),
        'max_drop_rate': (report['frames']['dropped'] / report['frames']['published']
                          if report['frames'].get('published') else None),
        **{f'min_class_iou.{name}': None if value is None else 100 * value
           for name, value in per_class.items()}}
    results = []
    for name, limit in scenario.criteria.items():
        comparison, unit, _, _, live_only = CRITERIA[name]
        if live_only and scenario.mode != 'live':
            results.append({'name': name, 'limit': limit, 'measured': None,
                            'verdict': 'skipped', 'reason': 'measured in live mode only'})
            continue
        for key, bound in ({f'{name}.{c}': v for c, v in limit.items()}.items()
                           if name == 'min_class_iou' else [(name, limit)]):
            if metrics is not None and key.startswith('min_class_iou.') and key not in measured:
                raise CommandError(
                    f'{scenario.path}: criteria.min_class_iou names class {key[14:]!r}, which '
                    f'the model does not have; its classes: {", ".join(per_class)}')
            value = measured.get(key)
            passed = value is not None and (value >= bound if comparison == '>=' else
                                            value <= bound)
            results.append({'name': key, 'limit': bound,
                            'measured': None if value is None else round(value, 4),
                            'verdict': 'pass' if passed else 'fail',
                            'reason': 'nothing measured (no frame scored or answered)'
                            if value is None else f'measured {value:.4g}{unit}, required '
                            f'{comparison} {bound:g}{unit}'})
    if all(r['verdict'] == 'skipped' for r in results):
        raise CommandError(f'{scenario.path}: no criterion applies in {scenario.mode} mode '
                           f'({", ".join(scenario.criteria)}); a check of nothing cannot pass')
    return results


def _frame_results(scenario: Scenario, report: dict) -> list[dict]:
    """results.jsonl lines: each frame with its per-frame checks."""
    criteria, lines = scenario.criteria, []
    for frame in report['frame_log']:
        checks = {'decoded': frame['status'] != 'skipped'}
        if scenario.mode == 'live':
            checks['answered'] = frame['status'] == 'answered'
        latency = frame.get('latency_ms')
        if 'max_latency_p95_ms' in criteria and latency is not None:
            checks['latency_within_limit'] = latency <= criteria['max_latency_p95_ms']
        if 'min_frame_miou' in criteria and frame.get('miou') is not None:
            checks['min_frame_miou'] = frame['miou'] >= criteria['min_frame_miou']
        lines.append({'frame': frame['index'], 'stamp_ns': frame['stamp_ns'],
                      'status': frame['status'], 'reason': frame.get('reason'),
                      'miou': frame.get('miou'), 'pixel_accuracy': frame.get('pixel_accuracy'),
                      'latency_ms': latency, 'checks': checks, 'pass': all(checks.values())})
    return lines


def _junit(name: str, results: list[dict], seconds: float) -> str:
    """junit.xml: one testsuite, one testcase per criterion (failure or skipped)."""
    root = ElementTree.Element('testsuites')
    suite = ElementTree.SubElement(
        root, 'testsuite', name=f'check_bag.{name}', tests=str(len(results)),
        failures=str(sum(r['verdict'] == 'fail' for r in results)),
        skipped=str(sum(r['verdict'] == 'skipped' for r in results)), time=f'{seconds:.3f}')
    for result in results:
        case = ElementTree.SubElement(suite, 'testcase', classname=f'check_bag.{name}',
                                      name=result['name'])
        if result['verdict'] != 'pass':
            ElementTree.SubElement(case, 'failure' if result['verdict'] == 'fail'
                                   else 'skipped', message=result['reason'])
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding='unicode', xml_declaration=True) + '\n'


def run_scenario(scenario: Scenario, out: Path) -> dict:
    """Run ``scenario`` and write results.jsonl, summary.json and junit.xml into ``out``;
    the summary (``summary['passed']``: the verdict)."""
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    bag_hash = _bag_hash(scenario.bag) if scenario.bag.exists() else None
    report = (_run_live if scenario.mode == 'live' else _run_offline)(scenario, out)
    frames = _frame_results(scenario, report)
    latency = latency_stats([line['latency_ms'] for line in frames
                             if line['latency_ms'] is not None])
    criteria = _measure(scenario, report, latency)
    lines = ''.join(json.dumps(line) + '\n' for line in frames)
    atomic_write(out / 'results.jsonl', lambda temp: Path(temp).write_text(lines))
    summary = {
        'scenario': str(scenario.path), 'mode': scenario.mode,
        'passed': all(c['verdict'] != 'fail' for c in criteria), 'criteria': criteria,
        'bag': {'path': str(scenario.bag), 'sha256': bag_hash,
                'integrity': report['integrity'], 'image_topic': report['image_topic'],
                'label_topic': report['label_topic']},
        'integrity': report['integrity'],
        'model': (report.get('engine') or {}).get('model') or scenario.engine.model_path,
        'engine': report.get('engine'),
        'config': {'engine': dataclasses.asdict(scenario.engine),
                   'stamp_tolerance_ms': scenario.stamp_tolerance_ms,
                   'max_frames': scenario.max_frames, 'rate': scenario.rate},
        'frames': {**report['frames'], 'frames_failing_checks':
                   sum(not line['pass'] for line in frames)},
        'metrics': report['metrics'],
        'latency_ms': latency,
        'seconds': round(time.monotonic() - started, 3),
    }
    write_json(out / 'summary.json', summary)
    junit = _junit(scenario.path.stem, criteria, summary['seconds'])
    atomic_write(out / 'junit.xml', lambda temp: Path(temp).write_text(junit))
    return summary


def _run(args) -> int:
    scenario = load_scenario(args.scenario)
    out = new_output(args.out or args.scenario.with_name(args.scenario.stem + '_results'),
                     '--out', args.force)
    summary = run_scenario(scenario, out)
    for criterion in summary['criteria']:
        print(f'{criterion["verdict"].upper():7} {criterion["name"]}: '
              f'{criterion.get("reason", "")}')
    print(f'{"PASSED" if summary["passed"] else "FAILED"}: {scenario.path} ({scenario.mode}, '
          f'{summary["frames"]["images_read"]} frames, integrity {summary["integrity"]}); '
          f'wrote {out}/summary.json, results.jsonl, junit.xml')
    return 0 if summary['passed'] else 1


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog='check_bag',
        description='Run a segmentation regression scenario (bag + criteria) and exit 0 '
                    'if every criterion passes, 1 if one fails, 2 if it could not run.')
    parser.add_argument('scenario', type=Path, help='scenario YAML file')
    parser.add_argument('--out', type=Path, help='new folder for results.jsonl, summary.json '
                        'and junit.xml (default: <scenario>_results beside the scenario)')
    parser.add_argument('--force', action='store_true', help='write into an existing --out')
    return run_command('check_bag', lambda: _run(parser.parse_args(argv)))


if __name__ == '__main__':
    sys.exit(main())
