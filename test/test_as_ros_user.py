# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The package the way a ROS user meets it: `ros2 launch`, `launch_test`, `ros2 param`,
`ros2 topic`, `ros2 lifecycle`, run as subprocesses in the venv `make setup` built.

Those tools are not on PyPI: `make setup` installs them from ../shared/ros2-tools where it
exists (a ROS 2 install has them anyway), and links the package's share files into the venv
so the ament index finds them. Where either is missing, these tests skip saying which.
ros2cli runs with --no-daemon throughout (the daemon can hang here). The launched processes
get their own process group, and a stop signal goes to the whole group, as
`timeout -s INT` sends it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from sgcp_ros.node_process import node_environment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

PREFIX = Path(sys.prefix)
ROS2 = PREFIX / 'bin' / 'ros2'
LAUNCH_TEST = PREFIX / 'bin' / 'launch_test'
SHARED_LAUNCH_FILE = PREFIX / 'share' / 'sgcp_ros' / 'launch' / 'segment.launch.py'
STARTUP_TIMEOUT_S = 180.0
REPEATS = 2


def _missing_tools() -> str | None:
    for tool in (ROS2, LAUNCH_TEST):
        if not tool.exists():
            return (f'{tool.name} is not installed in {PREFIX}: it comes from '
                    '../shared/ros2-tools (`make setup` installs it where ../shared exists) '
                    'or from a ROS 2 install')
    if not SHARED_LAUNCH_FILE.is_file():
        return (f'{SHARED_LAUNCH_FILE} is missing: this Python was not set up by `make setup` '
                '(which links the share files into the venv)')
    return None


@pytest.fixture(scope='module')
def user_env() -> dict[str, str]:
    """The environment of a shell in the `make setup` venv, with its ament prefix."""
    missing = _missing_tools()
    if missing:
        pytest.skip(missing)
    env = node_environment()
    env['AMENT_PREFIX_PATH'] = os.pathsep.join(
        filter(None, [str(PREFIX), os.environ.get('AMENT_PREFIX_PATH')]))
    env['PATH'] = os.pathsep.join([str(PREFIX / 'bin'), env.get('PATH', '')])
    return env


def ros2(env, *args: str, expect: str | tuple[str, ...] = '', timeout_s: float = 60.0) -> str:
    """Run `ros2 ARGS` until its output has ``expect`` (or it succeeds): --no-daemon
    discovery sometimes misses a node on the first try ("Node not found")."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = subprocess.run([str(ROS2), *args], env=env, capture_output=True, text=True,
                                timeout=timeout_s, cwd=REPO)
        output = result.stdout + result.stderr
        wanted = (expect,) if isinstance(expect, str) else expect
        if all(text in output for text in wanted) if expect else result.returncode == 0:
            return output
        if time.monotonic() > deadline:
            raise AssertionError(f'ros2 {" ".join(args)} (exit {result.returncode}):\n{output}')
        time.sleep(0.5)


LAUNCH_KEYBOARD_INTERRUPT_IN_GC = re.compile(
    r'^Exception ignored in: <function Weak\w*\.__init__\.<locals>\.\w+ at 0x[0-9a-f]+>\n'
    r'Traceback \(most recent call last\):\n(?:  .*\n|\n)*?KeyboardInterrupt: ?\n', re.MULTILINE)


class Launched:
    """`ros2 launch sgcp_ros segment.launch.py ARGS` in its own process group."""

    def __init__(self, env, log: Path, *arguments: str, command=None) -> None:
        self.log = log
        self.process = subprocess.Popen(
            command or [str(ROS2), 'launch', 'sgcp_ros', 'segment.launch.py', *arguments],
            env=env, cwd=log.parent, stdout=log.open('wb'), stderr=subprocess.STDOUT,
            start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors='replace')

    def wait_for(self, marker: str, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while marker not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f'{marker!r} not in the launch output:\n'
                                     + self.text()[-4000:])
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 60.0) -> int:
        """Signal the whole group, as `timeout -s INT` does; the exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            raise AssertionError('launch did not exit after the signal:\n' + self.text()[-4000:])

    def assert_clean_exit(self, return_code: int) -> None:
        text = self.text()
        assert return_code == 0, text[-4000:]
        # `ros2 launch` itself lets SIGINT raise KeyboardInterrupt and catches it in its loop;
        # when the signal lands inside a garbage-collector weakref callback, CPython prints
        # "Exception ignored in ... KeyboardInterrupt" from the launch process
        # (python/cpython#95959). That is launch's, not the node's: only it is tolerated.
        own_lines = LAUNCH_KEYBOARD_INTERRUPT_IN_GC.sub('', text)
        assert 'Traceback' not in own_lines and 'process has died' not in text, text[-4000:]
        started = len(re.findall(r'process started with pid', text))
        assert len(re.findall(r'process has finished cleanly', text)) == started, text[-4000:]


