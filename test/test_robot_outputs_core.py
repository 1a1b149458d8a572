# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The math behind the node's robot outputs, without ROS: class groups, confidence,
intrinsics scaling and the semantic point cloud."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sgcp_core.class_groups import ClassGroupsError, load_class_groups, parse_class_groups
from sgcp_core.classes import CAMVID, UNKNOWN_LABEL
from sgcp_core.config import CloudConfig, EngineConfig
from sgcp_core.engine import pre_post
from sgcp_core.semantic_cloud import (PinholeIntrinsics, SemanticCloudBuilder, pack_rgb,
                                      point_dtype, sample_index, scale_intrinsics,
                                      split_by_class)

REPO = Path(__file__).resolve().parents[1]
NAVIGATION_GROUPS = REPO / 'config' / 'camvid_navigation_groups.yaml'


# -- class groups ------------------------------------------------------------------------
def test_shipped_navigation_groups_cover_every_camvid_class():
    groups = load_class_groups(NAVIGATION_GROUPS, CAMVID)
    assert groups.classes.names[:2] == ('drivable', 'obstacle')
    index = {name: i for i, name in enumerate(CAMVID.names)}
    assert groups.lookup[index['Road']] == groups.lookup[index['Sidewalk']] == 0
    assert groups.lookup[index['Car']] == groups.lookup[index['Pole']] == 1
    assert groups.lookup[index['Sky']] == UNKNOWN_LABEL
    assert groups.lookup[UNKNOWN_LABEL] == UNKNOWN_LABEL
    labels = np.array([[index['Road'], index['Sky']], [UNKNOWN_LABEL, index['Pedestrian']]],
                      np.uint8)
    np.testing.assert_array_equal(groups.apply(labels), [[0, 255], [255, 1]])


def _groups(**changes):
    data = {'groups': [{'name': 'ground', 'classes': ['Road', 'Sidewalk'],
                        'color': [1, 2, 3]},
                       {'name': 'things', 'classes': [n for n in CAMVID.names
                                                      if n not in ('Road', 'Sidewalk', 'Sky')],
                        'color': [4, 5, 6]}],
            'drop': ['Sky']}
    data.update(changes)
    return data


def test_groups_give_names_and_colours_of_the_output_classes():
    groups = parse_class_groups(_groups(), CAMVID)
    assert groups.classes.names == ('ground', 'things')
    assert groups.classes.palette == ((1, 2, 3), (4, 5, 6))
    assert groups.to_dict()['dropped'] == ['Sky']


@pytest.mark.parametrize('change, message', [
    ({'drop': ['Sky', 'Skye']}, "unknown class 'Skye'"),
    ({'drop': ['Sky', 'Road']}, "class 'Road' is in both group 'ground' and drop"),
    ({'drop': []}, "classes ['Sky'] are in no group"),
    ({'colour': 1}, "unknown keys ['colour']"),
    ({'groups': []}, 'non-empty list'),
])
def test_bad_groups_are_refused_naming_the_problem(change, message):
    with pytest.raises(ClassGroupsError) as caught:
        parse_class_groups(_groups(**change), CAMVID, 'my_groups.yaml')
    assert message in str(caught.value) and 'my_groups.yaml' in str(caught.value)


def test_a_class_in_two_groups_and_a_bad_colour_are_refused():
    data = _groups()
    data['groups'][1]['classes'].append('Road')
    with pytest.raises(ClassGroupsError, match="'Road' is in both group 'ground' and group"):
        parse_class_groups(data, CAMVID)
    data = _groups()
    data['groups'][0]['color'] = [0, 0, 256]
    with pytest.raises(ClassGroupsError, match="group 'ground': color must be"):
        parse_class_groups(data, CAMVID)


def test_groups_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='class groups file not found'):
        load_class_groups(tmp_path / 'missing.yaml', CAMVID)
    bad = tmp_path / 'bad.yaml'
    bad.write_text('groups: [unclosed')
    with pytest.raises(ClassGroupsError, match='bad.yaml is not valid YAML'):
        load_class_groups(bad, CAMVID)


