# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""segment.launch.py and the install layout `ros2 launch sgcp_ros segment.launch.py` needs.

launch_ros finds a package through the ament index under a prefix in AMENT_PREFIX_PATH and
runs executables from ``<prefix>/lib/sgcp_ros``. These tests check that a pip-installed
wheel and `make setup`'s venv provide both, and, where launch_ros is installed (a ROS 2
install; the PyPI wheels do not have it), launch the file and wait for labels.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'segment.launch.py'
EXECUTABLES = ('segmentation_node', 'video_publisher')
LAUNCH_ARGUMENTS = {'image', 'namespace', 'params_file', 'model', 'backend', 'device',
                    'use_sim_time', 'rviz'}


def declared_arguments(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, 'id', '') ==
            'DeclareLaunchArgument' and node.args and isinstance(node.args[0], ast.Constant)}


def test_launch_file_declares_the_documented_arguments():
    assert LAUNCH_ARGUMENTS <= declared_arguments(LAUNCH_FILE)


@pytest.fixture(scope='module')
def wheel_prefix(tmp_path_factory) -> Path:
    """This package built as a wheel and pip-installed (no dependencies) into a fresh venv.

    ``pip --python`` installs into that venv only: installing with --prefix from this
    interpreter would uninstall the development copy from the running environment.
    """
    work = tmp_path_factory.mktemp('wheel')
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '-q']
    subprocess.run(pip + ['wheel', '--no-deps', '--no-build-isolation', '-w', str(work),
                          str(REPO)], check=True, cwd=REPO, timeout=300)
    wheel = next(work.glob('sgcp_ros-*.whl'))
    prefix = work / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(prefix)], check=True,
                   timeout=120)
    subprocess.run(pip + ['--python', str(prefix / 'bin' / 'python'), 'install', '--no-deps',
                          '--no-index', str(wheel)], check=True, timeout=300)
    return prefix


def test_pip_install_puts_the_ament_index_share_files_and_executables_in_place(
        wheel_prefix, monkeypatch):
    from ament_index_python.packages import get_package_prefix, get_package_share_directory
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(wheel_prefix))
    assert Path(get_package_prefix('sgcp_ros')) == wheel_prefix
    share = Path(get_package_share_directory('sgcp_ros'))
    for relative in ('package.xml', 'launch/segment.launch.py', 'config/segmentation.yaml',
                     'config/sgcp.rviz', 'config/fastdds_large_images.xml'):
        assert (share / relative).is_file(), relative
    for name in EXECUTABLES:
        executable = wheel_prefix / 'lib' / 'sgcp_ros' / name
        assert executable.is_file() and os.access(executable, os.X_OK), executable
        assert os.access(wheel_prefix / 'bin' / name, os.X_OK)


