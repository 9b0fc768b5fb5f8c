"""The files the monitor writes in its log directory, and knowing them again.

A log directory has a random token (`guild_tensorboard.monitor.logdir_claim`), and every file
the monitor writes carries it, so that it can later show the file is its
own rather than guess from a name:

- event files (hparams sessions, the time metric, image summaries,
  repaired copies) start with a `file_version` event whose
  `source_metadata.writer` is `guild-tensorboard <token>`; TensorBoard
  ignores the field;
- markers (`.guild/hparams`) hold `<state> <token>`;
- temporary files are named `.guild-tmp-<token>-<pid>-<n>` (no `tfevents`,
  so TensorBoard ignores them).

Nothing is ever written through a link: a file is created with `O_EXCL |
O_NOFOLLOW` in a folder opened with `O_NOFOLLOW` that must lie in the log
directory, written whole under its temporary name and renamed into place
(so a monitor killed mid-write leaves no half-written event file for
TensorBoard; the next pass writes it again). Appending (a repaired copy
growing) opens with `O_NOFOLLOW` and checks the file is ours first.
"""

import contextlib
import errno
import itertools
import os
import stat
import time

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2

from guild_tensorboard.events import records
from guild_tensorboard.events import regular_files
from guild_tensorboard.events import tfevent

WRITER_PREFIX = "guild-tensorboard "
TMP_PREFIX = ".guild-tmp-"

_tmp_counter = itertools.count()
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

# The first record of our event files is small; more than this is not ours.
_FIRST_RECORD_LIMIT = 4096
_MARKER_LIMIT = 256


class NotOurFolder(OSError):
    pass


