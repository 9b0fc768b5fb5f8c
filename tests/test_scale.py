"""Every run in TensorBoard's dashboards whatever the open-files limit: the
command raises its soft limit, and deals the runs to as many data servers
as the limit needs (`guild_tensorboard.serving.data_shards`). TensorBoard itself, over HTTP,
is asked what it shows.

The homes are synthetic Guild homes (bench/make_guild_home.py) with more
runs than the limit has descriptors: one data server holding every event
file would fail to open most of them, and to walk its log directory.
"""

import os
import resource
import sys

import pytest

from command_process import CommandProcess
from tensorboard_client import wait_for

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import make_guild_home  # noqa: E402

RUNS = 300
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("scale") / "home")
    # Five event files a run as shown: its own three (.guild, train,
    # eval), the session, an image summary: 1,500 in all.
    make_guild_home.make_home(path, RUNS, steps=10, files=4, images=1, seed=5, jobs=1)
    return path


def _sessions(cmd):
    body = {"startIndex": 0, "sliceSize": 1, "includeMetrics": False, "allowedStatuses": STATUSES}
    return cmd.post_json("data/plugin/hparams/session_groups", body).get("totalSize", 0)


def _image_runs(cmd):
    return sum(1 for tags in cmd.get_json("data/plugin/images/tags").values() if tags)


def _limited(soft, hard):
    def preexec():
        _, real_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, min(hard or real_hard, real_hard)))

    return preexec


@pytest.mark.parametrize(
    "soft, hard",
    [(256, None), (384, 384)],
    ids=["soft-256-raised", "soft-and-hard-384"],
)
def test_every_session_shows_under_an_open_files_limit_below_the_event_files(home, tmp_path, soft, hard):
    with CommandProcess([home, "-n", "--refresh-interval", "1"], tmp_path, preexec_fn=_limited(soft, hard)) as cmd:
        wait_for(lambda: _sessions(cmd) == RUNS, timeout=240, interval=2)
        wait_for(lambda: _image_runs(cmd) == RUNS, timeout=120, interval=2)
        # The data servers never ran out of descriptors.
        assert "Too many open files" not in cmd.stderr()
        servers = [pid for pid in cmd.children() if "tensorboard_data_server" in _cmdline(pid)]
        if hard is not None:
            # A 384-descriptor hard limit holds 320 event files a server.
            assert len(servers) >= 5, cmd.stderr()
            assert "serving them with a data server for each 320" in cmd.stderr()
        status = cmd.interrupt()
        assert status == 0, cmd.stderr()


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
