"""TensorFlow event files: write events, read events and scalars."""

import hashlib
import logging
import os
import stat
import struct
import time

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2, types_pb2

from guild_tensorboard.events.records import RecordReader, RecordWriter

log = logging.getLogger("guild")

FILE_VERSION = "brain.Event:2"

_BUFFER_SIZE = 256 * 1024

# Tensor dtype -> (repeated field holding values, struct format of content)
_SCALAR_DTYPES = {
    types_pb2.DT_FLOAT: ("float_val", "<f"),
    types_pb2.DT_DOUBLE: ("double_val", "<d"),
    types_pb2.DT_HALF: ("half_val", "<e"),
    types_pb2.DT_INT8: ("int_val", "<b"),
    types_pb2.DT_INT16: ("int_val", "<h"),
    types_pb2.DT_INT32: ("int_val", "<i"),
    types_pb2.DT_INT64: ("int64_val", "<q"),
    types_pb2.DT_UINT8: ("int_val", "<B"),
    types_pb2.DT_UINT16: ("int_val", "<H"),
    types_pb2.DT_UINT32: ("uint32_val", "<I"),
    types_pb2.DT_UINT64: ("uint64_val", "<Q"),
}

_HALF_BITS = struct.Struct("<H")
_HALF = struct.Struct("<e")


class EventFileWriter:
    """Writes events to a new event file at `path` (buffered)."""

    def __init__(self, path):
        self.path = path
        self._records = RecordWriter(open(path, "wb", buffering=_BUFFER_SIZE))
        self.add_event(
            event_pb2.Event(wall_time=time.time(), file_version=FILE_VERSION)
        )

    def add_event(self, event):
        self._records.write(event.SerializeToString())

    def write_event_bytes(self, data):
        self._records.write(data)

    def flush(self):
        self._records.flush()

    def close(self):
        self._records.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EventReader:
    """Iterates the events of the event files directly in `dir`.

    Files are read in name order. Unless `all_events` is true, only
    events with a summary are yielded. Each iteration reads the files
    from the start.
    """

    def __init__(self, dir, all_events=False):
        self.dir = dir
        self.all_events = all_events

    def __iter__(self):
        for path in event_files(self.dir):
            yield from read_events(path, self.all_events)


class ScalarReader:
    """Iterates `(tag, value, step)` for the scalars of the events in `dir`."""

    def __init__(self, dir):
        self.dir = dir

    def __iter__(self):
        plugins = {}  # tag -> plugin name of the first metadata seen
        for event in EventReader(self.dir):
            step = event.step
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    yield value.tag, value.simple_value, step
                elif kind == "tensor":
                    if value.HasField("metadata"):
                        plugins.setdefault(
                            value.tag, value.metadata.plugin_data.plugin_name
                        )
                    if plugins.get(value.tag, "scalars") not in ("scalars", ""):
                        continue
                    scalar = tensor_scalar(value.tensor)
                    if scalar is not None:
                        yield value.tag, scalar, step


def event_files(dir):
    """Return the sorted paths of the event files directly in `dir`."""
    try:
        entries = list(os.scandir(dir))
    except OSError as e:
        log.debug("cannot list %s: %s", dir, e)
        return []
    return [
        entry.path
        for entry in sorted(entries, key=lambda e: e.name)
        if is_event_file(entry)
    ]


def is_event_file(entry):
    """Whether the `os.DirEntry` is an event file (or a link to one)."""
    if "tfevents" not in entry.name:
        return False
    try:
        return entry.is_file()
    except OSError:
        return False


def read_events(path, all_events=False):
    """Yield the events of the event file at `path`."""
    warned = False
    for data in RecordReader(path).read_records():
        try:
            event = event_pb2.Event.FromString(data)
        except DecodeError as e:
            if not warned:
                log.warning("cannot decode event in %s: %s", path, e)
                warned = True
            continue
        if all_events or event.HasField("summary"):
            yield event


def tensor_scalar(tensor):
    """Return the float held by a single-value numeric tensor, else None."""
    if any(dim.size != 1 for dim in tensor.tensor_shape.dim):
        return None
    spec = _SCALAR_DTYPES.get(tensor.dtype)
    if spec is None:
        return None
    field, fmt = spec
    if tensor.tensor_content:
        try:
            (val,) = struct.unpack(fmt, tensor.tensor_content)
        except struct.error:
            return None
        return float(val)
    values = getattr(tensor, field)
    if len(values) != 1:
        return None
    val = values[0]
    if tensor.dtype == types_pb2.DT_HALF:
        val = _HALF.unpack(_HALF_BITS.pack(val & 0xFFFF))[0]
    return float(val)


def scalar_readers(root):
    """Yield `(dir, digest, reader)` for each folder under `root` with events.

    `digest` changes when the folder's event files change. Links are
    followed; each real folder is visited once.
    """
    for dir, dirnames, filenames in walk_real_folders(root):
        dirnames.sort()
        names = sorted(name for name in filenames if "tfevents" in name)
        if not names:
            continue
        digest = event_files_digest(dir, names)
        if digest is not None:
            yield dir, digest, ScalarReader(dir)


def walk_real_folders(root):
    """`os.walk(root)` following links, as TensorBoard does, each real
    folder once (a link loop, or two links to one folder, is walked once);
    the caller may prune the `dirnames` it gets."""
    seen = set()  # (device, inode) of the folders walked
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        yield dirpath, dirnames, filenames


def event_files_digest(dir, names):
    """Return a digest of the names, sizes and mtimes of files in `dir`.

    Returns None when none of the names is a readable file.
    """
    md5 = hashlib.md5()
    found = False
    for name in names:
        try:
            st = os.stat(os.path.join(dir, name))
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        found = True
        md5.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return md5.hexdigest() if found else None