def test_pip_installed_launcher_runs_the_installed_node(wheel_prefix, tmp_path):
    # What launch_ros does: <prefix>/lib/sgcp_ros/<executable> with the user's arguments.
    # A missing model makes the node exit at once, which proves the whole chain ran. The
    # venv has sgcp_ros alone; its dependencies come from this environment's site-packages
    # (a plain path entry: the development install's .pth finder is not processed there).
    dependencies = [sysconfig.get_path('purelib'), os.environ.get('PYTHONPATH', '')]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, dependencies)),
               AMENT_PREFIX_PATH=str(wheel_prefix))
    result = subprocess.run(
        [str(wheel_prefix / 'lib' / 'sgcp_ros' / 'segmentation_node'), '--ros-args', '-p',
         f'model_path:={tmp_path / "absent.pt"}'],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    installed = subprocess.run([str(wheel_prefix / 'bin' / 'python'), '-c',
                                'import sgcp_ros; print(sgcp_ros.__file__)'], env=env,
                               cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert installed.stdout.startswith(str(wheel_prefix)), installed.stdout + installed.stderr
    assert f'cannot start: model file not found: {tmp_path / "absent.pt"}' in result.stderr


def test_colcon_style_install_puts_the_console_scripts_in_lib(tmp_path):
    # colcon's ament_python build runs `setup.py install` like this; setup.cfg sends the
    # console scripts to lib/sgcp_ros, and the pip launchers must not replace them there.
    (tmp_path / 'egg').mkdir()
    prefix = tmp_path / 'install'
    result = subprocess.run(
        [sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base', str(tmp_path / 'egg'),
         'build', '--build-base', str(tmp_path / 'build'), 'install', '--prefix', str(prefix),
         '--record', str(tmp_path / 'record.txt'), '--single-version-externally-managed'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and 'invalid command' in result.stderr:
        pytest.skip('this setuptools has no `setup.py install` (colcon needs one that does)')
    assert result.returncode == 0, result.stderr[-3000:]
    for name in EXECUTABLES:
        script = prefix / 'lib' / 'sgcp_ros' / name
        assert os.access(script, os.X_OK), name
        # The console script itself (a Python shebang), not the pip launcher (/bin/sh).
        assert 'python' in script.read_text().splitlines()[0], name
    assert not (prefix / 'bin').exists()
    assert (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
            / 'sgcp_ros').is_file()
    assert (prefix / 'share' / 'sgcp_ros' / 'launch' / 'segment.launch.py').is_file()


def test_make_setup_links_the_share_files_into_the_venv():
    share = Path(sys.prefix) / 'share' / 'sgcp_ros'
    if not share.exists():
        pytest.skip(f'{share} does not exist: this Python was not set up by `make setup`')
    marker = (Path(sys.prefix) / 'share' / 'ament_index' / 'resource_index' / 'packages'
              / 'sgcp_ros')
    assert marker.is_file()
    assert (share / 'launch' / 'segment.launch.py').is_file()
    assert (share / 'config' / 'segmentation.yaml').is_file()
    for name in EXECUTABLES:
        assert os.access(Path(sys.prefix) / 'lib' / 'sgcp_ros' / name, os.X_OK), name


LAUNCH_RUNNER = textwrap.dedent('''
    import sys
    from launch import LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    service = LaunchService()
    service.include_launch_description(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(sys.argv[1]),
        launch_arguments=[tuple(a.split(':=', 1)) for a in sys.argv[2:]]))
    sys.exit(service.run())
''')


def test_launch_file_starts_the_node_and_labels_arrive(
        tiny_checkpoint, camvid_val_frames, tmp_path):
    try:
        import launch_ros  # noqa: F401
        from launch import LaunchService  # noqa: F401
    except ImportError as error:
        pytest.skip(f'launch_ros is not installed ({error}); it comes with a ROS 2 install, '
                    'not with the PyPI wheels')
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    try:
        share = Path(get_package_share_directory('sgcp_ros'))
    except (PackageNotFoundError, OSError) as error:
        pytest.skip(f'sgcp_ros is not in an ament prefix ({error}): run `make setup` and '
                    'export AMENT_PREFIX_PATH=$VIRTUAL_ENV, or colcon build and source it')
    from node_process import node_environment, stop
    from test_node import RosClient, padded_image

    log = tmp_path / 'launch.log'
    process = subprocess.Popen(
        [sys.executable, '-c', LAUNCH_RUNNER, str(share / 'launch' / 'segment.launch.py'),
         'namespace:=sgcp_launch_test', 'image:=/sgcp_launch_test/camera',
         f'model:={tiny_checkpoint}', 'large_images:=true'],
        stdout=log.open('wb'), stderr=subprocess.STDOUT, cwd=tmp_path, env=node_environment())
    client = RosClient('sgcp_launch_test_client', image_topic='/sgcp_launch_test/camera',
                       output='/sgcp_launch_test/sgcp_segmentation')
    try:
        client.spin_until(lambda: client.inbox['class_info'] or process.poll() is not None,
                          180.0, 'the launched node to start')
        assert process.poll() is None, log.read_text()
        frame = camvid_val_frames[0][1]
        labels = client.segment(padded_image(frame, 'rgb8', 'launched', client.now()))
        assert (labels.encoding, labels.height, labels.width) == ('mono8', 360, 480)
    finally:
        client.close()
        return_code = stop(process, signal.SIGINT)
    assert return_code == 0, log.read_text()[-3000:]
