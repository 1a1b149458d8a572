# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Read and write rosbag2 bags (.mcap and .db3) with ``rosbags``, without rclpy.

Reading goes through rosbags' ``AnyReader`` with the bag's own message definitions. Before
a message is used, every MCAP chunk is checked against its CRC (``check_integrity``): a
damaged bag is refused with the count and place of its bad chunks, never scored. Truncated
or damaged bags are not salvaged here; README ("Damaged bags") names the tools that
recover them.

Writing goes through rosbags' ``Writer`` with an MCAP storage backed by the ``mcap``
library, which records each chunk's CRC (rosbags' own MCAP writer leaves it 0, so a flipped
byte would go unnoticed). The bag is assembled in a hidden sibling folder and renamed onto
the target when complete, so a reader never sees half a bag.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Collection, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from sgcp_ros.topics import IMAGE_TYPES

__all__ = ['BagError', 'RawMessage', 'BagReader', 'BagWriter', 'STORAGE_CHOICES',
           'WRITE_TYPES', 'make_header', 'stamp_to_ns', 'check_integrity', 'describe_topics']

STORAGE_CHOICES = ('mcap', 'sqlite3')
# Definitions for messages this package writes; reading uses each bag's own.
WRITE_TYPES = get_typestore(Stores.LATEST)


class BagError(ValueError):
    """A bag cannot be read or written, is damaged, or lacks what was asked for."""


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def make_header(stamp_ns: int, frame_id: str):
    """std_msgs/Header (rosbags class) stamped ``stamp_ns`` nanoseconds since the epoch."""
    seconds, nanoseconds = divmod(int(stamp_ns), 1_000_000_000)
    time = WRITE_TYPES.types['builtin_interfaces/msg/Time'](sec=seconds, nanosec=nanoseconds)
    return WRITE_TYPES.types['std_msgs/msg/Header'](stamp=time, frame_id=frame_id)


def describe_topics(topics: dict[str, str], counts: dict[str, int]) -> str:
    """``/name (type, N messages); ...`` for every topic, on one line."""
    return '; '.join(f'{name} ({topics[name]}, {counts.get(name, 0)} messages)'
                     for name in sorted(topics)) or '(no topics)'


def _storage_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix in ('.mcap', '.db3'))


def check_integrity(path: Path) -> list[str]:
    """Problems found in the storage files of a bag; [] for a sound one.

    MCAP: every chunk is decompressed and checked against its CRC (chunks written without
    one, CRC 0, cannot be checked and pass). SQLite: ``PRAGMA quick_check``, which finds
    damaged pages but not a changed byte inside a message (sqlite keeps no checksums).
    """
    from mcap.exceptions import McapError
    from mcap.records import Chunk
    from mcap.stream_reader import CRCValidationError, StreamReader, get_chunk_data_stream
    problems = []
    for file in _storage_files(path):
        if file.suffix == '.db3':
            try:
                with closing(sqlite3.connect(f'file:{file}?mode=ro', uri=True)) as db:
                    verdict = db.execute('PRAGMA quick_check').fetchone()[0]
            except sqlite3.Error as error:
                verdict = str(error)
            if verdict != 'ok':
                problems.append(f'{file.name}: sqlite reports {verdict}')
            continue
        bad, index = [], 0
        with file.open('rb') as stream:
            try:
                for record in StreamReader(stream, emit_chunks=True).records:
                    if not isinstance(record, Chunk):
                        continue
                    index += 1
                    try:
                        get_chunk_data_stream(record, validate_crc=True)
                    except (CRCValidationError, McapError, ValueError, RuntimeError):
                        end = stream.tell()
                        bad.append(f'chunk {index} (log time {record.message_start_time / 1e9:.3f}'
                                   f'..{record.message_end_time / 1e9:.3f} s, ending at byte '
                                   f'{end})')
            except Exception as error:  # noqa: BLE001 - any parse failure: the file is damaged
                problems.append(f'{file.name}: unreadable after chunk {index} near byte '
                                f'{stream.tell()} ({type(error).__name__}: {error})')
        if bad:
            problems.append(f'{file.name}: {len(bad)} of {index} chunks fail their CRC: '
                            + '; '.join(bad))
    return problems


