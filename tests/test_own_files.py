"""The monitor's own files: written without following links, inside the
log directory only, and known again by the log directory's token."""

import os

import pytest

from guild_tensorboard.monitor import own_files
from guild_tensorboard.events.summary import scalar_value
from guild_tensorboard.events.tfevent import EventReader

from faults import TOKEN


@pytest.fixture
def logdir(tmp_path):
    path = tmp_path / "logdir"
    path.mkdir()
    return path


def test_event_files_carry_the_token_and_read_back(logdir):
    files = own_files.OwnFiles(str(logdir), TOKEN)
    path = str(logdir / "events.out.tfevents.1.ours")
    files.write_events(path, [scalar_value("x", 1.5)], mtime_ns=10**18)
    assert [v.simple_value for e in EventReader(str(logdir)) for v in e.summary.value] == [1.5]
    [first] = [e for e in EventReader(str(logdir), all_events=True) if e.file_version]
    assert first.source_metadata.writer == "guild-tensorboard " + TOKEN
    assert os.stat(path).st_mtime_ns == 10**18
    assert files.is_own_file(path)
    assert not own_files.OwnFiles(str(logdir), "another-token").is_own_file(path)


def test_files_without_the_token_are_not_ours(logdir):
    files = own_files.OwnFiles(str(logdir), TOKEN)
    (logdir / "events.out.tfevents.2.theirs").write_bytes(b"")
    (logdir / "hparams").write_text("end\n")
    (logdir / ".guild-tmp-1-2").write_text("half")
    os.symlink("/etc/hostname", logdir / "link")
    for name in ("events.out.tfevents.2.theirs", "hparams", ".guild-tmp-1-2", "link", "missing"):
        assert not files.is_own_file(str(logdir / name)), name
    files.write_marker(str(logdir / "marker"), "end")
    assert files.read_marker(str(logdir / "marker")) == "end"
    assert files.is_own_file(str(logdir / "marker"))
    assert files.read_marker(str(logdir / "hparams")) is None


def test_nothing_is_written_through_a_link(tmp_path, logdir):
    outside = tmp_path / "run"
    outside.mkdir()
    (outside / "keep.txt").write_text("theirs")
    os.symlink(outside, logdir / "linked")
    os.symlink(outside / "keep.txt", logdir / "marker")
    files = own_files.OwnFiles(str(logdir), TOKEN)
    with pytest.raises(OSError):  # the folder is a link: not opened
        files.write_events(str(logdir / "linked" / "events.out.tfevents.1.x"), [scalar_value("x", 1)])
    with pytest.raises(OSError):
        files.make_dir(str(logdir / "linked" / ".images"))
    with pytest.raises(OSError):
        files.replace_link(str(logdir / "linked" / "a"), "/etc/hostname")
    with pytest.raises(own_files.NotOurFolder):  # a link in the way of an append
        files.append_records(str(logdir / "marker"), [b"x"])
    files.write_marker(str(logdir / "marker"), "end")  # replaces the link, not its target
    assert (outside / "keep.txt").read_text() == "theirs"
    assert sorted(os.listdir(outside)) == ["keep.txt"]
    assert not os.path.islink(logdir / "marker")


def test_nothing_is_written_outside_the_log_directory(tmp_path, logdir):
    files = own_files.OwnFiles(str(logdir), TOKEN)
    with pytest.raises(own_files.NotOurFolder):
        files.write_marker(str(tmp_path / "marker"), "end")
    assert not (tmp_path / "marker").exists()


def test_appends_go_to_our_files_only(logdir):
    files = own_files.OwnFiles(str(logdir), TOKEN)
    path = str(logdir / "events.out.tfevents.1.copy")
    files.write_events(path, datas=[b"first"])
    files.append_records(path, [b"second"])
    from guild_tensorboard.events.records import RecordReader

    assert list(RecordReader(path).read_records())[1:] == [b"first", b"second"]
    (logdir / "events.out.tfevents.2.theirs").write_bytes(b"")
    with pytest.raises(own_files.NotOurFolder):
        files.append_records(str(logdir / "events.out.tfevents.2.theirs"), [b"x"])
    assert (logdir / "events.out.tfevents.2.theirs").read_bytes() == b""
