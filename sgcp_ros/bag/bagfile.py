# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Read and write rosbag2 bags (.mcap and .db3) with ``rosbags``, without rclpy.

Reading goes through rosbags' ``AnyReader`` with the bag's own message definitions, after
``check_integrity``: MCAP chunks that fail their CRC are refused, never scored. A bag
without CRCs (sqlite3, or MCAP written with CRC 0) cannot be checked: ``BagReader.integrity``
says so, and the commands print it and put it in their reports.

Writing goes through rosbags' ``Writer``; an MCAP file is then copied through the ``mcap``
library's writer, which records every chunk's CRC (rosbags leaves it 0). The bag is
assembled in a hidden sibling folder and renamed onto the target when complete.
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
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from sgcp_core.files import new_output
from sgcp_ros.topics import BAG_IMAGE, BAG_LABELS, IMAGE_TYPES

__all__ = ['BagError', 'RawMessage', 'BagReader', 'BagWriter', 'STORAGE_CHOICES',
           'WRITE_TYPES', 'VERIFIED', 'UNVERIFIED', 'make_header', 'stamp_to_ns',
           'check_integrity', 'describe_topics']

STORAGE_CHOICES = ('mcap', 'sqlite3')
# Definitions for messages this package writes; reading uses each bag's own.
WRITE_TYPES = get_typestore(Stores.LATEST)
VERIFIED, UNVERIFIED = 'verified', 'unverified (no CRCs)'


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


def check_integrity(path: Path) -> tuple[list[str], str]:
    """(problems found in the bag's storage files, VERIFIED or UNVERIFIED).

    MCAP: every chunk is checked against its CRC; a chunk written without one (CRC 0)
    makes the bag UNVERIFIED. SQLite keeps no checksums: ``PRAGMA quick_check`` finds
    damaged pages, not a changed byte inside a message, so a .db3 is always UNVERIFIED.
    """
    from mcap.records import Chunk
    from mcap.stream_reader import StreamReader, get_chunk_data_stream
    problems, verified = [], True
    for file in _storage_files(path):
        if file.suffix == '.db3':
            verified = False
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
                    if isinstance(record, Chunk):
                        index += 1
                        verified = verified and record.uncompressed_crc != 0
                        try:
                            get_chunk_data_stream(record, validate_crc=True)
                        except Exception:  # noqa: BLE001 - a CRC or decompression failure
                            bad.append(f'chunk {index} (log time '
                                       f'{record.message_start_time / 1e9:.3f}..'
                                       f'{record.message_end_time / 1e9:.3f} s, ending at '
                                       f'byte {stream.tell()})')
            except Exception as error:  # noqa: BLE001 - any parse failure: the file is damaged
                problems.append(f'{file.name}: unreadable after chunk {index} near byte '
                                f'{stream.tell()} ({type(error).__name__}: {error})')
        verified = verified and index > 0
        if bad:
            problems.append(f'{file.name}: {len(bad)} of {index} chunks fail their CRC: '
                            + '; '.join(bad))
    return problems, VERIFIED if verified else UNVERIFIED


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
    BagError naming every damaged chunk; ``integrity`` is VERIFIED or UNVERIFIED.
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
        self.storage = self.integrity = ''

    def __enter__(self) -> BagReader:
        files = _storage_files(self.path)
        if not files:
            raise BagError(f'{self.path} holds no .mcap or .db3 file; not a rosbag2 bag')
        self.storage = 'mcap' if files[0].suffix == '.mcap' else 'sqlite3'
        problems, self.integrity = check_integrity(self.path)
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

    def image_topics(self, image_topic: str | None,
                     label_topic: str | None) -> tuple[str, str | None]:
        """(image topic, label topic or None) checked against the bag; None picks make_bag's
        topic, else the bag's only other image topic; '' as label topic means none. BagError
        listing the bag's topics where one is absent or not an image topic."""
        if image_topic is None:
            image_topic = BAG_IMAGE
            if image_topic not in self.topics:
                others = [t for t, kind in self.topics.items() if kind in IMAGE_TYPES
                          and t not in (label_topic, BAG_LABELS)]
                if len(others) != 1:
                    raise BagError(f'{self.path} has no {BAG_IMAGE} and '
                                   f'{len(others) or "no"} other image topics; name one. '
                                   'Its topics are: '
                                   + describe_topics(self.topics, self.message_counts))
                image_topic = others[0]
        if label_topic is None:
            label_topic = BAG_LABELS if BAG_LABELS in self.topics else ''
        for topic in filter(None, (image_topic, label_topic)):
            if self.topics.get(topic) not in IMAGE_TYPES:
                found = 'is not in' if topic not in self.topics else f'is {self.topics[topic]} in'
                raise BagError(f'topic {topic!r} {found} {self.path} (expected '
                               f'{" or ".join(IMAGE_TYPES)}); its topics are: '
                               + describe_topics(self.topics, self.message_counts))
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
        return self._reader.deserialize(message.data, message.msgtype)


