"""Listing, selecting and filtering the runs of a Guild home."""

import os
import uuid

import pytest
import yaml

from guild_tensorboard.runs import run as runlib
from guild_tensorboard.runs import runs_dir as runs_dirlib
from guild_tensorboard.runs.runs_dir import RunFilter, RunsLister, RunsSource, SelectError, select_runs

T0 = 1_700_000_000_000_000  # microseconds since the epoch, as Guild writes `started`


def write_run(
    runs_dir,
    run_id=None,
    op="train",
    model="",
    started=None,
    exit_status=None,
    label=None,
    flags=None,
    lock_pid=None,
    batch=False,
    marker=None,
):
    """A run as Guild 0.9 writes it: `.guild/opref` (what ran),
    `.guild/attrs/*` (one YAML value each), `.guild/LOCK` (pid while
    running), `.guild/proto/` (batch runs), `PENDING`/`STAGED` markers."""
    run_id = run_id or uuid.uuid4().hex
    guild = os.path.join(runs_dir, run_id, ".guild")
    os.makedirs(os.path.join(guild, "attrs"))
    with open(os.path.join(guild, "opref"), "w") as f:
        f.write("guildfile:/project/guild.yml 0123abcd %s %s\n" % (model or "''", op))
    attrs = {"id": run_id, "flags": flags or {}}
    if started is not None:
        attrs["started"] = started
    if exit_status is not None:
        attrs["exit_status"] = exit_status
    if label is not None:
        attrs["label"] = label
    for name, val in attrs.items():
        write_attr(runs_dir, run_id, name, val)
    if lock_pid is not None:
        with open(os.path.join(guild, "LOCK"), "w") as f:
            f.write(str(lock_pid))
    if batch:
        os.makedirs(os.path.join(guild, "proto", ".guild"))
    if marker:
        open(os.path.join(guild, marker), "w").close()
    return run_id


def write_attr(runs_dir, run_id, name, val):
    path = os.path.join(runs_dir, run_id, ".guild", "attrs", name)
    with open(path, "w") as f:
        f.write(yaml.safe_dump(val))


def ids(runs):
    return [getattr(run, "run", run).id for run in runs]


@pytest.fixture
def runs_dir(tmp_path):
    path = tmp_path / "guild-home" / "runs"
    path.mkdir(parents=True)
    return str(path)


# Guild home or runs directory


def test_a_guild_home_means_its_runs_folder(runs_dir):
    home = os.path.dirname(runs_dir)
    assert runs_dirlib.runs_dir_for(home) == runs_dir
    assert runs_dirlib.runs_dir_for(runs_dir) == runs_dir


