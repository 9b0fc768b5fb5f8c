import logging
import os
import time

import pytest

from guild_tensorboard.monitor import base as run_util
from guild_tensorboard.monitor.runs_monitor import RunsMonitor

from guild_runs import make_run

import faults
from run_snapshot import snapshot


def test_unlisted_run_folder_removed_without_following_links(tmp_path):
    runs_dir = str(tmp_path / "home" / "runs")
    run = make_run(runs_dir, files={"out/a.txt": b"a"}, scalars={".guild": {"loss": [(1, 1.0)]}})
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.csv").write_text("1")
    os.symlink(str(data), os.path.join(run.dir, "data"))
    listed = [run]
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: listed)
    monitor.run_once()
    before = snapshot(str(tmp_path / "home" / "runs")), snapshot(str(data))
    listed = []
    monitor.run_once()
    assert faults.run_folders(logdir) == []
    assert (snapshot(str(tmp_path / "home" / "runs")), snapshot(str(data))) == before


def test_foreign_files_are_never_wiped(tmp_path, caplog):
    run = make_run(str(tmp_path / "home" / "runs"))
    listed = [run]
    logdir = tmp_path / "logdir"
    monitor = RunsMonitor(str(logdir), lambda: listed)
    monitor.run_once()
    [folder] = faults.run_folders(logdir)
    (logdir / folder / "notes.txt").write_text("mine")
    (logdir / "my-experiments").mkdir()
    (logdir / "my-experiments" / "events.out.tfevents.1.mine").write_bytes(b"")
    listed = []
    with caplog.at_level(logging.WARNING, "guild"):
        monitor.run_once()
    assert (logdir / folder / "notes.txt").read_text() == "mine"
    assert (logdir / "my-experiments" / "events.out.tfevents.1.mine").exists()
    assert sorted(os.listdir(logdir / folder)) == ["notes.txt"]  # our files went
    assert "the monitor did not make" in caplog.text
    assert "my-experiments was not made by the monitor" in caplog.text


def test_runs_with_the_same_name_get_distinct_stable_folders(tmp_path):
    runs_dir = str(tmp_path / "home" / "runs")
    a = make_run(runs_dir)
    b = make_run(runs_dir)
    listed = [a]
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: listed, run_name_cb=lambda run: "same")
    monitor.run_once()
    assert faults.run_folders(logdir) == ["same"]
    listed = [b, a]  # newest first: the new run must not take over "same"
    monitor.run_once()
    assert faults.run_folders(logdir) == ["same", "same %s" % b.short_id]
    assert monitor._names[a.id] == "same"


def test_a_second_monitor_on_one_logdir_refuses(tmp_path):
    logdir = str(tmp_path / "logdir")
    first = RunsMonitor(logdir, lambda: [])
    first.run_once()
    second = RunsMonitor(logdir, lambda: [])
    with pytest.raises(run_util.LogdirInUse, match="in use by another runs monitor"):
        second.run_once()
    first.stop()
    second.run_once()
    second.stop()


def test_polling_thread_survives_a_failing_list_callback(tmp_path, caplog):
    calls = []

    def list_runs():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("listing failed %d" % len(calls))
        return []

    monitor = RunsMonitor(str(tmp_path / "logdir"), list_runs, interval=0.05)
    with caplog.at_level(logging.ERROR, "guild"):
        monitor.start()
        deadline = time.time() + 10
        while len(calls) < 4 and time.time() < deadline:
            time.sleep(0.05)
        assert monitor.is_alive()
        monitor.stop()
    assert len(calls) >= 4
    assert "listing failed 1" in caplog.text and "listing failed 2" in caplog.text
    assert not monitor.is_alive()
