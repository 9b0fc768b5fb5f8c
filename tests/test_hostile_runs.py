"""Never lose a byte: the monitor deletes only what it made, refuses a log
directory among the runs or of the user's, and no run file (any type, any
name, any size) can hang it, exhaust it or cost the rest of its run.

Every case keeps the invariants of `faults.World.check` (runs and the
user's files unchanged, nothing outside the log directory, good runs
complete, the polling thread alive), runs the monitor under a timeout
(`within`), and has TensorBoard load what it wrote.
"""

import logging
import os
import shutil
import socket
import stat
import subprocess
import threading

import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2

from guild_tensorboard.monitor import runs_monitor
from guild_tensorboard.events.records import encode_record
from guild_tensorboard.monitor.base import LogdirError, LogdirInUse
from guild_tensorboard.monitor.runs_monitor import RunsMonitor
from guild_tensorboard.events.tfevent import ScalarReader

import faults
from faults import World, exercise, good_png, monitor_for, run_folder
from guild_runs import make_run, write_file
from run_snapshot import snapshot
from tensorboard_client import InProcessTensorBoard, TensorBoardProcess, wait_for


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def within(seconds, fn, *args):
    """Runs `fn(*args)` in a thread; fails when it takes longer (a hang)."""
    result = {}

    def target():
        try:
            result["value"] = fn(*args)
        except BaseException as e:  # re-raised below
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "%s did not return within %ss" % (fn, seconds)
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _good_run(world, **kw):
    run = make_run(world.runs_dir, flags={"lr": 0.1}, scalars={".guild": {"loss": [(1, 0.5)]}}, **kw)
    good_png(os.path.join(run.dir, "plot.png"))
    return run


def _event(step, tag="loss", val=1.0):
    value = summary_pb2.Summary.Value(tag=tag, simple_value=val)
    return encode_record(
        event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value])).SerializeToString()
    )


def _sessions(tb):
    return {g.name.split()[0] for g in tb.session_groups().session_groups}


def _rust_tensorboard_shows(logdir, short_ids):
    tb = TensorBoardProcess(logdir, "--load_fast=true")
    try:
        wait_for(lambda: _sessions(tb) == set(short_ids) or None, timeout=60)
    finally:
        tb.close()


def _python_tensorboard_shows(logdir, short_ids):
    tb = within(120, InProcessTensorBoard, logdir)
    assert _sessions(tb) == set(short_ids)
    return tb