def test_default_guild_home_is_the_env_var_else_home_dot_guild(monkeypatch, tmp_path):
    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "gh"))
    assert runs_dirlib.default_guild_home() == str(tmp_path / "gh")
    monkeypatch.delenv("GUILD_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert runs_dirlib.default_guild_home() == str(tmp_path / ".guild")
    (tmp_path / ".guild" / "runs").mkdir(parents=True)
    assert runs_dirlib.runs_dir_for() == str(tmp_path / ".guild" / "runs")


def test_a_missing_or_non_folder_home_is_an_error(tmp_path):
    with pytest.raises(runs_dirlib.RunsDirError, match="does not exist"):
        runs_dirlib.runs_dir_for(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(runs_dirlib.RunsDirError, match="not a directory"):
        runs_dirlib.runs_dir_for(tmp_path / "file")


# Listing


def test_runs_are_listed_newest_first_and_other_entries_skipped(runs_dir):
    old = write_run(runs_dir, started=T0)
    new = write_run(runs_dir, started=T0 + 10)
    mid = write_run(runs_dir, started=T0 + 5)
    os.makedirs(os.path.join(runs_dir, "not-a-run"))
    open(os.path.join(runs_dir, "stray-file"), "w").close()
    os.makedirs(os.path.join(runs_dir, ".hidden", ".guild"))
    assert ids(RunsLister(runs_dir)()) == [new, mid, old]


def test_a_run_without_started_sorts_by_folder_mtime_until_it_starts(runs_dir):
    started = write_run(runs_dir, started=T0)
    pending = write_run(runs_dir, marker="PENDING")
    os.utime(os.path.join(runs_dir, pending), (T0 / 1e6 - 100, T0 / 1e6 - 100))
    lister = RunsLister(runs_dir)
    assert ids(lister()) == [started, pending]
    write_attr(runs_dir, pending, "started", T0 + 1)
    assert ids(lister()) == [pending, started]


def test_new_and_deleted_runs_show_on_the_next_call(runs_dir):
    import shutil

    a = write_run(runs_dir, started=T0)
    lister = RunsLister(runs_dir)
    assert ids(lister()) == [a]
    b = write_run(runs_dir, started=T0 + 1)
    assert ids(lister()) == [b, a]
    shutil.rmtree(os.path.join(runs_dir, a))
    assert ids(lister()) == [b]
    assert ids(RunsLister(os.path.join(runs_dir, "gone"))()) == []


def test_a_steady_pass_reads_no_attrs_and_keeps_its_run_objects(runs_dir, monkeypatch):
    for i in range(50):
        write_run(runs_dir, started=T0 + i, op="op%i" % (i % 3), label="l%i" % i, exit_status=i % 2)
    lister = RunsLister(runs_dir)
    first = lister()
    reads = []
    real_read_attr = runlib.read_attr
    monkeypatch.setattr(runlib, "read_attr", lambda *a, **kw: reads.append(a[1]) or real_read_attr(*a, **kw))
    second = lister()
    assert reads == []
    assert [id(run) for run in second] == [id(run) for run in first]
    # Filters read what can change only when it changed (a final status,
    # an unchanged label: not again).
    run_filter = RunFilter(operations=["op1"], labels=["l"], statuses=["completed", "error"])
    source = RunsSource(runs_dir, run_filter=run_filter)
    source()
    reads.clear()
    source()
    assert reads == []
    # Guild's other filters alike; a changed attr is read again.
    run_filter = RunFilter(tags=["t"], comments=["c"], marked=False, digest="ab")
    source = RunsSource(runs_dir, run_filter=run_filter)
    assert source() == []
    reads.clear()
    assert source() == []
    assert reads == []
    [run] = [run for run in first if run.get("label") == "l7"]
    reads.clear()
    for name, val in (("tags", ["t"]), ("comments", [{"body": "C"}]), ("sourcecode_digest", "abc")):
        write_attr(runs_dir, run.id, name, val)
    assert [r.id for r in source()] == [run.id]
    assert sorted(reads) == ["comments", "sourcecode_digest", "tags"]


# Filters


def test_filters_by_operation_label_and_status(runs_dir):
    me = os.getpid()
    train = write_run(runs_dir, op="train", model="mnist", started=T0 + 1, exit_status=0, label="lr=0.1 fast")
    evaluate = write_run(runs_dir, op="eval", started=T0 + 2, exit_status=1)
    running = write_run(runs_dir, op="train", started=T0 + 3, lock_pid=me, label="lr=0.2")
    killed = write_run(runs_dir, op="prepare", started=T0 + 4, exit_status=-15, label="")
    pending = write_run(runs_dir, op="train", marker="PENDING")
    os.utime(os.path.join(runs_dir, pending), (T0 / 1e6, T0 / 1e6))
    lister = RunsLister(runs_dir)

    def select(**kw):
        return ids(RunFilter(**kw)(lister.infos()))

    assert select() == [killed, running, evaluate, train, pending]
    # Operation specs as Guild matches them: each part given is equal
    assert select(operations=["train"]) == [running, train, pending]
    assert select(operations=["mnist:train"]) == [train]
    assert select(operations=["eval", "prepare"]) == [killed, evaluate]
    assert select(operations=["prep"]) == []  # not a substring match
    assert select(operations=["prep*"]) == [killed]  # a glob
    assert select(operations=["^mnist"]) == [train]  # a regular expression
    assert select(labels=["lr="]) == [running, train]
    assert select(labels=["fast", "0.2"]) == [running, train]
    assert select(unlabeled=True) == [killed, evaluate, pending]
    assert select(labels=["fast"], unlabeled=True) == [killed, evaluate, train, pending]
    assert select(statuses=["running"]) == [running]
    assert select(statuses=["completed"]) == [train]
    assert select(statuses=["error"]) == [evaluate]
    assert select(statuses=["terminated"]) == [killed]
    assert select(statuses=["pending"]) == [pending]
    assert select(statuses=["completed", "error"]) == [evaluate, train]
    assert select(operations=["train"], statuses=["running"]) == [running]
    with pytest.raises(ValueError, match="unknown run status"):
        RunFilter(statuses=["finished"])


def test_batch_runs_are_hidden_unless_included(runs_dir):
    trial = write_run(runs_dir, started=T0 + 1, exit_status=0)
    batch = write_run(runs_dir, op="+", started=T0, exit_status=0, batch=True)
    lister = RunsLister(runs_dir)
    assert ids(RunFilter()(lister.infos())) == [trial]
    assert ids(RunFilter(include_batch=True)(lister.infos())) == [trial, batch]


def test_a_status_is_read_again_until_it_is_final(runs_dir):
    run_id = write_run(runs_dir, started=T0, lock_pid=os.getpid())
    source = RunsSource(runs_dir, run_filter=RunFilter(statuses=["running"]))
    assert ids(source()) == [run_id]
    os.remove(os.path.join(runs_dir, run_id, ".guild", "LOCK"))
    write_attr(runs_dir, run_id, "exit_status", 0)
    assert ids(source()) == []
    [info] = source.lister.infos()
    assert info.final_status == "completed"


def test_a_changed_label_is_read_again(runs_dir):
    run_id = write_run(runs_dir, started=T0, label="before")
    source = RunsSource(runs_dir, run_filter=RunFilter(labels=["after"]))
    assert ids(source()) == []
    write_attr(runs_dir, run_id, "label", "after the fix")
    assert ids(source()) == [run_id]


# Selectors


@pytest.fixture
def five_runs(runs_dir):
    run_ids = [
        write_run(runs_dir, run_id=prefix + uuid.uuid4().hex[len(prefix):], started=T0 + i)
        for i, prefix in enumerate(["aaaa1", "aaaa2", "bbbb", "12345678", "cccc"])
    ]
    return RunsLister(runs_dir).infos(), list(reversed(run_ids))  # newest first


def test_selectors_by_index_range_id_and_prefix(five_runs):
    infos, newest_first = five_runs
    assert ids(select_runs(infos, ["1"])) == newest_first[:1]
    assert ids(select_runs(infos, ["2", "4"])) == [newest_first[1], newest_first[3]]
    assert ids(select_runs(infos, ["2:3"])) == newest_first[1:3]
    assert ids(select_runs(infos, [":2"])) == newest_first[:2]
    assert ids(select_runs(infos, ["4:"])) == newest_first[3:]
    assert ids(select_runs(infos, ["bbbb"])) == [newest_first[2]]
    assert ids(select_runs(infos, [newest_first[0]])) == [newest_first[0]]
    # Eight digits or more: the start of a run id, not an index.
    assert ids(select_runs(infos, ["12345678"])) == [newest_first[1]]
    # Selected runs keep the newest-first order, once each.
    assert ids(select_runs(infos, ["aaaa1", "1", "cccc"])) == [newest_first[0], newest_first[4]]


@pytest.mark.parametrize(
    "selector, message",
    [
        ("aaaa", "'aaaa' matches 2 runs"),
        ("ffff", "no run matches 'ffff'"),
        ("6", "no run at index 6 \\(there are 5 runs\\)"),
        ("0", "no run at index 0"),
        ("3:2", "no run at index 3:2"),
        ("", "empty run selector"),
    ],
)
def test_bad_selectors_say_what_is_wrong(five_runs, selector, message):
    infos, _ = five_runs
    with pytest.raises(SelectError, match=message):
        select_runs(infos, [selector])


def test_selectors_are_resolved_once_and_filters_apply_to_every_call(runs_dir):
    first = write_run(runs_dir, started=T0, op="train", lock_pid=os.getpid())
    second = write_run(runs_dir, started=T0 + 1, op="eval", exit_status=0)
    source = RunsSource(runs_dir, ["1"], RunFilter(operations=["train"]))
    assert ids(source()) == [first]
    write_run(runs_dir, started=T0 + 2, op="train", exit_status=0)  # now newest
    assert ids(source()) == [first]
    source = RunsSource(runs_dir, ["1:"], RunFilter(statuses=["running"]))
    assert ids(source()) == [first]
    os.remove(os.path.join(runs_dir, first, ".guild", "LOCK"))
    write_attr(runs_dir, first, "exit_status", 0)
    assert ids(source()) == []
    assert second


def test_lister_sees_a_run_whose_guild_folder_comes_later(tmp_path):
    from guild_tensorboard.runs.runs_dir import RunsLister

    from guild_runs import make_run

    runs_dir = tmp_path / "runs"
    first = make_run(str(runs_dir))
    lister = RunsLister(str(runs_dir))
    assert [r.id for r in lister()] == [first.id]
    assert lister() is not None and [r.id for r in lister()] == [first.id]  # cached
    pending = runs_dir / ("b" * 32)
    pending.mkdir()
    assert [r.id for r in lister()] == [first.id]
    (pending / ".guild").mkdir()  # inside the run: the runs folder's mtime stays
    assert sorted(r.id for r in lister()) == sorted([first.id, "b" * 32])


def test_most_runs_is_an_upper_bound_read_without_the_runs(runs_dir, five_runs, monkeypatch):
    with open(os.path.join(runs_dir, "stray-file"), "w") as f:
        f.write("x")
    read = []
    monkeypatch.setattr(runs_dirlib, "read_started", lambda run, name="started": read.append(run) or None)
    source = RunsSource(runs_dir)
    assert source.most_runs() == 6  # five runs and a stray entry
    assert read == []
    assert len(source()) == 5
    assert RunsSource(runs_dir, ["1:2"]).most_runs() == 2