# -- confidence --------------------------------------------------------------------------
def test_confidence_is_the_top_softmax_probability_times_255():
    logits = np.zeros((1, 4, 2, 3), np.float32)
    logits[0, 2, 0, 0] = 50.0                        # certain
    logits[0, 1, 1, 2] = np.log(3.0)                  # p = 3 / 6 = 0.5
    sure = pre_post.confidence(logits, (2, 3))
    assert sure.dtype == np.uint8 and sure.shape == (2, 3)
    assert sure[0, 0] == 255 and sure[1, 2] == 128 and sure[0, 1] == round(255 / 4)
    torch_sure = pre_post.confidence(torch.from_numpy(logits), (2, 3))
    np.testing.assert_array_equal(torch_sure, sure)


def test_confidence_is_resized_like_the_labels():
    logits = np.random.default_rng(0).standard_normal((1, 5, 6, 8)).astype(np.float32)
    coarse = pre_post.confidence(logits, (6, 8))
    nearest = pre_post.confidence(logits, (12, 16), 'argmax_then_nearest')
    np.testing.assert_array_equal(nearest, cv2.resize(coarse, (16, 12),
                                                      interpolation=cv2.INTER_NEAREST_EXACT))
    smooth = pre_post.confidence(logits, (12, 16), 'upsample_logits')
    assert smooth.shape == (12, 16) and smooth.min() >= 255 // 5


def test_segmenter_applies_groups_and_min_confidence_and_output_size(tiny_checkpoint):
    from sgcp_core.engine import Segmenter
    frame = np.random.default_rng(1).integers(0, 256, (90, 120, 3), np.uint8)
    base = EngineConfig(model_path=str(tiny_checkpoint), backend='torch', warmup_runs=0,
                        input_height=96, input_width=128)
    plain = Segmenter(base)
    grouped = Segmenter(EngineConfig(**{**base.__dict__,
                                        'class_groups_file': str(NAVIGATION_GROUPS)}))
    try:
        reference = plain.segment(frame, want_confidence=True)
        result = grouped.segment(frame, want_color=True, want_confidence=True)
        np.testing.assert_array_equal(result.labels,
                                      grouped.class_groups.apply(reference.labels))
        assert grouped.classes.names[0] == 'drivable'
        assert grouped.model_classes.names == CAMVID.names
        palette = {tuple(c) for c in grouped.classes.palette} | {(0, 0, 0)}
        assert {tuple(c) for c in result.color_mask.reshape(-1, 3)} <= palette
        np.testing.assert_array_equal(result.confidence, reference.confidence)
        assert 'confidence' in result.timings_ms
        small = plain.segment(frame, want_confidence=True, want_overlay=True,
                              output_size=(45, 60))
        assert small.labels.shape == small.confidence.shape == (45, 60)
        assert small.overlay.shape == (45, 60, 3)
    finally:
        plain.close()
        grouped.close()
    most = int(reference.confidence.max())
    for threshold in (most / 255, (most + 1) / 255):   # keeps the surest, keeps nothing
        strict = Segmenter(EngineConfig(**{**base.__dict__, 'min_confidence': threshold}))
        try:
            labels = strict.segment(frame).labels
        finally:
            strict.close()
        unsure = reference.confidence < np.ceil(255 * threshold)
        assert (labels[unsure] == UNKNOWN_LABEL).all()
        np.testing.assert_array_equal(labels[~unsure], reference.labels[~unsure])
    assert unsure.all()


