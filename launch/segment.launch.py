# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start the segmentation node (and optionally RViz) for one camera or several.

    ros2 launch sgcp_ros segment.launch.py image:=/camera/image_raw
    ros2 launch sgcp_ros segment.launch.py namespace:=front image:=/front/image_raw rviz:=true
    ros2 launch sgcp_ros segment.launch.py image:=/camera/image_raw image_transport:=compressed
    ros2 launch sgcp_ros segment.launch.py lifecycle:=true   # then: ros2 lifecycle set ...
    ros2 launch sgcp_ros segment.launch.py cameras:="front=/front/color/image_raw rear"

Several cameras: one node serves them all with one model (README, Many cameras). cameras
holds NAME or NAME=IMAGE_TOPIC entries, separated by commas or spaces; camera NAME reads
NAME/image (remapped to IMAGE_TOPIC where given; camera_info is that topic's sibling) and
publishes ~/NAME/labels, ~/NAME/color_mask, ~/NAME/overlay. image, labels, color_mask and
overlay remap the single camera's topics, so they cannot be given with cameras, whether
cameras comes from this argument or from the params file. Empty model / backend / device /
cameras arguments leave those parameters to the params file and the built-in defaults;
empty output topics keep the node's own (~/labels, ~/color_mask, ~/overlay).
"""

import os
import re
import tempfile

import yaml

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
IMAGE_DEFAULT = 'image'


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


def _camera_entries(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The cameras argument as (camera names, remappings of NAME/image to a topic).

    Entries are NAME or NAME=IMAGE_TOPIC, separated by commas and/or whitespace; the names
    are checked by the node's own rule (``sgcp_ros.parameters.check_camera_names``).
    """
    text = text.strip()
    if not text:
        return [], []
    names, remappings = [], []
    for entry in re.split(r'\s*,\s*|\s+', text):
        name, equals, topic = entry.partition('=')
        names.append(name)
        if equals:
            if not topic:
                raise LaunchError(f'cameras:={text}: {entry!r} names no image topic (NAME or '
                                  'NAME=IMAGE_TOPIC). Nothing was started.')
            remappings.append((f'{name}/image', topic))
    try:
        from sgcp_ros.parameters import check_camera_names
    except ImportError:
        # ros2 launch runs in another Python than the node (a ROS install's ros2 with the
        # package pip-installed into a venv): the node checks the names at start-up.
        return names, remappings
    problem = check_camera_names(names)
    if problem:
        raise LaunchError(f'cameras:={text}: {problem.removeprefix("parameter cameras: ")}. '
                          'Nothing was started.')
    return names, remappings


def _node_key_pattern(key: str) -> re.Pattern:
    # rcl's rule for a params file's node keys: '*' is one name token, '**' zero or more;
    # a key without a leading slash is matched as if it had one.
    tokens = key.strip('/').split('/')
    parts = []
    for token in tokens:
        if token == '**':
            parts.append('(?:/[^/]+)*')
        elif token == '*':
            parts.append('/[^/]+')
        else:
            parts.append('/' + re.escape(token))
    return re.compile(''.join(parts) + r'\Z')


def _params_file_cameras(path: str, namespace: str) -> list[str]:
    """The ``cameras`` the params file gives this launch's node ([] for none).

    Entries are matched to the node's fully qualified name as rcl does, the last match
    winning. A file that cannot be read is left to the node, which names the problem.
    """
    try:
        with open(path, encoding='utf-8') as stream:
            document = yaml.safe_load(stream)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []
    node = '/' + '/'.join(filter(None, [namespace.strip('/'), NODE_NAME]))
    cameras: list[str] = []

    def visit(mapping, keys):
        for key, value in mapping.items():
            if not isinstance(value, dict):
                continue
            if key == 'ros__parameters':
                found = value.get('cameras')
                if keys and isinstance(found, list) and _node_key_pattern(
                        '/'.join(keys)).match(node):
                    cameras[:] = [str(name) for name in found]
            else:
                visit(value, keys + [str(key)])

    if isinstance(document, dict):
        visit(document, [])
    return cameras


def _check_single_camera_arguments_absent(arg, source: str) -> None:
    # image, labels, color_mask and overlay remap the single camera's topics, which a node
    # with cameras does not have: given with cameras they would do nothing.
    if arg('image') != IMAGE_DEFAULT:
        raise LaunchError(f'image:= remaps the single camera\'s input and cannot be given with '
                          f'{source}; give each camera\'s image topic in cameras:= as '
                          'NAME=IMAGE_TOPIC (cameras:="front=/front/image_raw rear=/rear/'
                          'image_raw"). Nothing was started.')
    for launch_name, _ in OUTPUT_REMAPS:
        if arg(launch_name):
            raise LaunchError(f'{launch_name}:= remaps the single camera\'s ~/{launch_name} '
                              f'and cannot be given with {source}; camera NAME publishes '
                              f'~/NAME/{launch_name}. Nothing was started.')


def _rviz_config_for(namespace: str, share: str,
                     camera: str = '') -> tuple[str, str | None]:
    """The shipped RViz view with its topics moved into ``namespace`` and to ``camera``'s
    outputs (~/camera/overlay ...): (path, temp file)."""
    path = os.path.join(share, 'config', 'sgcp.rviz')
    if not namespace and not camera:
        return path, None
    prefix = '/' + namespace.strip('/') if namespace.strip('/') else ''
    node = f'{prefix}/{NODE_NAME}/' + (f'{camera}/' if camera else '')
    with open(path, encoding='utf-8') as source:
        text = source.read().replace(f'/{NODE_NAME}/', node)
    label = '_'.join(filter(None, [prefix.strip('/').replace('/', '_'), camera]))
    fd, moved = tempfile.mkstemp(prefix=f'sgcp_{label}_', suffix='.rviz')
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

    namespace = arg('namespace')
    cameras, camera_remappings = _camera_entries(arg('cameras'))
    if cameras:
        _check_single_camera_arguments_absent(arg, 'cameras:=')
    elif arg('params_file'):
        # The node's cameras may come from the params file: the same checks and the same
        # RViz view apply, so read them here too.
        named = _params_file_cameras(arg('params_file'), namespace)
        if named:
            _check_single_camera_arguments_absent(
                arg, f'cameras (the params file {arg("params_file")} gives the node '
                f'cameras {", ".join(named)})')
            cameras = named
    rviz = _truthy(arg('rviz'))
    if rviz:
        _check_rviz2_installed()
    share = get_package_share_directory(PACKAGE)
    use_sim_time = _truthy(arg('use_sim_time'))
    overrides = {'use_sim_time': use_sim_time}
    for launch_name, parameter in (('model', 'model_path'), ('backend', 'backend'),
                                   ('device', 'device'), ('image_transport', 'image_transport')):
        if arg(launch_name):
            overrides[parameter] = arg(launch_name)
    if arg('cameras').strip():
        overrides['cameras'] = cameras   # a list of strings: a string array parameter
    parameters = ([arg('params_file')] if arg('params_file') else []) + [overrides]
    # The node subscribes <image>/compressed itself with image_transport:=compressed,
    # from the remapped image topic, so one remap moves both (and camera_info, its sibling).
    remappings = camera_remappings if cameras else [('image', arg('image'))] + [
        (topic, arg(launch_name)) for launch_name, topic in OUTPUT_REMAPS if arg(launch_name)]
    managed = _truthy(arg('lifecycle'))
    node_type = LifecycleNode if managed else Node
    actions = [node_type(
        package=PACKAGE, name=NODE_NAME, namespace=namespace,
        executable='segmentation_lifecycle_node' if managed else 'segmentation_node',
        parameters=parameters, output='screen', remappings=remappings)]
    if rviz:
        # With cameras the view shows the first one's outputs.
        config, temporary = _rviz_config_for(namespace, share, cameras[0] if cameras else '')
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
        DeclareLaunchArgument('image', default_value=IMAGE_DEFAULT,
                              description='Input sensor_msgs/Image topic; with '
                              'image_transport:=compressed the node reads <image>/compressed. '
                              'Not with cameras.'),
        DeclareLaunchArgument('cameras', default_value='',
                              description='Several cameras, one node: NAME or '
                              'NAME=IMAGE_TOPIC entries separated by commas or spaces; NAME '
                              "reads NAME/image, publishes ~/NAME/labels ...; '' = params "
                              'file / one camera on image.'),
        DeclareLaunchArgument('image_transport', default_value='',
                              description="raw | compressed; '' = params file / raw."),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node.'),
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
