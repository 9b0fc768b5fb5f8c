import logging
import os
import struct

import google_crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guild_tensorboard.events.records import RecordReader, RecordWriter, encode_record, masked_crc32c


def read_all(path):
    return list(RecordReader(path).read_records())


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def guild_warnings(caplog):
    return [
        r for r in caplog.records if r.name == "guild" and r.levelno == logging.WARNING
    ]


def test_masked_crc32c_matches_definition():
    crc = google_crc32c.value(b"hello")
    expected = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32
    assert masked_crc32c(b"hello") == expected


def test_encode_record_layout():
    rec = encode_record(b"abc")
    assert len(rec) == 8 + 4 + 3 + 4
    assert struct.unpack("<Q", rec[:8]) == (3,)
    assert struct.unpack("<I", rec[8:12]) == (masked_crc32c(rec[:8]),)
    assert rec[12:15] == b"abc"
    assert struct.unpack("<I", rec[15:]) == (masked_crc32c(b"abc"),)


def test_writer_reader_roundtrip(tmp_path):
    path = tmp_path / "records"
    records = [b"", b"a", b"x" * 1000, bytes(range(256))]
    with open(path, "wb") as f:
        writer = RecordWriter(f)
        for rec in records:
            writer.write(rec)
        writer.flush()
        writer.close()
    assert read_all(path) == records


def test_tensorboard_reads_our_records(tmp_path):
    from tensorboard.compat.tensorflow_stub.errors import OutOfRangeError
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

    path = str(tmp_path / "records")
    records = [b"one", b"", b"three" * 100]
    write_file(path, b"".join(encode_record(r) for r in records))
    reader = PyRecordReader_New(path)
    read = []
    while True:
        try:
            reader.GetNext()
        except OutOfRangeError:
            break
        read.append(reader.record())
    assert read == records


def test_incremental_reads_only_new_records(tmp_path):
    path = tmp_path / "records"
    write_file(path, encode_record(b"a") + encode_record(b"b"))
    reader = RecordReader(path)
    assert list(reader.read_records()) == [b"a", b"b"]
    assert list(reader.read_records()) == []
    with open(path, "ab") as f:
        f.write(encode_record(b"c"))
    assert list(reader.read_records()) == [b"c"]
    assert reader.offset == os.path.getsize(path)


def test_truncated_tail_resumes(tmp_path, caplog):
    path = tmp_path / "records"
    data = encode_record(b"first") + encode_record(b"second" * 10)
    cut = len(encode_record(b"first")) + 20
    write_file(path, data[:cut])
    reader = RecordReader(path)
    assert list(reader.read_records()) == [b"first"]
    assert list(reader.read_records()) == []
    with open(path, "ab") as f:
        f.write(data[cut:] + encode_record(b"third"))
    assert list(reader.read_records()) == [b"second" * 10, b"third"]
    assert guild_warnings(caplog) == []


def test_truncated_inside_header_resumes(tmp_path):
    path = tmp_path / "records"
    data = encode_record(b"first") + encode_record(b"second")
    for cut in range(len(encode_record(b"first")), len(data)):
        write_file(path, data[:cut])
        reader = RecordReader(path)
        assert list(reader.read_records()) == [b"first"]
        write_file(path, data)
        assert list(reader.read_records()) == [b"second"]


def test_bad_data_crc_skips_record_and_warns_once(tmp_path, caplog):
    path = tmp_path / "records"
    records = [b"rec%i" % i for i in range(5)]
    encoded = [bytearray(encode_record(r)) for r in records]
    encoded[1][12] ^= 0xFF  # first data byte of record 1
    encoded[3][12] ^= 0xFF
    write_file(path, b"".join(encoded))
    with caplog.at_level(logging.WARNING, logger="guild"):
        assert read_all(path) == [b"rec0", b"rec2", b"rec4"]
    warnings = guild_warnings(caplog)
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert str(path) in msg
    assert "offset %i" % len(encoded[0]) in msg


def test_bad_length_crc_skips_to_the_next_good_record(tmp_path, caplog):
    path = tmp_path / "records"
    good = encode_record(b"good")
    bad = bytearray(encode_record(b"bad"))
    bad[8] ^= 0x01  # length CRC
    write_file(path, good + bytes(bad) + encode_record(b"after"))
    reader = RecordReader(path)
    with caplog.at_level(logging.WARNING, logger="guild"):
        assert list(reader.read_records()) == [b"good", b"after"]
        with open(path, "ab") as f:
            f.write(encode_record(b"more"))
        assert list(reader.read_records()) == [b"more"]
    warnings = guild_warnings(caplog)
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()


def test_huge_length_with_valid_crc_is_corrupt(tmp_path, caplog):
    path = tmp_path / "records"
    length = struct.pack("<Q", 2**62)
    header = length + struct.pack("<I", masked_crc32c(length))
    write_file(path, encode_record(b"ok") + header + b"junk" + encode_record(b"next"))
    reader = RecordReader(path)
    with caplog.at_level(logging.WARNING, logger="guild"):
        assert list(reader.read_records()) == [b"ok", b"next"]
        assert list(reader.read_records()) == []
    assert len(guild_warnings(caplog)) == 1


def test_a_truncated_last_record_waits_for_its_data(tmp_path, caplog):
    path = tmp_path / "records"
    whole = encode_record(b"x" * 1000)
    write_file(path, encode_record(b"ok") + whole[:500])
    reader = RecordReader(path)
    assert list(reader.read_records()) == [b"ok"]
    assert reader.offset == len(encode_record(b"ok"))
    with open(path, "ab") as f:
        f.write(whole[500:])
    assert list(reader.read_records()) == [b"x" * 1000]
    assert guild_warnings(caplog) == []