def image(frame_id: str, stamp, height: int = 120, width: int = 160):
    from sensor_msgs.msg import Image
    rng = np.random.default_rng(0)
    msg = Image(height=height, width=width, encoding='rgb8', step=width * 3,
                data=rng.integers(0, 255, height * width * 3, np.uint8).tobytes())
    msg.header.frame_id, msg.header.stamp = frame_id, stamp
    return msg


# -- one launched node, inspected with the ROS tools ------------------------------------
NAMESPACE = '/sgcp_user'
NODE = f'{NAMESPACE}/sgcp_segmentation'


@pytest.fixture(scope='module')
def launched(user_env, tiny_checkpoint, tmp_path_factory):
    run = Launched(user_env, tmp_path_factory.mktemp('launch') / 'launch.log',
                   f'namespace:={NAMESPACE.strip("/")}', f'image:={NAMESPACE}/camera',
                   f'model:={tiny_checkpoint}', f'labels:={NAMESPACE}/segmentation_labels',
                   'large_images:=true')
    yield run
    if run.process.poll() is None:
        run.stop()


@pytest.fixture(scope='module')
def client(launched):
    from sensor_msgs.msg import Image

    from test_node import RosClient
    client = RosClient('sgcp_user_client', image_topic=f'{NAMESPACE}/camera', output=NODE)
    client.subscribe('remapped_labels', Image, topic=f'{NAMESPACE}/segmentation_labels')
    try:
        client.spin_until(lambda: client.inbox['class_info'] or launched.process.poll(),
                          STARTUP_TIMEOUT_S, 'the launched node to load its model')
        assert launched.process.poll() is None, launched.text()
        yield client
    finally:
        client.close()


def test_ros2_launch_in_the_make_setup_venv_answers_a_frame_on_the_remapped_topic(client):
    frame = image('ros2_launch', client.now())
    labels = client.request(lambda: client.image_pub.publish(frame), 'remapped_labels',
                            frame.header)
    assert (labels.encoding, labels.height, labels.width) == ('mono8', 120, 160)


def test_ros2_param_shows_the_values_in_effect_and_refuses_start_up_changes(
        client, user_env, tiny_checkpoint):
    import yaml
    dump = ros2(user_env, 'param', 'dump', '--no-daemon', NODE, expect='ros__parameters')
    values = yaml.safe_load(dump)[NODE]['ros__parameters']
    assert values['model_path'] == str(tiny_checkpoint)
    assert values['backend'] in ('onnx', 'openvino', 'torch') and values['device'] == 'cpu'
    assert values['input_height'] > 0 and values['input_width'] > 0
    ros2(user_env, 'param', 'set', '--no-daemon', NODE, 'backend', 'torch',
         expect='start-up parameter')
    ros2(user_env, 'param', 'set', '--no-daemon', NODE, 'overlay_alpha', '0.3',
         expect='Set parameter successful')


def test_ros2_topic_and_param_list_show_outputs_and_parameters(client, user_env):
    ros2(user_env, 'topic', 'list', '--no-daemon', expect=(
        f'{NAMESPACE}/segmentation_labels', f'{NODE}/overlay/compressed', f'{NODE}/class_info'))
    ros2(user_env, 'param', 'list', '--no-daemon', NODE, expect='diagnostics_period_s')
    # A window right after earlier tests' bursts may hold drops that read ERROR (the shipped
    # min_rate_error_hz); once idle, the node's own report must come back to OK or WARN.
    report = client.latest_diagnostics(
        lambda values: 'backend' in values and values['level'] in (b'\x00', b'\x01'))
    assert report['level'] in (b'\x00', b'\x01'), report['message']


def test_sigint_to_the_launch_group_exits_cleanly(client, launched):
    launched.assert_clean_exit(launched.stop(signal.SIGINT))


# -- stop signals once the node runs ----------------------------------------------------
# Marker in the launch output -> the stage the signal hits. (One during Python's start-up
# and imports takes Python's default: a traceback, and launch reports the process died.)
STAGES = {'model load': 'loading model',
          'streaming': 'ready:'}


@pytest.mark.parametrize('repeat', range(REPEATS))
@pytest.mark.parametrize('stage', list(STAGES))
def test_sigint_at_any_stage_under_ros2_launch_exits_zero(user_env, tiny_checkpoint, tmp_path,
                                                          stage, repeat):
    run = Launched(user_env, tmp_path / 'launch.log', f'namespace:=sgcp_stop_{repeat}',
                   f'model:={tiny_checkpoint}')
    try:
        run.wait_for(STAGES[stage])
    finally:
        return_code = run.stop(signal.SIGINT)
    run.assert_clean_exit(return_code)


