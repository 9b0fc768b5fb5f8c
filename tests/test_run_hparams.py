import os

from tensorboard.plugins.hparams import api_pb2, metadata

from guild_tensorboard.monitor import run_hparams
from guild_tensorboard.events.tfevent import EventReader

import faults
from guild_runs import finish_run, make_run


def _hparams_events(run_logdir):
    """`[(tag, parsed plugin data)]` of the hparams summaries, in name order."""
    parse = {
        metadata.EXPERIMENT_TAG: metadata.parse_experiment_plugin_data,
        metadata.SESSION_START_INFO_TAG: metadata.parse_session_start_info_plugin_data,
        metadata.SESSION_END_INFO_TAG: metadata.parse_session_end_info_plugin_data,
    }
    events = []
    for event in EventReader(run_logdir):
        for value in event.summary.value:
            if value.tag in parse:
                events.append((value.tag, parse[value.tag](value.metadata.plugin_data.content)))
    return events


def _files(tmp_path):
    (tmp_path / "logdir").mkdir(exist_ok=True)
    return faults.own_files(tmp_path)


def test_hparams_are_flags_and_sourcecode(tmp_path):
    run = make_run(
        str(tmp_path),
        flags={"f": 1.5, "i": 2, "s": "x", "b": False, "n": None, "l": [1, "a"], "d": {"k": 1}},
        sourcecode_digest="abcdef0123456789",
    )
    assert run_hparams.run_hparams(run) == {
        "f": 1.5, "i": 2, "s": "x", "b": False, "n": "None",
        "l": "[1, 'a']", "d": "{'k': 1}", "sourcecode": "abcdef01",
    }


def test_flags_that_are_not_a_mapping_are_skipped(tmp_path, caplog):
    run = make_run(str(tmp_path), flags=[1, 2])
    assert run_hparams.run_hparams(run) == {"sourcecode": "01234567"}
    assert "flags are not a mapping" in caplog.text


def test_a_completed_run_gets_one_session_file(tmp_path):
    run = make_run(str(tmp_path / "home" / "runs"), flags={"x": 1}, started=10_000_000, stopped=52_500_000)
    run_logdir = str(tmp_path / "logdir")
    session = run_hparams.RunSession(run_logdir, log_time=True, files=_files(tmp_path))
    session.refresh(run)
    session.refresh(run)
    assert sorted(os.listdir(run_logdir)) == [".guild", run_hparams.SESSION_FILE]  # time in it
    assert session.event_files() == 1
    (start_tag, start), (end_tag, end), = _hparams_events(run_logdir)
    assert start.group_name == "%s train" % run.short_id
    assert start.hparams["x"].number_value == 1
    assert start.start_time_secs == 10.0
    assert end.status == api_pb2.STATUS_SUCCESS
    assert end.end_time_secs == 52.5
    time_values = [
        v.simple_value for e in EventReader(run_logdir) for v in e.summary.value if v.tag == "time"
    ]
    assert time_values == [42.5]


def test_a_running_run_gets_its_end_once_stopped(tmp_path):
    run = make_run(str(tmp_path / "home" / "runs"), lock_pid=os.getpid())
    run_logdir = str(tmp_path / "logdir")
    session = run_hparams.RunSession(run_logdir, log_time=True, files=_files(tmp_path))
    session.refresh(run)
    assert [tag for tag, _ in _hparams_events(run_logdir)] == [metadata.SESSION_START_INFO_TAG]
    assert _time_values(run_logdir) == []

    finish_run(run, exit_status=-15)  # stopped by SIGTERM: terminated
    # A new monitor on the same log directory carries on from the marker.
    session = run_hparams.RunSession(run_logdir, log_time=True, files=_files(tmp_path))
    session.refresh(run)
    session.refresh(run)
    events = _hparams_events(run_logdir)
    assert [tag for tag, _ in events] == [
        metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG,
    ]
    assert events[1][1].status == api_pb2.STATUS_SUCCESS
    assert os.path.exists(os.path.join(run_logdir, run_hparams.SESSION_END_FILE))
    assert len(_time_values(run_logdir)) == 1  # in the end file
    assert session.event_files() == 2


def test_error_status_is_failure(tmp_path):
    run = make_run(str(tmp_path / "home" / "runs"), exit_status=2)
    run_logdir = str(tmp_path / "logdir")
    run_hparams.RunSession(run_logdir, log_time=False, files=_files(tmp_path)).refresh(run)
    [_, (_, end)] = _hparams_events(run_logdir)
    assert end.status == api_pb2.STATUS_FAILURE
    assert _time_values(run_logdir) == []  # not logged


def _time_values(run_logdir):
    return [v.simple_value for e in EventReader(run_logdir) for v in e.summary.value if v.tag == "time"]


def test_experiment_for_runs(tmp_path):
    runs_dir = str(tmp_path)
    runs = [
        make_run(runs_dir, flags={"lr": 0.1, "opt": "adam", "on": True}, scalars={".guild": {"loss": [(1, 1.0)]}}),
        make_run(runs_dir, flags={"lr": 1, "opt": "sgd", "on": False}, scalars={"eval": {"acc": [(1, 1.0)]}}),
    ]
    hparams, metrics = run_hparams.experiment_for_runs(runs, log_time=True)
    assert hparams["lr"] == [0.1, 1]
    assert hparams["opt"] == ["adam", "sgd"]
    assert metrics == [("", "loss"), ("", "time"), ("eval", "acc")]
