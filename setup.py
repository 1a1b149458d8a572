# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
import sys
from glob import glob

from setuptools import find_packages, setup

package_name = 'sgcp_ros'

# `ros2 run` and launch_ros look for executables in <prefix>/lib/sgcp_ros. colcon (setup.py
# install / develop) puts the console scripts there itself, through setup.cfg; pip puts them
# in <prefix>/bin, so wheels also carry small launchers that exec those (resource/launchers).
WHEEL_BUILD = 'bdist_wheel' in sys.argv
LAUNCHERS = [('lib/' + package_name, glob('resource/launchers/*'))] if WHEEL_BUILD else []

# The PyPI ROS 2 wheels are only for machines without a ROS install (venv, CI); a ROS 2
# system already has rclpy and the message packages, so they are an extra, not a requirement.
ROS_FROM_PYPI = ['ros-rclpy', 'ros-sensor-msgs', 'ros-std-msgs', 'ros-diagnostic-msgs',
                 'ros-rmw-fastrtps-cpp']

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(include=['sgcp_core', 'sgcp_core.*', 'sgcp_ros', 'sgcp_ros.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.py')),
        ('share/' + package_name + '/config', glob('config/*')),
        ('share/' + package_name + '/models/camvid', glob('models/camvid/*.pt')
         + glob('models/camvid/*.onnx') + glob('models/camvid/*.json')),
    ] + LAUNCHERS,
    python_requires='>=3.10',
    install_requires=[
        'torch>=2.1',
        'numpy',
        'opencv-python-headless',
        'onnx',
        'onnxruntime',
        'pyyaml',
        'tqdm',
        'matplotlib',
        'rosbags',
        'setuptools',
    ],
    extras_require={
        'ros': ROS_FROM_PYPI,
        'train': ['tensorboard'],
        'test': ['pytest', 'tensorboard', 'sk-video', 'flake8'],
    },
    zip_safe=True,
    maintainer='sgcp_ros developers',
    maintainer_email='sgcp-ros@example.org',
    description='Real-time semantic segmentation (SGCPNet) for ROS 2 cameras.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'sgcp = sgcp_core.cli:main',
            'segmentation_node = sgcp_ros.segmentation_node:main',
            'video_publisher = sgcp_ros.video_publisher:main',
            'make_bag = sgcp_ros.bag.make_bag:main',
            'evaluate_bag = sgcp_ros.bag.evaluate_bag:main',
            'replay_bag = sgcp_ros.bag.replay_bag:main',
        ],
    },
)