def test_timeout_s_int_run_of_ros2_launch_exits_zero(user_env, tiny_checkpoint, tmp_path):
    # The CI idiom itself, timed to land once the node runs: twice the time a launch here
    # took to get ready, plus a margin. On a loaded machine the node may still be importing
    # when the signal comes (Python's default then, as for any node): that run says nothing
    # about the node, so it is repeated with twice the time.
    started = time.monotonic()
    run = Launched(user_env, tmp_path / 'ready.log', 'namespace:=sgcp_timeout',
                   f'model:={tiny_checkpoint}')
    try:
        run.wait_for('ready:')
        ready_s = time.monotonic() - started
    finally:
        run.assert_clean_exit(run.stop(signal.SIGINT))
    seconds = round(2 * ready_s + 5)
    for attempt in range(3):
        run = Launched(user_env, tmp_path / f'timeout_{attempt}.log', command=[
            'timeout', '--preserve-status', '-s', 'INT', str(seconds), str(ROS2), 'launch',
            'sgcp_ros', 'segment.launch.py', 'namespace:=sgcp_timeout',
            f'model:={tiny_checkpoint}'])
        return_code = run.process.wait(timeout=seconds + 60)
        text = run.text()
        if 'ready:' in text[:text.find('user interrupted')]:
            run.assert_clean_exit(return_code)
            return
        seconds *= 2
    raise AssertionError(f'the node was never ready within {seconds // 2} s of the launch:\n'
                         + text[-4000:])
    assert 'ready:' in run.text(), run.text()[-4000:]


# -- launch argument checks --------------------------------------------------------------
def _processes_with(text: str) -> list[str]:
    found = []
    for cmdline in Path('/proc').glob('[0-9]*/cmdline'):
        try:
            command = cmdline.read_bytes().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if text in command:
            found.append(command)
    return found


def test_rviz_without_rviz2_says_so_and_starts_nothing(user_env, tmp_path):
    try:
        from ament_index_python.packages import get_package_prefix
        get_package_prefix('rviz2')
        pytest.skip('rviz2 is installed here, so the missing-rviz2 path cannot be exercised')
    except (LookupError, ValueError, OSError):
        pass
    run = Launched(user_env, tmp_path / 'launch.log', 'rviz:=true',
                   'namespace:=sgcp_rviz_check')
    return_code = run.process.wait(timeout=120)
    assert return_code != 0
    assert "package 'rviz2' not found" in run.text(), run.text()
    assert 'process started' not in run.text() and 'Traceback' not in run.text()
    assert not _processes_with('__ns:=/sgcp_rviz_check')


# -- several cameras: cameras:= -----------------------------------------------------------
def test_cameras_argument_starts_one_node_that_serves_each_camera(
        user_env, tiny_checkpoint, tmp_path):
    from sensor_msgs.msg import Image

    from test_node import RosClient
    namespace = '/sgcp_cameras_launch'
    node = f'{namespace}/sgcp_segmentation'
    front_topic, rear_topic = f'{namespace}/front/image', f'{namespace}/rear/image'
    run = Launched(user_env, tmp_path / 'launch.log', f'namespace:={namespace.strip("/")}',
                   'cameras:=[front, rear]', f'model:={tiny_checkpoint}')
    client = RosClient('sgcp_cameras_launch_client', image_topic=front_topic, output=node)
    rear_pub = client.node.create_publisher(Image, rear_topic, 1)
    for camera in ('front', 'rear'):
        client.subscribe(f'{camera}_labels', Image, topic=f'{node}/{camera}/labels')
    try:
        client.spin_until(lambda: client.inbox['class_info'] or run.process.poll(),
                          STARTUP_TIMEOUT_S, 'the launched node to load its model')
        assert run.process.poll() is None, run.text()
        for camera, publisher in (('front', client.image_pub), ('rear', rear_pub)):
            frame = image(f'launch_{camera}', client.now())
            labels = client.request(lambda: publisher.publish(frame), f'{camera}_labels',
                                    frame.header)
            assert (labels.encoding, labels.height, labels.width) == ('mono8', 120, 160)
        text = run.text()
        assert '2 cameras (front, rear), one model' in text, text[-4000:]
        assert f'robot outputs of camera rear: camera_info from {namespace}/rear/camera_info' \
            in text, text[-4000:]
    finally:
        client.close()
        return_code = run.stop(signal.SIGINT)
    run.assert_clean_exit(return_code)


