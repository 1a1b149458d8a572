# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's robot outputs over real DDS, the node in its own process: semantic point
cloud from a registered depth image, camera_info, confidence, class groups, label_info.

A CamVid frame (360x480) comes with a camera_info and a synthetic depth image of a known
plane at half the resolution (180x240), registered to the camera: every point must lie on
the plane where the depth pixel looks, with the label the node gave that pixel. A third node
runs config/robot_stack.yaml (class colours, one cloud per class) with two class groups.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
pytestmark = pytest.mark.heavy   # node processes driven over DDS

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from sgcp_ros.node_process import start_node, stop  # noqa: E402
from test_as_ros_user import ROS2, Launched, user_env  # noqa: E402, F401 - user_env: fixture
from sgcp_ros.ros_client import PrivateRosNode  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

MAIN = '/sgcp_e'                 # plain classes, output at the input size
GROUPED = '/sgcp_e_groups'       # navigation groups, output at the depth size
STACK = '/sgcp_e_stack'          # config/robot_stack.yaml with traversable / obstacle groups
IMAGE = '/cam_e/color/image_raw'
CAMERA_INFO = '/cam_e/color/camera_info'   # image_transport's sibling of IMAGE
DEPTH = '/cam_e/aligned_depth/image_raw'
GROUPS_FILE = REPO / 'config' / 'camvid_navigation_groups.yaml'
STACK_PARAMS = REPO / 'config' / 'robot_stack.yaml'
STACK_GROUPS = REPO / 'config' / 'camvid_traversable_groups.yaml'
STARTUP_TIMEOUT_S = 180.0
REPLY_TIMEOUT_S = 40.0
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Colour camera 480x360; the depth image is registered to it at half the resolution.
FX, FY, CX, CY = 400.0, 410.0, 239.5, 179.5
DEPTH_SIZE = (180, 240)
DEPTH_FX, DEPTH_FY, DEPTH_CX, DEPTH_CY = FX / 2, FY / 2, CX / 2, CY / 2   # ROS resize rule
PLANE = (3.0, 0.3, -0.2)        # z = 3 + 0.3 x - 0.2 y, metres, in the optical frame
DECIMATION = 2


def plane_depth() -> np.ndarray:
    """(180, 240) float64 metres to the plane along each depth pixel's ray."""
    distance, slope_x, slope_y = PLANE
    x_ray = (np.arange(DEPTH_SIZE[1]) - DEPTH_CX) / DEPTH_FX
    y_ray = (np.arange(DEPTH_SIZE[0]) - DEPTH_CY) / DEPTH_FY
    return distance / (1.0 - slope_x * x_ray[None, :] - slope_y * y_ray[:, None])


def stamp_of(seconds: float):
    from builtin_interfaces.msg import Time
    return Time(sec=int(seconds), nanosec=int(round((seconds % 1) * 1e9)))


