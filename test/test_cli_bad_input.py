# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``sgcp`` with bad input, run as a user runs it: exit status 2 and one line naming the
problem on stderr; never a traceback, an ANSI escape or an empty reason."""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TRAIN_CONFIG = REPO / 'training' / 'camvid_cpu.yaml'


@pytest.fixture(scope='module')
def files(tmp_path_factory, camvid_root, tiny_checkpoint):
    """Bad model files, a good one, a frame and a plain file, made once."""
    import torch
    folder = tmp_path_factory.mktemp('bad_input')
    made = {'frame': sorted((camvid_root / 'val').glob('*.png'))[0], 'folder': folder,
            'good_pt': tiny_checkpoint,
            'plain_file': folder / 'notes.txt', 'random_pt': folder / 'random.pt',
            'text_pt': folder / 'text.pt', 'empty_pt': folder / 'empty.pt',
            'module_pt': folder / 'module.pt', 'random_onnx': folder / 'random.onnx',
            'foreign_pt': folder / 'foreign.pt'}
    made['plain_file'].write_text('not a folder\n')
    made['random_pt'].write_bytes(os.urandom(4096))
    made['text_pt'].write_text('epoch 3, mIoU 0.61\n')
    made['empty_pt'].write_bytes(b'')
    torch.save(torch.nn.Conv2d(3, 3, 1), made['module_pt'])   # a pickled module
    made['random_onnx'].write_bytes(os.urandom(4096))
    made['corrupt_png'] = folder / 'corrupt.png'
    made['corrupt_png'].write_bytes(os.urandom(4096))
    made['corrupt_mp4'] = folder / 'corrupt.mp4'     # FFmpeg would print its own line too
    made['corrupt_mp4'].write_bytes(os.urandom(4096))
    with open(made['foreign_pt'], 'wb') as stream:   # a plain pickle, not torch's zip
        pickle.dump({'weights': [1, 2, 3]}, stream)
    made['camvid'] = camvid_root
    made['folder_pt'] = folder / 'folder.pt'            # a folder named like a model
    made['folder_pt'].mkdir()
    # A model whose default export path (model.onnx beside it) is taken.
    made['exported_pt'] = folder / 'exported.pt'
    shutil.copyfile(tiny_checkpoint, made['exported_pt'])
    (folder / 'exported.onnx').write_bytes(b'an earlier export')
    # A results folder that holds the labels `infer {frame}` would write.
    made['done'] = folder / 'done'
    made['done'].mkdir()
    (made['done'] / f"{made['frame'].stem}_labels.png").write_bytes(b'earlier results')
    return made


def _cases():
    """(id, argv with {name} placeholders for ``files``, words the error line must hold)."""
    infer = ['infer', '{frame}', '--threads', '1']
    cases = [
        ('infer-out-is-a-file', infer + ['--out', '{plain_file}'], 'is a file'),
        ('infer-out-under-a-file', infer + ['--out', '{plain_file}/sub'], 'which is a file'),
        ('infer-out-not-permitted', infer + ['--out', '/sys/sgcp_out'], 'cannot be created'),
        ('infer-threads-negative', infer + ['--threads', '-3'], '--threads'),
        ('infer-input-size-zero', infer + ['--input-size', '0x480'], '--input-size'),
        ('infer-missing-input', ['infer', 'no/such/frame.png'], 'no/such/frame.png'),
        ('infer-missing-model', infer + ['-m', 'no/such/model.pt'], 'no/such/model.pt'),
        ('infer-max-frames-negative', infer + ['--max-frames', '-1'], '--max-frames'),
        ('infer-corrupt-image', ['infer', '{corrupt_png}', '--threads', '1'],
         'cannot read image'),
        ('infer-corrupt-video', ['infer', '{corrupt_mp4}', '--threads', '1'],
         'cannot open video'),
        ('model-random-bytes', infer + ['-m', '{random_pt}'], 'not a PyTorch file'),
        ('model-text-file', infer + ['-m', '{text_pt}'], 'not a PyTorch file'),
        ('model-empty-file', infer + ['-m', '{empty_pt}'], 'the file is empty'),
        ('model-pickled-module', infer + ['-m', '{module_pt}'], 'pickled Python objects'),
        ('model-plain-pickle', infer + ['-m', '{foreign_pt}'], 'not a PyTorch file'),
        ('model-random-onnx', infer + ['-m', '{random_onnx}'], 'random.onnx'),
        ('model-folder', infer + ['-m', '{folder}'], 'is a folder'),
        ('model-folder-named-pt', infer + ['-m', '{folder_pt}'], 'is a folder'),
        ('infer-results-exist', infer + ['--out', '{done}'], 'pass --force'),
        ('eval-scales-zero', ['eval', '--scales', '0'], '--scales'),
        ('eval-scales-negative', ['eval', '--scales', '1', '-1'], '--scales'),
        ('eval-json-is-a-folder', ['eval', '--json', '{folder}'], 'is a folder'),
        ('bench-json-under-a-file', ['bench', '--json', '{plain_file}/figures.json'],
         'which is a file'),
        ('export-onnx-input', ['export', '-m', '{random_onnx}'], 'already ONNX'),
        ('export-out-not-permitted', ['export', '-m', '{good_pt}', '-o', '/sys/x.onnx',
                                      '--no-check'], "'/sys/x.onnx'"),
        ('info-random-onnx', ['info', '--model', '{random_onnx}'], 'random.onnx'),
        ('info-num-classes-zero', ['info', '--num-classes', '0'], '--num-classes'),
        ('info-num-classes-256', ['info', '--num-classes', '256'], '--num-classes'),
        ('info-palette-csv-exists', ['info', '--palette-csv', '{plain_file}'],
         '--palette-csv {plain_file} exists already'),
        ('export-opset-16', ['export', '-m', '{good_pt}', '--opset', '16'], '--opset'),
        ('export-out-exists', ['export', '-m', '{good_pt}', '-o', '{plain_file}', '--no-check'],
         '--out {plain_file} exists already'),
        ('export-default-out-exists', ['export', '-m', '{exported_pt}', '--no-check'],
         'exported.onnx exists already'),
        ('export-int8-out-exists', ['export', '--int8', '-m', '{good_pt}', '-o',
                                    '{plain_file}'], 'pass --force'),
        ('export-int8-calibration-frames-zero', ['export', '--int8', '-m', '{good_pt}',
                                                 '--calibration-frames', '0'],
         '--calibration-frames'),
        ('eval-json-exists', ['eval', '--json', '{plain_file}'], '--json {plain_file} exists'),
        ('bench-json-exists', ['bench', '--json', '{plain_file}'], '--json {plain_file} exists'),
        ('bench-runs-zero', ['bench', '--runs', '0'], '--runs'),
        ('unknown-command', ['paint'], 'paint'),
    ]
    if TRAIN_CONFIG.is_file():
        train = ['train', '--config', str(TRAIN_CONFIG), '--no-progress', '--set']
        cases += [
            ('train-epochs-zero', train + ['train.epochs=0'], 'train.epochs'),
            ('train-epochs-negative', train + ['train.epochs=-1'], 'train.epochs'),
            ('train-batch-size-zero', train + ['train.batch_size=0'], 'train.batch_size'),
            ('train-crop-size-zero', train + ['data.crop_size=[0,0]'], 'data.crop_size'),
            ('train-unknown-key', train + ['train.epochz=3'], 'epochz'),
            ('train-missing-config', ['train', '--config', 'no/such.yaml'], 'no/such.yaml'),
            ('train-resume-a-model-file',
             train + ['data.root={camvid}', '--set', 'train.out_dir={folder}/run', '--resume',
                      '{good_pt}'],
             'is a model file, not a training checkpoint'),
        ]
    return cases


def _run(name: str, argv: list[str], expected: str, files: dict, folder: Path,
         prefix: tuple[str, ...] = ()) -> str:
    """'' when the command failed as it should, else what went wrong."""
    folder.mkdir()
    argv = [part.format(**files) for part in argv]
    expected = expected.format(**files)
    if '--out' not in argv and argv[0] == 'infer':
        argv += ['--out', str(folder / 'out')]
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    result = subprocess.run([*prefix, sys.executable, '-m', 'sgcp_core', *argv], cwd=folder,
                            env=env,
                            capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    prefix = ('sgcp' if argv[0] == 'paint' else f'sgcp {argv[0]}') + ': error: '
    problems = [
        (result.returncode != 2, f'exit status {result.returncode}'),
        ('Traceback' in result.stderr, 'a traceback'),
        ('\x1b' in result.stderr, 'ANSI escapes'),
        (len(lines) != 1, f'{len(lines)} lines'),
        (not (lines and lines[0].startswith(prefix) and len(lines[0]) > len(prefix) + 10),
         'no reason after the prefix'),
        (not (lines and expected in lines[0]), f'no {expected!r} in the line'),
        (bool(list(folder.rglob('*.tmp*'))), 'temporary files left behind'),
    ]
    wrong = [text for failed, text in problems if failed]
    return f'{name}: {", ".join(wrong)}:\n{result.stderr}' if wrong else ''


@pytest.mark.heavy
def test_bad_input_exits_2_with_one_line(files, tmp_path):
    """Every case as its own process (two at a time: each one imports torch)."""
    from concurrent.futures import ThreadPoolExecutor
    cases = _cases()
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda case: _run(*case, files, tmp_path / case[0]), cases))
    failures = [report for report in reports if report]
    assert not failures, '\n'.join(failures)


def _without_root_reading(probe: Path) -> tuple[str, ...]:
    """A command prefix under which a file of mode 000 cannot be read, as for any user. Root
    reads every file through two capabilities; setpriv drops them from the bounding set."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which('setpriv')
    prefix = (setpriv, '--bounding-set=-dac_override,-dac_read_search') if setpriv else ()
    denied = prefix and subprocess.run(
        [*prefix, sys.executable, '-c', f'open({str(probe)!r}, "rb")'],
        capture_output=True, text=True).stderr.strip().endswith(
            f"Permission denied: '{probe}'")
    if not denied:
        pytest.skip('running as root, and root may read any file here (no setpriv, or it '
                    'cannot drop the capabilities)')
    return prefix


@pytest.mark.heavy
def test_a_model_the_user_cannot_read_is_permission_denied(files, tmp_path):
    """Not "not a PyTorch file": the file may be fine, the reading is not allowed."""
    locked = tmp_path / 'locked'
    locked.mkdir()
    for name in ('model.pt', 'model.onnx'):
        shutil.copyfile(files['good_pt'], locked / name)
        os.chmod(locked / name, 0)
    prefix = _without_root_reading(locked / 'model.pt')
    infer = ['infer', '{frame}', '--threads', '1']
    cases = [('info-unreadable-pt', ['info', '-m', str(locked / 'model.pt')]),
             ('infer-unreadable-pt', infer + ['-m', str(locked / 'model.pt')]),
             ('infer-unreadable-onnx', infer + ['-m', str(locked / 'model.onnx')]),
             ('export-unreadable-pt', ['export', '-m', str(locked / 'model.pt'), '--no-check',
                                       '-o', str(tmp_path / 'out.onnx')])]
    failures = [_run(name, argv, 'cannot be read: permission denied', files,
                     tmp_path / name, prefix) for name, argv in cases]
    assert not any(failures), '\n'.join(failures)
