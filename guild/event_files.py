"""Small event files the monitor writes into the log directory.

Each file is written whole under a temporary name that TensorBoard ignores
(it holds no `tfevents`) and then renamed into place, so a monitor killed
mid-write leaves no half-written event file for TensorBoard to read; the
next pass writes it again.
"""

import contextlib
import itertools
import os

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2

from guild import records
from guild import tfevent

TMP_PREFIX = ".guild-tmp-"

_tmp_counter = itertools.count()


def write_summary_file(path, values, mtime_ns=None):
    """Writes one step-0 summary event per value in `values` to `path`."""
    with _written_beside(path) as tmp:
        writer = tfevent.EventFileWriter(tmp)
        try:
            for value in values:
                writer.add_event(event_pb2.Event(summary=summary_pb2.Summary(value=[value])))
        finally:
            writer.close()
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))


def write_records_file(path, datas):
    """Writes the records `datas` (already serialized events) to `path`."""
    with _written_beside(path) as tmp:
        with open(tmp, "wb") as f:
            writer = records.RecordWriter(f)
            for data in datas:
                writer.write(data)


@contextlib.contextmanager
def _written_beside(path):
    """A temporary path beside `path`, renamed to it once written whole,
    removed when writing fails."""
    tmp = _temp_path_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def _temp_path_beside(path):
    name = "%s%d-%d" % (TMP_PREFIX, os.getpid(), next(_tmp_counter))
    return os.path.join(os.path.dirname(path), name)


def is_temp_file(name):
    return name.startswith(TMP_PREFIX)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