def camera_info(stamp) -> CameraInfo:
    info = CameraInfo(width=480, height=360, distortion_model='plumb_bob', d=[0.0] * 5,
                      k=[FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[FX, 0.0, CX, 0.0, 0.0, FY, CY, 0.0, 0.0, 0.0, 1.0, 0.0])
    info.header.stamp, info.header.frame_id = stamp, 'cam_color_optical'
    return info


def depth_image(depth: np.ndarray, encoding: str, stamp) -> Image:
    msg = Image(height=depth.shape[0], width=depth.shape[1], encoding=encoding,
                step=depth.shape[1] * depth.dtype.itemsize, data=depth.tobytes())
    msg.header.stamp, msg.header.frame_id = stamp, 'cam_depth_optical'
    return msg


def rgb_image(frame: np.ndarray, stamp) -> Image:
    msg = Image(height=360, width=480, encoding='rgb8', step=1440, data=frame.tobytes())
    msg.header.stamp, msg.header.frame_id = stamp, 'cam_color_optical'
    return msg


_NUMPY_TYPES = {PointField.FLOAT32: '<f4', PointField.UINT8: 'u1', PointField.UINT16: '<u2',
                PointField.UINT32: '<u4'}
# pcl::PointXYZL's fields as a packed point: what a client that knows the type reads.
POINT_XYZL = np.dtype({'names': ['x', 'y', 'z', 'label'], 'formats': ['<f4'] * 3 + ['<u4'],
                       'offsets': [0, 4, 8, 12], 'itemsize': 16})


def cloud_points(cloud: PointCloud2) -> np.ndarray:
    """The cloud's points as a structured array, decoded from its fields alone."""
    dtype = np.dtype({'names': [f.name for f in cloud.fields],
                      'formats': [_NUMPY_TYPES[f.datatype] for f in cloud.fields],
                      'offsets': [f.offset for f in cloud.fields],
                      'itemsize': cloud.point_step})
    return np.frombuffer(bytes(cloud.data), dtype).reshape(cloud.height, cloud.width)


class Client:
    """Publishes camera, camera_info and depth; collects both nodes' outputs."""

    def __init__(self) -> None:
        self.ros = PrivateRosNode('sgcp_robot_outputs_test')
        self.node, self.executor = self.ros.node, self.ros.executor
        self.image_pub = self.node.create_publisher(Image, IMAGE, 1)
        self.info_pub = self.node.create_publisher(CameraInfo, CAMERA_INFO, 1)
        self.depth_pub = self.node.create_publisher(Image, DEPTH, 1)
        self.inbox: dict[str, list] = {}
        self.subscriptions = {}
        for namespace in (MAIN, GROUPED, STACK):
            self.subscribe(namespace, 'labels', Image)
            self.subscribe(namespace, 'camera_info', CameraInfo)
            self.subscribe(namespace, 'class_info', String, LATCHED)
        self.subscribe(MAIN, 'points', PointCloud2)
        self.subscribe('', 'diagnostics', DiagnosticArray, topic='/diagnostics')

    def subscribe(self, namespace: str, name: str, msg_type, qos=10, topic=None) -> None:
        key = f'{namespace}/{name}'
        self.inbox[key] = []
        self.subscriptions[key] = self.node.create_subscription(
            msg_type, topic or f'{namespace}/sgcp_segmentation/{name}',
            self.inbox[key].append, qos)

    def unsubscribe(self, namespace: str, name: str) -> None:
        self.node.destroy_subscription(self.subscriptions.pop(f'{namespace}/{name}'))

    def spin_until(self, predicate, timeout_s: float, what: str):
        result = self.ros.spin_until(predicate, timeout_s)
        assert result, f'timed out after {timeout_s} s waiting for {what}'
        return result

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def send(self, frame: np.ndarray, stamp, depth: Image | None = None,
             info: bool = True) -> None:
        """camera_info and depth first (as a driver publishing both would), then the image."""
        if info:
            self.info_pub.publish(camera_info(stamp))
        if depth is not None:
            self.depth_pub.publish(depth)
        self.image_pub.publish(rgb_image(frame, stamp))

    def request(self, send, key: str, match, timeout_s: float = REPLY_TIMEOUT_S):
        """Call ``send`` (again every second: best-effort input) until ``key`` has a message
        that ``match`` accepts; return it."""
        last = [0.0]

        def answered():
            if time.monotonic() - last[0] > 1.0:
                send()
                last[0] = time.monotonic()
            return next((m for m in self.inbox[key] if match(m)), None)
        return self.spin_until(answered, timeout_s, f'{key}')

    def diagnostics(self, namespace: str, predicate, send=None,
                    timeout_s: float = REPLY_TIMEOUT_S) -> dict:
        name = f'{namespace}/sgcp_segmentation'
        self.inbox['/diagnostics'].clear()
        last = [0.0]

        def found():
            if send is not None and time.monotonic() - last[0] > 0.3:
                send()
                last[0] = time.monotonic()
            for array in self.inbox['/diagnostics']:
                for status in array.status:
                    if status.hardware_id == name:
                        values = {kv.key: kv.value for kv in status.values}
                        if predicate(values):
                            return values
            self.inbox['/diagnostics'].clear()
            return None
        return self.spin_until(found, timeout_s, f'diagnostics of {name}')

    def close(self) -> None:
        self.ros.close()


def same_stamp(stamp):
    return lambda msg: msg.header.stamp == stamp


@pytest.fixture(scope='module')
def nodes(tmp_path_factory):
    logs = tmp_path_factory.mktemp('robot_outputs')
    common = ('-r', f'image:={IMAGE}', '-r', f'depth:={DEPTH}', '-p', 'warmup_runs:=1',
              '-p', 'diagnostics_period_s:=0.5')
    processes = {
        MAIN: start_node(logs / f'{MAIN.strip("/")}.log', '-r', f'__ns:={MAIN}', *common,
                         '-p', f'cloud.decimation:={DECIMATION}',
                         '-p', 'cloud.stamp_tolerance_s:=0.05',
                         '-p', 'cloud.keep_unknown:=true'),
        GROUPED: start_node(logs / f'{GROUPED.strip("/")}.log', '-r', f'__ns:={GROUPED}', *common,
                            '-p', f'class_groups_file:={GROUPS_FILE}',
                            '-p', 'output_size:=depth', '-p', 'cloud.organized:=true',
                            '-p', 'cloud.image_stamp:=true'),
        STACK: start_node(logs / f'{STACK.strip("/")}.log', '-r', f'__ns:={STACK}', *common,
                          '--params-file', str(STACK_PARAMS),
                          '-p', f'class_groups_file:={STACK_GROUPS}'),
    }
    yield {name: (process, logs / f'{name.strip("/")}.log')
           for name, process in processes.items()}
    for process in processes.values():
        if process.poll() is None:
            stop(process)


@pytest.fixture(scope='module')
def client(nodes):
    client = Client()
    try:
        for namespace, (process, log) in nodes.items():
            client.spin_until(lambda: client.inbox[f'{namespace}/class_info']
                              or process.poll() is not None, STARTUP_TIMEOUT_S,
                              f'{namespace} to start (latched class_info)')
            assert process.poll() is None, log.read_text()
        yield client
    finally:
        client.close()


def test_confidence_is_computed_only_for_subscribers_and_is_surest_inside_regions(
        client, frame):
    stamp = stamp_of(100.0)
    report = client.diagnostics(MAIN, lambda v: float(v.get('processed rate Hz', 0)) > 0,
                                send=lambda: client.send(frame, stamp))
    assert report['confidence ms'] == 'not run'
    client.subscribe(MAIN, 'confidence', Image)
    try:
        stamp = stamp_of(101.0)
        confidence = client.request(lambda: client.send(frame, stamp), f'{MAIN}/confidence',
                                    same_stamp(stamp))
        labels = client.request(lambda: None, f'{MAIN}/labels', same_stamp(stamp))
    finally:
        client.unsubscribe(MAIN, 'confidence')
    assert (confidence.encoding, confidence.height, confidence.width) == ('mono8', 360, 480)
    sure = np.frombuffer(confidence.data, np.uint8).reshape(360, 480)
    label_map = np.frombuffer(labels.data, np.uint8).reshape(360, 480)
    assert sure.min() >= 255 // 11     # the top of 11 probabilities is at least 1/11
    # Flat sky (class 0, all of its 15x15 neighbourhood sky) against class boundaries.
    import cv2
    sky = (label_map == 0).astype(np.uint8)
    flat_sky = cv2.erode(sky, np.ones((15, 15), np.uint8)).astype(bool)
    boundary = np.zeros_like(flat_sky)
    boundary[:, 1:] |= label_map[:, 1:] != label_map[:, :-1]
    boundary[1:, :] |= label_map[1:, :] != label_map[:-1, :]
    assert flat_sky.sum() > 500 and boundary.sum() > 500
    assert sure[flat_sky].mean() > sure[boundary].mean() + 40, (
        sure[flat_sky].mean(), sure[boundary].mean())


def expected_points(depth_m: np.ndarray, valid: np.ndarray, label_map: np.ndarray):
    """The analytic back-projection of every valid decimated depth pixel, row-major, and
    the label the node gave the camera pixel under it (depth pixel (v, u) at half the
    resolution covers camera pixels 2v..2v+1: its centre lies in 2v+1)."""
    rows, columns = np.nonzero(valid)
    rows, columns = rows * DECIMATION, columns * DECIMATION
    z = depth_m[rows, columns]
    xyz = np.stack([(columns - DEPTH_CX) * z / DEPTH_FX, (rows - DEPTH_CY) * z / DEPTH_FY,
                    z], axis=1)
    return xyz, label_map[2 * rows + 1, 2 * columns + 1]


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
def test_cloud_points_lie_on_the_plane_with_the_labels_of_their_pixels(client, frame,
                                                                       encoding):
    depth_m = plane_depth()
    seconds = 200.0 if encoding == '16UC1' else 201.0
    stamp = stamp_of(seconds)
    if encoding == '16UC1':
        depth = np.round(depth_m * 1000).astype(np.uint16)
        depth[10:20, 30:50] = 0                    # no reading
    else:
        depth = depth_m.astype(np.float32)
        depth[10:20, 30:50] = np.nan
        depth[100, 100] = 0.0
    depth_msg = depth_image(depth, encoding, stamp)
    cloud = client.request(lambda: client.send(frame, stamp, depth_msg), f'{MAIN}/points',
                           same_stamp(stamp))
    labels = client.request(lambda: None, f'{MAIN}/labels', same_stamp(stamp))
    label_map = np.frombuffer(labels.data, np.uint8).reshape(360, 480)

    assert cloud.header.frame_id == 'cam_depth_optical' and cloud.header.stamp == stamp
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields] == [
        ('x', 0, PointField.FLOAT32), ('y', 4, PointField.FLOAT32),
        ('z', 8, PointField.FLOAT32), ('label', 12, PointField.UINT32)]
    points = cloud_points(cloud)[0]
    assert cloud.point_step == POINT_XYZL.itemsize
    xyzl = np.frombuffer(bytes(cloud.data), POINT_XYZL)
    decimated = depth[::DECIMATION, ::DECIMATION]
    valid = np.isfinite(decimated) & (decimated > 0)
    assert cloud.height == 1 and cloud.is_dense
    assert len(points) == valid.sum() < decimated.size
    xyz, point_labels = expected_points(depth_m, valid, label_map)
    got = np.stack([points['x'], points['y'], points['z']], axis=1).astype(np.float64)
    assert np.abs(got - xyz).max() < 1e-3        # within 1 mm of the plane's point
    np.testing.assert_array_equal(points['label'], point_labels)
    np.testing.assert_array_equal(xyzl['label'], point_labels)   # PointXYZL's layout reads all
    # Its cost per frame is in /diagnostics.
    report = client.diagnostics(MAIN, lambda v: v.get('cloud ms', 'not run') != 'not run',
                                send=lambda: client.send(frame, stamp, depth_msg))
    assert float(report['cloud ms']) > 0 and int(report['cloud clouds total']) >= 1