@pytest.mark.parametrize('arguments, error', [
    (('image:=/x', 'cameras:=[a]'), "image is remapped to /x, but a node with cameras (a) has "
     "no image: remap each camera's NAME/image instead"),
    (('cameras:=[front, front]',), "parameter cameras: 'front' is given twice; camera names "
     'must be unique'),
    # cameras from the params file: the same check.
    (('overlay:=/o', 'params_file:={params}'), '~/overlay is remapped to /o, but a node with '
     'cameras (front, rear) has no ~/overlay: camera NAME publishes ~/NAME/overlay'),
])
def test_cameras_argument_mistakes_stop_the_node_with_one_line(
        user_env, tmp_path, arguments, error):
    # The node checks its parameters and remappings: it exits 1 naming the problem.
    params = tmp_path / 'cameras.yaml'
    params.write_text('/**:\n  ros__parameters:\n    cameras: [front, rear]\n')
    arguments = [argument.format(params=params) for argument in arguments]
    run = Launched(user_env, tmp_path / 'launch.log', 'namespace:=sgcp_cameras_mistake',
                   *arguments)
    run.process.wait(timeout=STARTUP_TIMEOUT_S)
    text = run.text()
    fatal = [line for line in text.splitlines() if '[FATAL]' in line]
    assert len(fatal) == 1 and f'cannot start: {error}' in fatal[0], text
    assert 'exit code 1' in text and 'Traceback' not in text, text
    assert not _processes_with('__ns:=/sgcp_cameras_mistake')


# -- launch_testing ----------------------------------------------------------------------
def test_launch_test_of_the_installed_launch_file_passes(user_env, tiny_checkpoint, tmp_path):
    result = subprocess.run(
        [str(LAUNCH_TEST), str(REPO / 'test' / 'launch' / 'segment_launch_test.py'),
         f'model:={tiny_checkpoint}', '--junit-xml', str(tmp_path / 'junit.xml')],
        env=user_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert 'test_a_frame_gets_labels_with_its_header' in output
    assert 'test_every_process_exited_cleanly' in output
    assert 'failures="0"' in (tmp_path / 'junit.xml').read_text()


# -- the managed node --------------------------------------------------------------------
def test_ros2_lifecycle_set_walks_the_managed_node_through_its_states(
        user_env, tiny_checkpoint, tmp_path):
    from sensor_msgs.msg import Image

    from test_node import RosClient
    namespace = '/sgcp_managed'
    node = f'{namespace}/sgcp_segmentation'
    run = Launched(user_env, tmp_path / 'launch.log', 'lifecycle:=true',
                   f'namespace:={namespace.strip("/")}', f'image:={namespace}/camera',
                   f'model:={tiny_checkpoint}')
    client = RosClient('sgcp_managed_client', image_topic=f'{namespace}/camera', output=node)

    def lifecycle(*args: str, expect: str = '') -> str:
        return ros2(user_env, 'lifecycle', *args[:1], '--no-daemon', *args[1:], expect=expect,
                    timeout_s=STARTUP_TIMEOUT_S)

    def answers(frame_id: str, within_s: float) -> bool:
        frame = image(frame_id, client.now())
        try:
            client.request(lambda: client.image_pub.publish(frame), 'labels', frame.header,
                           timeout_s=within_s)
            return True
        except AssertionError:
            return False
    try:
        lifecycle('get', node, expect='unconfigured')
        assert not client.inbox['class_info']
        lifecycle('set', node, 'configure', expect='Transitioning successful')
        client.spin_until(lambda: client.inbox['class_info'], 30.0, 'class_info after configure')
        ros2(user_env, 'param', 'get', '--no-daemon', node, 'model_path',
             expect=f'String value is: {tiny_checkpoint}')
        assert not answers('while_inactive', 3.0)

        lifecycle('set', node, 'activate', expect='Transitioning successful')
        assert answers('while_active', 60.0)
        lifecycle('set', node, 'deactivate', expect='Transitioning successful')
        assert not answers('after_deactivate', 3.0)
        ros2(user_env, 'param', 'set', '--no-daemon', node, 'label_mode', 'argmax_then_nearest',
             expect='start-up parameter')

        lifecycle('set', node, 'cleanup', expect='Transitioning successful')
        assert 'model freed' in run.text()
        # Unconfigured: start-up parameters may change again, and configure uses them.
        ros2(user_env, 'param', 'set', '--no-daemon', node, 'label_mode', 'argmax_then_nearest',
             expect='Set parameter successful')
        lifecycle('set', node, 'configure', expect='Transitioning successful')
        lifecycle('set', node, 'activate', expect='Transitioning successful')
        client.inbox['labels'].clear()
        assert answers('reactivated', 60.0)
        lifecycle('set', node, 'shutdown', expect='Transitioning successful')
        lifecycle('get', node, expect='finalized')
        assert isinstance(client.inbox['labels'][0], Image)
    finally:
        client.close()
        return_code = run.stop(signal.SIGINT)
    run.assert_clean_exit(return_code)
