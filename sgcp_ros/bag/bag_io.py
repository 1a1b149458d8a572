# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Read and write rosbag2 bags (.db3 and .mcap) with ``rosbags``, without rclpy.

Reading goes through rosbags' ``Reader``. When it cannot open a bag (a recorder killed
mid-write leaves no metadata.yaml, no MCAP summary or a short sqlite file) or fails part-way
through, ``BagReader`` switches to its own salvage readers, which walk the storage files
record by record and keep every message that is still intact. Whatever is lost is counted
in ``BagReader.health`` instead of raising.

Writing goes into a hidden sibling folder that is renamed onto the target only when the bag
is complete, so a reader never sees half a bag.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import threading
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from sgcp_ros.bag.messages import TYPESTORE, serialize

__all__ = ['BagError', 'TopicNotFoundError', 'RawMessage', 'ReadHealth', 'BagReader',
           'BagWriter', 'STORAGE_CHOICES', 'describe_topics']

STORAGE_CHOICES = ('mcap', 'sqlite3')
_MCAP_MAGIC = b'\x89MCAP0\r\n'


class BagError(Exception):
    """A bag cannot be opened, written, or lacks what was asked for; the message says which."""


class TopicNotFoundError(BagError):
    """A requested topic is absent; the message lists the bag's topics and types."""