@dataclass(frozen=True)
class RawMessage:
    """One stored message: CDR bytes plus where and when it was recorded."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


class BagReader:
    """Topics and messages of a rosbag2 bag (a folder, or a bare .mcap/.db3 file).

    Use as a context manager. Opening checks the bag (``check_integrity``) and raises
    BagError naming every damaged chunk, so nothing read from a damaged bag is scored.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f'bag not found: {self.path}')
        if self.path.is_file() and self.path.suffix not in ('.mcap', '.db3'):
            raise BagError(f'{self.path} is not a rosbag2 bag: pass its folder, or a .mcap '
                           'or .db3 file')
        self._reader: AnyReader | None = None
        self.topics: dict[str, str] = {}
        self.message_counts: dict[str, int] = {}
        self.storage = ''

    def __enter__(self) -> BagReader:
        files = _storage_files(self.path)
        if not files:
            raise BagError(f'{self.path} holds no .mcap or .db3 file; not a rosbag2 bag')
        self.storage = 'mcap' if files[0].suffix == '.mcap' else 'sqlite3'
        problems = check_integrity(self.path)
        if problems:
            raise BagError(f'{self.path} is damaged: ' + ' | '.join(problems))
        source = self.path
        if self.path.is_dir() and not (self.path / 'metadata.yaml').is_file() and len(files) == 1:
            source = files[0]   # a recorder killed before writing metadata.yaml
        try:
            self._reader = AnyReader([source])
            self._reader.open()
        except Exception as error:  # noqa: BLE001 - rosbags has several unrelated errors
            raise BagError(f'cannot read {self.path} as a rosbag2 bag: {error}') from None
        for connection in self._reader.connections:
            self.topics[connection.topic] = connection.msgtype
            self.message_counts[connection.topic] = (
                self.message_counts.get(connection.topic, 0) + connection.msgcount)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def require_topic(self, topic: str, msgtypes: Collection[str] = IMAGE_TYPES) -> str:
        """The type of ``topic``; BagError listing the bag's topics if absent or of a type
        outside ``msgtypes``."""
        if self.topics.get(topic) not in msgtypes:
            found = 'is not in' if topic not in self.topics else f'is {self.topics[topic]} in'
            raise BagError(f'topic {topic!r} {found} {self.path} (expected '
                           f'{" or ".join(msgtypes)}); its topics are: '
                           + describe_topics(self.topics, self.message_counts))
        return self.topics[topic]

    def image_topics(self, image_topic: str | None, label_topic: str | None,
                     default_image: str, default_label: str) -> tuple[str, str | None]:
        """(image topic, label topic or None) checked against the bag; None picks the
        default, else the bag's only other image topic; '' as label topic means none."""
        if image_topic is None:
            image_topic = default_image
            if image_topic not in self.topics:
                others = [t for t, kind in self.topics.items() if kind in IMAGE_TYPES
                          and t not in (label_topic, default_label)]
                if len(others) != 1:
                    raise BagError(f'{self.path} has no {default_image} and '
                                   f'{len(others) or "no"} other image topics; name one. '
                                   'Its topics are: '
                                   + describe_topics(self.topics, self.message_counts))
                image_topic = others[0]
        self.require_topic(image_topic)
        if label_topic is None:
            label_topic = default_label if default_label in self.topics else ''
        if label_topic:
            self.require_topic(label_topic)
        return image_topic, label_topic or None

    def messages(self, topics: Collection[str] | None = None) -> Iterator[RawMessage]:
        """Messages on ``topics`` (all when None) in log-time order."""
        connections = [c for c in self._reader.connections
                       if topics is None or c.topic in topics]
        if not connections:
            return
        try:
            for connection, log_time, data in self._reader.messages(connections=connections):
                yield RawMessage(connection.topic, connection.msgtype, log_time, bytes(data))
        except Exception as error:  # noqa: BLE001 - rosbags' errors share no base class
            raise BagError(f'{self.path} stopped reading part-way: {error}') from None

    @property
    def typestore(self):
        """The bag's own message definitions (to copy its topics into another bag)."""
        return self._reader.typestore

    def decode(self, message: RawMessage):
        """The message as a rosbags object, by the bag's own definition of its type."""
        return self._reader.deserialize(message.data, message.msgtype)