def test_a_depth_image_beyond_the_stamp_tolerance_gives_no_cloud_and_is_counted(
        client, nodes, frame):
    before = client.diagnostics(MAIN, lambda v: 'cloud stamp mismatches total' in v)
    stamp, late = stamp_of(300.0), stamp_of(301.0)
    depth_msg = depth_image(np.full(DEPTH_SIZE, 2000, np.uint16), '16UC1', late)
    client.request(lambda: client.send(frame, stamp, depth_msg), f'{MAIN}/labels',
                   same_stamp(stamp))
    client.spin_for(1.5)
    assert not [c for c in client.inbox[f'{MAIN}/points'] if c.header.stamp in (stamp, late)]
    counted = int(before['cloud stamp mismatches total'])
    client.diagnostics(MAIN, lambda v: int(v.get('cloud stamp mismatches total', 0)) > counted)
    assert 'no depth image on /cam_e/aligned_depth/image_raw within 0.05 s' in (
        nodes[MAIN][1].read_text())


def test_camera_info_is_republished_with_the_label_header(client, frame):
    stamp = stamp_of(400.0)
    info = client.request(lambda: client.send(frame, stamp), f'{MAIN}/camera_info',
                          same_stamp(stamp))
    assert info.header.frame_id == 'cam_color_optical'
    assert (info.width, info.height) == (480, 360)
    assert list(info.k) == [FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0]


