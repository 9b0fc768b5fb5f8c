"""Faults and hostile input: the monitor never dies, never writes outside
its log directory, and good runs listed beside bad ones stay complete.

Every case checks the invariants in `faults.World.check`.
"""

import logging
import os
import shutil

import pytest
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2

from guild_tensorboard.monitor import run_links
from guild_tensorboard.runs.run import Run
from guild_tensorboard.monitor.runs_monitor import RunsMonitor
from guild_tensorboard.events.tfevent import ScalarReader

import faults
from faults import World, exercise, good_png, monitor_for, run_folder
from guild_runs import make_run, write_attr, write_file
from tensorboard_client import InProcessTensorBoard, TensorBoardProcess, hparam_values, wait_for


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def _good_run(world, **kw):
    run = make_run(world.runs_dir, flags={"lr": 0.1}, scalars={".guild": {"loss": [(1, 0.5)]}}, **kw)
    good_png(os.path.join(run.dir, "plot.png"))
    return run


def _event(step, tag="loss", val=1.0):
    value = summary_pb2.Summary.Value(tag=tag, simple_value=val)
    return event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value])).SerializeToString()


def _version_event():
    return event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()


def _warnings_by_file(caplog, names):
    counts = dict.fromkeys(names, 0)
    for record in caplog.records:
        if record.levelno >= logging.WARNING:
            for name in names:
                if name in record.getMessage():
                    counts[name] += 1
    return counts


def test_bad_event_files(world, caplog):
    good = _good_run(world)
    head = [_version_event(), _event(1, val=0.9)]
    tail = [_event(3, val=0.7), _event(4, val=0.6)]
    bad_files = {
        "random/events.out.tfevents.1.random": faults.random_bytes_events(),
        "truncated/events.out.tfevents.2.truncated": faults.truncated_events(head + tail),
        "empty/events.out.tfevents.3.empty": b"",
        "huge/events.out.tfevents.4.huge": faults.huge_length_events(head, tail),
        "badcrc/events.out.tfevents.5.badcrc": faults.bad_crc_events(head, _event(2), tail),
    }
    bad = make_run(world.runs_dir, files=bad_files, scalars={".guild": {"loss": [(1, 0.5)]}})
    world.freeze()
    with caplog.at_level(logging.WARNING, "guild"):
        monitor = monitor_for(world, [good, bad], logspec=["hparams", "images", "time"])
        exercise(monitor)
    world.check(monitor, [good])
    counts = _warnings_by_file(caplog, [os.path.basename(p) for p in bad_files])
    caplog.clear()
    assert counts == {
        "events.out.tfevents.1.random": 1,
        "events.out.tfevents.2.truncated": 0,  # a file still being written
        "events.out.tfevents.3.empty": 0,
        "events.out.tfevents.4.huge": 1,
        "events.out.tfevents.5.badcrc": 1,
    }
    # The rest of each file still reads.
    for folder, steps in (("huge", [1, 3, 4]), ("badcrc", [1, 3, 4]), ("truncated", [1, 3])):
        assert [s for _t, _v, s in ScalarReader(os.path.join(bad.dir, folder))] == steps
    # And TensorBoard shows both runs, with the scalars of the good files.
    # (The Rust data server, the command's loader: TensorBoard's Python
    # loader runs out of memory on a length field of 2**62 with a valid CRC.)
    tb = TensorBoardProcess(world.logdir, "--load_fast=true")
    try:
        groups = wait_for(lambda: _sessions(tb, 2))
        assert sorted(g.name.split()[0] for g in groups) == sorted([good.short_id, bad.short_id])
        bad_folder = os.path.basename(run_folder(world.logdir, bad))
        points = wait_for(lambda: tb.scalars(bad_folder + "/badcrc", "loss"))
        assert [p[1] for p in points] == [1, 3, 4]
    finally:
        tb.close()


def _sessions(tb, count):
    groups = tb.session_groups().session_groups
    return groups if len(groups) == count else None


