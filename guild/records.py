"""TFRecord framing: encode records, write them, read them incrementally.

Wire format of one record (all integers little-endian):

    uint64  length                      8 bytes
    uint32  masked_crc32c(length bytes) 4 bytes
    bytes   data                        `length` bytes
    uint32  masked_crc32c(data)         4 bytes

    masked_crc32c(b) = ((crc >> 15) | (crc << 17)) + 0xa282ead8  (mod 2**32)
    where crc = CRC-32C (Castagnoli) of b.
"""

import logging
import os
import struct

import google_crc32c

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


# (path, kind) of the damage already reported: one warning per file and
# kind in a process, however many readers read the file.
_reported = set()
_MAX_REPORTED = 100000


class RecordReader:
    """Reads the records of a possibly growing file, incrementally.

    Each call to `read_records()` yields the complete records appended
    since the previous call. A truncated last record is left for the
    next call. A corrupt record is skipped: a bad data CRC skips that
    record; a bad length CRC or an absurd length skips to the next offset
    where a good record starts. `damaged` tells whether any was skipped.
    Damage is logged once per file and kind, and never raised.
    """

    __slots__ = ("path", "offset", "damaged")

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.damaged = False

    def skim(self):
        """Reads on to the end, checking every record."""
        for _ in self.read_records():
            pass

    def read_records(self):
        """Yield the complete records appended since the last call."""
        try:
            f = open(self.path, "rb")
        except OSError as e:
            log.debug("cannot open %s: %s", self.path, e)
            return
        with f:
            try:
                yield from self._read_from(f)
            except OSError as e:
                log.warning("error reading %s: %s", self.path, e)

    def _read_from(self, f):
        size = os.fstat(f.fileno()).st_size
        if size < self.offset:
            log.debug("%s shrank, reading it from the start", self.path)
            self.offset = 0
        f.seek(self.offset)
        buf = b""
        base = self.offset  # file offset of buf[0]
        want = _CHUNK_SIZE
        while base + len(buf) < size:
            more = f.read(min(want, size - base - len(buf)))
            if not more:
                return
            buf = buf + more if buf else more
            yield from self._parse(buf, base)
            # Keep the unparsed tail: it starts at self.offset.
            buf = buf[self.offset - base :]
            base = self.offset
            need = self._record_size(buf)
            if need > size - base:
                return  # last record incomplete: the file is being written
            want = max(_CHUNK_SIZE, need - len(buf))

    def _parse(self, buf, base):
        """Yield the complete records in `buf`, advancing self.offset."""
        n = len(buf)
        pos = 0
        header = _HEADER
        crc = masked_crc32c
        while pos + _HEADER_SIZE <= n:
            length, length_crc = header.unpack_from(buf, pos)
            if length > MAX_RECORD_SIZE or crc(buf[pos : pos + 8]) != length_crc:
                self._warn(
                    "length", "corrupt record length in %s at offset %i: "
                    "skipping to the next good record", base + pos
                )
                pos = _next_record_start(buf, pos + 1)
                self.offset = base + pos
                continue
            start = pos + _HEADER_SIZE
            end = start + length
            if end + _FOOTER_SIZE > n:
                return
            data = buf[start:end]
            (data_crc,) = _CRC.unpack_from(buf, end)
            pos = end + _FOOTER_SIZE
            self.offset = base + pos
            if crc(data) != data_crc:
                self._warn(
                    "data", "corrupt record data in %s at offset %i: "
                    "skipping the record", base + start - _HEADER_SIZE
                )
                continue
            yield data

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
        self.damaged = True
        key = (str(self.path), kind)
        if key in _reported:
            return
        if len(_reported) >= _MAX_REPORTED:
            _reported.clear()
        _reported.add(key)
        log.warning(msg, self.path, offset)


def _next_record_start(buf, pos):
    """The first offset from `pos` where a record header with a good length
    CRC starts (whose data CRC is good too, when the data is in `buf`);
    else where a header cut off by the end of `buf` may start."""
    n = len(buf)
    while pos + _HEADER_SIZE <= n:
        length, length_crc = _HEADER.unpack_from(buf, pos)
        if length <= MAX_RECORD_SIZE and masked_crc32c(buf[pos : pos + 8]) == length_crc:
            end = pos + _HEADER_SIZE + length
            if end + _FOOTER_SIZE > n:
                return pos
            (data_crc,) = _CRC.unpack_from(buf, end)
            if masked_crc32c(buf[pos + _HEADER_SIZE : end]) == data_crc:
                return pos
        pos += 1
    return pos


def scan_lengths(path, offset=0):
    """Walks the record headers of `path` from `offset`, without CRCs.

    Returns `(offset, absurd)`: where the walk stopped (the end of the last
    complete record) and whether it stopped at a length field above
    `MAX_RECORD_SIZE`, which TensorBoard's readers would try to allocate.
    Much cheaper than reading the records: a few operations a record, and
    records larger than a chunk are skipped with a seek.
    """
    unpack = _LENGTH.unpack_from
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            pos = offset
            while pos + _HEADER_SIZE <= size:
                f.seek(pos)
                buf = f.read(_SCAN_CHUNK_SIZE)
                i = 0
                while i + _HEADER_SIZE <= len(buf):
                    (length,) = unpack(buf, i)
                    if length > MAX_RECORD_SIZE:
                        return pos + i, True
                    end = i + _HEADER_SIZE + length + _FOOTER_SIZE
                    if pos + end > size:
                        return pos + i, False
                    i = end
                if i == 0:
                    break
                pos += i
    except OSError:
        return offset, False
    return pos, False


_SCAN_CHUNK_SIZE = 1024 * 1024