class OwnFiles:
    """Writes and recognizes the monitor's files under `root` (the log
    directory), marked with `token`."""

    __slots__ = ("root", "token", "writer", "temp_prefix", "_real_root", "_verified")

    def __init__(self, root, token):
        self.root = root
        self.token = token
        self.writer = WRITER_PREFIX + token
        self.temp_prefix = "%s%s-" % (TMP_PREFIX, token)
        self._real_root = os.path.realpath(root)
        self._verified = {}  # folder path -> (st_dev, st_ino) checked to be ours

    # Writing

    def write_events(self, path, values=(), datas=(), mtime_ns=None):
        """Writes an event file at `path`: our `file_version` event, a
        step-0 summary event per `Summary.Value` in `values`, then the
        serialized events `datas`. Its mtime is set to `mtime_ns` when
        given."""
        chunks = [records.encode_record(self._version_event())]
        for value in values:
            event = event_pb2.Event(summary=summary_pb2.Summary(value=[value]))
            chunks.append(records.encode_record(event.SerializeToString()))
        chunks.extend(records.encode_record(data) for data in datas)
        self._write_file(path, b"".join(chunks), mtime_ns)

    def write_new_events(self, path, values, mtime_ns=None):
        """Writes a new event file at `path` in place (`O_EXCL`): for a file
        no reader can see before it is whole (it is linked into view after).
        Raises FileExistsError when `path` exists."""
        data = b"".join(
            [records.encode_record(self._version_event())]
            + [
                records.encode_record(
                    event_pb2.Event(summary=summary_pb2.Summary(value=[value])).SerializeToString()
                )
                for value in values
            ]
        )
        with self._parent(path) as dir_fd:
            fd = os.open(os.path.basename(path), _NEW_FILE_FLAGS, 0o644, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    if mtime_ns is not None:
                        os.utime(f.fileno(), ns=(mtime_ns, mtime_ns))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.basename(path), dir_fd=dir_fd)
                raise

    def append_records(self, path, datas):
        """Appends the serialized events `datas` to our event file `path`."""
        if not self.is_own_file(path):
            raise NotOurFolder(0, "not a file the monitor wrote", path)
        with self._parent(path) as dir_fd:
            fd = os.open(
                os.path.basename(path),
                os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                dir_fd=dir_fd,
            )
            with os.fdopen(fd, "wb") as f:
                f.write(b"".join(records.encode_record(data) for data in datas))

    def write_marker(self, path, state):
        """Writes a marker in place, in one write (no temporary file and
        rename: a marker cut short reads as no marker, and what it stood
        for is written again). A link there is replaced, never followed."""
        data = ("%s %s\n" % (state, self.token)).encode()
        with self._parent(path) as dir_fd:
            name = os.path.basename(path)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            try:
                fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
            except OSError as e:
                if e.errno != errno.ELOOP:
                    raise
                os.unlink(name, dir_fd=dir_fd)  # a link in the way: replace it
                fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def make_dir(self, path):
        """Makes the folder `path` (its parent must be ours); an existing
        folder is fine, a link or file there raises `NotOurFolder`."""
        with self._parent(path) as dir_fd:
            name = os.path.basename(path)
            try:
                os.mkdir(name, dir_fd=dir_fd)
            except FileExistsError:
                pass
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                raise NotOurFolder(0, "not a folder", path)
            self._trust(path, st)  # in a folder of ours: no need to resolve it

    def made_folder(self, path):
        """`path`, a folder the monitor just made in the log directory, is
        known to be ours without resolving it again."""
        self._trust(path, os.lstat(path))

    def _trust(self, path, st):
        if len(self._verified) > 100000:
            self._verified.clear()
        self._verified[path] = (st.st_dev, st.st_ino)

    def replace_link(self, path, target):
        """Puts the link `path` -> `target` in place of what is there."""
        with self._parent(path) as dir_fd:
            tmp = self._temp_name()
            os.symlink(target, tmp, dir_fd=dir_fd)
            try:
                os.replace(tmp, os.path.basename(path), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise

    def _temp_name(self):
        return "%s%d-%d" % (self.temp_prefix, os.getpid(), next(_tmp_counter))

    def _write_file(self, path, data, mtime_ns=None):
        with self._parent(path) as dir_fd:
            tmp = self._temp_name()
            fd = os.open(tmp, _NEW_FILE_FLAGS, 0o644, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()  # before the mtime is set: a later write would change it
                    if mtime_ns is not None:
                        os.utime(f.fileno(), ns=(mtime_ns, mtime_ns))
                os.replace(tmp, os.path.basename(path), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise

    @contextlib.contextmanager
    def _parent(self, path):
        """The folder holding `path`, opened without following a link,
        checked to lie in the log directory (its real path, once; then its
        inode)."""
        parent = os.path.dirname(path)
        fd = os.open(parent, _DIR_FLAGS)
        try:
            st = os.fstat(fd)
            dir_id = (st.st_dev, st.st_ino)
            if self._verified.get(parent) != dir_id:
                real = os.path.realpath(parent)
                if real != self._real_root and not real.startswith(self._real_root + os.sep):
                    raise NotOurFolder(0, "folder outside the log directory", parent)
                self._trust(parent, st)
            yield fd
        finally:
            os.close(fd)

    def _version_event(self):
        event = event_pb2.Event(wall_time=time.time(), file_version=tfevent.FILE_VERSION)
        event.source_metadata.writer = self.writer
        return event.SerializeToString()

    # Knowing our files again

    def is_own_file(self, path):
        """True when `path` is a regular file this log directory's monitor
        wrote: a temporary file with our token in its name, a marker holding
        it, or an event file whose first event names it."""
        name = os.path.basename(path)
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        if name.startswith(self.temp_prefix):
            return True
        if "tfevents" in name:
            return self._first_event_is_ours(path)
        return self.read_marker(path) is not None

    def read_marker(self, path):
        """The state a marker of ours holds, None when `path` is not one."""
        try:
            data = regular_files.read_regular(path, _MARKER_LIMIT)
        except OSError:
            return None
        parts = data.decode("utf-8", "replace").split()
        if len(parts) == 2 and parts[1] == self.token:
            return parts[0]
        return None

    def _first_event_is_ours(self, path):
        try:
            with regular_files.open_regular(path) as f:
                head = f.read(_FIRST_RECORD_LIMIT)
        except OSError:
            return False
        data = records.first_record(head)
        if data is None:
            return False
        try:
            event = event_pb2.Event.FromString(data)
        except DecodeError:
            return False
        return event.source_metadata.writer == self.writer

    def is_temp_name(self, name):
        return name.startswith(self.temp_prefix)