def test_camera_info_is_not_published_without_camera_info(client, frame):
    client.spin_for(1.5)   # the last camera_info grows older than the node's 1 s limit
    stamp = stamp_of(450.0)
    client.request(lambda: client.send(frame, stamp, info=False), f'{MAIN}/labels',
                   same_stamp(stamp))
    client.spin_for(0.5)
    assert not [m for m in client.inbox[f'{MAIN}/camera_info'] if m.header.stamp == stamp], (
        'camera_info republished 1.5 s after the camera stopped sending it')


def test_groups_and_depth_output_size_scale_labels_and_camera_info(client, frame):
    stamp = stamp_of(500.0)
    depth_msg = depth_image(np.full(DEPTH_SIZE, 2000, np.uint16), '16UC1', stamp)
    info = client.request(lambda: client.send(frame, stamp, depth_msg),
                          f'{GROUPED}/camera_info',
                          lambda m: m.header.stamp == stamp and m.width == DEPTH_SIZE[1])
    labels = client.request(lambda: None, f'{GROUPED}/labels', same_stamp(stamp))
    assert (labels.height, labels.width) == DEPTH_SIZE
    assert (info.height, info.width) == DEPTH_SIZE
    np.testing.assert_allclose(info.k, [FX / 2, 0.0, CX / 2, 0.0, FY / 2, CY / 2, 0, 0, 1])
    np.testing.assert_allclose(info.p[:8], [FX / 2, 0.0, CX / 2, 0.0, 0.0, FY / 2, CY / 2, 0])
    class_info = json.loads(client.inbox[f'{GROUPED}/class_info'][0].data)
    assert class_info['names'] == ['drivable', 'obstacle', 'building', 'vegetation']
    assert class_info['class_groups']['dropped'] == ['Sky']
    grouped = np.frombuffer(labels.data, np.uint8).reshape(DEPTH_SIZE)
    assert set(np.unique(grouped)) <= {0, 1, 2, 3, 255}
    # The same frame through the plain node, resized like the depth output, grouped here:
    # each output class is the union of its members (sky -> 255).
    plain_labels = client.request(lambda: None, f'{MAIN}/labels', same_stamp(stamp))
    plain = np.frombuffer(plain_labels.data, np.uint8).reshape(360, 480)[1::2, 1::2]
    from sgcp_core.class_groups import load_class_groups
    from sgcp_core.classes import CAMVID
    lookup = load_class_groups(GROUPS_FILE, CAMVID).lookup
    agreement = (lookup[plain] == grouped).mean()
    assert agreement > 0.97, agreement   # labels from logits resized to each size differ at edges


