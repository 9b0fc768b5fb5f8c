import logging
import os

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.summary.writer import event_file_writer as tb_writer
from tensorboard.util import tensor_util

from guild_tensorboard.events.records import encode_record
from guild_tensorboard.events.tfevent import (
    EventFileWriter,
    EventReader,
    ScalarReader,
    scalar_readers,
    tensor_scalar,
)


def scalar_event(tag, val, step=0):
    event = event_pb2.Event(step=step)
    event.summary.value.add(tag=tag, simple_value=val)
    return event


def write_events(path, events):
    with EventFileWriter(str(path)) as writer:
        for event in events:
            writer.add_event(event)


def scalar_events(n, tag="loss"):
    return [scalar_event(tag, i / 4, step=i) for i in range(n)]


def guild_warnings(caplog):
    return [
        r for r in caplog.records if r.name == "guild" and r.levelno == logging.WARNING
    ]


def test_file_starts_with_file_version(tmp_path):
    path = tmp_path / "events.out.tfevents.1"
    write_events(path, scalar_events(2))
    events = list(EventReader(tmp_path, all_events=True))
    assert events[0].file_version == "brain.Event:2"
    assert events[0].wall_time > 0
    assert not events[0].HasField("summary")
    assert events[1:] == scalar_events(2)
    assert list(EventReader(tmp_path)) == scalar_events(2)


def test_tensorboard_reads_our_events(tmp_path):
    path = tmp_path / "events.out.tfevents.1"
    written = scalar_events(5)
    write_events(path, written)
    raw = list(event_file_loader.LegacyEventFileLoader(str(path)).Load())
    assert raw[0].file_version == "brain.Event:2"
    assert raw[1:] == written
    migrated = list(event_file_loader.EventFileLoader(str(path)).Load())
    values = [
        (e.step, v.tag, float(tensor_util.make_ndarray(v.tensor)))
        for e in migrated[1:]
        for v in e.summary.value
    ]
    assert values == [(i, "loss", i / 4) for i in range(5)]


def test_write_event_bytes(tmp_path):
    path = tmp_path / "events.out.tfevents.1"
    with EventFileWriter(str(path)) as writer:
        writer.write_event_bytes(scalar_event("x", 1.5).SerializeToString())
        writer.flush()
        assert list(EventReader(tmp_path)) == [scalar_event("x", 1.5)]


def tensorboard_write(logdir, events):
    writer = tb_writer.EventFileWriter(str(logdir))
    for event in events:
        writer.add_event(event)
    writer.close()


def test_read_tensorboard_written_events(tmp_path):
    events = scalar_events(3, "simple")
    for step in range(3):
        event = event_pb2.Event(step=step, wall_time=1000.0 + step)
        event.summary.CopyFrom(scalar_summary.scalar_pb("tensor", step * 2.5))
        events.append(event)
    tensorboard_write(tmp_path, events)
    assert [f for f in os.listdir(tmp_path) if "tfevents" in f]
    assert list(EventReader(tmp_path)) == events
    assert list(ScalarReader(tmp_path)) == [
        ("simple", 0.0, 0),
        ("simple", 0.25, 1),
        ("simple", 0.5, 2),
        ("tensor", 0.0, 0),
        ("tensor", 2.5, 1),
        ("tensor", 5.0, 2),
    ]


@pytest.mark.parametrize(
    "val, dtype",
    [
        (1.5, np.float32),
        (1.5, np.float64),
        (1.5, np.float16),
        (-7, np.int32),
        (2**40, np.int64),
        (200, np.uint8),
    ],
)
def test_tensor_scalar_dtypes(val, dtype):
    proto = tensor_util.make_tensor_proto(np.array(val, dtype=dtype))
    assert tensor_scalar(proto) == val
    assert type(tensor_scalar(proto)) is float
    content = tensor_util.make_tensor_proto(np.array([val], dtype=dtype))
    assert tensor_scalar(content) == val


def test_tensor_scalar_rejects_non_scalars():
    assert tensor_scalar(tensor_util.make_tensor_proto([1.0, 2.0])) is None
    assert tensor_scalar(tensor_util.make_tensor_proto(b"text")) is None
    assert tensor_scalar(tensor_util.make_tensor_proto(True)) is None