def test_random_bytes_do_not_raise(tmp_path):
    path = tmp_path / "records"
    write_file(path, os.urandom(10000))
    assert read_all(path) == []


def test_empty_file(tmp_path):
    path = tmp_path / "records"
    write_file(path, b"")
    assert read_all(path) == []


def test_missing_file_yields_nothing(tmp_path):
    reader = RecordReader(tmp_path / "missing")
    assert list(reader.read_records()) == []


def test_vanished_file_yields_nothing(tmp_path):
    path = tmp_path / "records"
    write_file(path, encode_record(b"a"))
    reader = RecordReader(path)
    assert list(reader.read_records()) == [b"a"]
    os.remove(path)
    assert list(reader.read_records()) == []


def test_record_larger_than_chunk(tmp_path, monkeypatch):
    from guild_tensorboard.events import records as records

    monkeypatch.setattr(records, "_CHUNK_SIZE", 64)
    path = tmp_path / "records"
    records = [b"small", os.urandom(1000), b"", os.urandom(63), os.urandom(200)]
    write_file(path, b"".join(encode_record(r) for r in records))
    assert read_all(path) == records


def test_abandoned_iteration_resumes_after_last_record(tmp_path):
    path = tmp_path / "records"
    write_file(path, b"".join(encode_record(b"%i" % i) for i in range(3)))
    reader = RecordReader(path)
    it = reader.read_records()
    assert next(it) == b"0"
    it.close()
    assert list(reader.read_records()) == [b"1", b"2"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_roundtrip_and_truncation_property(tmp_path_factory, records, data):
    path = tmp_path_factory.mktemp("prop") / "records"
    encoded = b"".join(encode_record(r) for r in records)
    write_file(path, encoded)
    assert read_all(path) == records
    cut = data.draw(st.integers(0, len(encoded)))
    write_file(path, encoded[:cut])
    reader = RecordReader(path)
    prefix = list(reader.read_records())
    assert prefix == records[: len(prefix)]
    write_file(path, encoded)
    assert prefix + list(reader.read_records()) == records


# Damage: resync past any bytes, slices to a deadline, holes skipped


def _records(n, size=10):
    return [b"%0*d" % (size, i) for i in range(n)]


def _encoded(datas):
    return b"".join(encode_record(d) for d in datas)


@pytest.mark.parametrize(
    "junk",
    [
        b"\0" * 100000,
        b"\0" * 11,
        os.urandom(50000),
        struct.pack("<I", 7) * 20000,  # four zero bytes every eight: candidates everywhere
        bytes(range(256)) * 200,
        b"\0" * 70000 + b"\1" + b"\0" * 70000,
    ],
    ids=["zeros", "eleven-zeros", "random", "small-ints", "ramp", "zeros-with-a-bump"],
)
def test_the_next_good_record_is_found_past_any_junk(tmp_path, junk):
    path = tmp_path / "records"
    before, after = _records(3), _records(3, 30)
    write_file(path, _encoded(before) + junk + _encoded(after))
    assert read_all(path) == before + after


def test_next_record_start_skips_zero_runs_and_finds_headers_among_them():
    from guild_tensorboard.events.records import next_record_start

    rec = encode_record(b"data")
    buf = b"\0" * 200000 + rec + b"\0" * 50
    assert next_record_start(buf, 0) == 200000
    assert next_record_start(buf, 200001) >= len(buf) - 11  # none after: the tail may hold one
    assert next_record_start(b"\0" * 5, 0) == 0


def test_a_deadline_stops_a_read_at_a_record_boundary_and_it_resumes(tmp_path, monkeypatch):
    from guild_tensorboard.events import records as records

    path = tmp_path / "records"
    datas = _records(20000)
    write_file(path, _encoded(datas))
    monkeypatch.setattr(records, "_CLOCK_EVERY", 100)
    reader = RecordReader(path)
    got = []
    slices = 0
    while not reader.at_end or not slices:
        deadline = records.time.monotonic() + 0.002
        got.extend(reader.read_records(deadline))
        slices += 1
    assert got == datas
    assert slices > 1  # it did stop part way, inside the file


def test_a_hole_past_damage_is_skipped_unread(tmp_path, monkeypatch):
    path = tmp_path / "records"
    head, tail = _records(2), _records(2, 20)
    write_file(path, _encoded(head) + b"\xff" * 20)
    with open(path, "r+b") as f:
        f.truncate(8 << 30)  # 8 GiB, a hole: reading it would take a minute
        f.seek(0, os.SEEK_END)
        f.write(_encoded(tail))
    before = _bytes_read_by_this_process()
    assert read_all(path) == head + tail
    assert _bytes_read_by_this_process() - before < 64 << 20


def _bytes_read_by_this_process():
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def test_scan_lengths_finds_bad_headers_and_pauses_at_a_deadline(tmp_path):
    from guild_tensorboard.events.records import SCAN_DAMAGED, SCAN_OK, SCAN_PAUSED, scan_lengths

    path = tmp_path / "records"
    good = _encoded(_records(3))
    write_file(path, good + b"\0" * 64)
    assert scan_lengths(str(path)) == (len(good), SCAN_DAMAGED)  # no record has a zero header
    write_file(path, good + encode_record(b"x")[:7])
    assert scan_lengths(str(path)) == (len(good), SCAN_OK)  # cut short: still being written
    assert scan_lengths(str(path), 0, deadline=0) == (0, SCAN_PAUSED)