class _CrcMcapStorage:
    """rosbags storage writer that writes MCAP through the ``mcap`` library (chunk CRCs)."""

    def __init__(self, path: Path, compression) -> None:
        from mcap.writer import CompressionType, Writer as McapWriter
        self.path = path / f'{path.name}.mcap'
        self._file = self.path.open('xb')
        # Uncompressed chunks, as rosbags and ros2 bag write by default.
        self._mcap = McapWriter(self._file, compression=CompressionType.NONE, enable_crcs=True)
        self._mcap.start(profile='ros2', library='sgcp_ros')
        self._schemas: dict[str, int] = {}
        self._channels: dict[int, int] = {}

    def add_msgtype(self, connection) -> None:
        encoding = ('ros2msg' if connection.msgdef.format == MessageDefinitionFormat.MSG
                    else 'ros2idl')
        self._schemas[connection.msgtype] = self._mcap.register_schema(
            connection.msgtype, encoding, connection.msgdef.data.encode())

    def add_connection(self, connection, offered_qos_profiles: str) -> None:
        self._channels[connection.id] = self._mcap.register_channel(
            connection.topic, connection.ext.serialization_format,
            self._schemas[connection.msgtype], {'offered_qos_profiles': offered_qos_profiles})

    def write(self, connection, timestamp: int, data: bytes | memoryview) -> None:
        self._mcap.add_message(self._channels[connection.id], timestamp, bytes(data), timestamp)

    def close(self, version: int, metadata: str) -> None:
        self._mcap.add_metadata('rosbag2', {'serialized_metadata': metadata})
        self._mcap.finish()
        self._file.close()

    def abort(self) -> None:
        self._file.close()


class _CrcWriter(Writer):
    STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: _CrcMcapStorage}


class BagWriter:
    """Writes a rosbag2 bag (metadata.yaml + one .mcap or .db3) atomically.

    Safe to call from several threads. Raises BagError if ``path`` exists.
    """

    def __init__(self, path: str | Path, storage: str = 'mcap') -> None:
        if storage not in STORAGE_CHOICES:
            raise BagError(f'unknown storage {storage!r}; use one of {STORAGE_CHOICES}')
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f'{self.path} exists already; choose another path or remove it')
        self.storage = storage
        self._lock = threading.Lock()
        self._connections: dict[str, object] = {}
        self._staging: Path | None = None
        self._writer: Writer | None = None

    def __enter__(self) -> BagWriter:
        # OSError (unwritable folder) propagates: the command line reports it in one line.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f'.{self.path.name}.', suffix='.partial',
                                              dir=self.path.parent))
        plugin = StoragePlugin.MCAP if self.storage == 'mcap' else StoragePlugin.SQLITE3
        # Inside the staging folder the bag has its final name (<name>/<name>.mcap).
        self._writer = _CrcWriter(self._staging / self.path.name, version=9,
                                  storage_plugin=plugin)
        self._writer.open()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        writer, self._writer = self._writer, None
        try:
            if exc_type is None:
                writer.close()
                os.rename(self._staging / self.path.name, self.path)
            else:
                writer.storage.abort()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)

    def set_custom_data(self, key: str, value: str) -> None:
        self._writer.set_custom_data(key, value)

    def add_topic(self, topic: str, msgtype: str, typestore=None) -> None:
        """Declare ``topic`` (once) before writing to it; ``typestore`` holds its
        definition (default WRITE_TYPES; pass a reader's to copy a bag's own types)."""
        with self._lock:
            if topic not in self._connections:
                self._connections[topic] = self._writer.add_connection(
                    topic, msgtype, typestore=typestore or WRITE_TYPES)

    def write(self, topic: str, log_time_ns: int, msg) -> None:
        """Serialise a rosbags message onto ``topic`` (declared on first use)."""
        self.add_topic(topic, msg.__msgtype__)
        self.write_raw(topic, log_time_ns, WRITE_TYPES.serialize_cdr(msg, msg.__msgtype__))

    def write_raw(self, topic: str, log_time_ns: int, data: bytes) -> None:
        """Store CDR bytes (from another bag or a raw subscription) on a declared topic."""
        with self._lock:
            self._writer.write(self._connections[topic], int(log_time_ns), data)
