"""The HParams dashboard stays live: a real TensorBoard on 127.0.0.1, never
restarted, shows a running run's final status once it stops, and a run
added later with a new flag, a new string value and a new metric."""

import subprocess
import sys

import pytest
from tensorboard.plugins.hparams import api_pb2

from guild_tensorboard.runner import harness as _test
from guild_tensorboard.monitor.runs_monitor import RunsMonitor

from guild_runs import finish_run, make_run
from tensorboard_client import TensorBoardProcess, hparam_values, metric_values, wait_for

LOADERS = {
    "rust": ["--load_fast=true"],
    "python": ["--load_fast=false", "--reload_multifile=true"],
}


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()


def _groups_by_short_id(tb):
    return {g.name.split()[0]: g for g in tb.session_groups().session_groups}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_hparams_stay_live_without_restarting_tensorboard(loader, tmp_path, sleeper):
    runs_dir = str(tmp_path / "home" / "runs")
    done = make_run(
        runs_dir,
        flags={"lr": 0.1, "opt": "adam", "epochs": 3, "fast": True, "layers": [64, 32], "seed": None},
        scalars={
            ".guild": {"loss": [(1, 0.9), (2, 0.5)], "sys/cpu": [(1, 50.0)]},
            "train": {"acc": [(1, 0.6), (2, 0.7)]},
            "eval": {"acc": [(2, 0.65)]},
        },
    )
    running = make_run(
        runs_dir,
        flags={"lr": 0.2, "opt": "sgd", "epochs": 3, "fast": False, "layers": [8], "seed": 1},
        scalars={".guild": {"loss": [(1, 0.8)]}},
        lock_pid=sleeper.pid,
    )
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: _test.list_runs(runs_dir), interval=0.3)
    monitor.run_once()
    monitor.start()
    tb = TensorBoardProcess(logdir, *LOADERS[loader])
    try:
        # Both runs, with hparams and grouped metrics.
        groups = wait_for(lambda: _both_sessions(tb, done, running))
        d = groups[done.short_id]
        assert hparam_values(d) == {
            "lr": 0.1, "opt": "adam", "epochs": 3, "fast": True,
            "layers": "[64, 32]", "seed": "None", "sourcecode": "01234567",
        }
        metrics = metric_values(d)
        assert metrics[("", "loss")] == pytest.approx(0.5)
        assert metrics[("train", "acc")] == pytest.approx(0.7)
        assert metrics[("eval", "acc")] == pytest.approx(0.65)
        assert metrics[("", "time")] == pytest.approx(42.0)
        assert [s.status for s in d.sessions] == [api_pb2.STATUS_SUCCESS]
        r = groups[running.short_id]
        assert [s.status for s in r.sessions] == [api_pb2.STATUS_UNKNOWN]
        assert ("", "time") not in metric_values(r)

        # The running run stops with an error: TensorBoard shows FAILURE.
        sleeper.kill()
        sleeper.wait()
        finish_run(running, exit_status=1)
        r = wait_for(lambda: _session_with_status(tb, running, api_pb2.STATUS_FAILURE))
        assert r.sessions[0].end_time_secs > r.sessions[0].start_time_secs
        wait_for(lambda: ("", "time") in metric_values(_groups_by_short_id(tb)[running.short_id]))

        # A late run with a new flag, a new string value and a new metric.
        late = make_run(
            runs_dir,
            flags={"lr": 0.3, "opt": "rmsprop", "dropout": 0.5},
            scalars={".guild": {"loss": [(1, 0.4)], "f1": [(1, 0.77)]}},
        )
        g = wait_for(lambda: _groups_by_short_id(tb).get(late.short_id))
        assert hparam_values(g)["dropout"] == 0.5
        experiment = wait_for(lambda: _experiment_with(tb, "dropout", "f1"))
        opt = {i.name: i for i in experiment.hparam_infos}["opt"]
        assert {v.string_value for v in opt.domain_discrete.values} == {"adam", "sgd", "rmsprop"}
        # The data server may load the late run's session before its scalars.
        g = wait_for(lambda: _with_metric(_groups_by_short_id(tb).get(late.short_id), ("", "f1")))
        assert metric_values(g)[("", "f1")] == pytest.approx(0.77)
        assert monitor.is_alive()
    finally:
        tb.close()
        monitor.stop()


def _with_metric(group, metric):
    return group if group is not None and metric in metric_values(group) else None


def _both_sessions(tb, *runs):
    groups = _groups_by_short_id(tb)
    if all(run.short_id in groups for run in runs):
        d = groups[runs[0].short_id]
        if {("train", "acc"), ("eval", "acc"), ("", "time")} <= set(metric_values(d)):
            return groups
    return None


def _session_with_status(tb, run, status):
    group = _groups_by_short_id(tb).get(run.short_id)
    if group and group.sessions[0].status == status:
        return group
    return None


def _experiment_with(tb, hparam, metric):
    experiment = tb.experiment()
    hparams = {i.name for i in experiment.hparam_infos}
    metrics = {m.name.tag for m in experiment.metric_infos}
    return experiment if hparam in hparams and metric in metrics else None


def test_logspec_experiment_uses_compare_specs_and_groups(tmp_path):
    from tensorboard_client import InProcessTensorBoard

    runs_dir = str(tmp_path / "home" / "runs")
    make_run(
        runs_dir,
        flags={"lr": 0.1},
        compare=["=lr", "loss", "eval#acc"],
        scalars={".guild": {"loss": [(1, 0.5)], "sys/gpu": [(1, 3.0)]}, "eval": {"acc": [(1, 0.9)]}},
    )
    make_run(runs_dir, flags={"lr": 0.2}, scalars={"train": {"acc": [(1, 0.8)]}})
    logdir = str(tmp_path / "logdir")
    RunsMonitor(logdir, lambda: _test.list_runs(runs_dir), logspec=["hparams", "time"]).run_once()
    tb = InProcessTensorBoard(logdir)
    experiment = tb.experiment()
    assert sorted((m.name.group, m.name.tag) for m in experiment.metric_infos) == [
        ("", "loss"), ("", "time"), ("eval", "acc"), ("train", "acc"),
    ]
    [lr] = [i for i in experiment.hparam_infos if i.name == "lr"]
    assert (lr.domain_interval.min_value, lr.domain_interval.max_value) == (float("-inf"), float("inf"))
    groups = tb.session_groups().session_groups
    assert sorted(metric_values(g).get(("eval", "acc")) or 0 for g in groups) == pytest.approx([0, 0.9])
