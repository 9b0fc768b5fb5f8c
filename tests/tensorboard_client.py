"""Reading a log directory back through TensorBoard itself.

`InProcessTensorBoard` loads a log directory with TensorBoard's own
application (the Python loader, one blocking load) and queries its plugins
over the WSGI interface; `TensorBoardProcess` runs the real `tensorboard`
program on 127.0.0.1 and queries it over HTTP. Both answer with the same
helpers, so a test can assert what the HParams and Images dashboards show.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from google.protobuf import json_format
from tensorboard.plugins.hparams import api_pb2
from werkzeug.test import Client

from guild_tensorboard.serving import app as tensorboard_server


class _Queries:
    def get_json(self, path):
        raise NotImplementedError

    def post_json(self, path, body):
        raise NotImplementedError

    def session_groups(self):
        """`ListSessionGroupsResponse` with every group, metrics included."""
        request = api_pb2.ListSessionGroupsRequest(
            start_index=0, slice_size=10000, include_metrics=True
        )
        for status in (
            api_pb2.STATUS_UNKNOWN,
            api_pb2.STATUS_SUCCESS,
            api_pb2.STATUS_FAILURE,
            api_pb2.STATUS_RUNNING,
        ):
            request.allowed_statuses.append(status)
        body = json_format.MessageToDict(request)
        data = self.post_json("/data/plugin/hparams/session_groups", body)
        return json_format.ParseDict(data, api_pb2.ListSessionGroupsResponse())

    def experiment(self):
        body = {"experimentName": "", "includeMetrics": True}
        data = self.post_json("/data/plugin/hparams/experiment", body)
        return json_format.ParseDict(data, api_pb2.Experiment())

    def image_tags(self):
        """`{run: sorted tags}` from the Images dashboard."""
        data = self.get_json("/data/plugin/images/tags")
        return {run: sorted(tags) for run, tags in data.items()}

    def images(self, run, tag):
        from urllib.parse import urlencode

        return self.get_json("/data/plugin/images/images?" + urlencode({"run": run, "tag": tag}))

    def image_bytes(self, query):
        return self.get_bytes("/data/plugin/images/individualImage?" + query)

    def scalars(self, run, tag):
        from urllib.parse import urlencode

        return self.get_json("/data/plugin/scalars/scalars?" + urlencode({"run": run, "tag": tag}))


class InProcessTensorBoard(_Queries):
    """TensorBoard's application over `logdir`, loaded once, in this process."""

    def __init__(self, logdir):
        app = tensorboard_server.create_app(
            logdir=logdir,
            reload_interval=0,
            tensorboard_options={"load_fast": "false", "reload_task": "blocking"},
        )
        self._client = Client(app)

    def get_bytes(self, path):
        resp = self._client.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.get_data())
        return resp.get_data()

    def get_json(self, path):
        return json.loads(self.get_bytes(path))

    def post_json(self, path, body):
        resp = self._client.post(path, data=json.dumps(body), content_type="application/json")
        assert resp.status_code == 200, (path, resp.status_code, resp.get_data())
        return json.loads(resp.get_data())


class ServedTensorBoard(_Queries):
    """A TensorBoard serving at `url` (with its path prefix, if any)."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def get_bytes(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return resp.read()

    def get_json(self, path):
        return json.loads(self.get_bytes(path))

    def post_json(self, path, body):
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())


class TensorBoardProcess(ServedTensorBoard):
    """The `tensorboard` program serving `logdir` on 127.0.0.1 (that of
    `python`'s environment, this one's unless given)."""

    def __init__(self, logdir, *args, reload_interval=1, python=sys.executable):
        self.port = free_port()
        super().__init__("http://127.0.0.1:%d" % self.port)
        cmd = [
            python, "-m", "tensorboard.main",
            "--logdir", logdir,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--reload_interval", str(reload_interval),
        ] + list(args)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        self._wait_until_serving()

    def _wait_until_serving(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("tensorboard exited: %s" % self.proc.stdout.read())
            try:
                self.get_bytes("/data/environment")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise AssertionError("tensorboard did not start in %ss" % timeout)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def wait_for(predicate, timeout=60, interval=0.5):
    """Polls `predicate` until it returns a true value; returns that value."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
        except AssertionError as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError("timed out waiting; last result: %r" % (last,))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hparam_values(group):
    """`{name: python value}` of a session group's hparams."""
    return {name: json_format.MessageToDict(val) for name, val in group.hparams.items()}


def metric_values(group):
    """`{(group, tag): value}` of a session group's metrics."""
    return {(mv.name.group, mv.name.tag): mv.value for mv in group.metric_values}
