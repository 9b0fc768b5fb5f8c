"""The synthetic Guild homes of bench/make_guild_home.py: Guild 0.9's format,
readable by our run model and by TensorBoard, and deterministic."""

import hashlib
import os
import sys

import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2

from guild_tensorboard.runs import run as runlib
from guild_tensorboard.events import tfevent

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import make_guild_home  # noqa: E402


def _make(tmp_path, name, **kw):
    params = dict(runs=4, steps=12, files=9, images=2, seed=3)
    params.update(kw)
    dest = str(tmp_path / name)
    make_guild_home.make_home(dest, jobs=1, **params)
    return dest


def _snapshot(root):
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        snap[rel_dir] = ("dir", os.stat(dirpath).st_mtime_ns)
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                digest = hashlib.md5(f.read()).hexdigest()
            snap[os.path.join(rel_dir, name)] = ("file", digest, os.stat(path).st_mtime_ns)
    return snap


def test_layout_and_run_model(tmp_path):
    home = _make(tmp_path, "home")
    runs_dir = os.path.join(home, "runs")
    ids = sorted(os.listdir(runs_dir))
    assert ids == sorted(make_guild_home.run_id(3, i) for i in range(4))
    assert make_guild_home.read_params(home)["runs"] == 4
    run = runlib.for_dir(os.path.join(runs_dir, make_guild_home.run_id(3, 0)))
    assert run.opref.pkg_type == "guildfile"
    assert run.opref.pkg_name == os.path.join(home, "project", "guild.yml")
    assert run.opref.model_name == "" and run.opref.op_name == "train"
    assert os.path.exists(run.opref.pkg_name)
    flags = run.get("flags")
    assert sorted(flags) == ["batch_size", "lr", "optimizer"]
    assert run.get("label") == "batch_size=%(batch_size)s lr=%(lr)s optimizer=%(optimizer)s" % flags
    assert run.get("id") == run.id
    assert isinstance(run.get("started"), int) and run.get("stopped") > run.get("started")
    assert run.status == "completed"
    assert len(run.get("sourcecode_digest")) == 32
    # One run in 20 failed.
    home40 = _make(tmp_path, "home40", runs=20, steps=1, files=0, images=0)
    statuses = [
        runlib.for_dir(os.path.join(home40, "runs", rid)).status
        for rid in os.listdir(os.path.join(home40, "runs"))
    ]
    assert statuses.count("error") == 1 and statuses.count("completed") == 19

    files = set()
    for dirpath, _dirs, names in os.walk(run.dir):
        for name in names:
            files.add(os.path.relpath(os.path.join(dirpath, name), run.dir))
    assert {"guild.yml", "train.py", "images/sample-0.png", "images/sample-1.png",
            ".guild/opref", ".guild/output", ".guild/manifest"} <= files
    user_files = [
        f for f in files
        if not f.startswith(".guild/") and f not in ("guild.yml", "train.py")
        and not f.startswith("images/")
    ]
    assert len(user_files) == 9
    assert any(f.startswith("data/a/b/") for f in user_files)
    with open(run.guild_path("manifest")) as f:
        manifest = [line.split() for line in f]
    assert [(m[0], m[1]) for m in manifest] == [("s", "guild.yml"), ("s", "train.py")]


def test_event_files_read_by_us_and_tensorboard(tmp_path):
    home = _make(tmp_path, "home")
    run_dir = os.path.join(home, "runs", make_guild_home.run_id(3, 1))
    scalars = list(tfevent.ScalarReader(os.path.join(run_dir, ".guild")))
    assert [(tag, step) for tag, _val, step in scalars] == [
        (tag, step) for step in range(12) for tag in ("loss", "acc")
    ]
    assert all(isinstance(val, float) for _tag, val, _step in scalars)
    train = list(tfevent.ScalarReader(os.path.join(run_dir, "train")))
    assert [step for tag, _v, step in train if tag == "loss"] == [0, 10]
    for sub in (".guild", "train", "eval"):
        (path,) = tfevent.event_files(os.path.join(run_dir, sub))
        # The raw loader: EventFileLoader migrates simple values to tensors.
        events = [
            event_pb2.Event.FromString(data)
            for data in event_file_loader.RawEventFileLoader(path).Load()
        ]
        assert events[0].file_version == "brain.Event:2"
        assert not events[0].wall_time
        tb = [(v.tag, v.simple_value, e.step) for e in events[1:] for v in e.summary.value]
        ours = list(tfevent.ScalarReader(os.path.join(run_dir, sub)))
        assert tb == ours


def test_scalar_event_bytes_match_protobuf():
    for tag in ("loss", "acc", "t" * 300):
        for step in (0, 1, 127, 128, 2**40):
            event = event_pb2.Event(step=step)
            event.summary.value.add(tag=tag, simple_value=0.25)
            assert make_guild_home.scalar_event_bytes(tag, 0.25, step) == event.SerializeToString()


def test_deterministic(tmp_path):
    a = _snapshot(_make(tmp_path, "a"))
    b = _snapshot(_make(tmp_path, "b"))
    # The homes' paths differ, and the opref and env attrs name them.
    def normalize(snap):
        return {k: v for k, v in snap.items()
                if not k.endswith(("opref", "env", "bench-home.json")) and k != "."}
    assert normalize(a) == normalize(b)
    c = _snapshot(_make(tmp_path, "c", seed=4))
    assert normalize(a) != normalize(c)


def test_parallel_same_as_serial(tmp_path):
    serial = str(tmp_path / "h")
    make_guild_home.make_home(serial, runs=6, steps=3, files=3, images=1, jobs=1)
    serial_snap = _snapshot(serial)
    os.rename(serial, str(tmp_path / "serial"))
    make_guild_home.make_home(serial, runs=6, steps=3, files=3, images=1, jobs=2)
    assert _snapshot(serial) == serial_snap


def test_refuses_existing_dest(tmp_path):
    home = _make(tmp_path, "home")
    with pytest.raises(SystemExit):
        make_guild_home.make_home(home, runs=1)
    make_guild_home.make_home(home, runs=1, force=True, jobs=1)
    assert len(os.listdir(os.path.join(home, "runs"))) == 1
