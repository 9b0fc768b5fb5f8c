"""TFRecord framing: encode records, write them, read them incrementally.

Wire format of one record (all integers little-endian):

    uint64  length                      8 bytes
    uint32  masked_crc32c(length bytes) 4 bytes
    bytes   data                        `length` bytes
    uint32  masked_crc32c(data)         4 bytes

    masked_crc32c(b) = ((crc >> 15) | (crc << 17)) + 0xa282ead8  (mod 2**32)
    where crc = CRC-32C (Castagnoli) of b.
"""

import errno
import logging
import os
import re
import struct
import time

import google_crc32c

from guild_tensorboard.events.log_once import warning_once
from guild_tensorboard.events.regular_files import open_regular

log = logging.getLogger("guild")

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_HEADER = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER_SIZE = 12
_FOOTER_SIZE = 4

# Bytes read from disk at a time; a record larger than this is read whole.
_CHUNK_SIZE = 16 * 1024 * 1024
_DEADLINE_CHUNK_SIZE = 1024 * 1024

# A length field above this is corrupt, whatever its CRC says: event records
# are small (an image summary is a few MB), and reading on would mean
# waiting forever for a "truncated" record that never completes.
MAX_RECORD_SIZE = 256 * 1024 * 1024


def masked_crc32c(data):
    """Return the masked CRC-32C of `data` used by TFRecord."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def encode_record(data):
    """Return `data` framed as one TFRecord."""
    length = _LENGTH.pack(len(data))
    return b"".join(
        (
            length,
            _CRC.pack(masked_crc32c(length)),
            data,
            _CRC.pack(masked_crc32c(data)),
        )
    )


class RecordWriter:
    """Writes TFRecords to a binary file object."""

    def __init__(self, fileobj):
        self.fileobj = fileobj

    def write(self, data):
        self.fileobj.write(encode_record(data))

    def flush(self):
        self.fileobj.flush()

    def close(self):
        self.fileobj.close()


# Records parsed between two looks at the clock, when reading to a deadline.
_CLOCK_EVERY = 4096


class RecordReader:
    """Reads the records of a possibly growing file, incrementally.

    Each call to `read_records()` yields the complete records appended
    since the previous call. A truncated last record is left for the
    next call. A corrupt record is skipped: a bad data CRC skips that
    record; a bad length CRC or an absurd length skips to the next offset
    where a good record starts (found in milliseconds a megabyte, however
    the bytes look). `damaged` tells whether any was skipped. Damage is
    logged once per file and kind, and never raised.

    With a `deadline` (a `time.monotonic()` value), a call stops once it
    has passed, at a record boundary, and the next call goes on from there;
    `at_end` tells whether the last call reached the end of the file.
    Only regular files are read (`guild_tensorboard.events.regular_files`).
    """

    __slots__ = ("path", "offset", "damaged", "at_end")

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.damaged = False
        self.at_end = False

    def skim(self, deadline=None):
        """Reads on to the end (or the deadline), checking every record;
        True when it reached the end."""
        for _ in self.read_records(deadline):
            pass
        return self.at_end

    def read_records(self, deadline=None):
        """Yield the complete records appended since the last call."""
        self.at_end = False
        try:
            f = open_regular(self.path)
        except OSError as e:
            log.debug("cannot open %s: %s", self.path, e)
            self.at_end = True
            return
        with f:
            try:
                yield from self._read_from(f, deadline)
            except OSError as e:
                log.warning("error reading %s: %s", self.path, e)
                self.at_end = True

    def _read_from(self, f, deadline):
        size = os.fstat(f.fileno()).st_size
        if size < self.offset:
            log.debug("%s shrank, reading it from the start", self.path)
            self.offset = 0
        f.seek(self.offset)
        buf = b""
        base = self.offset  # file offset of buf[0]
        # Smaller reads when a deadline is set, so a slice ends close to it.
        chunk = _CHUNK_SIZE if deadline is None else _DEADLINE_CHUNK_SIZE
        want = chunk
        while base + len(buf) < size:
            if deadline is not None and time.monotonic() >= deadline:
                return
            if self.damaged and not buf.strip(b"\0"):
                base = self._skip_hole(f, base + len(buf), size)
                buf = b""
            more = f.read(min(want, size - base - len(buf)))
            if not more:
                break
            buf = buf + more if buf else more
            parser = _Parse(self, buf, base, deadline)
            yield from parser
            if parser.paused:
                return  # at the deadline, inside the chunk
            # Keep the unparsed tail: it starts at self.offset.
            buf = buf[self.offset - base :]
            base = self.offset
            need = self._record_size(buf)
            if need > size - base:
                break  # last record incomplete: the file is being written
            want = max(chunk, need - len(buf))
        self.at_end = True

    def _skip_hole(self, f, pos, size):
        """Past damage, with only zeros left unparsed: a hole of a sparse
        file from `pos` on (zeros, where no record header can start) is
        skipped without reading it. Returns the offset to read from."""
        try:
            data = os.lseek(f.fileno(), pos, os.SEEK_DATA)
        except OSError as e:  # ENXIO: nothing but a hole to the end
            data = size if e.errno == errno.ENXIO else pos
        if data > pos:
            self.offset = max(self.offset, min(size, data - _HEADER_SIZE + 1))
        f.seek(self.offset)
        return self.offset

    @staticmethod
    def _record_size(buf):
        """Size of the record starting `buf`, or header size if unknown."""
        if len(buf) < _HEADER_SIZE:
            return _HEADER_SIZE
        length = _LENGTH.unpack_from(buf)[0]
        if length > MAX_RECORD_SIZE:
            return _HEADER_SIZE
        return _HEADER_SIZE + length + _FOOTER_SIZE

    def _warn(self, kind, msg, offset):
        # One warning per file and kind in a process, however many readers
        # read the file.
        self.damaged = True
        warning_once(("record", str(self.path), kind), msg, self.path, offset)


class _Parse:
    """Iterates the complete records in one chunk, `buf`, read at file
    offset `base`, advancing the reader's offset past each; stops early, at
    a record boundary, once `deadline` has passed (`paused`)."""

    __slots__ = ("reader", "buf", "base", "deadline", "paused")

    def __init__(self, reader, buf, base, deadline):
        self.reader = reader
        self.buf = buf
        self.base = base
        self.deadline = deadline
        self.paused = False

    def __iter__(self):
        reader, buf, base, deadline = self.reader, self.buf, self.base, self.deadline
        n = len(buf)
        pos = 0
        header = _HEADER
        crc = masked_crc32c
        countdown = _CLOCK_EVERY
        while pos + _HEADER_SIZE <= n:
            if deadline is not None:
                countdown -= 1
                if countdown <= 0:
                    countdown = _CLOCK_EVERY
                    if time.monotonic() >= deadline:
                        self.paused = True
                        return
            length, length_crc = header.unpack_from(buf, pos)
            if length > MAX_RECORD_SIZE or crc(buf[pos : pos + 8]) != length_crc:
                reader._warn(
                    "length", "corrupt record length in %s at offset %i: "
                    "skipping to the next good record", base + pos
                )
                pos = next_record_start(buf, pos + 1)
                reader.offset = base + pos
                continue
            start = pos + _HEADER_SIZE
            end = start + length
            if end + _FOOTER_SIZE > n:
                return
            data = buf[start:end]
            (data_crc,) = _CRC.unpack_from(buf, end)
            pos = end + _FOOTER_SIZE
            reader.offset = base + pos
            if crc(data) != data_crc:
                reader._warn(
                    "data", "corrupt record data in %s at offset %i: "
                    "skipping the record", base + start - _HEADER_SIZE
                )
                continue
            yield data


# A length of at most MAX_RECORD_SIZE (under 2**32) has its four high
# bytes zero, and no record header is twelve zero bytes (the masked CRC of
# eight zero bytes is not zero): so a header can start only four bytes
# before four zero bytes, and not inside a run of zeros. Both are found by
# C-speed searches, which keeps a resync through garbage or through a
# zero-filled tail to milliseconds a megabyte.
_FOUR_ZEROS = b"\0\0\0\0"
_TWELVE_ZEROS = b"\0" * _HEADER_SIZE
_NONZERO = re.compile(rb"[^\x00]")


def next_record_start(buf, pos):
    """The first offset from `pos` where a record header with a good length
    CRC starts (whose data CRC is good too, when the data is in `buf`);
    else where a header cut off by the end of `buf` may start."""
    n = len(buf)
    last = n - _HEADER_SIZE  # the last offset where a whole header fits
    while pos <= last:
        zeros = buf.find(_FOUR_ZEROS, pos + 4)
        if zeros < 0 or zeros - 4 > last:
            break
        start = zeros - 4
        if buf[start : start + _HEADER_SIZE] == _TWELVE_ZEROS:
            end = _zero_run_end(buf, start)
            if end >= n:
                break
            pos = max(start + 1, end - _HEADER_SIZE + 1)
            continue
        if _is_record_start(buf, start):
            return start
        pos = start + 1
    # No whole header from `pos` on: one may start in the last bytes.
    return max(pos, n - _HEADER_SIZE + 1) if n >= _HEADER_SIZE else pos


_ZERO_BLOCK = bytes(64 * 1024)


def _zero_run_end(buf, pos):
    """The first offset from `pos` of a byte that is not zero (`len(buf)`
    when there is none): whole blocks are compared with a block of zeros
    (a memcmp), the last one searched."""
    n = len(buf)
    block = len(_ZERO_BLOCK)
    while pos + block <= n and buf[pos : pos + block] == _ZERO_BLOCK:
        pos += block
    m = _NONZERO.search(buf, pos, min(n, pos + block))
    return m.start() if m is not None else n


def _is_record_start(buf, pos):
    length, length_crc = _HEADER.unpack_from(buf, pos)
    if length > MAX_RECORD_SIZE or masked_crc32c(buf[pos : pos + 8]) != length_crc:
        return False
    end = pos + _HEADER_SIZE + length
    if end + _FOOTER_SIZE > len(buf):
        return True  # its data is not in `buf`: the caller reads on
    (data_crc,) = _CRC.unpack_from(buf, end)
    return masked_crc32c(buf[pos + _HEADER_SIZE : end]) == data_crc


def first_record(buf):
    """The data of the record `buf` starts with, when it is whole there and
    both its CRCs are good; else None."""
    if len(buf) < _HEADER_SIZE or not _is_record_start(buf, 0):
        return None
    (length,) = _LENGTH.unpack_from(buf)
    end = _HEADER_SIZE + length
    if end + _FOOTER_SIZE > len(buf):
        return None
    return buf[_HEADER_SIZE:end]


# What `scan_lengths` says of the bytes it walked.
SCAN_OK = "ok"  # good headers to the end (or to a last record not yet whole)
SCAN_DAMAGED = "damaged"  # a header TensorBoard would choke on
SCAN_PAUSED = "paused"  # the budget ran out first: call again from the offset


def scan_lengths(path, offset=0, deadline=None):
    """Walks the record headers of `path` from `offset`, without CRCs.

    Returns `(offset, result)`: where the walk stopped (the end of the last
    whole record, or the damaged header) and one of `SCAN_OK`,
    `SCAN_DAMAGED` (a length above `MAX_RECORD_SIZE`, which TensorBoard's
    readers would try to allocate, or a header of zeros, a zero-filled
    tail, which no record can have: the masked CRC of a zero length is not
    zero) and `SCAN_PAUSED` (the `deadline`, a `time.monotonic()` value,
    passed). A few operations a record; records larger than a chunk are
    skipped with a seek. CRCs are `RecordReader`'s to check.
    """
    header = _HEADER
    pos = offset
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            while pos + _HEADER_SIZE <= size:
                if deadline is not None and time.monotonic() >= deadline:
                    return pos, SCAN_PAUSED
                f.seek(pos)
                buf = f.read(min(_SCAN_CHUNK_SIZE, size - pos))
                i = 0
                while i + _HEADER_SIZE <= len(buf):
                    length, length_crc = header.unpack_from(buf, i)
                    if length > MAX_RECORD_SIZE or not (length or length_crc):
                        return pos + i, SCAN_DAMAGED
                    end = i + _HEADER_SIZE + length + _FOOTER_SIZE
                    if pos + end > size:
                        return pos + i, SCAN_OK
                    i = end
                if i == 0:
                    break
                pos += i
    except OSError:
        return offset, SCAN_OK
    return pos, SCAN_OK


_SCAN_CHUNK_SIZE = 1024 * 1024
