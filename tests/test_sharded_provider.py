"""Runs dealt to several data servers look to TensorBoard's dashboards as
they look with one: the same runs, scalars, images and HParams sessions,
answered by the real `tensorboard` program over the same log directory."""

import json
import os
import weakref

import pytest
from werkzeug.test import Client

from guild_tensorboard.serving import open_files
from guild_tensorboard.monitor import base as run_util
from guild_tensorboard.serving import app as tensorboard_server
from guild_tensorboard.monitor.runs_monitor import RunsMonitor

import faults
from guild_runs import make_run
from tensorboard_client import TensorBoardProcess, hparam_values, metric_values, wait_for


@pytest.fixture
def logdir(tmp_path):
    runs_dir = str(tmp_path / "home" / "runs")
    runs = []
    for i in range(4):
        run = make_run(
            runs_dir,
            flags={"lr": 0.1 * (i + 1), "opt": "adam" if i % 2 else "sgd"},
            scalars={".guild": {"loss": [(1, 1.0 / (i + 1))]}, "eval": {"acc": [(1, 0.5 + i / 10)]}},
        )
        faults.good_png(os.path.join(run.dir, "plot.png"), size=(4 + i, 3))
        runs.append(run)
    path = str(tmp_path / "logdir")
    monitor = RunsMonitor(path, lambda: runs)
    monitor.run_once()
    return path, monitor, runs


class _App:
    """Our application over `logdir`, queried like TensorBoardProcess."""

    def __init__(self, app):
        self.app = app
        self._client = Client(app)

    def get_json(self, path):
        resp = self._client.get(path)
        assert resp.status_code == 200, (path, resp.get_data())
        return json.loads(resp.get_data())

    def get_bytes(self, path):
        return self._client.get(path).get_data()

    def post_json(self, path, body):
        resp = self._client.post(path, data=json.dumps(body), content_type="application/json")
        return json.loads(resp.get_data())


def _view(tb):
    """What the dashboards show: runs, scalars, images, sessions."""
    from tensorboard_client import _Queries

    queries = _Queries()
    queries.get_json, queries.post_json = tb.get_json, tb.post_json
    runs = sorted(tb.get_json("/data/runs"))
    scalars = {
        run: {tag: [p[1:] for p in queries.scalars(run, tag)] for tag in tags}
        for run, tags in tb.get_json("/data/plugin/scalars/tags").items()
    }
    images = {}
    for run, tags in queries.image_tags().items():
        for tag in tags:
            [entry] = queries.images(run, tag)
            images[(run, tag)] = tb.get_bytes("/data/plugin/images/individualImage?" + entry["query"])
    groups = {
        g.name: (hparam_values(g), metric_values(g), g.sessions[0].status)
        for g in queries.session_groups().session_groups
    }
    return runs, scalars, images, groups


def test_several_data_servers_show_what_one_shows(logdir, monkeypatch):
    path, monitor, runs = logdir
    monkeypatch.setattr(open_files, "data_server_files", lambda limit: 4)  # a server a run
    app = tensorboard_server.create_app(logdir=path, reload_interval=1, monitor=monitor)
    try:
        ours = _App(app)
        assert app._guild_shards.wait_started()
        assert app._guild_shards.servers() == len(runs)
        wait_for(lambda: len(_view(ours)[3]) == len(runs), timeout=60)
        reference = TensorBoardProcess(path, "--load_fast=true")
        try:
            wait_for(lambda: len(_view(reference)[3]) == len(runs), timeout=60)
            assert _view(ours) == _view(reference)
        finally:
            reference.close()
    finally:
        tensorboard_server.stop_app(app)


def test_without_a_monitor_the_log_directory_is_walked(logdir, monkeypatch):
    path, _monitor, runs = logdir
    monkeypatch.setattr(open_files, "data_server_files", lambda limit: 9)  # two runs a server
    monkeypatch.setattr(run_util, "_monitors", weakref.WeakValueDictionary())  # none here
    app = tensorboard_server.create_app(logdir=path, reload_interval=1)
    try:
        ours = _App(app)
        assert app._guild_shards.wait_started()
        assert app._guild_shards.servers() == 2
        wait_for(lambda: len(_view(ours)[3]) == len(runs), timeout=60)
    finally:
        tensorboard_server.stop_app(app)
