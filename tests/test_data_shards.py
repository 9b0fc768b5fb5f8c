"""Dealing run folders to data servers: windows of the first pass, the
budget of event files a server, folders that grow or go. Real data
servers (TensorBoard's Rust binary) are started for the shards."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from tensorboard import program
from tensorboard.data import server_ingester

from guild_tensorboard.serving import data_shards
from guild_tensorboard.serving import app as tensorboard_server
from guild_tensorboard.serving.sharded_provider import ShardedDataProvider

from command_process import pid_is_running
from tensorboard_client import wait_for


@pytest.fixture
def shards(tmp_path):
    try:
        binary = server_ingester.get_server_binary()
    except server_ingester.NoDataServerError:
        pytest.fail("TensorBoard's data server is a dependency of this project")
    logdir = tmp_path / "logdir"
    logdir.mkdir()
    for i in range(8):
        (logdir / ("run%d" % i)).mkdir()
    tb = program.TensorBoard()
    tb.configure(argv=["", "--logdir", str(logdir), "--reload_interval", "1"])
    started = []
    real_start = tensorboard_server._data_server_starter(tb, binary, fallback=False)

    def start(shard_dir, reload_interval):
        started.append(os.path.basename(shard_dir))
        return real_start(shard_dir, reload_interval)

    provider = ShardedDataProvider(str(logdir))
    result = data_shards.DataShards(str(logdir), 10, start, provider, limit=74, reload_interval=1)
    result.started = started
    yield result
    result.close()


def _links(shards, index):
    return sorted(os.listdir(os.path.join(shards.root, str(index))))


def test_the_first_pass_deals_folders_in_windows_of_time(shards, monkeypatch):
    monkeypatch.setattr(data_shards, "WINDOWS", (0.0, 0.3))
    monkeypatch.setattr(data_shards, "MAX_WINDOW", 0.3)
    shards.folder_refreshed("run0", 2)  # the first: its server starts at once
    assert shards.wait_started() and shards.started == ["0"]
    shards.folder_refreshed("run1", 2)  # the next window
    shards.folder_refreshed("run2", 2)
    assert shards.started == ["0"]  # its window is open: not served yet
    time.sleep(0.35)
    shards.folder_refreshed("run3", 2)  # the window closed: served; run3 opens the next
    assert shards.wait_started() and shards.started == ["0", "1"]
    assert [_links(shards, i) for i in range(3)] == [["run0"], ["run1", "run2"], ["run3"]]
    shards.pass_done()  # every shard with folders is served
    assert shards.wait_started() and shards.started == ["0", "1", "2"]
    # After the first pass a folder goes to the first shard with room.
    shards.folder_refreshed("run4", 2)
    assert _links(shards, 0) == ["run0", "run4"]
    assert shards.servers() == 3


def test_no_shard_holds_more_event_files_than_its_budget(shards):
    shards.pass_done()
    for i in range(4):
        shards.folder_refreshed("run%d" % i, 4)  # 90% of 10 is 9: two folders a shard
    assert [_links(shards, i) for i in range(2)] == [["run0", "run1"], ["run2", "run3"]]
    shards.folder_refreshed("run1", 7)  # grew past the budget: passed on
    assert _links(shards, 0) == ["run0"]
    assert "run1" in _links(shards, 2)
    assert shards.files() == 4 + 7 + 4 + 4
    shards.folder_removed("run2")
    assert _links(shards, 1) == ["run3"]


def test_closing_stops_the_servers_and_removes_the_shards(shards):
    for i in range(3):
        shards.folder_refreshed("run%d" % i, 6)
    shards.pass_done()
    assert shards.wait_started()
    processes = [shard._stop.__self__.process for shard in shards._shards]
    assert all(p.poll() is None for p in processes)
    root = shards.root
    shards.close()
    wait_for(lambda: not any(pid_is_running(p.pid) for p in processes), timeout=20)
    assert not os.path.exists(root)
    assert sorted(os.listdir(shards.logdir)) == ["run%d" % i for i in range(8)]  # untouched


def test_counting_event_files_as_tensorboard_opens_them(tmp_path):
    logdir = tmp_path / "logdir"
    (logdir / "a" / "train").mkdir(parents=True)
    (logdir / "a" / "events.out.tfevents.1").write_bytes(b"")
    (logdir / "a" / "train" / "events.out.tfevents.2").write_bytes(b"")
    (logdir / "a" / "notes.txt").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "events.out.tfevents.3").write_bytes(b"")
    os.symlink(outside, logdir / "a" / "linked")  # followed, as TensorBoard does
    os.symlink(logdir / "a", logdir / "a" / "train" / "loop")  # each real folder once
    (logdir / "events.out.tfevents.root").write_bytes(b"")
    (logdir / ".guild-tensorboard-0123").mkdir()
    assert data_shards.count_event_files(str(logdir)) == {"a": 3, "events.out.tfevents.root": 1}


# Shards of a process that is gone

_KILLED_WITH_SHARDS = """
import os, signal, sys
from guild_tensorboard.serving import data_shards
from guild_tensorboard.serving.sharded_provider import ShardedDataProvider
logdir = sys.argv[1]
shards = data_shards.DataShards(logdir, 10, lambda d, r: (None, lambda: None), ShardedDataProvider(logdir))
shards._first_pass = False
shards._new_shard().add("run0", 2)
print(shards.root, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_process_root(logdir):
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WITH_SHARDS, str(logdir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.returncode == -signal.SIGKILL
    root = proc.stdout.strip()
    assert os.path.islink(os.path.join(root, "0", "run0"))
    return root


def test_the_shards_of_a_killed_process_are_removed_by_the_next(tmp_path):
    logdir = tmp_path / "logdir"
    (logdir / "run0").mkdir(parents=True)
    gone = _killed_process_root(logdir)
    kept_extra = _killed_process_root(logdir)
    (tmp_path / "user-file").write_text("x")
    os.symlink(tmp_path / "user-file", os.path.join(kept_extra, "not-a-shard"))
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live_root = _killed_process_root(logdir)
        with open(os.path.join(live_root, data_shards.OWNER), "w") as f:
            f.write("%d\n" % alive.pid)  # as if that process made it
        shards = data_shards.DataShards(str(logdir), 10, None, ShardedDataProvider(str(logdir)))
        try:
            assert not os.path.exists(gone)
            assert os.listdir(kept_extra) == ["not-a-shard"]  # only what a root is made of went
            assert os.path.islink(os.path.join(live_root, "0", "run0"))  # its process lives
        finally:
            shards.close()
        assert not os.path.exists(shards.root)
    finally:
        alive.kill()
        alive.wait()
        for root in (kept_extra, live_root):
            shutil.rmtree(root, ignore_errors=True)
    assert (tmp_path / "user-file").read_text() == "x"
    assert sorted(os.listdir(logdir)) == ["run0"]


def test_an_app_never_stopped_removes_its_shards_at_exit(tmp_path):
    logdir = tmp_path / "logdir"
    (logdir / "run0").mkdir(parents=True)
    (logdir / "run0" / "events.out.tfevents.1").write_bytes(b"")
    code = (
        "import sys; from guild_tensorboard.serving import app\n"
        "a = app.create_app(logdir=sys.argv[1], reload_interval=1)\n"
        "print(a._guild_shards.root, flush=True)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(logdir)], stdout=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0
    root = proc.stdout.strip().splitlines()[-1]
    assert os.path.basename(root).startswith(data_shards.ROOT_PREFIX)
    assert not os.path.exists(root)


def test_reloads_slow_down_as_event_files_grow_past_what_the_cpu_can_reread(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    logdir = str(tmp_path)
    intervals = []

    def start(shard_dir, reload_interval):
        intervals.append(reload_interval)
        return None, lambda: None

    shards = data_shards.DataShards(logdir, 20000, start, ShardedDataProvider(logdir), reload_interval=5)
    try:
        # 0.12 ms a file a reload, a quarter of 2 cores: 5 seconds hold ~20,800 files.
        assert shards.server_reload_interval() == 5
        shards.pass_started(50000)  # the first pass lists 50,000 runs
        shards.folder_refreshed("run0", 5)  # 5 files a run: 250,000 files to come
        assert shards.wait_started()
        assert intervals == [60]
        shards.pass_done()
        assert shards.server_reload_interval() == 5  # the pass found just the one
        for i in range(1, 5000):
            shards.folder_refreshed("run%d" % i, 5)
        assert shards.server_reload_interval() == 6  # 25,000 files
        quick = data_shards.DataShards(logdir, 20000, start, ShardedDataProvider(logdir), reload_interval=0.2)
        quick.folder_refreshed("run0", 5)
        assert quick.server_reload_interval() == 0.2  # a fraction of a second stays one
        quick.close()
        chosen = data_shards.DataShards(logdir, 20000, start, ShardedDataProvider(logdir),
                                        reload_interval=5, scale_reload=False)
        chosen.pass_started(50000)
        chosen.folder_refreshed("run0", 5)
        assert chosen.server_reload_interval() == 5  # -O reload_interval=5 is the user's
        chosen.close()
    finally:
        shards.close()
