"""Opening a run's files only as what they are: regular files, of bounded size.

A run directory can hold anything: a FIFO named `live.png` (a plain
`open()` of it blocks until a writer comes, for ever), a character device
named `frames.png` (`/dev/zero` reads without end), a socket, a file of
gigabytes. Every file the monitor reads from a run is opened here:

- `O_NONBLOCK` so that opening a FIFO or a device cannot block, and
  `O_NOCTTY` so that a terminal cannot become ours;
- `fstat` on the open descriptor (not on the path, which may change
  between the check and the open): anything but a regular file is refused
  with `NotRegularFile`, before a byte is read;
- `read_regular` refuses a file larger than the caller's bound with
  `FileTooLarge`, again before reading, and reads at most the bound.

Both errors are `OSError`s, so callers that already handle a file that
cannot be read handle these too.
"""

import errno
import os
import stat

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


class NotRegularFile(OSError):
    def __init__(self, path, kind):
        super().__init__(errno.EINVAL, "not a regular file (%s)" % kind, path)


class FileTooLarge(OSError):
    def __init__(self, path, size, limit):
        super().__init__(
            errno.EFBIG, "%i bytes, more than the %i read from such a file" % (size, limit), path
        )


def open_regular(path):
    """`path` opened for binary reading; raises `NotRegularFile` for
    anything but a regular file (links are followed, as `open` does)."""
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, file_kind(st.st_mode))
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, limit):
    """The bytes of the regular file `path`; raises `FileTooLarge` when it
    holds more than `limit` bytes (checked before reading). Called for
    every attr of every run: plain descriptor calls, no file object."""
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, file_kind(st.st_mode))
        if st.st_size > limit:
            raise FileTooLarge(path, st.st_size, limit)
        # What fstat said and a byte more (a read allocates all it asks for).
        chunks = [os.read(fd, st.st_size + 1)]
        total = len(chunks[0])
        while total > st.st_size and total <= limit:  # it grew since fstat
            more = os.read(fd, min(total, limit + 1 - total))
            if not more:
                break
            chunks.append(more)
            total += len(more)
    finally:
        os.close(fd)
    if total > limit:
        raise FileTooLarge(path, total, limit)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def file_kind(mode):
    """What a `st_mode` is, in a word."""
    for test, kind in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISLNK, "link"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return kind
    return "special file"