def test_bad_images(world, caplog):
    good = _good_run(world)
    run = make_run(world.runs_dir)
    bad_images = {
        "random.png": faults.random_bytes_events(size=2000),
        "empty.jpg": b"",
        "bomb.png": faults.png_header_only(50000, 50000),
    }
    for name, data in bad_images.items():
        write_file(run.dir, name, data)
    good_png(os.path.join(run.dir, "ok.png"))
    noisy = Image.frombytes("RGB", (64, 64), faults.random_bytes_events(size=64 * 64 * 3))
    noisy.save(os.path.join(world.root, "noisy.png"))
    with open(os.path.join(world.root, "noisy.png"), "rb") as f:
        data = f.read()
    write_file(run.dir, "truncated.png", data[: len(data) // 2])
    modes = {"palette.png": ("P", 3), "gray16.png": ("I;16", 1), "cmyk.jpg": ("CMYK", 3), "alpha.png": ("RGBA", 4)}
    for name, (mode, _bands) in modes.items():
        good_png(os.path.join(run.dir, name), mode)
    world.freeze()
    with caplog.at_level(logging.ERROR, "guild"):
        monitor = monitor_for(world, [good, run], log_hparams=False)
        exercise(monitor)
    world.check(None, [])
    errors = _warnings_by_file(caplog, list(bad_images) + ["truncated.png"])
    assert errors == dict.fromkeys(errors, 1)
    tb = InProcessTensorBoard(world.logdir)
    tags = tb.image_tags()
    [images_run] = [r for r in tags if r.startswith(run.short_id)]
    assert tags[images_run] == sorted(list(modes) + ["ok.png"])
    for name, (_mode, bands) in modes.items():
        [entry] = tb.images(images_run, name)
        png = tb.image_bytes(entry["query"])
        import io

        assert len(Image.open(io.BytesIO(png)).getbands()) == bands, name


def test_bad_run_metadata(world, caplog):
    good = _good_run(world)
    bad_yaml = make_run(world.runs_dir)
    with open(os.path.join(bad_yaml.dir, ".guild", "attrs", "flags"), "w") as f:
        f.write("lr: [0.1\n  : :")
    list_flags = make_run(world.runs_dir, flags=[1, 2, 3])
    non_finite = make_run(world.runs_dir, flags={"a": float("nan"), "b": float("inf"), "c": float("-inf"), "d": 1.0})
    long_value = make_run(world.runs_dir, flags={"text": "x" * 5000}, label="y" * 5000)
    no_opref = make_run(world.runs_dir)
    os.unlink(os.path.join(no_opref.dir, ".guild", "opref"))
    garbled = make_run(world.runs_dir)
    write_file(garbled.dir, ".guild/opref", b"\xff\xfe not 'an opref")
    bad_started = make_run(world.runs_dir)
    write_attr(bad_started.dir, "started", "yesterday")
    write_file(world.runs_dir, "stray-file.txt", b"not a run")
    runs = [good, bad_yaml, list_flags, non_finite, long_value, no_opref, garbled, bad_started]
    world.freeze()
    with caplog.at_level(logging.WARNING, "guild"):
        monitor = monitor_for(world, runs)
        exercise(monitor)
    world.check(monitor, [good])
    assert len(faults.run_folders(world.logdir)) == len(runs)
    groups = {g.name.split()[0]: g for g in InProcessTensorBoard(world.logdir).session_groups().session_groups}
    assert set(groups) == {run.short_id for run in runs}
    assert hparam_values(groups[non_finite.short_id])["d"] == 1.0
    assert hparam_values(groups[long_value.short_id])["text"] == "x" * 5000
    assert all(g.sessions[0].status == api_pb2.STATUS_SUCCESS for g in groups.values())


LABELS = [
    "../../escape",
    "/etc/passwd",
    "a\\b\\c",
    "line\nbreak\r\n",
    "z" * 10000,
    "wait\u2026",
    "caf\u00e9 \u6f22\u5b57 \U0001f600",
    "..",
]


def test_hostile_labels_and_names(world):
    good = _good_run(world)
    runs = [good] + [make_run(world.runs_dir, label=label) for label in LABELS]
    world.freeze()
    monitor = monitor_for(world, runs)
    exercise(monitor)
    world.check(monitor, [good])
    assert len(faults.run_folders(world.logdir)) == len(runs)

    names = iter(LABELS + ["", ".", "/", "same", "same"])
    world2 = World(os.path.join(world.root, "second"))
    world2.freeze()
    runs2 = [make_run(world.runs_dir) for _ in range(len(LABELS) + 5)]
    world.freeze()
    world2.freeze()
    monitor = RunsMonitor(world2.logdir, lambda: runs2, run_name_cb=lambda run: next(names))
    monitor.run_once()
    world2.check(monitor)
    assert len(faults.run_folders(world2.logdir)) == len(runs2)


def test_links_in_run_directories(world):
    good = _good_run(world)
    outside = os.path.join(world.root, "outside")
    os.makedirs(outside)
    write_file(outside, "data.csv", b"1,2")
    run = make_run(world.runs_dir, files={"sub/file.txt": b"x"})
    os.symlink(".", os.path.join(run.dir, "loop"))
    os.symlink("..", os.path.join(run.dir, "sub", "up"))
    os.symlink(run.dir, os.path.join(run.dir, "sub", "root"))
    os.symlink(outside, os.path.join(run.dir, "outside"))
    os.symlink(os.path.join(world.root, "nowhere"), os.path.join(run.dir, "dangling"))
    world.freeze()
    monitor = monitor_for(world, [good, run])
    exercise(monitor)
    world.check(monitor, [good])
    folder = run_folder(world.logdir, run)
    assert sorted(os.listdir(folder)) == sorted(
        [".guild", "events.out.tfevents.9999999998.hparams", "outside", "sub"]
    )
    assert os.listdir(os.path.join(folder, "sub")) == ["file.txt"]
    assert os.path.exists(os.path.join(folder, "outside", "data.csv"))
    InProcessTensorBoard(world.logdir).session_groups()  # loads without walking a loop


def test_run_vanishes_between_listing_and_refresh(world):
    good = _good_run(world)
    gone = make_run(world.runs_dir)
    shutil.rmtree(gone.dir)
    world.freeze()
    monitor = monitor_for(world, [good, gone, Run("f" * 32, os.path.join(world.runs_dir, "f" * 32))])
    exercise(monitor)
    world.check(monitor, [good])
    assert faults.run_folders(world.logdir) == [os.path.basename(run_folder(world.logdir, good))]


def test_file_deleted_between_walk_and_link(world):
    run = make_run(world.runs_dir, files={"a.txt": b"a", "b.txt": b"b"})
    run_logdir = os.path.join(world.logdir, "run")
    os.makedirs(run_logdir)
    files = faults.own_files(world.logdir)
    links = run_links.RunTree(run.dir).links()
    os.unlink(os.path.join(run.dir, "a.txt"))
    run_links.ensure_links(run_logdir, links, (), run.dir, files)  # links a.txt, now dangling
    run_links.RunLinks(run.dir, run_logdir, files).refresh()
    assert sorted(os.listdir(run_logdir)) == ["b.txt"]


def test_a_monitor_killed_mid_write_is_repaired(world):
    good = _good_run(world)
    monitor = monitor_for(world, [good])
    monitor.run_once()
    monitor.stop()
    folder = run_folder(world.logdir, good)
    # What a kill leaves: temporary files, a session without its marker,
    # and a session file cut short by an older writer. A temporary-looking
    # file without the log directory's token is not the monitor's: it stays.
    for sub in ("", ".guild", ".images"):
        write_file(folder, os.path.join(sub, monitor.files.temp_prefix + "999-0"), b"half")
    write_file(folder, ".guild-tmp-999-0", b"not ours")
    os.unlink(os.path.join(folder, ".guild", "hparams"))
    session = os.path.join(folder, "events.out.tfevents.9999999998.hparams")
    with open(session, "rb") as f:
        data = f.read()
    with open(session, "wb") as f:
        f.write(data[: len(data) // 2])
    world.freeze()
    monitor = monitor_for(world, [good])
    exercise(monitor)
    world.check(monitor, [good])
    leftovers = [
        os.path.relpath(os.path.join(d, n), folder)
        for d, _, ns in os.walk(folder) for n in ns if n.startswith(".guild-tmp")
    ]
    assert leftovers == [".guild-tmp-999-0"]
    [group] = InProcessTensorBoard(world.logdir).session_groups().session_groups
    assert hparam_values(group)["lr"] == 0.1