@dataclass(frozen=True)
class RawMessage:
    """One stored message: CDR bytes plus where and when it was recorded."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


@dataclass
class ReadHealth:
    """What went wrong while reading; a healthy bag has ``bad_records == 0`` and no problems.

    ``expected_counts`` holds the per-topic message counts the bag's own index claims (from
    metadata.yaml or the MCAP summary), so records lost to truncation show up as missing.
    """

    salvaged: bool = False
    bad_records: int = 0
    problems: list[str] = field(default_factory=list)
    expected_counts: dict[str, int] = field(default_factory=dict)

    def note(self, problem: str, bad_records: int = 0) -> None:
        self.problems.append(problem)
        self.bad_records += bad_records

    def to_dict(self) -> dict:
        return {'salvaged': self.salvaged, 'bad_records': self.bad_records,
                'problems': list(self.problems), 'expected_counts': dict(self.expected_counts)}


def describe_topics(topics: dict[str, str], counts: dict[str, int] | None = None) -> str:
    """One line per topic: ``  /name  (type, N messages)``."""
    if not topics:
        return '  (no topics)'
    lines = []
    for name in sorted(topics):
        count = '' if counts is None or name not in counts else f', {counts[name]} messages'
        lines.append(f'  {name}  ({topics[name]}{count})')
    return '\n'.join(lines)


def _storage_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix not in ('.db3', '.mcap'):
            raise BagError(f'{path} is not a rosbag2 bag: pass its folder, or a .db3 or '
                           '.mcap file')
        return [path]
    return sorted(p for p in path.iterdir()
                  if p.is_file() and (p.suffix == '.db3' or p.suffix == '.mcap'))


def _metadata_counts(path: Path) -> dict[str, int]:
    """Per-topic counts from metadata.yaml, {} when it is absent or unreadable."""
    metadata = path / 'metadata.yaml' if path.is_dir() else None
    if metadata is None or not metadata.is_file():
        return {}
    try:
        info = yaml.safe_load(metadata.read_text())['rosbag2_bagfile_information']
        return {entry['topic_metadata']['name']: int(entry['message_count'])
                for entry in info['topics_with_message_count']}
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        return {}


class BagReader:
    """Topics and messages of a rosbag2 bag: a folder with metadata.yaml, or a bare .db3/.mcap.

    Use as a context manager. ``messages()`` yields ``RawMessage`` in log-time order (file
    order for salvaged files, which recorders write in time order).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f'bag not found: {self.path}')
        self.health = ReadHealth()
        self._reader: Reader | None = None
        self._salvage: list[_SalvageFile] | None = None
        self.topics: dict[str, str] = {}
        self.message_counts: dict[str, int] = {}
        self.storage = ''

    def __enter__(self) -> BagReader:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open(self) -> None:
        try:
            reader = Reader(self.path)
            reader.open()
        except Exception as error:  # noqa: BLE001 - any failure means "salvage what is there"
            self.health.note(f'{self.path}: rosbags cannot open it ({error}); reading the '
                             'storage files record by record instead')
            self._open_salvage()
            return
        self._reader = reader
        self.topics = {name: info.msgtype or '?' for name, info in reader.topics.items()}
        self.message_counts = {name: info.msgcount for name, info in reader.topics.items()}
        self.health.expected_counts = dict(self.message_counts)
        files = _storage_files(self.path)
        self.storage = 'mcap' if files and files[0].suffix == '.mcap' else 'sqlite3'

    def _open_salvage(self) -> None:
        files = _storage_files(self.path)
        if not files:
            raise BagError(f'{self.path} holds no .db3 or .mcap file; not a rosbag2 bag')
        self.health.salvaged = True
        self.storage = 'mcap' if files[0].suffix == '.mcap' else 'sqlite3'
        self._salvage = _salvage_readers(files, self.health)
        counts: Counter[str] = Counter()
        for salvage in self._salvage:
            self.topics.update(salvage.topics)
            counts.update(salvage.counts)
        self.message_counts = dict(counts)
        self.health.expected_counts = _metadata_counts(self.path) or dict(counts)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        for salvage in self._salvage or []:
            salvage.close()
        self._salvage = None

    def require_topic(self, topic: str, msgtypes: Collection[str]) -> str:
        """The type of ``topic``; TopicNotFoundError listing the bag's topics if absent or
        of a type outside ``msgtypes``."""
        if topic not in self.topics:
            raise TopicNotFoundError(
                f'topic {topic!r} is not in {self.path}; its topics are:\n'
                + describe_topics(self.topics, self.message_counts))
        if self.topics[topic] not in msgtypes:
            raise TopicNotFoundError(
                f'topic {topic!r} in {self.path} is {self.topics[topic]}, expected '
                f'{" or ".join(msgtypes)}; its topics are:\n'
                + describe_topics(self.topics, self.message_counts))
        return self.topics[topic]

    def messages(self, topics: Collection[str] | None = None) -> Iterator[RawMessage]:
        """Messages on ``topics`` (all when None); read errors are counted in ``health``."""
        wanted = set(self.topics) if topics is None else set(topics)
        if self._salvage is not None:
            for salvage in self._salvage:
                yield from salvage.messages(wanted)
            return
        assert self._reader is not None, 'BagReader is not open'
        connections = [c for c in self._reader.connections if c.topic in wanted]
        if not connections:
            return
        delivered: Counter[tuple[str, int]] = Counter()
        try:
            for connection, log_time, data in self._reader.messages(connections):
                delivered[(connection.topic, log_time)] += 1
                yield RawMessage(connection.topic, connection.msgtype, log_time, bytes(data))
        except Exception as error:  # noqa: BLE001 - a damaged record mid-bag
            self.health.note(f'{self.path}: rosbags stopped reading ({error}); reading the '
                             'remaining records one by one')
        else:
            return
        # Resume with the salvage readers, skipping what rosbags already delivered.
        self.health.salvaged = True
        self._salvage = _salvage_readers(_storage_files(self.path), self.health)
        for salvage in self._salvage:
            for message in salvage.messages(wanted):
                key = (message.topic, message.log_time_ns)
                if delivered[key]:
                    delivered[key] -= 1
                    continue
                yield message


def _salvage_readers(files: list[Path], health: ReadHealth) -> list[_SalvageFile]:
    return [(_McapSalvage if f.suffix == '.mcap' else _Sqlite3Salvage)(f, health)
            for f in files]


class _SalvageFile:
    """One storage file read without trusting its index."""

    topics: dict[str, str]
    counts: Counter

    def messages(self, wanted: set[str]) -> Iterator[RawMessage]:
        raise NotImplementedError

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- MCAP record by record

