"""A log directory the monitor can show it made: the journal, and the
refusals."""

import os
import shutil

import pytest

from guild_tensorboard.monitor import logdir_claim
from guild_tensorboard.monitor.logdir_claim import LogdirClaim, LogdirError, check_apart_from_home, check_apart_from_runs


def _open(path):
    claim = LogdirClaim(str(path))
    claim.check()
    claim.open(logdir_claim.make_logdir(str(path)))
    return claim


def test_a_new_or_empty_folder_is_taken(tmp_path):
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "new", tmp_path / "empty", tmp_path / "a" / "b"):
        claim = _open(path)
        assert claim.token and claim.folders == {}
        assert claim.made_root == (path.name != "empty")


def test_a_folder_of_the_users_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(LogdirError, match="is not empty and is not a log directory this command made"):
        LogdirClaim(str(tmp_path / "mine")).check()
    with pytest.raises(LogdirError, match="is a file, not a folder"):
        LogdirClaim(str(tmp_path / "file.txt")).check()
    with pytest.raises(LogdirError):  # open() checks again, whatever check() said before
        LogdirClaim(str(tmp_path / "mine")).open(False)
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]


def test_the_journal_shows_what_was_made_to_a_later_monitor(tmp_path):
    claim = _open(tmp_path / "logdir")
    claim.make_run_folder("run a", "/runs/a")
    claim.make_run_folder("run b", "/runs/b")
    claim.forget_run_folder("run b")
    later = _open(tmp_path / "logdir")  # the folder is not empty now: it is ours
    assert later.token == claim.token
    assert set(later.folders) == {"run a"}
    assert later.run_dir_of("run a") == "/runs/a"
    assert later.folder_state("run a") == "ours"
    assert later.folder_state("run b") == "foreign"  # still there, but not ours any more
    os.rmdir(tmp_path / "logdir" / "run b")
    assert later.folder_state("run b") == "free"
    os.rmdir(tmp_path / "logdir" / "run a")
    os.symlink(tmp_path, tmp_path / "logdir" / "run a")  # the name, not the folder
    assert later.folder_state("run a") == "foreign"


def test_any_name_fits_the_journal(tmp_path):
    claim = _open(tmp_path / "logdir")
    names = ["sp ace", "per%cent", "new\nline", os.fsdecode(b"h\xf6st"), "\u6f22\u5b57 \U0001f600"]
    for name in names:
        claim.make_run_folder(name, "/runs/" + name)
    later = _open(tmp_path / "logdir")
    assert {name: later.run_dir_of(name) for name in names} == {name: "/runs/" + name for name in names}


def test_a_folder_made_again_at_the_same_path_is_not_the_journals(tmp_path):
    claim = _open(tmp_path / "logdir")
    claim.make_run_folder("run", "/runs/a")
    shutil.rmtree(tmp_path / "logdir")
    (tmp_path / "logdir").mkdir()  # often with the same inode number
    (tmp_path / "logdir" / "run").mkdir()  # the user's now
    with pytest.raises(LogdirError, match="not a log directory this command made"):
        LogdirClaim(str(tmp_path / "logdir")).check()


def test_a_journal_cut_short_by_a_kill_still_reads(tmp_path):
    claim = _open(tmp_path / "logdir")
    claim.make_run_folder("a", "/runs/a")
    claim.make_run_folder("b", "/runs/b")
    with open(claim.journal, "rb+") as f:
        data = f.read()
        f.truncate(len(data) - 5)
    later = _open(tmp_path / "logdir")
    assert "a" in later.folders


def test_journals_of_log_directories_that_are_gone_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv(logdir_claim.STATE_ENV, str(tmp_path / "state"))
    monkeypatch.setattr(logdir_claim, "_pruned", [])
    gone = _open(tmp_path / "gone")
    shutil.rmtree(tmp_path / "gone")
    monkeypatch.setattr(logdir_claim, "_pruned", [])
    kept = _open(tmp_path / "kept")
    assert os.path.exists(kept.journal)
    assert not os.path.exists(gone.journal)


@pytest.mark.parametrize(
    "logdir, relation",
    [
        ("home", "is the Guild home"),
        ("home/runs", "is the runs directory"),
        ("home/runs/new", "lies inside the runs directory"),
        ("home/cache/tb", "lies inside the Guild home"),
        ("home/runs/RUN", "is the run directory"),
        ("home/runs/RUN/tb", "lies inside the run directory"),
        (".", "holds the Guild home"),
    ],
)
def test_log_directories_among_the_runs_are_refused(tmp_path, logdir, relation):
    run_dir = tmp_path / "home" / "runs" / "RUN"
    run_dir.mkdir(parents=True)
    real = os.path.realpath(tmp_path / logdir)
    with pytest.raises(LogdirError, match=relation):
        check_apart_from_runs(real, [str(run_dir)])
    if "run directory" not in relation:
        with pytest.raises(LogdirError, match=relation):
            check_apart_from_home(real, str(tmp_path / "home" / "runs"))


def test_a_runs_directory_of_another_name_has_no_home(tmp_path):
    run_dir = tmp_path / "results" / "RUN"
    run_dir.mkdir(parents=True)
    check_apart_from_runs(os.path.realpath(tmp_path / "tb"), [str(run_dir)])  # beside: fine
    with pytest.raises(LogdirError, match="holds the runs directory"):
        check_apart_from_runs(os.path.realpath(tmp_path / "results" / ".."), [str(run_dir)])


def test_links_are_seen_through(tmp_path):
    run_dir = tmp_path / "home" / "runs" / "RUN"
    run_dir.mkdir(parents=True)
    os.symlink(tmp_path / "home", tmp_path / "alias")
    with pytest.raises(LogdirError, match="lies inside the run directory"):
        check_apart_from_runs(os.path.realpath(tmp_path / "alias" / "runs" / "RUN" / "tb"), [str(run_dir)])


def test_the_monitor_checks_a_runs_directory_by_its_entries_before_reading_a_run(tmp_path, monkeypatch):
    from guild_tensorboard.monitor.runs_monitor import RunsMonitor
    from guild_tensorboard.runs import runs_dir as runs_dirlib

    from test_runs_dir import write_run

    runs_dir = str(tmp_path / "home" / "runs")
    write_run(runs_dir)
    elsewhere = tmp_path / "elsewhere" / "linked-run"
    write_run(str(elsewhere.parent), run_id=elsewhere.name)
    os.symlink(elsewhere, os.path.join(runs_dir, "linked-run"))  # a run kept on another disk
    read = []
    monkeypatch.setattr(runs_dirlib, "read_started", lambda run, name="started": read.append(run))
    logdir = elsewhere / "tb"
    monitor = RunsMonitor(str(logdir), runs_dirlib.RunsSource(runs_dir))
    with pytest.raises(LogdirError, match="lies inside the run directory"):
        monitor.take_logdir()
    assert read == [] and not logdir.exists()
    beside = RunsMonitor(str(tmp_path / "tb"), runs_dirlib.RunsSource(runs_dir))
    beside.take_logdir()
    assert read == [] and (tmp_path / "tb").is_dir()
    beside.stop()
