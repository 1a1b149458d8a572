# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Play a video file as a camera: sensor_msgs/Image frames at the video's rate.

    ros2 run sgcp_ros video_publisher --video drive.mp4 --topic /camera/image
    python -m sgcp_ros.video_publisher --video drive.mp4 --loop

Each frame is stamped with the time it is published, like a live camera, so a consumer's
latency is measured from that instant. Frames keep OpenCV's BGR order (bgr8) unless
--encoding rgb8 is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from sgcp_core.files import video_frames, video_info
from sgcp_ros.images import array_to_image

__all__ = ['main', 'parse_args']


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--video', required=True, help='video file OpenCV can read')
    parser.add_argument('--topic', default='image', help='Image topic (default: image)')
    parser.add_argument('--frame-id', default='camera', help='header.frame_id')
    parser.add_argument('--rate', type=float, default=0.0,
                        help='frames per second; 0 = the video\'s own rate')
    parser.add_argument('--encoding', choices=('bgr8', 'rgb8'), default='bgr8')
    parser.add_argument('--loop', action='store_true', help='start over at the end')
    parser.add_argument('--max-frames', type=int, default=0, help='stop after N (0 = all)')
    parser.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='SECONDS',
                        help='wait up to this long for a subscriber before the first frame')
    parser.add_argument('--summary-json', type=Path,
                        help='write frames published, duration and rate here at the end')
    return parser.parse_args(argv)


def _frames(path: str, loop: bool):
    """RGB frames of the video, from the start again at the end when ``loop``."""
    while True:
        yield from video_frames(path)
        if not loop:
            return


def _play(node: Node, args: argparse.Namespace, rate_hz: float) -> dict:
    publisher = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
    if args.wait_for_subscribers > 0:
        deadline = time.monotonic() + args.wait_for_subscribers
        while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if publisher.get_subscription_count() == 0:
            node.get_logger().warning(f'no subscriber on {publisher.topic_name} after '
                                      f'{args.wait_for_subscribers:g} s; playing anyway')
    node.get_logger().info(f'playing {args.video} on {publisher.topic_name} at '
                           f'{rate_hz:g} Hz ({args.encoding})')
    period = 1.0 / rate_hz
    published = 0
    next_due = time.monotonic()
    first = last = next_due
    try:
        for rgb in _frames(args.video, args.loop):
            if not rclpy.ok(context=node.context):
                break
            pixels = rgb if args.encoding == 'rgb8' else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            # Sleep to the frame's slot on a fixed schedule, so decode time does not add up.
            time.sleep(max(0.0, next_due - time.monotonic()))
            header = Header(frame_id=args.frame_id, stamp=node.get_clock().now().to_msg())
            publisher.publish(array_to_image(pixels, header, colour_order=args.encoding))
            last = time.monotonic()
            if published == 0:
                first = last
            published += 1
            next_due += period
            if args.max_frames and published >= args.max_frames:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C ends playback early; the summary still reports what was sent
    except ValueError as error:   # a file OpenCV opens but cannot decode
        node.get_logger().error(str(error))
    duration = last - first   # first to last frame: published - 1 intervals
    return {'video': str(args.video), 'topic': publisher.topic_name, 'encoding': args.encoding,
            'frames_published': published, 'duration_s': round(duration, 3),
            'rate_hz': round((published - 1) / duration, 3) if duration > 0 else 0.0,
            'requested_rate_hz': rate_hz}


def main(argv: list[str] | None = None) -> int:
    """Publish the video once (or looping) and exit 0; 1 if the file cannot be read."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(rclpy.utilities.remove_ros_args(argv))
    try:
        info = video_info(args.video)
    except (OSError, ValueError) as error:
        print(f'video_publisher: {error}', file=sys.stderr)
        return 1
    rate_hz = args.rate or info.fps or 30.0
    rclpy.init(args=['video_publisher', *argv])
    summary = None
    try:
        node = rclpy.create_node('sgcp_video_publisher')
        try:
            summary = _play(node, args, rate_hz)
        finally:
            node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        rclpy.try_shutdown()
    if summary is not None:
        print(json.dumps(summary), flush=True)
        if args.summary_json:
            args.summary_json.write_text(json.dumps(summary, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
