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


class RecordReader:
    """Reads the records of a possibly growing file, incrementally.

    Each call to `read_records()` yields the complete records appended
    since the previous call. A truncated last record is left for the
    next call. Bad data is logged (once per file and kind) and never
    raised.
    """

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self._lost_framing = False
        self._warned = set()

    def read_records(self):
        """Yield the complete records appended since the last call."""
        if self._lost_framing:
            return
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
            if self._lost_framing:
                return
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
            if crc(buf[pos : pos + 8]) != length_crc:
                self._lost_framing = True
                self._warn(
                    "length", "corrupt record length in %s at offset %i: "
                    "skipping the rest of the file", base + pos
                )
                return
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
        return _HEADER_SIZE + _LENGTH.unpack_from(buf)[0] + _FOOTER_SIZE

    def _warn(self, kind, msg, offset):
        if kind in self._warned:
            return
        self._warned.add(kind)
        log.warning(msg, self.path, offset)