def test_scalar_reader_skips_other_plugins(tmp_path):
    event = event_pb2.Event(step=1)
    value = event.summary.value.add(tag="_hparams_/experiment")
    value.metadata.plugin_data.plugin_name = "hparams"
    value.tensor.CopyFrom(tensor_util.make_tensor_proto(0.0))
    later = event_pb2.Event(step=2)  # metadata only on the first value
    later.summary.value.add(tag="_hparams_/experiment").tensor.CopyFrom(
        tensor_util.make_tensor_proto(0.0)
    )
    plain = event_pb2.Event(step=3)  # no metadata: a tensor scalar
    plain.summary.value.add(tag="v2").tensor.CopyFrom(
        tensor_util.make_tensor_proto(np.float64(3.0))
    )
    write_events(tmp_path / "events.out.tfevents.1", [event, later, plain])
    assert list(ScalarReader(tmp_path)) == [("v2", 3.0, 3)]


def test_event_reader_file_selection_and_order(tmp_path):
    write_events(tmp_path / "b.tfevents", [scalar_event("b", 2.0)])
    write_events(tmp_path / "a.tfevents", [scalar_event("a", 1.0)])
    write_events(tmp_path / "other", [scalar_event("other", 0.0)])
    (tmp_path / "sub.tfevents").mkdir()
    write_events(tmp_path / "sub.tfevents" / "x.tfevents", [scalar_event("x", 0.0)])
    target = tmp_path / "target"
    target.mkdir()
    write_events(target / "events", [scalar_event("link", 3.0)])
    os.symlink(target / "events", tmp_path / "c.tfevents")
    os.symlink(tmp_path / "missing", tmp_path / "d.tfevents")
    assert [(tag, step) for tag, _val, step in ScalarReader(tmp_path)] == [
        ("a", 0),
        ("b", 0),
        ("link", 0),
    ]


def test_event_reader_is_reiterable(tmp_path):
    write_events(tmp_path / "events.out.tfevents.1", scalar_events(2))
    reader = EventReader(tmp_path)
    assert list(reader) == list(reader) == scalar_events(2)


def test_event_reader_missing_dir(tmp_path):
    assert list(EventReader(tmp_path / "missing")) == []
    assert list(scalar_readers(tmp_path / "missing")) == []


def test_truncated_event_file(tmp_path):
    path = tmp_path / "events.out.tfevents.1"
    write_events(path, scalar_events(3))
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    assert list(EventReader(tmp_path)) == scalar_events(2)


def test_bad_crc_and_undecodable_event(tmp_path, caplog):
    path = tmp_path / "events.out.tfevents.1"
    write_events(path, scalar_events(2))
    bad = bytearray(encode_record(scalar_event("bad", 1.0).SerializeToString()))
    bad[14] ^= 0xFF
    with open(path, "ab") as f:
        f.write(bytes(bad))
        f.write(encode_record(b"\xff\xff\xff not a protobuf"))
        f.write(encode_record(scalar_event("last", 2.0).SerializeToString()))
    with caplog.at_level(logging.WARNING, logger="guild"):
        events = list(EventReader(tmp_path))
    assert events == scalar_events(2) + [scalar_event("last", 2.0)]
    messages = [r.getMessage() for r in guild_warnings(caplog)]
    assert len(messages) == 2
    assert all(str(path) in m for m in messages)


def test_scalar_readers_walk_and_digest(tmp_path):
    write_events(tmp_path / "events.out.tfevents.1", scalar_events(1, "root"))
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_events(tmp_path / "a" / "b" / "events.out.tfevents.1", scalar_events(1))
    (tmp_path / "empty").mkdir()
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    found = {
        os.path.relpath(dir, tmp_path): (digest, list(reader))
        for dir, digest, reader in scalar_readers(str(tmp_path))
    }
    assert sorted(found) == [".", os.path.join("a", "b")]
    assert found["."][1] == [("root", 0.0, 0)]
    digest = found["."][0]
    again = {d: dg for d, dg, _ in scalar_readers(str(tmp_path))}
    assert again[str(tmp_path)] == digest
    with open(tmp_path / "events.out.tfevents.1", "ab") as f:
        f.write(encode_record(scalar_event("root", 1.0, 1).SerializeToString()))
    changed = {d: dg for d, dg, _ in scalar_readers(str(tmp_path))}
    assert changed[str(tmp_path)] != digest
    assert changed[os.path.join(str(tmp_path), "a", "b")] == found["a/b"][0]


def test_write_and_read_many_events(tmp_path):
    path = tmp_path / "events.out.tfevents.1"
    with EventFileWriter(str(path)) as writer:
        for i in range(20000):
            writer.add_event(scalar_event("loss", float(i), i))
    scalars = list(ScalarReader(tmp_path))
    assert len(scalars) == 20000
    assert scalars[-1] == ("loss", 19999.0, 19999)