def _warnings(caplog, text):
    return [r for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


# Log directories the monitor must not use


def test_log_directories_among_the_runs_are_refused(world):
    run = _good_run(world)
    home = os.path.dirname(world.runs_dir)
    world.freeze()
    for logdir in (home, world.runs_dir, run.dir):  # not empty, not ours
        with pytest.raises(ValueError, match="not empty and is not a log directory"):
            RunsMonitor(logdir, lambda: [run])
    for logdir, relation in (
        (os.path.join(run.dir, "tb"), "lies inside the run directory"),
        (os.path.join(world.runs_dir, "tb"), "lies inside the runs directory"),
        (os.path.join(home, "cache", "tb"), "lies inside the Guild home"),
    ):
        monitor = RunsMonitor(logdir, lambda: [run])
        with pytest.raises(LogdirError, match=relation):
            monitor.run_once(exit_on_error=True)
        monitor.run_once()  # the polling thread's way: logged, nothing written
        monitor.start()
        monitor.stop()
        assert not os.path.exists(logdir)
    world.check()


def test_a_folder_of_the_users_is_refused_and_left_as_it_is(world):
    run = _good_run(world)
    mine = os.path.join(world.root, "mine")
    write_file(mine, "exp1/events.out.tfevents.1.mine", _event(1))
    os.symlink(os.path.join(mine, "exp1"), os.path.join(mine, "latest"))
    os.makedirs(os.path.join(mine, "empty"))
    os.makedirs(os.path.join(mine, "old"))
    os.symlink(os.path.join(world.root, "nowhere"), os.path.join(mine, "old", "checkpoint"))
    world.freeze()
    with pytest.raises(LogdirError, match="not empty and is not a log directory this command made"):
        RunsMonitor(mine, lambda: [run])
    world.check()


def test_the_users_entries_in_our_log_directory_are_kept(world, caplog):
    run = _good_run(world)
    other = _good_run(world)
    listed = [run, other]
    monitor = RunsMonitor(world.logdir, lambda: listed)
    monitor.run_once()
    folder = run_folder(world.logdir, run)
    other_folder = os.path.basename(run_folder(world.logdir, other))
    # What a user may put in a log directory the monitor made.
    write_file(world.logdir, "notes/todo.txt", b"mine")
    os.makedirs(os.path.join(world.logdir, "empty"))
    os.symlink(world.root, os.path.join(world.logdir, "latest"))
    write_file(folder, "my-notes.txt", b"mine")
    os.symlink("/etc/hostname", os.path.join(folder, "host"))
    write_file(folder, "mine/keep.txt", b"mine")  # (a folder left empty there would go)
    write_file(folder, ".images/events.out.tfevents.9.mine", b"mine too")
    users = {rel: entry for rel, entry in snapshot(world.logdir).items() if _is_users(rel)}
    world.freeze()
    with caplog.at_level(logging.WARNING, "guild"):
        listed[:] = [other]
        monitor.run_once()  # the run's folder goes, but for the user's entries
        monitor.run_once()
        monitor.stop()
        monitor.remove_logdir()  # what a temporary log directory gets on exit
    world.check()
    after = snapshot(world.logdir)
    assert {rel: entry for rel, entry in after.items() if _is_users(rel)} == users
    assert other_folder not in os.listdir(world.logdir)  # all the monitor's: gone
    assert len(_warnings(caplog, "left %s in place" % folder)) == 1
    assert len(_warnings(caplog, "notes was not made by the monitor")) == 1


def _is_users(rel):
    parts = rel.split(os.sep)
    return parts[0] in ("notes", "empty", "latest") or (
        len(parts) > 1 and parts[1] in ("my-notes.txt", "host", "mine")
    ) or rel.endswith("events.out.tfevents.9.mine")


def test_a_second_monitor_cannot_share_a_rebuilt_log_directory(world):
    run = _good_run(world)
    monitor = monitor_for(world, [run])
    monitor.run_once()
    shutil.rmtree(world.logdir)  # a temp cleaner
    monitor.run_once()
    with pytest.raises(LogdirInUse):
        RunsMonitor(world.logdir, lambda: [run]).run_once()
    monitor.stop()


# Special files


def _special_files(run_dir):
    os.mkfifo(os.path.join(run_dir, "live.png"))
    os.mkfifo(os.path.join(run_dir, "events.out.tfevents.1.fifo"))
    os.makedirs(os.path.join(run_dir, "train"))
    write_file(run_dir, "train/events.out.tfevents.1.ok", _event(1, "acc"))
    os.mkfifo(os.path.join(run_dir, "train", "events.out.tfevents.2.fifo"))
    os.symlink("/dev/zero", os.path.join(run_dir, "frames.png"))
    os.symlink("/dev/zero", os.path.join(run_dir, "events.out.tfevents.3.zero"))
    if os.geteuid() == 0:
        os.mknod(os.path.join(run_dir, "device.jpg"), stat.S_IFCHR | 0o600, os.makedev(1, 5))
    cwd = os.getcwd()
    os.chdir(run_dir)  # a socket's path is limited to 108 bytes: bind it relative
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind("events.out.tfevents.4.sock")
        sock.close()
    finally:
        os.chdir(cwd)


def test_special_files_are_neither_opened_nor_shown(world, caplog):
    good = _good_run(world)
    run = _good_run(world)
    _special_files(run.dir)
    meta = _good_run(world)  # Guild's own files as FIFOs
    for rel in ("attrs/label", "attrs/started", "attrs/flags", "opref", "LOCK", "manifest"):
        path = os.path.join(meta.dir, ".guild", rel)
        os.unlink(path) if os.path.exists(path) else None
        os.mkfifo(path)
    os.mkfifo(os.path.join(meta.dir, ".guild", "events.out.tfevents.5.fifo"))
    world.freeze()
    with caplog.at_level(logging.WARNING, "guild"):
        monitor = monitor_for(world, [good, run, meta])
        within(30, exercise, monitor)
    world.check(monitor, [good])
    folder = run_folder(world.logdir, run)
    shown = sorted(os.listdir(folder))
    assert not any(name in shown for name in ("live.png", "frames.png", "device.jpg"))
    assert not any(".fifo" in n or ".zero" in n or ".sock" in n for n in shown)
    assert os.listdir(os.path.join(folder, "train")) == ["events.out.tfevents.1.ok"]
    assert len(os.listdir(os.path.join(folder, ".images"))) == 1  # plot.png only
    assert len(_warnings(caplog, "live.png is a FIFO")) == 1
    ids = [good.short_id, run.short_id, meta.short_id]
    _rust_tensorboard_shows(world.logdir, ids)
    tb = _python_tensorboard_shows(world.logdir, ids)
    assert tb.scalars(os.path.basename(folder) + "/train", "acc")


# Names that are not UTF-8


def test_names_that_are_not_utf8_are_shown_escaped(world, caplog):
    good = _good_run(world)
    run = make_run(world.runs_dir, scalars={".guild": {"loss": [(1, 0.5)]}})
    b = os.fsencode(run.dir)
    good_png(os.fsdecode(os.path.join(b, b"h\xf6st.png")))
    good_png(os.path.join(run.dir, "later.png"))  # sorts after: still summarized
    os.makedirs(os.path.join(b, b"d\xe9j\xe0", b"sub"))
    with open(os.path.join(b, b"d\xe9j\xe0", b"sub", b"events.out.tfevents.1.\xff"), "wb") as f:
        f.write(_event(7, "acc"))
    with open(os.path.join(b, b"caf\xe9.txt"), "wb") as f:
        f.write(b"x")
    with open(os.path.join(b, b"caf\\xe9.txt"), "wb") as f:  # what the escape would be
        f.write(b"y")
    world.freeze()
    monitor = monitor_for(world, [good, run])
    within(30, exercise, monitor)
    world.check(monitor, [good])
    folder = run_folder(world.logdir, run)
    for dirpath, dirnames, filenames in os.walk(os.fsencode(folder)):
        for name in dirnames + filenames:
            name.decode("utf-8")  # every name in the log directory decodes
    shown = set(os.listdir(folder))
    assert {"h\\xf6st.png", "d\\xe9j\\xe0", "caf\\xe9.txt", "caf\\xe9.txt~run"} <= shown
    assert os.readlink(os.path.join(folder, "caf\\xe9.txt~run")) == os.fsdecode(os.path.join(b, b"caf\xe9.txt"))
    assert len(os.listdir(os.path.join(folder, ".images"))) == 2
    ids = [good.short_id, run.short_id]
    tb = _python_tensorboard_shows(world.logdir, ids)  # its loader dies on an undecodable name
    run_name = os.path.basename(folder)
    assert sorted(tb.image_tags()[run_name + "/.images"]) == ["h\\xf6st.png", "later.png"]
    assert tb.scalars(run_name + "/d\\xe9j\\xe0/sub", "acc")[0][1] == 7
    _rust_tensorboard_shows(world.logdir, ids)


def test_a_run_whose_id_is_not_utf8_gets_a_folder(world):
    good = _good_run(world)
    odd = make_run(world.runs_dir, run_id=os.fsdecode(b"f\xf6" + b"0" * 30))
    world.freeze()
    monitor = monitor_for(world, [good, odd])
    within(30, exercise, monitor)
    world.check(monitor, [good])
    names = faults.run_folders(world.logdir)
    assert len(names) == 2 and all(name.encode("utf-8") for name in names)
    _python_tensorboard_shows(world.logdir, [good.short_id, "f\\xf6" + "0" * 6])


# Bad bytes: bounded per pass, inside a file too


def test_garbage_and_zero_tails_cost_no_pass_long(world, monkeypatch):
    good = _good_run(world)
    run = make_run(world.runs_dir)
    head = b"".join(_event(i) for i in range(3))
    write_file(run.dir, "zeros/events.out.tfevents.1.z", head + b"\0" * (8 << 20) + _event(10))
    write_file(run.dir, "random/events.out.tfevents.1.r", head + os.urandom(1 << 20) + _event(11))
    sparse = os.path.join(run.dir, "sparse", "events.out.tfevents.1.s")
    write_file(run.dir, "sparse/events.out.tfevents.1.s", head)
    os.truncate(sparse, 1 << 30)  # a preallocated 1 GiB, all zeros (a hole)
    with open(sparse, "ab") as f:
        f.write(_event(12))
    world.freeze()
    monitor = monitor_for(world, [good, run])
    # Each pass stops its slice of checking at the budget, inside a file
    # too; a hang guard, not a speed test (bench/bench_bad_input.py is).
    for _ in range(200):
        within(30, monitor.run_once)
        if not monitor._unverified:
            break
    assert not monitor._unverified
    world.check(monitor, [good])
    folder = run_folder(world.logdir, run)
    for sub, last in (("zeros", 10), ("random", 11), ("sparse", 12)):
        steps = [s for _t, _v, s in ScalarReader(os.path.join(folder, sub))]
        assert steps == [0, 1, 2, last], sub
    _rust_tensorboard_shows(world.logdir, [good.short_id, run.short_id])


def test_a_slice_of_checking_stops_inside_a_file(world, monkeypatch):
    run = make_run(world.runs_dir)
    write_file(run.dir, "big/events.out.tfevents.1.b", b"".join(_event(i) for i in range(20000)))
    from guild_tensorboard.monitor import event_guard

    monkeypatch.setattr(event_guard, "SCAN_SECONDS", 0)
    monkeypatch.setattr(runs_monitor, "VERIFY_SECONDS", 0)
    monitor = monitor_for(world, [run])
    monitor.run_once()
    [guarded] = monitor._folders[run.id].links.guard._files.values()
    assert guarded.scan_paused  # no time: the scan paused at its first look
    monkeypatch.setattr(runs_monitor, "VERIFY_SECONDS", 0.2)
    passes = 0
    while monitor._unverified:
        monitor.run_once()
        passes += 1
    assert guarded.scanned == os.path.getsize(os.path.join(run.dir, "big/events.out.tfevents.1.b"))
    assert not guarded.damaged and passes >= 1


# What a pass records is what is on disk


def test_a_log_directory_removed_while_monitoring_is_rebuilt_whole(world):
    good = _good_run(world)
    running = make_run(world.runs_dir, lock_pid=os.getpid(), scalars={".guild": {"loss": [(1, 1.0)]}})
    good_png(os.path.join(running.dir, "plot.png"))
    world.freeze()
    monitor = monitor_for(world, [good, running])
    monitor.run_once()
    before = faults.run_folders(world.logdir), _paths(world.logdir)
    shutil.rmtree(world.logdir)
    monitor.run_once()
    assert (faults.run_folders(world.logdir), _paths(world.logdir)) == before
    world.check(monitor, [good])
    faults.assert_complete(world.logdir, good)
    _python_tensorboard_shows(world.logdir, [good.short_id, running.short_id])


def _paths(logdir):
    return sorted(rel for rel in snapshot(logdir) if not rel.startswith(".guild-tensorboard-"))


@pytest.fixture(params=["size=2m", "nr_inodes=40"], ids=["blocks", "inodes"])
def small_disk(tmp_path, request):
    """A tmpfs holding the log directory, out of space (blocks) or out of
    inodes part way (mounting needs root; CI runs as root)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", request.param, "tmpfs", str(mount_point)]).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)])


def test_a_full_disk_is_caught_up_once_space_returns(world, small_disk, caplog):
    runs = []
    for _ in range(6):
        run = _good_run(world)
        with open(os.path.join(run.dir, "big.png"), "wb") as f:
            from PIL import Image

            Image.frombytes("RGB", (400, 400), os.urandom(400 * 400 * 3)).save(f, "PNG")
        runs.append(run)
    logdir = world.logdir = str(small_disk / "logdir")
    os.mkdir(logdir)  # (made here, so that the mount point's mtime stays)
    world.freeze()
    monitor = RunsMonitor(logdir, lambda: runs, interval=0.05)
    with caplog.at_level(logging.ERROR, "guild"):
        within(30, monitor.run_once)  # the disk fills up part way
    assert any("No space left" in r.getMessage() for r in caplog.records)
    subprocess.run(["mount", "-o", "remount,size=64m,nr_inodes=10000", str(small_disk)], check=True)
    for _ in range(3):
        within(30, monitor.run_once)
    monitor.stop()
    world.check()
    for run in runs:
        faults.assert_complete(logdir, run)
        assert len(os.listdir(os.path.join(run_folder(logdir, run), ".images"))) == 2
    _python_tensorboard_shows(logdir, [run.short_id for run in runs])


# The run's own files named like the monitor's


def test_run_files_named_like_the_monitors_are_shown_renamed(world):
    good = _good_run(world)
    run = make_run(world.runs_dir, scalars={".guild": {"loss": [(1, 0.5)]}})
    write_file(run.dir, ".images/events.out.tfevents.0000000000.image." + "0" * 32, _event(1, "img"))
    write_file(run.dir, "events.out.tfevents.9999999998.hparams", _event(2, "theirs_hparams"))
    write_file(run.dir, "events.out.tfevents.9999999999.time", _event(3, "theirs_time"))
    write_file(run.dir, "eval/events.out.tfevents.1.x", _event(4, "acc"))
    write_file(run.dir, "eval/events.out.tfevents.1.x.repaired", _event(5, "theirs_repaired"))
    world.freeze()
    monitor = monitor_for(world, [good, run])
    within(30, exercise, monitor)
    world.check(monitor, [good])
    folder = run_folder(world.logdir, run)
    assert {
        ".images~run", "events.out.tfevents.9999999998.hparams~run",
        "events.out.tfevents.9999999999.time",  # not a name of the monitor's (any more)
    } <= set(os.listdir(folder))
    assert sorted(os.listdir(os.path.join(folder, "eval"))) == [
        "events.out.tfevents.1.x", "events.out.tfevents.1.x.repaired~run",
    ]
    tb = _python_tensorboard_shows(world.logdir, [good.short_id, run.short_id])
    name = os.path.basename(folder)
    scalar_tags = tb.get_json("/data/plugin/scalars/tags")
    assert {"theirs_hparams", "theirs_time", "loss", "time"} <= set(scalar_tags[name])
    assert "img" in scalar_tags[name + "/.images~run"]
    assert {"acc", "theirs_repaired"} <= set(scalar_tags[name + "/eval"])
