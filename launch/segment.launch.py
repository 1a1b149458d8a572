# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start the segmentation node (and optionally RViz) for one camera.

    ros2 launch sgcp_ros segment.launch.py image:=/camera/image_raw
    ros2 launch sgcp_ros segment.launch.py namespace:=front image:=/front/image_raw rviz:=true

Several cameras: launch once per camera with its own namespace. Empty model / backend /
device arguments leave those parameters to the params file and the built-in defaults.
"""

import os
import tempfile

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = 'sgcp_ros'
NODE_NAME = 'sgcp_segmentation'


def _truthy(text: str) -> bool:
    return text.strip().lower() in ('1', 'true', 'yes', 'on')


def _rviz_config_for(namespace: str, share: str) -> str:
    """The shipped RViz view, with its topics moved into ``namespace`` when there is one."""
    path = os.path.join(share, 'config', 'sgcp.rviz')
    if not namespace:
        return path
    prefix = '/' + namespace.strip('/')
    with open(path, encoding='utf-8') as source:
        text = source.read().replace(f'/{NODE_NAME}/', f'{prefix}/{NODE_NAME}/')
    fd, moved = tempfile.mkstemp(prefix=f'sgcp_{prefix.strip("/").replace("/", "_")}_',
                                 suffix='.rviz')
    with os.fdopen(fd, 'w', encoding='utf-8') as target:
        target.write(text)
    return moved


def _nodes(context):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    share = get_package_share_directory(PACKAGE)
    namespace = arg('namespace')
    use_sim_time = _truthy(arg('use_sim_time'))
    overrides = {'use_sim_time': use_sim_time}
    for launch_name, parameter in (('model', 'model_path'), ('backend', 'backend'),
                                   ('device', 'device')):
        if arg(launch_name):
            overrides[parameter] = arg(launch_name)
    parameters = ([arg('params_file')] if arg('params_file') else []) + [overrides]
    image = arg('image')
    actions = [Node(
        package=PACKAGE, executable='segmentation_node', name=NODE_NAME, namespace=namespace,
        parameters=parameters, output='screen',
        remappings=[('image', image), ('image/compressed', image + '/compressed')])]
    if _truthy(arg('rviz')):
        actions.append(Node(
            package='rviz2', executable='rviz2', name='sgcp_rviz', namespace=namespace,
            arguments=['-d', _rviz_config_for(namespace, share)],
            parameters=[{'use_sim_time': use_sim_time}], output='screen'))
    return actions


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument('image', default_value='image',
                              description='Input sensor_msgs/Image topic (image/compressed '
                              'is <image>/compressed).'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node, one per camera.'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'segmentation.yaml'),
                              description='ROS parameters file for the node.'),
        DeclareLaunchArgument('model', default_value='',
                              description="Model file (.pt or .onnx); '' = params file, "
                              'else the shipped CamVid model.'),
        DeclareLaunchArgument('backend', default_value='',
                              description="auto | torch | onnx; '' = params file / default."),
        DeclareLaunchArgument('device', default_value='',
                              description="auto | cpu | cuda; '' = params file / default."),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (bag replay).'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Also start RViz with the overlay and colour mask.'),
        DeclareLaunchArgument('large_images', default_value='false',
                              description='Use the shipped Fast DDS profile (64 MB shared '
                              'memory) for images of 512 KB and more; the camera driver '
                              'needs it too.'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                               os.path.join(share, 'config', 'fastdds_large_images.xml'),
                               condition=IfCondition(LaunchConfiguration('large_images'))),
        OpaqueFunction(function=_nodes),
    ])
