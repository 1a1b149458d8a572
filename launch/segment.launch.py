# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start the segmentation node (and optionally RViz).

    ros2 launch sgcp_ros segment.launch.py image:=/camera/image_raw
    ros2 launch sgcp_ros segment.launch.py namespace:=front image:=/front/image_raw rviz:=true
    ros2 launch sgcp_ros segment.launch.py lifecycle:=true   # then: ros2 lifecycle set ...
    ros2 launch sgcp_ros segment.launch.py cameras:="[front, rear]"
    ros2 launch sgcp_ros segment.launch.py params_file:=<share>/config/robot_stack.yaml \\
        image:=/camera/color/image_raw depth:=/camera/aligned_depth_to_color/image_raw \\
        class_groups_file:=<share>/config/camvid_traversable_groups.yaml

The params file comes first; the arguments given override it, and an empty model, backend,
device, image_transport, cameras or class_groups_file leaves that parameter to the params
file (else the node's default). The node checks every value and combination and exits
naming the one that cannot work.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, SetEnvironmentVariable
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, NotEqualsSubstitution
from launch_ros.actions import LifecycleNode, Node, SetParameter
from launch_ros.parameter_descriptions import ParameterValue

SHARE = get_package_share_directory('sgcp_ros')
# Launch argument -> (default, description). A topic argument's default is the node's own
# name for it, so an argument left alone remaps nothing.
TOPICS = {
    'image': ('image', 'Input sensor_msgs/Image topic (<image>/compressed with '
                       'image_transport:=compressed).'),
    'camera_info': ('camera_info', "The camera's CameraInfo; default: the sibling of image "
                                   '(/cam/image_raw -> /cam/camera_info).'),
    'depth': ('depth', 'Registered depth image (16UC1 mm or 32FC1 m) for ~/points.'),
    'labels': ('~/labels', 'Topic for ~/labels.'),
    'color_mask': ('~/color_mask', 'Topic for ~/color_mask.'),
    'overlay': ('~/overlay', 'Topic for ~/overlay.'),
}
# Launch argument -> (parameter, description); '' leaves the parameter alone.
OPTIONAL_PARAMETERS = {
    'model': ('model_path', 'Model file (.pt or .onnx).'),
    'backend': ('backend', 'auto | torch | onnx | openvino.'),
    'device': ('device', 'auto | cpu | cuda.'),
    'image_transport': ('image_transport', 'raw | compressed.'),
    'cameras': ('cameras', 'Several cameras in one node, a YAML list: "[front, rear]"; '
                           'camera NAME reads NAME/image, publishes ~/NAME/labels ...'),
    'class_groups_file': ('class_groups_file', 'YAML file grouping the classes '
                                               '(config/camvid_traversable_groups.yaml).'),
}


def _argument(name: str) -> LaunchConfiguration:
    return LaunchConfiguration(name)


def _optional_parameter(argument: str, parameter: str) -> SetParameter:
    value = _argument(argument)
    if argument == 'cameras':
        value = ParameterValue(value, value_type=list[str])
    return SetParameter(parameter, value,
                        condition=IfCondition(NotEqualsSubstitution(_argument(argument), '')))


def generate_launch_description() -> LaunchDescription:
    use_sim_time = {'use_sim_time': ParameterValue(_argument('use_sim_time'), value_type=bool)}
    segmentation = dict(
        package='sgcp_ros', name='sgcp_segmentation', namespace=_argument('namespace'),
        output='screen', parameters=[use_sim_time],
        # Here, not in parameters: the file comes before the arguments that override it,
        # and a missing file is the node's error to report.
        ros_arguments=['--params-file', _argument('params_file')],
        remappings=[(default, _argument(name)) for name, (default, _) in TOPICS.items()])
    managed = IfCondition(_argument('lifecycle'))
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=text)
          for name, (default, text) in TOPICS.items()],
        *[DeclareLaunchArgument(name, default_value='', description=f"{text} '' = params file.")
          for name, (_, text) in OPTIONAL_PARAMETERS.items()],
        DeclareLaunchArgument('namespace', default_value='', description='Node namespace.'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(SHARE, 'config', 'segmentation.yaml'),
                              description='ROS parameters file (config/robot_stack.yaml for '
                              'an RGB-D robot stack).'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (bag replay).'),
        DeclareLaunchArgument('lifecycle', default_value='false',
                              description='Start the managed node: it waits unconfigured for '
                              '`ros2 lifecycle set`.'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Also start RViz (needs rviz2) with the overlay and '
                              'colour mask of the node in this namespace.'),
        DeclareLaunchArgument('large_images', default_value='false',
                              description='Use the shipped Fast DDS profile for images of 512 '
                              'KB and more; the camera driver needs it too.'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                               os.path.join(SHARE, 'config', 'fastdds_large_images.xml'),
                               condition=IfCondition(_argument('large_images'))),
        # RViz first: without rviz2 the launch fails before the node starts.
        Node(package='rviz2', executable='rviz2', name='sgcp_rviz',
             namespace=_argument('namespace'), output='screen', parameters=[use_sim_time],
             arguments=['-d', os.path.join(SHARE, 'config', 'sgcp.rviz')],
             condition=IfCondition(_argument('rviz'))),
        GroupAction(scoped=True, actions=[
            *[_optional_parameter(argument, parameter)
              for argument, (parameter, _) in OPTIONAL_PARAMETERS.items()],
            Node(executable='segmentation_node', condition=UnlessCondition(
                _argument('lifecycle')), **segmentation),
            LifecycleNode(executable='segmentation_lifecycle_node', condition=managed,
                          **segmentation),
        ]),
    ])
