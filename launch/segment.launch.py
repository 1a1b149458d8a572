# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start the segmentation node (and optionally RViz) for one camera.

    ros2 launch sgcp_ros segment.launch.py image:=/camera/image_raw
    ros2 launch sgcp_ros segment.launch.py namespace:=front image:=/front/image_raw rviz:=true
    ros2 launch sgcp_ros segment.launch.py image:=/camera/image_raw image_transport:=compressed
    ros2 launch sgcp_ros segment.launch.py lifecycle:=true   # then: ros2 lifecycle set ...

Several cameras: launch once per camera with its own namespace. Empty model / backend /
device arguments leave those parameters to the params file and the built-in defaults;
empty output topics keep the node's own (~/labels, ~/color_mask, ~/overlay).
"""

import os
import tempfile

from ament_index_python.packages import (PackageNotFoundError, get_package_prefix,
                                         get_package_share_directory)
from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler,
                            SetEnvironmentVariable)
from launch.conditions import IfCondition
from launch.event_handlers import OnShutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

PACKAGE = 'sgcp_ros'
NODE_NAME = 'sgcp_segmentation'
# Launch argument -> the node's output topic it remaps.
OUTPUT_REMAPS = (('labels', '~/labels'), ('color_mask', '~/color_mask'),
                 ('overlay', '~/overlay'))


class LaunchError(RuntimeError):
    """A launch argument that cannot work here; launch prints the text and exits 1."""


def _truthy(text: str) -> bool:
    return text.strip().lower() in ('1', 'true', 'yes', 'on')


def _check_rviz2_installed() -> None:
    # Checked before any process starts: a node started first would outlive the failed
    # launch (orphaned), and the next attempt would meet a second node of the same name.
    try:
        prefix = get_package_prefix('rviz2')
    except (PackageNotFoundError, ValueError, OSError):
        prefix = None
    if prefix is None or not os.access(os.path.join(prefix, 'lib', 'rviz2', 'rviz2'),
                                       os.X_OK):
        raise LaunchError('rviz:=true but rviz2 is not installed (no rviz2 package in '
                          'AMENT_PREFIX_PATH); install ros-<distro>-rviz2 or launch without '
                          'rviz:=true. Nothing was started.')


def _rviz_config_for(namespace: str, share: str) -> tuple[str, str | None]:
    """The shipped RViz view with its topics moved into ``namespace``: (path, temp file)."""
    path = os.path.join(share, 'config', 'sgcp.rviz')
    if not namespace:
        return path, None
    prefix = '/' + namespace.strip('/')
    with open(path, encoding='utf-8') as source:
        text = source.read().replace(f'/{NODE_NAME}/', f'{prefix}/{NODE_NAME}/')
    fd, moved = tempfile.mkstemp(prefix=f'sgcp_{prefix.strip("/").replace("/", "_")}_',
                                 suffix='.rviz')
    with os.fdopen(fd, 'w', encoding='utf-8') as target:
        target.write(text)
    return moved, moved


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _nodes(context):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    rviz = _truthy(arg('rviz'))
    if rviz:
        _check_rviz2_installed()
    share = get_package_share_directory(PACKAGE)
    namespace = arg('namespace')
    use_sim_time = _truthy(arg('use_sim_time'))
    overrides = {'use_sim_time': use_sim_time}
    for launch_name, parameter in (('model', 'model_path'), ('backend', 'backend'),
                                   ('device', 'device'), ('image_transport', 'image_transport')):
        if arg(launch_name):
            overrides[parameter] = arg(launch_name)
    parameters = ([arg('params_file')] if arg('params_file') else []) + [overrides]
    # The node subscribes <image>/compressed itself with image_transport:=compressed,
    # from the remapped image topic, so one remap moves both.
    remappings = [('image', arg('image'))] + [
        (topic, arg(launch_name)) for launch_name, topic in OUTPUT_REMAPS if arg(launch_name)]
    managed = _truthy(arg('lifecycle'))
    node_type = LifecycleNode if managed else Node
    actions = [node_type(
        package=PACKAGE, name=NODE_NAME, namespace=namespace,
        executable='segmentation_lifecycle_node' if managed else 'segmentation_node',
        parameters=parameters, output='screen', remappings=remappings)]
    if rviz:
        config, temporary = _rviz_config_for(namespace, share)
        if temporary:
            actions.append(RegisterEventHandler(OnShutdown(
                on_shutdown=lambda event, context: _remove(temporary))))
        actions.append(Node(
            package='rviz2', executable='rviz2', name='sgcp_rviz', namespace=namespace,
            arguments=['-d', config], parameters=[{'use_sim_time': use_sim_time}],
            output='screen'))
    return actions


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument('image', default_value='image',
                              description='Input sensor_msgs/Image topic; with '
                              'image_transport:=compressed the node reads <image>/compressed.'),
        DeclareLaunchArgument('image_transport', default_value='',
                              description="raw | compressed; '' = params file / raw."),
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
        DeclareLaunchArgument('labels', default_value='',
                              description="Topic for ~/labels; '' = ~/labels itself."),
        DeclareLaunchArgument('color_mask', default_value='',
                              description="Topic for ~/color_mask; '' = ~/color_mask itself."),
        DeclareLaunchArgument('overlay', default_value='',
                              description="Topic for ~/overlay; '' = ~/overlay itself."),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (bag replay).'),
        DeclareLaunchArgument('lifecycle', default_value='false',
                              description='Start the managed node (segmentation_lifecycle_'
                              'node): it waits unconfigured for `ros2 lifecycle set`.'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Also start RViz with the overlay and colour mask '
                              '(checked first: without rviz2 nothing starts).'),
        DeclareLaunchArgument('large_images', default_value='false',
                              description='Use the shipped Fast DDS profile (64 MB shared '
                              'memory) for images of 512 KB and more; the camera driver '
                              'needs it too.'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                               os.path.join(share, 'config', 'fastdds_large_images.xml'),
                               condition=IfCondition(LaunchConfiguration('large_images'))),
        OpaqueFunction(function=_nodes),
    ])
