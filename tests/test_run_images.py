import logging
import os

from PIL import Image

from guild_tensorboard.runner import harness as _test
from guild_tensorboard.monitor import run_images
from guild_tensorboard.monitor.runs_monitor import RunsMonitor
from guild_tensorboard.events.tfevent import EventReader

from guild_runs import make_run

import faults


def _png(path, size=(4, 3), color=(255, 0, 0)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", size, color).save(path)


def _image_tags(logdir):
    [run_folder] = faults.run_folders(logdir)
    images_dir = os.path.join(logdir, run_folder, ".images")
    return [v.tag for e in EventReader(images_dir) for v in e.summary.value]


def _monitor(tmp_path, runs):
    logdir = str(tmp_path / "logdir")
    return logdir, RunsMonitor(logdir, lambda: runs, log_hparams=False)


def test_at_most_100_images_a_run(tmp_path, caplog):
    run = make_run(str(tmp_path / "home" / "runs"))
    for i in range(120):
        _png(os.path.join(run.dir, "img", "%03d.png" % i))
    logdir, monitor = _monitor(tmp_path, [run])
    with caplog.at_level(logging.WARNING, "guild"):
        monitor.run_once()
        monitor.run_once()
    tags = _image_tags(logdir)
    assert tags == ["img/%03d.png" % i for i in range(100)]
    assert caplog.text.count("showing the first 100") == 1


def test_a_bad_image_is_logged_and_skipped(tmp_path, caplog):
    run = make_run(str(tmp_path / "home" / "runs"), files={"bad.png": b"not a png"})
    _png(os.path.join(run.dir, "good.png"))
    logdir, monitor = _monitor(tmp_path, [run])
    with caplog.at_level(logging.ERROR, "guild"):
        monitor.run_once()
        monitor.run_once()
    assert _image_tags(logdir) == ["good.png"]
    [record] = caplog.records
    assert "image skipped" in record.getMessage() and "bad.png" in record.getMessage()
    # Fixed: summarized on the next pass.
    _png(os.path.join(run.dir, "bad.png"))
    os.utime(os.path.join(run.dir, "bad.png"), ns=(1, 2 * 10**18))
    monitor.run_once()
    assert _image_tags(logdir) == ["good.png", "bad.png"]


def test_linked_and_source_images_are_not_summarized(tmp_path):
    elsewhere = str(tmp_path / "input.png")
    _png(elsewhere)
    run = make_run(str(tmp_path / "home" / "runs"), sources=["logo.png"])
    _png(os.path.join(run.dir, "logo.png"))
    _png(os.path.join(run.dir, "out.png"))
    os.symlink(elsewhere, os.path.join(run.dir, "input.png"))
    logdir, monitor = _monitor(tmp_path, [run])
    monitor.run_once()
    assert _image_tags(logdir) == ["out.png"]


def test_a_restarted_monitor_does_not_repeat_summaries(tmp_path):
    run = make_run(str(tmp_path / "home" / "runs"))
    _png(os.path.join(run.dir, "a.png"))
    logdir, monitor = _monitor(tmp_path, [run])
    monitor.run_once()
    monitor.stop()
    RunsMonitor(logdir, lambda: [run], log_hparams=False).run_once()
    assert _image_tags(logdir) == ["a.png"]
    _test.touch(os.path.join(run.dir, "a.png"))
    os.utime(os.path.join(run.dir, "a.png"), ns=(1, 2 * 10**18))
    RunsMonitor(logdir, lambda: [run], log_hparams=False).run_once()
    assert _image_tags(logdir) == ["a.png", "a.png"]
    [run_folder] = faults.run_folders(logdir)
    names = sorted(os.listdir(os.path.join(logdir, run_folder, ".images")))
    digest = run_images.image_path_digest("a.png")
    assert names == [run_images.image_summary_name(i, digest) for i in (0, 1)]


def test_with_an_image_store_summaries_are_on_disk_and_linked(tmp_path):
    """The command's temporary log directory in memory keeps its image
    summaries in a store on disk: `.images/` links to them, TensorBoard
    reads through the links, and removal takes both."""
    from guild_tensorboard.monitor.runs_monitor import RunsMonitor

    from tensorboard_client import InProcessTensorBoard

    run = make_run(str(tmp_path / "home" / "runs"))
    faults.good_png(os.path.join(run.dir, "a.png"))
    faults.good_png(os.path.join(run.dir, "b.png"))
    store = str(tmp_path / "store")
    logdir = str(tmp_path / "logdir")
    size = len(open(os.path.join(run.dir, "a.png"), "rb").read())
    monitor = RunsMonitor(logdir, lambda: [run], image_store=(store, size))  # room for one
    monitor.run_once()
    [folder] = faults.run_folders(logdir)
    images = os.path.join(logdir, folder, ".images")
    [kept, linked] = sorted(os.listdir(images), key=lambda n: os.path.islink(os.path.join(images, n)))
    assert not os.path.islink(os.path.join(images, kept))  # within the memory budget
    target = os.readlink(os.path.join(images, linked))  # past it: on disk
    assert target.startswith(store + os.sep) and target.endswith(linked)
    assert os.stat(target).st_mtime_ns == os.stat(os.path.join(run.dir, "b.png")).st_mtime_ns
    monitor.run_once()  # nothing new: no more summaries
    assert len(os.listdir(images)) == 2
    tags = InProcessTensorBoard(logdir).image_tags()
    assert tags == {folder + "/.images": ["a.png", "b.png"]}
    monitor.stop()
    assert monitor.remove_logdir() == []
    assert not os.path.exists(logdir) and not os.path.exists(store)