def _add_chunk_crcs(path: Path) -> None:
    """Copy an MCAP file record by record through the ``mcap`` writer, which stores each
    chunk's CRC, and replace it with the copy."""
    from mcap.records import Channel, Message, Metadata, Schema
    from mcap.stream_reader import StreamReader
    from mcap.writer import CompressionType, Writer as McapWriter
    copy = path.with_name(path.name + '.crc')
    schemas, channels = {0: 0}, {}
    with path.open('rb') as source, copy.open('xb') as target:
        # Uncompressed chunks, as rosbags and ros2 bag write by default.
        writer = McapWriter(target, compression=CompressionType.NONE, enable_crcs=True)
        writer.start(profile='ros2', library='sgcp_ros')
        for record in StreamReader(source).records:
            if isinstance(record, Schema) and record.id not in schemas:
                schemas[record.id] = writer.register_schema(record.name, record.encoding,
                                                            record.data)
            elif isinstance(record, Channel) and record.id not in channels:
                channels[record.id] = writer.register_channel(
                    record.topic, record.message_encoding, schemas[record.schema_id],
                    record.metadata)
            elif isinstance(record, Message):
                writer.add_message(channels[record.channel_id], record.log_time, record.data,
                                   record.publish_time, record.sequence)
            elif isinstance(record, Metadata):
                writer.add_metadata(record.name, record.metadata)
        writer.finish()
    os.replace(copy, path)


class BagWriter:
    """Writes a rosbag2 bag (metadata.yaml + one .mcap or .db3) atomically, from any
    thread; an existing ``path`` is FileExistsError unless ``replace``."""

    def __init__(self, path: str | Path, storage: str = 'mcap', replace: bool = False) -> None:
        if storage not in STORAGE_CHOICES:
            raise BagError(f'unknown storage {storage!r}; use one of {STORAGE_CHOICES}')
        self.path = new_output(path, 'bag', replace)
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
        self._writer = Writer(self._staging / self.path.name, version=9, storage_plugin=plugin)
        self._writer.open()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        writer, self._writer = self._writer, None
        bag = self._staging / self.path.name
        try:
            if exc_type is None:
                writer.close()
                for file in bag.glob('*.mcap'):
                    _add_chunk_crcs(file)
                if self.path.exists():   # replace=True: the old one goes once the new is done
                    os.rename(self.path, self._staging / 'replaced')
                os.rename(bag, self.path)
            else:
                writer.abort()
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
        """A rosbags message onto ``topic`` (declared on first use)."""
        self.add_topic(topic, msg.__msgtype__)
        self.write_raw(topic, log_time_ns, WRITE_TYPES.serialize_cdr(msg, msg.__msgtype__))

    def write_raw(self, topic: str, log_time_ns: int, data: bytes) -> None:
        """Store CDR bytes (from another bag or a raw subscription) on a declared topic."""
        with self._lock:
            self._writer.write(self._connections[topic], int(log_time_ns), data)
