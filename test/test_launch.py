# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""segment.launch.py and the install layout `ros2 launch sgcp_ros segment.launch.py` needs.

launch_ros finds a package through the ament index under a prefix in AMENT_PREFIX_PATH and
runs executables from ``<prefix>/lib/sgcp_ros``; ros2launch finds the launch file by walking
``share/sgcp_ros`` with os.walk, which does not enter linked folders. These tests check that
a pip-installed wheel, a colcon-style install and `make setup`'s venv provide all of it.
Launching for real, with the ROS tools, is test_as_ros_user.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import shutil
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'segment.launch.py'
# Every console script setup.py declares (the node, video_publisher, the bag commands,
# node_bench, sgcp): each must be runnable from <prefix>/lib/sgcp_ros as `ros2 run` does.
EXECUTABLES = tuple(re.findall(r"'(\w+) = [\w.]+:\w+'", (REPO / 'setup.py').read_text()))
LAUNCH_ARGUMENTS = {'image', 'cameras', 'image_transport', 'namespace', 'params_file', 'model',
                    'backend', 'device', 'labels', 'color_mask', 'overlay', 'use_sim_time',
                    'lifecycle', 'rviz', 'large_images', 'depth', 'camera_info',
                    'class_groups_file'}


def test_launch_file_declares_the_documented_arguments(monkeypatch):
    pytest.importorskip('launch_ros', reason='launch_ros (a ROS install or ../shared/ros2-tools) '
                        'is not installed')
    if not (Path(sys.prefix) / 'share' / 'sgcp_ros').is_dir():
        pytest.skip(f'{sys.prefix} has no share/sgcp_ros: `make setup` links it there')
    monkeypatch.setenv('AMENT_PREFIX_PATH', sys.prefix)
    import importlib.util
    spec = importlib.util.spec_from_file_location('segment_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    declared = {argument.name for argument in
                module.generate_launch_description().get_launch_arguments()}
    assert LAUNCH_ARGUMENTS == declared


def test_launch_file_is_declarative():
    # Arguments, one node action per executable, RViz behind a condition: what the node
    # checks (values, combinations) is the node's to report, not the launch file's.
    text = LAUNCH_FILE.read_text()
    assert len(text.splitlines()) <= 120
    for machinery in ('OpaqueFunction', 'tempfile', 'import yaml', 'PythonExpression'):
        assert machinery not in text, machinery


def test_a_params_file_the_node_cannot_read_stops_it_with_one_line(tmp_path):
    # What params_file:=MISSING hands the node: rcl refuses it, the node says so and exits 1.
    pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
    from sgcp_ros.node_process import start_node
    log = tmp_path / 'node.log'
    missing = tmp_path / 'missing.yaml'
    code = start_node(log, '--params-file', str(missing)).wait(timeout=120)
    text = log.read_text()
    assert code == 1 and 'Traceback' not in text, text
    assert f"cannot start: failed to initialize rcl: Couldn't parse params file: " \
        f"'--params-file {missing}'" in text, text


def test_every_console_script_has_a_launcher_for_wheel_installs():
    assert {'segmentation_node', 'video_publisher', 'make_bag', 'evaluate_bag', 'replay_bag',
            'check_bag'} <= set(EXECUTABLES)
    launchers = {path.name for path in (REPO / 'resource' / 'launchers').iterdir()}
    assert set(EXECUTABLES) <= launchers, set(EXECUTABLES) - launchers


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
                     'config/sgcp.rviz', 'config/fastdds_large_images.xml',
                     'config/robot_stack.yaml', 'config/camvid_traversable_groups.yaml'):
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


def test_make_share_links_files_into_real_folders_that_ros2launch_finds(tmp_path):
    # A venv-shaped folder of its own: `make share` needs nothing but the repository.
    if shutil.which('make') is None:
        pytest.skip('make is not installed')
    venv = tmp_path / 'venv'
    make = ['make', '-s', '-C', str(REPO), f'VENV={venv}']
    subprocess.run(make + ['share'], check=True, capture_output=True, timeout=120)
    share = venv / 'share' / 'sgcp_ros'
    for folder in ('launch', 'config'):
        assert (share / folder).is_dir() and not (share / folder).is_symlink(), folder
    launch_file = share / 'launch' / 'segment.launch.py'
    assert launch_file.is_symlink() and launch_file.resolve() == LAUNCH_FILE
    # What `ros2 launch sgcp_ros segment.launch.py` does to find the file.
    found = [Path(root) / name for root, _, names in os.walk(share) for name in names]
    assert launch_file in found
    try:
        from ros2launch.api import get_share_file_path_from_package
    except ImportError:
        pass  # ros2launch (../shared/ros2-tools or a ROS install) absent: os.walk above is it
    else:
        env = dict(os.environ, AMENT_PREFIX_PATH=str(venv))
        probe = subprocess.run(
            [sys.executable, '-c', 'from ros2launch.api import get_share_file_path_from_package'
             ' as f; print(f(package_name="sgcp_ros", file_name="segment.launch.py"))'],
            env=env, capture_output=True, text=True, timeout=120)
        assert probe.stdout.strip() == str(launch_file), probe.stdout + probe.stderr
        del get_share_file_path_from_package
    for name in EXECUTABLES:
        assert os.access(venv / 'lib' / 'sgcp_ros' / name, os.X_OK), name
    # Up to date now: a second run does nothing; a new launch file is picked up.
    assert subprocess.run(make + ['-q', 'share'], timeout=60).returncode == 0


def test_demo_plays_the_shipped_camvid_road_clip_with_its_attribution_beside_it():
    from sgcp_core.files import video_info
    from sgcp_ros.demo import default_video
    clip = default_video()
    info = video_info(clip)
    assert (info.frame_count, info.fps, info.width, info.height) == (101, 15.0, 480, 360)
    assert clip.stat().st_size < 8e6
    notes = (clip.parent / 'README.md').read_text()
    assert 'Brostow' in notes and 'research' in notes and 'train + val' in notes


def test_demo_summary_names_the_stages_no_frame_ran_instead_of_printing_none():
    from sgcp_ros.demo import _format_stages
    line = _format_stages({'preprocess': 1.21, 'network': 8.5, 'confidence': None,
                           'cloud': None})
    assert line == 'stage ms  preprocess 1.21, network 8.5 (not run: confidence, cloud)'
    assert 'None' not in line
    assert _format_stages({'network': 8.5}) == 'stage ms  network 8.5'