# -- intrinsics --------------------------------------------------------------------------
def test_intrinsics_scale_like_image_proc_resize():
    k = (500.0, 0.0, 320.0, 0.0, 400.0, 240.0, 0.0, 0.0, 1.0)
    p = (500.0, 0.0, 320.0, -25.0, 0.0, 400.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    new_k, new_p, roi = scale_intrinsics(k, p, (64, 32, 160, 320), (480, 640), (240, 320))
    assert new_k == (250.0, 0.0, 160.0, 0.0, 200.0, 120.0, 0.0, 0.0, 1.0)
    assert new_p == (250.0, 0.0, 160.0, -12.5, 0.0, 200.0, 120.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert roi == (32, 16, 80, 160)
    camera = PinholeIntrinsics.from_k(k, (480, 640)).scaled((240, 320))
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (250.0, 200.0, 160.0, 120.0)


def test_sample_index_takes_the_pixel_under_each_centre():
    labels = np.random.default_rng(2).integers(0, 11, (36, 48), np.uint8)
    for size in ((18, 24), (72, 96), (12, 16)):   # whole ratios: OpenCV's rule exactly
        rows, columns = sample_index(36, size[0]), sample_index(48, size[1])
        np.testing.assert_array_equal(
            labels[rows[:, None], columns[None, :]],
            cv2.resize(labels, size[::-1], interpolation=cv2.INTER_NEAREST_EXACT))
    # 36 -> 45: target pixel 7's centre (7.5 * 36 / 45 = 6.0) lies on a border: the later.
    np.testing.assert_array_equal(sample_index(36, 45)[:9], [0, 1, 2, 2, 3, 4, 5, 6, 6])
    np.testing.assert_array_equal(sample_index(36, 45, 4), sample_index(36, 45)[::4])


# -- semantic cloud ----------------------------------------------------------------------
CAMERA = PinholeIntrinsics(fx=200.0, fy=210.0, cx=79.5, cy=59.5, size=(120, 160))


def plane_depth(camera: PinholeIntrinsics, slope_x: float = 0.2, slope_y: float = -0.1,
                distance: float = 2.0) -> np.ndarray:
    """Metres along z to the plane z = distance + slope_x x + slope_y y, per pixel."""
    height, width = camera.size
    x_ray = (np.arange(width) - camera.cx) / camera.fx
    y_ray = (np.arange(height) - camera.cy) / camera.fy
    return distance / (1.0 - slope_x * x_ray[None, :] - slope_y * y_ray[:, None])


def test_cloud_points_lie_on_the_plane_with_the_labels_at_their_pixels():
    depth = plane_depth(CAMERA).astype(np.float32)
    depth[10, 20] = np.nan
    depth[30, 40] = 0.0
    labels = np.random.default_rng(3).integers(0, 11, (60, 80), np.uint8)
    points = SemanticCloudBuilder(CloudConfig(decimation=2)).build(depth, CAMERA, labels)
    rows, columns = np.mgrid[0:120:2, 0:160:2]
    valid = np.isfinite(depth[::2, ::2]) & (depth[::2, ::2] > 0)
    assert len(points) == valid.sum() == 60 * 80 - 2
    z = depth[::2, ::2][valid]
    np.testing.assert_allclose(points['z'], z, atol=1e-6)
    np.testing.assert_allclose(points['x'], (columns[valid] - CAMERA.cx) * z / CAMERA.fx,
                               atol=1e-5)
    np.testing.assert_allclose(points['y'], (rows[valid] - CAMERA.cy) * z / CAMERA.fy,
                               atol=1e-5)
    # Depth pixel (v, u) covers label pixel (v // 2, u // 2) at half the resolution.
    np.testing.assert_array_equal(points['label'], labels[rows[valid] // 2,
                                                          columns[valid] // 2])


def test_millimetre_depth_zero_range_and_unknown_are_dropped():
    depth_m = plane_depth(CAMERA)
    depth = np.round(depth_m * 1000).astype(np.uint16)
    depth[:5] = 0
    labels = np.zeros((120, 160), np.uint8)
    labels[:, :10] = UNKNOWN_LABEL
    points = SemanticCloudBuilder(CloudConfig()).build(depth, CAMERA, labels)
    assert len(points) == 115 * 150
    assert np.abs(points['z'] - depth[5:, 10:].ravel() / 1000).max() < 1e-6
    kept = SemanticCloudBuilder(CloudConfig(keep_unknown=True)).build(depth, CAMERA, labels)
    assert len(kept) == 115 * 160
    near = SemanticCloudBuilder(CloudConfig(max_range_m=2.0, keep_unknown=True))
    assert (near.build(depth, CAMERA, labels)['z'] <= 2.0).all()
    with pytest.raises(ValueError, match='min < max'):
        SemanticCloudBuilder(CloudConfig(min_range_m=3.0, max_range_m=2.0))


def test_organized_cloud_keeps_the_grid_with_nan_points():
    depth = plane_depth(CAMERA).astype(np.float32)
    depth[0, 0] = np.inf
    labels = np.ones((120, 160), np.uint8)
    points = SemanticCloudBuilder(CloudConfig(organized=True, decimation=3)).build(
        depth, CAMERA, labels)
    assert points.shape == (40, 54)
    assert np.isnan(points['x'][0, 0]) and np.isfinite(points['z'][1:]).all()


def test_rgb_and_confidence_fields():
    depth = plane_depth(CAMERA).astype(np.float32)
    labels = np.zeros((120, 160), np.uint8)
    rgb = np.zeros((240, 320, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    confidence = np.full((120, 160), 51, np.uint8)
    builder = SemanticCloudBuilder(CloudConfig(rgb=True, confidence=True))
    points = builder.build(depth, CAMERA, labels, rgb, confidence)
    assert builder.dtype.names == ('x', 'y', 'z', 'rgb', 'confidence', 'label')
    assert builder.dtype.itemsize == 24 and point_dtype(False, False).itemsize == 16
    assert (points['rgb'].view(np.uint32) == (10 << 16 | 20 << 8 | 30)).all()
    np.testing.assert_allclose(points['confidence'], 0.2, atol=1e-6)
    assert pack_rgb(np.array([255, 0, 1], np.uint8)).view(np.uint32) == 0xFF0001


def test_label_is_uint32_as_pcl_point_xyzl_or_uint8_on_request():
    xyzl = point_dtype(False, False)
    assert [(name, xyzl.fields[name][0].str, xyzl.fields[name][1]) for name in xyzl.names] == [
        ('x', '<f4', 0), ('y', '<f4', 4), ('z', '<f4', 8), ('label', '<u4', 12)]
    assert xyzl.itemsize == 16
    assert point_dtype(True, False).fields['label'][1:] == (16,)   # PointXYZRGBL's fields
    small = point_dtype(False, False, 'uint8')
    assert small.fields['label'][0] == np.uint8 and small.itemsize == 16
    labels = np.full((120, 160), 7, np.uint8)
    for label_type in ('uint32', 'uint8'):
        points = SemanticCloudBuilder(CloudConfig(label_type=label_type)).build(
            plane_depth(CAMERA).astype(np.float32), CAMERA, labels)
        assert (points['label'] == 7).all() and points.dtype.fields['label'][0] == (
            np.uint32 if label_type == 'uint32' else np.uint8)
    with pytest.raises(ValueError, match="cloud label_type must be one of .*'int16'"):
        SemanticCloudBuilder(CloudConfig(label_type='int16'))


def test_class_rgb_is_the_palette_colour_of_each_points_label():
    labels = np.zeros((120, 160), np.uint8)
    labels[:, 80:] = 3
    labels[:10] = 255                         # unknown, kept: black as in the colour mask
    builder = SemanticCloudBuilder(CloudConfig(rgb=True, rgb_source='class',
                                               keep_unknown=True), CAMVID.palette_array())
    points = builder.build(plane_depth(CAMERA).astype(np.float32), CAMERA, labels)
    expected = pack_rgb(CAMVID.palette_array()[points['label']])
    assert set(np.unique(points['label'])) == {0, 3, 255}
    np.testing.assert_array_equal(points['rgb'].view(np.uint32), expected.view(np.uint32))
    with pytest.raises(ValueError, match='needs the .256, 3. class palette'):
        SemanticCloudBuilder(CloudConfig(rgb=True, rgb_source='class'))


def test_split_by_class_gives_each_class_its_points_of_one_cloud():
    labels = np.zeros((120, 160), np.uint8)
    labels[60:] = 1
    labels[:, 150:] = 4
    depth = plane_depth(CAMERA).astype(np.float32)
    depth[:, :4] = np.nan
    dense = SemanticCloudBuilder(CloudConfig(decimation=2)).build(depth, CAMERA, labels)
    split = split_by_class(dense, [4, 0, 2])
    assert list(split) == [4, 0, 2] and len(split[2]) == 0
    for label in (0, 4):   # the class's points, in the cloud's (row-major) order
        np.testing.assert_array_equal(split[label], dense[dense['label'] == label])
    assert sum(map(len, split.values())) == len(dense) - (dense['label'] == 1).sum()
    grid = SemanticCloudBuilder(CloudConfig(decimation=2, organized=True)).build(
        depth, CAMERA, labels)
    road = split_by_class(grid, [1])[1]
    assert road.shape == grid.shape
    assert np.isnan(road['z'][grid['label'] != 1]).all()
    np.testing.assert_array_equal(road['z'][grid['label'] == 1], grid['z'][grid['label'] == 1])


# -- command line ------------------------------------------------------------------------
def test_palette_csv_lists_every_label_colour_with_unknown(tiny_checkpoint, tmp_path, capsys):
    from sgcp_core.classes import palette_csv
    from sgcp_core.cli import main
    rows = palette_csv(CAMVID).splitlines()
    assert rows[0] == 'name,red,green,blue,alpha,id'
    assert rows[1] == 'Sky,128,128,128,255,0' and rows[-1] == 'unknown,0,0,0,255,255'
    assert main(['info', '--model', str(tiny_checkpoint), '--palette-csv']) == 0
    assert capsys.readouterr().out.splitlines() == rows
    out = tmp_path / 'groups.csv'
    assert main(['info', '--model', str(tiny_checkpoint), '--palette-csv', str(out),
                 '--class-groups', str(NAVIGATION_GROUPS)]) == 0
    assert out.read_text().splitlines()[1:3] == ['drivable,128,64,128,255,0',
                                                 'obstacle,220,20,60,255,1']
    assert main(['info', '--palette-csv', '--class-groups', str(tmp_path / 'none.yaml')]) == 2


def test_bench_times_confidence_and_the_cloud(tiny_checkpoint, capsys, camvid_root):
    from sgcp_core.cli import main
    assert main(['bench', '-m', str(tiny_checkpoint), '--frames', str(camvid_root / 'val'),
                 '--num-frames', '1', '--runs', '1', '--resolution', '90x120', '--backends',
                 'torch', '--no-bare', '--confidence', '--cloud', '48x64',
                 '--cloud-decimation', '2']) == 0
    out = capsys.readouterr().out
    assert 'confidence' in out.splitlines()[2]
    assert 'semantic cloud: depth 48x64, decimation 2, labels 90x120' in out
    assert 'fields x y z label per_class: ' in out   # the split into one cloud per class


def test_infer_writes_grouped_labels_and_colours(tiny_checkpoint, camvid_val_frames, tmp_path):
    from sgcp_core.cli import main
    image = tmp_path / 'frame.png'
    cv2.imwrite(str(image), cv2.cvtColor(camvid_val_frames[0][1], cv2.COLOR_RGB2BGR))
    assert main(['infer', str(image), '--out', str(tmp_path / 'out'), '-m',
                 str(tiny_checkpoint), '--color', '--no-progress', '--backend', 'torch',
                 '--class-groups-file', str(NAVIGATION_GROUPS)]) == 0
    labels = cv2.imread(str(tmp_path / 'out' / 'frame_labels.png'), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (360, 480) and set(np.unique(labels)) <= {0, 1, 2, 3, 255}
    colours = cv2.imread(str(tmp_path / 'out' / 'frame_color.png'))[..., ::-1]
    palette = {tuple(c) for c in load_class_groups(NAVIGATION_GROUPS, CAMVID).classes.palette}
    assert {tuple(c) for c in np.unique(colours.reshape(-1, 3), axis=0)} <= palette | {(0, 0, 0)}


def test_scoring_tools_see_the_models_classes_under_class_groups(
        tiny_checkpoint, camvid_val_frames):
    from sgcp_core.benchmark import compare_label_modes
    from sgcp_core.engine import Segmenter
    from sgcp_core.evaluation import evaluate_engine
    grouped = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                     warmup_runs=0, input_height=96, input_width=128,
                                     class_groups_file=str(NAVIGATION_GROUPS)))
    try:
        # Label modes compare postprocess outputs, which are in the model's 11 classes.
        _, rgb, label = camvid_val_frames[0]
        results = compare_label_modes(grouped, [(rgb, label)], scales=(1.0,))
        assert set(results[0].per_class_iou) == set(CAMVID.names)
        # Scoring grouped labels against model-class ground truth would be wrong: refused.
        with pytest.raises(ValueError, match='cannot score with class groups'):
            evaluate_engine(grouped, dataset=None)
    finally:
        grouped.close()


def test_evaluate_bag_scores_grouped_predictions_against_grouped_truth(
        tiny_checkpoint, camvid_root, camvid_val_frames, tmp_path):
    pytest.importorskip('rosbags', reason='rosbags is not installed')
    import json

    from sgcp_core.engine import Segmenter
    from sgcp_core.metrics import ConfusionMatrix
    from sgcp_ros.bag.evaluate_bag import main as evaluate_main
    from sgcp_ros.bag.make_bag import main as make_bag_main
    bag = tmp_path / 'bag'
    assert make_bag_main([str(bag), '--dataset', 'camvid', '--data-root', str(camvid_root),
                          '--split', 'val', '--max-frames', '2']) == 0
    engine = ['--model', str(tiny_checkpoint), '--backend', 'torch', '--input-size', '96x128',
              '--class-groups-file', str(NAVIGATION_GROUPS)]
    assert evaluate_main([str(bag), '--out', str(tmp_path / 'eval'), *engine]) == 0
    metrics = json.loads((tmp_path / 'eval' / 'report.json').read_text())['metrics']
    assert list(metrics['per_class_iou']) == ['drivable', 'obstacle', 'building', 'vegetation']
    # The same two frames through the engine, truth mapped through the same groups.
    segmenter = Segmenter(EngineConfig(model_path=str(tiny_checkpoint), backend='torch',
                                       input_height=96, input_width=128, warmup_runs=0,
                                       class_groups_file=str(NAVIGATION_GROUPS)))
    try:
        matrix = ConfusionMatrix(4, 255)
        for _, rgb, label in camvid_val_frames[:2]:
            matrix.update(segmenter.class_groups.apply(label), segmenter.segment(rgb).labels)
    finally:
        segmenter.close()
    assert metrics['pixel_accuracy'] == pytest.approx(matrix.pixel_accuracy(), abs=1e-6)


def test_class_groups_come_back_from_the_nodes_class_info():
    import json

    from sgcp_core.class_groups import ClassGroups
    groups = load_class_groups(NAVIGATION_GROUPS, CAMVID)
    # What the node publishes on ~/class_info (JSON round trip included).
    info = json.loads(json.dumps(dict(groups.classes.to_dict(), unknown_label=255,
                                      class_groups=groups.to_dict(),
                                      model_classes=CAMVID.to_dict())))
    rebuilt = ClassGroups.from_class_info(info)
    np.testing.assert_array_equal(rebuilt.lookup, groups.lookup)
    assert rebuilt.classes == groups.classes and rebuilt.dropped == ('Sky',)
    assert ClassGroups.from_class_info(dict(CAMVID.to_dict(), unknown_label=255)) is None