class _McapSalvage(_SalvageFile):
    """Walks an MCAP file's records (and the records inside its chunks) from the start."""

    def __init__(self, path: Path, health: ReadHealth) -> None:
        self.path = path
        self.health = health
        self.topics = {}
        self.counts = Counter()
        self._channels: dict[int, tuple[str, str]] = {}
        # The first pass learns the channels and counts the intact messages; its problems
        # are reported once, the second pass (messages) reports none again.
        for kind, *rest in self._records(with_data=False, report=True):
            if kind == 'message':
                channel = self._channels.get(rest[0])
                if channel is not None:
                    self.counts[channel[0]] += 1

    def messages(self, wanted: set[str]) -> Iterator[RawMessage]:
        for kind, *rest in self._records(with_data=True, report=False):
            if kind != 'message':
                continue
            channel_id, log_time, data = rest
            topic, msgtype = self._channels.get(channel_id, (None, None))
            if topic in wanted:
                yield RawMessage(topic, msgtype, log_time, data)

    def _bad(self, report: bool, problem: str, count: int = 1) -> None:
        if report:
            self.health.note(f'{self.path.name}: {problem}', count)

    def _records(self, with_data: bool, report: bool) -> Iterator[tuple]:
        with self.path.open('rb') as stream:
            if stream.read(8) != _MCAP_MAGIC:
                self._bad(report, 'not an MCAP file (bad magic)', 0)
                return
            schemas: dict[int, str] = {}
            while True:
                start = stream.tell()
                head = stream.read(9)
                if not head:
                    self._bad(report, f'ends at byte {start} without a footer (truncated)', 0)
                    return
                if len(head) < 9:
                    self._bad(report, f'truncated inside a record header at byte {start}')
                    return
                opcode, length = head[0], struct.unpack('<Q', head[1:])[0]
                if opcode in (0x02, 0x0F):  # footer, data end: the summary follows
                    return
                body = stream.read(length)
                cut = len(body) < length
                if opcode == 0x06:
                    yield from self._chunk(body, cut, start, schemas, with_data, report)
                    if cut:
                        return
                    continue
                if cut:
                    self._bad(report, f'truncated inside a record (opcode 0x{opcode:02x}) at '
                              f'byte {start}', 1 if opcode == 0x05 else 0)
                    return
                yield from self._record(opcode, body, start, schemas, with_data, report)

    def _chunk(self, body: bytes, cut: bool, start: int, schemas: dict[int, str],
               with_data: bool, report: bool) -> Iterator[tuple]:
        try:
            uncompressed_size = struct.unpack_from('<Q', body, 16)[0]
            name_length = struct.unpack_from('<I', body, 28)[0]
            compression = body[32:32 + name_length].decode()
            offset = 32 + name_length
            compressed_size = struct.unpack_from('<Q', body, offset)[0]
            payload = body[offset + 8:offset + 8 + compressed_size]
        except (struct.error, UnicodeDecodeError):
            self._bad(report, f'chunk at byte {start} has a damaged header')
            return
        if compression == '':
            records = payload
        else:
            try:
                records = _decompress(compression, payload, uncompressed_size)
            except Exception as error:  # noqa: BLE001 - codec errors have no common base
                self._bad(report, f'chunk at byte {start} ({compression}) does not decompress '
                          f'({error}); its messages are lost')
                return
        partial = cut or len(records) < uncompressed_size
        position = 0
        while position < len(records):
            if position + 9 > len(records):
                self._bad(report, f'chunk at byte {start}: record cut at its end'
                          + (' (file truncated)' if partial else ''))
                return
            opcode = records[position]
            length = struct.unpack_from('<Q', records, position + 1)[0]
            end = position + 9 + length
            if end > len(records):
                self._bad(report, f'chunk at byte {start}: record (opcode 0x{opcode:02x}) cut '
                          'at its end' + (' (file truncated)' if partial else ''),
                          1 if opcode == 0x05 else 0)
                return
            yield from self._record(opcode, records[position + 9:end], start, schemas,
                                    with_data, report)
            position = end

    def _record(self, opcode: int, body: bytes, start: int, schemas: dict[int, str],
                with_data: bool, report: bool) -> Iterator[tuple]:
        try:
            if opcode == 0x03:  # schema: id, name, encoding, data
                schema_id = struct.unpack_from('<H', body, 0)[0]
                name_length = struct.unpack_from('<I', body, 2)[0]
                schemas[schema_id] = body[6:6 + name_length].decode()
            elif opcode == 0x04:  # channel: id, schema id, topic, message encoding, metadata
                channel_id, schema_id = struct.unpack_from('<HH', body, 0)
                topic_length = struct.unpack_from('<I', body, 4)[0]
                topic = body[8:8 + topic_length].decode()
                msgtype = schemas.get(schema_id, '?')
                self._channels[channel_id] = (topic, msgtype)
                self.topics.setdefault(topic, msgtype)
            elif opcode == 0x05:  # message: channel, sequence, log time, publish time, data
                channel_id = struct.unpack_from('<H', body, 0)[0]
                log_time = struct.unpack_from('<Q', body, 6)[0]
                yield ('message', channel_id, log_time, bytes(body[22:]) if with_data else None)
        except (struct.error, UnicodeDecodeError):
            self._bad(report, f'damaged record (opcode 0x{opcode:02x}) near byte {start}')