def test_label_info_lists_the_output_classes_with_unknown_and_the_frame(client, frame):
    vision_msgs = pytest.importorskip('vision_msgs.msg', reason='vision_msgs is not installed')
    inbox = {}
    for namespace in (MAIN, GROUPED):
        inbox[namespace] = []
        client.node.create_subscription(vision_msgs.LabelInfo,
                                        f'{namespace}/sgcp_segmentation/label_info',
                                        inbox[namespace].append, LATCHED)
    client.spin_until(lambda: all(inbox.values()), REPLY_TIMEOUT_S, 'latched label_info')
    for namespace, names in ((MAIN, None), (GROUPED, ['drivable', 'obstacle', 'building',
                                                      'vegetation'])):
        label_info = inbox[namespace][-1]
        classes = [(c.class_id, c.class_name) for c in label_info.class_map]
        assert classes[-1] == (255, 'unknown') and label_info.threshold == 0.0
        assert label_info.header.frame_id == 'cam_color_optical'   # frames went through
        if names:
            assert [name for _, name in classes[:-1]] == names
        else:
            assert classes[0] == (0, 'Sky') and len(classes) == 12


@pytest.mark.parametrize('groups, problem', [
    ({'groups': [{'name': 'all', 'classes': ['Skye'], 'color': [1, 2, 3]}]},
     "unknown class 'Skye'"),
    ({'groups': [{'name': 'a', 'classes': ['Road'], 'color': [1, 2, 3]},
                 {'name': 'b', 'classes': ['Road'], 'color': [1, 2, 3]}]},
     "class 'Road' is in both group 'a' and group 'b'"),
])
def test_a_bad_groups_file_stops_the_node_at_start_up_naming_the_problem(
        tmp_path, groups, problem):
    import yaml
    path = tmp_path / 'groups.yaml'
    path.write_text(yaml.safe_dump(groups))
    log = tmp_path / 'node.log'
    process = start_node(log, '-r', '__ns:=/sgcp_e_bad', '-p', f'class_groups_file:={path}',
                         '-p', 'warmup_runs:=0')
    try:
        code = process.wait(timeout=STARTUP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            stop(process)
    output = Path(log).read_text()
    assert code != 0 and 'cannot start' in output, output
    assert problem in output and str(path) in output and 'Traceback' not in output, output


def test_a_contradictory_cloud_range_stops_the_node_at_start_up(tmp_path):
    log = tmp_path / 'node.log'
    process = start_node(log, '-r', '__ns:=/sgcp_e_range', '-p', 'cloud.min_range_m:=3.0',
                         '-p', 'cloud.max_range_m:=2.0')
    try:
        code = process.wait(timeout=STARTUP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            stop(process)
    output = log.read_text()
    assert code != 0 and 'cannot start: cloud range must satisfy' in output, output
    assert 'min 3.0 max 2.0' in output and 'Traceback' not in output, output


def test_nav2_wiring_mask_confidence_and_organized_cloud_share_stamp_and_pixels(client, frame):
    """What nav2's semantic segmentation layer needs: mask, confidence and a cloud with one
    point per mask pixel, all with the same stamp (it pairs them by exact time)."""
    client.subscribe(GROUPED, 'confidence', Image)
    client.subscribe(GROUPED, 'points', PointCloud2)
    try:
        stamp = stamp_of(600.0)
        depth_stamp = stamp_of(600.01)     # within the default 0.02 s tolerance
        depth = np.round(plane_depth() * 1000).astype(np.uint16)
        depth[:8] = 0
        depth_msg = depth_image(depth, '16UC1', depth_stamp)
        cloud = client.request(lambda: client.send(frame, stamp, depth_msg),
                               f'{GROUPED}/points', same_stamp(stamp))
        confidence = client.request(lambda: None, f'{GROUPED}/confidence', same_stamp(stamp))
        labels = client.request(lambda: None, f'{GROUPED}/labels', same_stamp(stamp))
    finally:
        client.unsubscribe(GROUPED, 'confidence')
        client.unsubscribe(GROUPED, 'points')
    assert cloud.header.frame_id == 'cam_depth_optical'
    assert (cloud.height, cloud.width) == (labels.height, labels.width) == (
        confidence.height, confidence.width) == DEPTH_SIZE
    assert not cloud.is_dense
    points = cloud_points(cloud)
    grouped = np.frombuffer(labels.data, np.uint8).reshape(DEPTH_SIZE)
    np.testing.assert_array_equal(points['label'], grouped)
    valid = (depth > 0) & (grouped != 255)
    assert np.isnan(points['z'][~valid]).all()
    np.testing.assert_allclose(points['z'][valid], depth[valid] / 1000, atol=1e-6)


def test_robot_stack_clouds_per_class_split_the_cloud_in_class_colours(client, frame):
    """config/robot_stack.yaml with traversable / obstacle groups (Sky dropped): each class's
    cloud holds that class's points of ~/points, and only those; ~/labels keeps both; rgb is
    each point's class colour. A class cloud is built while only it has subscribers."""
    from sgcp_core.class_groups import load_class_groups
    from sgcp_core.classes import CAMVID
    from sgcp_core.semantic_cloud import pack_rgb
    groups = load_class_groups(STACK_GROUPS, CAMVID)
    class_info = json.loads(client.inbox[f'{STACK}/class_info'][0].data)
    assert class_info['names'] == ['traversable', 'obstacle']
    depth_msg = depth_image(np.round(plane_depth() * 1000).astype(np.uint16), '16UC1',
                            stamp_of(700.0))

    def send(seconds: float):
        stamp = stamp_of(seconds)
        depth_msg.header.stamp = stamp
        return stamp, lambda: client.send(frame, stamp, depth_msg)
    client.subscribe(STACK, 'points/obstacle', PointCloud2)
    try:
        stamp, sender = send(700.0)   # only the obstacle cloud has a subscriber
        client.request(sender, f'{STACK}/points/obstacle', same_stamp(stamp))
        for name in ('points', 'points/traversable'):
            client.subscribe(STACK, name, PointCloud2)
        stamp, sender = send(701.0)
        whole = client.request(sender, f'{STACK}/points', same_stamp(stamp))
        parts = [client.request(lambda: None, f'{STACK}/points/{name}', same_stamp(stamp))
                 for name in ('traversable', 'obstacle')]
        labels = client.request(lambda: None, f'{STACK}/labels', same_stamp(stamp))
    finally:
        for name in ('points', 'points/traversable', 'points/obstacle'):
            if f'{STACK}/{name}' in client.subscriptions:
                client.unsubscribe(STACK, name)
    label_map = np.frombuffer(labels.data, np.uint8).reshape(labels.height, labels.width)
    assert {0, 1} <= set(np.unique(label_map).tolist())     # ~/labels keeps both classes
    assert [(f.name, f.offset, f.datatype) for f in whole.fields] == [
        ('x', 0, PointField.FLOAT32), ('y', 4, PointField.FLOAT32),
        ('z', 8, PointField.FLOAT32), ('rgb', 12, PointField.FLOAT32),
        ('label', 16, PointField.UINT32)]                   # pcl::PointXYZRGBL's fields
    points = cloud_points(whole)[0]
    assert set(np.unique(points['label']).tolist()) == {0, 1}   # Sky (255) left out
    colours = pack_rgb(groups.classes.palette_array()[points['label']])
    np.testing.assert_array_equal(points['rgb'].view(np.uint32), colours.view(np.uint32))
    for label, part in enumerate(parts):
        assert [f.name for f in part.fields] == [f.name for f in whole.fields]
        assert part.header == whole.header and part.is_dense
        np.testing.assert_array_equal(cloud_points(part)[0], points[points['label'] == label])
    assert sum(part.width for part in parts) == whole.width


def test_the_docs_launch_example_starts_the_node_with_its_remaps_and_groups(
        user_env, tmp_path):  # noqa: F811 - the fixture imported above
    """docs/robot-stack.md's RealSense-style launch file, run with `ros2 launch` as a user
    would (``user_env`` skips, saying why, where the ROS tools are not installed)."""
    readme = (REPO / 'docs' / 'robot-stack.md').read_text()
    start = readme.index('# rgbd_segmentation.launch.py')
    launch_file = tmp_path / 'rgbd_segmentation.launch.py'
    launch_file.write_text(readme[start:readme.index('```', start)])
    run = Launched(user_env, tmp_path / 'launch.log',
                   command=[str(ROS2), 'launch', str(launch_file)])
    try:
        run.wait_for('robot outputs: camera_info from /camera/camera/color/camera_info, depth '
                     'from /camera/camera/aligned_depth_to_color/image_raw')
        run.wait_for('labels at the depth size')
        # The 'ready' line comes after the outputs' lines: wait for it too.
        run.wait_for(', 2 classes,')    # the traversable groups, not CamVid's 11
    finally:
        return_code = run.stop()
    run.assert_clean_exit(return_code)


def test_ros2_launch_with_depth_camera_info_and_groups_publishes_the_class_clouds(
        user_env, frame, tmp_path):  # noqa: F811 - the fixture imported above
    """`ros2 launch sgcp_ros segment.launch.py` with the robot stack's params file, the
    camera's topics and the groups file: the per-class clouds come from the launched node."""
    share = Path(user_env['AMENT_PREFIX_PATH'].split(':')[0]) / 'share' / 'sgcp_ros' / 'config'
    namespace, topics = '/sgcp_e_launch', '/cam_e_launch'
    run = Launched(user_env, tmp_path / 'launch.log', f'namespace:={namespace.strip("/")}',
                   f'params_file:={share / "robot_stack.yaml"}',
                   f'class_groups_file:={share / "camvid_traversable_groups.yaml"}',
                   f'image:={topics}/color/image_raw', f'depth:={topics}/depth/image_raw',
                   f'camera_info:={topics}/info', 'large_images:=true')
    ros = PrivateRosNode('sgcp_robot_outputs_launch_test')
    inbox = {name: [] for name in ('obstacle', 'traversable')}
    try:
        publishers = [ros.node.create_publisher(msg_type, f'{topics}/{name}', 1) for
                      msg_type, name in ((CameraInfo, 'info'), (Image, 'depth/image_raw'),
                                         (Image, 'color/image_raw'))]
        for name, received in inbox.items():
            ros.node.create_subscription(PointCloud2,
                                         f'{namespace}/sgcp_segmentation/points/{name}',
                                         received.append, 10)
        run.wait_for('clouds per class')
        stamp = stamp_of(800.0)
        messages = (camera_info(stamp), depth_image(np.round(plane_depth() * 1000).astype(
            np.uint16), '16UC1', stamp), rgb_image(frame, stamp))
        last = [0.0]

        def answered():
            if time.monotonic() - last[0] > 1.0:   # best-effort input: send again
                for publisher, message in zip(publishers, messages):
                    publisher.publish(message)
                last[0] = time.monotonic()
            return all(inbox.values())
        assert ros.spin_until(answered, STARTUP_TIMEOUT_S), run.text()[-4000:]
    finally:
        ros.close()
        return_code = run.stop()
    run.assert_clean_exit(return_code)
    for label, name in enumerate(('traversable', 'obstacle')):
        points = cloud_points(inbox[name][0])[0]
        assert len(points) > 0 and (points['label'] == label).all(), name


def test_replay_scores_a_grouped_node_in_its_output_classes(
        tiny_checkpoint, camvid_root, tmp_path):
    """replay_bag against a node running class groups: the bag's ground truth (model
    classes) is mapped through the groups the node's class_info describes, and the scores
    equal evaluate_bag's offline run with the same groups."""
    import subprocess
    import sys

    from sgcp_ros.node_process import node_environment
    from sgcp_core.config import EngineConfig
    from sgcp_core.engine import Segmenter
    from sgcp_ros.bag.evaluate_bag import evaluate_bag
    from sgcp_ros.bag.make_bag import main as make_bag_main
    bag = tmp_path / 'bag'
    assert make_bag_main([str(bag), '--dataset', 'camvid', '--data-root', str(camvid_root),
                          '--max-frames', '3', '--rate', '15']) == 0
    namespace = '/sgcp_e_replay'
    log = tmp_path / 'node.log'
    process = start_node(log, '-r', f'__ns:={namespace}', '-p', f'model_path:={tiny_checkpoint}',
                         '-p', f'class_groups_file:={GROUPS_FILE}', '-p', 'threads:=1')
    try:
        report_path = tmp_path / 'replay.json'
        result = subprocess.run(
            [sys.executable, '-m', 'sgcp_ros.bag.replay_bag', str(bag), '--lockstep',
             '--publish-topic', f'{namespace}/image', '--node-labels-topic',
             f'{namespace}/sgcp_segmentation/labels', '--wait-for-node', str(STARTUP_TIMEOUT_S),
             '--json', str(report_path)], cwd=REPO, env=node_environment(),
            capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S + 120)
        assert result.returncode == 0, result.stdout + result.stderr + log.read_text()
    finally:
        stop(process)
    report = json.loads(report_path.read_text())
    assert report['frames']['scored_with_ground_truth'] == 3, (
        report['frames'], report['metrics_note'], result.stdout)
    assert list(report['metrics']['per_class_iou']) == ['drivable', 'obstacle', 'building',
                                                        'vegetation']
    offline = evaluate_bag(bag, lambda: Segmenter(EngineConfig(
        model_path=str(tiny_checkpoint), threads=1, warmup_runs=0,
        class_groups_file=str(GROUPS_FILE)))).report
    assert abs(report['metrics']['miou'] - offline['metrics']['miou']) < 1e-3
    assert abs(report['metrics']['pixel_accuracy']
               - offline['metrics']['pixel_accuracy']) < 1e-3
