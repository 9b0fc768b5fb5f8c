"""Run files are opened only as regular files, and read only up to a bound."""

import os
import socket
import stat

import pytest

from guild_tensorboard.events.regular_files import FileTooLarge, NotRegularFile, open_regular, read_regular


def _special(tmp_path, kind):
    path = tmp_path / ("x." + kind)
    if kind == "fifo":
        os.mkfifo(path)  # open() would block until a writer comes
    elif kind == "zero":
        os.symlink("/dev/zero", path)  # read() would never end
    elif kind == "chardev":
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()
    elif kind == "dir":
        path.mkdir()
    return str(path)


@pytest.mark.parametrize("kind", ["fifo", "zero", "chardev", "socket", "dir"])
def test_anything_but_a_regular_file_is_refused_unread(tmp_path, kind):
    if kind == "chardev" and os.geteuid() != 0:
        kind = "zero"  # mknod needs root; a link to /dev/zero is the same test
    path = _special(tmp_path, kind)
    # A socket cannot be opened at all (ENXIO); the rest open without
    # blocking and are refused by what fstat says.
    refusal = OSError if kind == "socket" else NotRegularFile
    with pytest.raises(refusal):
        open_regular(path)
    with pytest.raises(refusal):
        read_regular(path, 10)


def test_a_link_to_a_regular_file_reads(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    os.symlink(tmp_path / "a", tmp_path / "b")
    assert read_regular(str(tmp_path / "b"), 3) == b"abc"
    with open_regular(str(tmp_path / "b")) as f:
        assert f.read() == b"abc"


def test_a_file_over_the_bound_is_refused_before_reading(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 100)
    with pytest.raises(FileTooLarge, match="100 bytes, more than the 99"):
        read_regular(str(path), 99)
    assert read_regular(str(path), 100) == b"x" * 100


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_regular(str(tmp_path / "missing"), 10)
