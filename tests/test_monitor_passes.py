"""What a pass picks up, now that it keeps state between passes and checks
stopped runs cheaply: new files, modified images, status changes, new and
vanished runs by the next pass; deeper changes of stopped runs within
`DEEP_CHECK_PASSES` passes (their files show at once through the links)."""

import os
import shutil

from guild_tensorboard.runner import harness as _test
from guild_tensorboard.monitor import base as run_util
from guild_tensorboard.monitor import runs_monitor
from guild_tensorboard.monitor.runs_monitor import RunsMonitor
from guild_tensorboard.events.tfevent import read_events

import faults
from guild_runs import finish_run, make_run, write_attr, write_file


import pytest  # noqa: E402


@pytest.fixture
def no_deep_checks(monkeypatch):
    """Only what a pass checks for every run: what it picks up then is
    picked up by the next pass, whatever the turn of deep checks."""
    monkeypatch.setattr(runs_monitor, "DEEP_CHECK_SECONDS", 0)


def _monitor(tmp_path, runs_dir):
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: _test.list_runs(runs_dir))
    monitor.run_once()
    monitor.run_once()
    return logdir, monitor


def _image_summaries(logdir, run):
    images = os.path.join(faults.run_folder(logdir, run), ".images")
    return sorted(os.listdir(images)) if os.path.isdir(images) else []


def test_new_files_show_by_the_next_pass(tmp_path, no_deep_checks):
    runs_dir = str(tmp_path / "home" / "runs")
    run = make_run(runs_dir, files={"out/a.txt": b"a"}, sources=["src/train.py"])
    logdir, monitor = _monitor(tmp_path, runs_dir)
    folder = faults.run_folder(logdir, run)
    # In a subfolder linked whole: at once.
    write_file(run.dir, "out/b.txt", b"b")
    assert os.path.exists(os.path.join(folder, "out", "b.txt"))
    # At the top, and in a mirrored subfolder (it holds source code).
    write_file(run.dir, "top.txt", b"t")
    write_file(run.dir, "src/notes.txt", b"n")
    monitor.run_once()
    assert os.path.islink(os.path.join(folder, "top.txt"))
    assert os.path.islink(os.path.join(folder, "src", "notes.txt"))
    assert not os.path.exists(os.path.join(folder, "src", "train.py"))


def test_a_modified_image_is_summarized_by_the_next_pass(tmp_path, no_deep_checks):
    runs_dir = str(tmp_path / "home" / "runs")
    run = make_run(runs_dir)
    faults.good_png(os.path.join(run.dir, "plot.png"))
    logdir, monitor = _monitor(tmp_path, runs_dir)
    assert len(_image_summaries(logdir, run)) == 1
    os.utime(os.path.join(run.dir, "plot.png"), ns=(1, 2 * 10**18))
    monitor.run_once()
    assert len(_image_summaries(logdir, run)) == 2


def test_status_changes_show_by_the_next_pass(tmp_path, no_deep_checks):
    runs_dir = str(tmp_path / "home" / "runs")
    run = make_run(runs_dir, lock_pid=os.getpid())
    logdir, monitor = _monitor(tmp_path, runs_dir)
    folder = faults.run_folder(logdir, run)
    assert not os.path.exists(os.path.join(folder, "events.out.tfevents.9999999998.hparams.end"))
    finish_run(run)
    monitor.run_once()
    end = os.path.join(folder, "events.out.tfevents.9999999998.hparams.end")
    assert [v.tag for e in read_events(end) for v in e.summary.value] == [
        "_hparams_/session_end_info", "time",
    ]


def test_new_and_vanished_runs_by_the_next_pass(tmp_path, no_deep_checks):
    runs_dir = str(tmp_path / "home" / "runs")
    first = make_run(runs_dir)
    logdir, monitor = _monitor(tmp_path, runs_dir)
    second = make_run(runs_dir)
    monitor.run_once()
    assert sorted(n.split()[0] for n in faults.run_folders(logdir)) == sorted([first.short_id, second.short_id])
    import shutil

    shutil.rmtree(first.dir)
    monitor.run_once()
    assert [n.split()[0] for n in faults.run_folders(logdir)] == [second.short_id]


def test_deeper_changes_of_stopped_runs_within_a_turn_of_deep_checks(tmp_path):
    runs_dir = str(tmp_path / "home" / "runs")
    runs = [make_run(runs_dir, files={"out/a.txt": b"a"}) for _ in range(25)]
    logdir, monitor = _monitor(tmp_path, runs_dir)
    run = runs[7]
    faults.good_png(os.path.join(run.dir, "out", "new.png"))  # in a subfolder linked whole
    write_attr(run.dir, "label", "relabeled")
    for _ in range(runs_monitor.DEEP_CHECK_PASSES):
        monitor.run_once()
    assert len(_image_summaries(logdir, run)) == 1
    assert faults.run_folder(logdir, run).endswith(" relabeled")


def test_a_run_folder_removed_by_hand_is_rebuilt(tmp_path):
    runs_dir = str(tmp_path / "home" / "runs")
    run = make_run(runs_dir, files={"a.txt": b"a"})
    logdir, monitor = _monitor(tmp_path, runs_dir)
    folder = faults.run_folder(logdir, run)
    shutil.rmtree(folder)
    for _ in range(run_util.RESCAN_PASSES + 1):
        monitor.run_once()
    assert os.path.islink(os.path.join(faults.run_folder(logdir, run), "a.txt"))


def test_a_new_image_beside_others_is_summarized_by_the_next_pass(tmp_path, no_deep_checks):
    runs_dir = str(tmp_path / "home" / "runs")
    run = make_run(runs_dir)
    os.makedirs(os.path.join(run.dir, "images"))
    faults.good_png(os.path.join(run.dir, "images", "a.png"))
    logdir, monitor = _monitor(tmp_path, runs_dir)
    assert len(_image_summaries(logdir, run)) == 1
    faults.good_png(os.path.join(run.dir, "images", "b.png"))
    monitor.run_once()
    assert len(_image_summaries(logdir, run)) == 2
