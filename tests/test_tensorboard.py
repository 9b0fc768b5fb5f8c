"""The runs monitor over the sample runs, read back by TensorBoard itself."""

import os

import pytest
from tensorboard.plugins.hparams import api_pb2

from guild_tensorboard.runner import harness as _test
from guild_tensorboard.monitor.runs_monitor import RunsMonitor

import faults

from tensorboard_client import InProcessTensorBoard, hparam_values, metric_values
from run_snapshot import snapshot

X_FLAGS = (1.123, 2.5, -0.5)


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("guild-home"))
    echo = _test.Project(_test.sample("projects", "hparam-summaries"), home)
    for x in X_FLAGS:
        echo.run_capture("echo.py", {"x_flag": x})
    images = _test.Project(_test.sample("projects", "image-summaries"), home)
    images.run_capture("copy-images")
    return echo


def _monitored_logdir(project, tmp_path, **kw):
    logdir = str(tmp_path / "logdir")
    RunsMonitor(logdir, project.list_runs, **kw).run_once()
    return logdir


def test_hparams_dashboard_shows_each_echo_run(sample_runs, tmp_path):
    logdir = _monitored_logdir(sample_runs, tmp_path)
    groups = InProcessTensorBoard(logdir).session_groups().session_groups
    echo_groups = [g for g in groups if "x_flag" in g.hparams]
    assert len(echo_groups) == len(X_FLAGS)
    seen = {}
    for group in echo_groups:
        x = hparam_values(group)["x_flag"]
        metrics = metric_values(group)
        assert metrics[("", "x_metric")] == pytest.approx(x, rel=1e-6)
        assert ("", "time") in metrics
        assert [s.status for s in group.sessions] == [api_pb2.STATUS_SUCCESS]
        assert group.name.endswith(" echo.py")
        seen[x] = group
    assert sorted(seen) == sorted(X_FLAGS)


def test_logspec_form_writes_one_experiment_per_run(sample_runs, tmp_path):
    logdir = _monitored_logdir(sample_runs, tmp_path, logspec=["hparams"])
    tb = InProcessTensorBoard(logdir)
    experiment = tb.experiment()
    hparams = {info.name: info for info in experiment.hparam_infos}
    assert hparams["x_flag"].type == api_pb2.DATA_TYPE_FLOAT64
    assert [m.name.tag for m in experiment.metric_infos] == ["x_metric"]
    groups = tb.session_groups().session_groups
    values = sorted(hparam_values(g)["x_flag"] for g in groups if "x_flag" in g.hparams)
    assert values == sorted(X_FLAGS)
    assert not any(path.endswith(".time") for path in _test.findl(logdir))


def test_images_dashboard_shows_the_copy_images_run(sample_runs, tmp_path):
    logdir = _monitored_logdir(sample_runs, tmp_path, log_hparams=False)
    tb = InProcessTensorBoard(logdir)
    tags = tb.image_tags()
    image_runs = [run for run in tags if " copy-images " in run]
    assert len(image_runs) == 1
    run = image_runs[0]
    assert run.endswith("/.images")
    assert tags[run] == ["favicon-copy.png", "heart-copy.jpg"]
    [entry] = tb.images(run, "favicon-copy.png")
    png = tb.image_bytes(entry["query"])
    assert png.startswith(b"\x89PNG")


def test_monitor_leaves_the_runs_untouched(sample_runs, tmp_path):
    runs_dir = os.path.join(sample_runs.guild_home, "runs")
    before = snapshot(runs_dir)
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, sample_runs.list_runs)
    monitor.run_once()
    monitor.run_once()
    assert snapshot(runs_dir) == before
    assert len(before) > 20


def test_folders_of_unlisted_runs_are_removed(sample_runs, tmp_path):
    runs = sample_runs.list_runs()
    listed = list(runs)
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: listed)
    monitor.run_once()
    assert len(faults.run_folders(logdir)) == len(runs)
    listed = runs[1:]
    monitor.run_once()
    names = faults.run_folders(logdir)
    assert len(names) == len(runs) - 1
    assert not any(name.startswith(runs[0].short_id) for name in names)