def _decompress(compression: str, payload: bytes, size: int) -> bytes:
    if compression == 'zstd':
        try:
            from compression import zstd  # Python >= 3.14
        except ImportError:
            from backports import zstd
        # A decompressor object returns what it can of a cut stream instead of failing.
        return zstd.ZstdDecompressor().decompress(payload, max_length=size)
    if compression == 'lz4':
        import lz4.frame
        return lz4.frame.decompress(payload)
    raise ValueError(f'unknown chunk compression {compression!r}')


# ---------------------------------------------------------------- sqlite3 row by row

_apsw_lock = threading.Lock()
_apsw_vfs = None


def _padded_vfs_name() -> str:
    """Register (once) an apsw VFS that reports a truncated database at its declared size.

    sqlite rejects a whole file shorter than the page count in its header ("database disk
    image is malformed"). Reported at full size, the missing pages read as zeros, so only
    the rows that lived on them fail and every other row stays readable.
    """
    global _apsw_vfs
    import apsw

    class PaddedFile(apsw.VFSFile):
        def xFileSize(self) -> int:
            actual = super().xFileSize()
            if actual < 100:
                return actual
            header = super().xRead(100, 0)
            page_size = struct.unpack('>H', header[16:18])[0]
            page_size = 65536 if page_size == 1 else page_size
            page_count = struct.unpack('>I', header[28:32])[0]
            return max(actual, page_size * page_count)

    class PaddedVFS(apsw.VFS):
        def __init__(self) -> None:
            super().__init__('sgcp_padded', '')

        def xOpen(self, name, flags):
            return PaddedFile('', name, flags)

    with _apsw_lock:
        if _apsw_vfs is None:
            _apsw_vfs = PaddedVFS()
    return 'sgcp_padded'


