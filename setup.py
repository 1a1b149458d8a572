# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
import ast
import os
from glob import glob

from setuptools import find_packages, setup

package_name = 'sgcp_ros'

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 ships it in the wheel package
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:  # no wheel building here (e.g. colcon with an older setuptools)
        bdist_wheel = None

COMMANDS = {}
if bdist_wheel is not None:
    class RobotWheel(bdist_wheel):
        """The wheel a robot installs: launchers in <prefix>/lib/sgcp_ros, one model.

        `ros2 run` and launch_ros look for executables in <prefix>/lib/sgcp_ros. colcon
        (setup.py install / develop) puts the console scripts there itself, through
        setup.cfg; pip puts them in <prefix>/bin, so wheels also carry small launchers that
        exec those (resource/launchers). Only this command adds them, so colcon's installs
        never see two. Of the models the wheel carries the default one (its checkpoint,
        ONNX export and evidence), which keeps it under 20 MB; the other variants and the
        int8 files come with the repository and colcon installs.
        """

        def run(self):
            stem = default_model_stem()
            self.distribution.data_files = [
                (target, [f for f in sources if not target.endswith('/models/camvid')
                          or os.path.basename(f).split('.')[0] in (stem, stem + '_metrics')])
                for target, sources in self.distribution.data_files
            ] + [('lib/' + package_name, sorted(glob('resource/launchers/*')))]
            super().run()

    COMMANDS['bdist_wheel'] = RobotWheel


def files(pattern):
    """Regular files only: a symbolic link would be installed as a second copy."""
    return sorted(path for path in glob(pattern) if not os.path.islink(path))


def default_model_stem():
    """The shipped default model's stem, from sgcp_core.resources (read, not imported)."""
    with open('sgcp_core/resources.py') as source:
        for node in ast.parse(source.read()).body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == (
                    'MODEL_ALIASES'):
                return ast.literal_eval(node.value)['sgcpnet_camvid']
    raise RuntimeError('sgcp_core/resources.py defines no MODEL_ALIASES')


# Model files, one copy each: the default's name (sgcpnet_camvid) is an alias resolved in
# sgcp_core.resources, not a link. A wheel keeps only the default model (RobotWheel).
MODEL_FILES = files('models/camvid/*.pt') + files('models/camvid/*.onnx') + files(
    'models/camvid/*.json')

# The PyPI ROS 2 wheels are only for machines without a ROS install (venv, CI); a ROS 2
# system already has rclpy and the message packages, so they are an extra, not a requirement.
ROS_FROM_PYPI = ['ros-rclpy', 'ros-sensor-msgs', 'ros-std-msgs', 'ros-std-srvs',
                 'ros-lifecycle-msgs', 'ros-diagnostic-msgs', 'ros-rmw-fastrtps-cpp']

RUNTIME = ['torch>=2.1', 'numpy', 'opencv-python-headless', 'onnxruntime', 'pyyaml', 'tqdm']
EXPORT = ['onnx']                      # sgcp export / int8, reading .onnx metadata offline
BAG = ['rosbags', 'mcap']              # make_bag, evaluate_bag, replay_bag, check_bag
PLOTS = ['matplotlib']                 # training curves, bag tool IoU charts
TRAIN = ['tensorboard'] + EXPORT + PLOTS
# Intel's runtime for backend openvino (and auto's CPU probe); NNCF only makes int8 IR files.
OPENVINO = ['openvino>=2025.0']
OPENVINO_INT8 = OPENVINO + ['nncf>=2.14'] + EXPORT

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(include=['sgcp_core', 'sgcp_core.*', 'sgcp_ros', 'sgcp_ros.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.py')),
        ('share/' + package_name + '/config', glob('config/*')),
        ('share/' + package_name + '/models/camvid', MODEL_FILES),
        ('share/' + package_name + '/demo', files('demo/*.mp4') + ['demo/README.md']),
    ],
    cmdclass=COMMANDS,
    python_requires='>=3.10',
    # What the engine and the node need on a robot; the rest is per task, below.
    install_requires=RUNTIME,
    extras_require={
        'ros': ROS_FROM_PYPI,
        'export': EXPORT,
        'bag': BAG,
        'plots': PLOTS,
        'train': TRAIN,
        'openvino': OPENVINO,
        'openvino-int8': OPENVINO_INT8,
        # launch_testing's pytest plugin (ros2-tools) fails under pytest 9.
        'test': ['pytest<9', 'sk-video', 'flake8'] + EXPORT + BAG + PLOTS + TRAIN
        + OPENVINO_INT8,
    },
    zip_safe=True,
    maintainer='sgcp_ros developers',
    maintainer_email='sgcp-ros@example.org',
    description='Real-time semantic segmentation (SGCPNet) for ROS 2 cameras.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sgcp = sgcp_core.cli:main',
            'segmentation_node = sgcp_ros.entry_points:segmentation_node',
            'segmentation_lifecycle_node = sgcp_ros.entry_points:segmentation_lifecycle_node',
            'video_publisher = sgcp_ros.video_publisher:main',
            'make_bag = sgcp_ros.bag.make_bag:main',
            'evaluate_bag = sgcp_ros.bag.evaluate_bag:main',
            'replay_bag = sgcp_ros.bag.replay_bag:main',
            'check_bag = sgcp_ros.bag.check_bag:main',
            'node_bench = sgcp_ros.node_bench:main',
        ],
    },
)