class _Sqlite3Salvage(_SalvageFile):
    """Reads a rosbag2 sqlite3 file row by row, so one damaged row costs only that row."""

    def __init__(self, path: Path, health: ReadHealth) -> None:
        import apsw
        self.path = path
        self.health = health
        self.topics = {}
        self.counts = Counter()
        self._topic_ids: dict[int, tuple[str, str]] = {}
        self._rows: list[tuple[int, int, int]] = []   # (timestamp, row id, topic id)
        try:
            self._db = apsw.Connection(f'file:{path}?immutable=1',
                                       flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI,
                                       vfs=_padded_vfs_name())
            for topic_id, name, msgtype in self._db.execute(
                    'SELECT id, name, type FROM topics'):
                self._topic_ids[topic_id] = (name, msgtype)
                self.topics[name] = msgtype
        except apsw.Error as error:
            health.note(f'{path.name}: cannot read its topics table ({error})')
            self._db = None
            return
        try:
            for row_id, topic_id, timestamp in self._db.execute(
                    'SELECT id, topic_id, timestamp FROM messages ORDER BY id'):
                self._rows.append((timestamp, row_id, topic_id))
        except apsw.Error as error:
            last_row = self._rows[-1][1] if self._rows else 0
            health.note(f'{path.name}: message table readable only up to row {last_row} '
                        f'({error})')
            self._probe_rows(last_row + 1, sum(_metadata_counts(path.parent).values()))
        self._rows.sort()
        for _, _, topic_id in self._rows:
            if topic_id in self._topic_ids:
                self.counts[self._topic_ids[topic_id][0]] += 1

    def _probe_rows(self, first_row: int, expected_total: int) -> None:
        """Look up rows past a broken table scan one id at a time (rosbag2 numbers rows
        1, 2, ...); each id the index promises but sqlite cannot read is a bad record."""
        import apsw
        unreadable = 0
        for row_id in range(first_row, expected_total + 1):
            try:
                rows = list(self._db.execute(
                    'SELECT topic_id, timestamp FROM messages WHERE id = ?', (row_id,)))
            except apsw.Error:
                unreadable += 1
                continue
            if rows:
                self._rows.append((rows[0][1], row_id, rows[0][0]))
        if unreadable:
            self.health.note(f'{self.path.name}: {unreadable} of the rows metadata.yaml lists '
                             'are unreadable', unreadable)

    def messages(self, wanted: set[str]) -> Iterator[RawMessage]:
        import apsw
        if self._db is None:
            return
        for timestamp, row_id, topic_id in self._rows:
            topic, msgtype = self._topic_ids.get(topic_id, (None, None))
            if topic not in wanted:
                continue
            try:
                rows = list(self._db.execute('SELECT data FROM messages WHERE id = ?',
                                             (row_id,)))
            except apsw.Error as error:
                self.health.note(f'{self.path.name}: row {row_id} on {topic} is unreadable '
                                 f'({error})', 1)
                continue
            if rows:
                yield RawMessage(topic, msgtype, timestamp, bytes(rows[0][0]))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


# ---------------------------------------------------------------- writing

class BagWriter:
    """Writes a rosbag2 bag (metadata.yaml + one .db3 or .mcap) atomically.

    The bag is assembled in a hidden folder beside ``path`` and renamed onto it on a clean
    exit; on an exception the partial bag is deleted. Safe to call from several threads.
    """

    def __init__(self, path: str | Path, storage: str = 'mcap', overwrite: bool = False
                 ) -> None:
        if storage not in STORAGE_CHOICES:
            raise BagError(f'unknown storage {storage!r}; use one of {STORAGE_CHOICES}')
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise BagError(f'{self.path} exists already; choose another path or overwrite it')
        self.storage = storage
        self.overwrite = overwrite
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._connections: dict[str, object] = {}
        self._staging: Path | None = None
        self._writer: Writer | None = None

    def __enter__(self) -> BagWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f'.{self.path.name}.', suffix='.partial',
                                              dir=self.path.parent))
        plugin = StoragePlugin.MCAP if self.storage == 'mcap' else StoragePlugin.SQLITE3
        # Inside the staging folder the bag has its final name, so its storage file is
        # <name>/<name>.mcap as ros2 bag record would name it.
        self._writer = Writer(self._staging / self.path.name, version=9, storage_plugin=plugin)
        self._writer.open()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        writer, self._writer = self._writer, None
        try:
            if exc_type is None:
                writer.close()
                if self.path.exists():
                    shutil.rmtree(self.path)
                os.replace(self._staging / self.path.name, self.path)
            else:
                writer.abort()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)

    def set_custom_data(self, key: str, value: str) -> None:
        self._writer.set_custom_data(key, value)

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare ``topic`` (once) before writing to it."""
        with self._lock:
            if topic not in self._connections:
                self._connections[topic] = self._writer.add_connection(
                    topic, msgtype, typestore=TYPESTORE)

    def write(self, topic: str, log_time_ns: int, msg) -> None:
        """Serialise a rosbags message onto ``topic`` (declared on first use)."""
        self.add_topic(topic, msg.__msgtype__)
        self.write_raw(topic, log_time_ns, serialize(msg))

    def write_raw(self, topic: str, log_time_ns: int, data: bytes) -> None:
        """Store CDR bytes (from another bag or a raw subscription) on a declared topic."""
        with self._lock:
            self._writer.write(self._connections[topic], int(log_time_ns), data)
            self.counts[topic] += 1
