"""guild-tensorboard installed next to a real Guild AI (`guild_env`):
Guild keeps every file and command, its `guild tensorboard` runs on this
package's monitor, and uninstalling leaves Guild as it was.

The tests run in order, on one environment: before, installed, after.
"""

import glob
import os
import urllib.error

import pytest

from guild_env import GuildEnv, build_wheel, line_starting, stop
from tensorboard_client import (
    ServedTensorBoard, TensorBoardProcess, free_port, hparam_values, metric_values, wait_for,
)

FACES = os.path.join("guild_tensorboard", "_guild")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = GuildEnv(tmp_path_factory.mktemp("with-guild"))
    env.create()
    env.before = {
        "files": env.guild_files(),
        "runs": env.guild("runs").stdout,
        "compare": env.guild("compare", "--csv", "-").stdout,
        "doctests": env.doctest_results(),
        "tensorboard": env.py("import guild.tensorboard as t; print(t.__file__)"),
    }
    print("Guild's doctests with Guild alone:", env.before["doctests"])
    env.pip("install", "-q", build_wheel(tmp_path_factory.mktemp("wheel")))
    return env


def test_installing_changes_no_file_of_guild(env):
    assert env.guild_files() == env.before["files"]
    assert env.pip("check").returncode == 0


def test_of_guilds_modules_only_guild_tensorboard_is_this_package(env):
    names = ["guild", "guild.run", "guild.summary", "guild.tfevent", "guild._test", "guild.op"]
    code = "import importlib; " + "; ".join(
        "print(importlib.import_module(%r).__file__)" % name for name in names
    )
    paths = env.py(code).splitlines()
    guild_dir = os.path.join(env.site_packages, "guild")
    assert all(path.startswith(guild_dir + os.sep) for path in paths), paths
    face = env.py("import guild.tensorboard as t; print(t.__file__)")
    assert face == os.path.join(env.site_packages, FACES, "tensorboard.py")
    assert env.before["tensorboard"] == os.path.join(guild_dir, "tensorboard.py")
    # Names Guild has no module for are this package's faces.
    filled = env.py("import guild.notebook as n, guild.demo as d; print(n.__file__, d.__file__)")
    assert filled.split() == [os.path.join(env.site_packages, FACES, name) for name in ("notebook.py", "demo.py")]


def test_guild_commands_answer_as_before(env):
    assert env.guild("runs").stdout == env.before["runs"]
    assert env.guild("compare", "--csv", "-").stdout == env.before["compare"]
    assert len(env.before["runs"].splitlines()) == 3


def test_guild_doctests_with_the_package(env):
    """Guild's doctests that pass with Guild alone (all of them with 0.9.0;
    0.8.2 fails `labels`, `tags` and `tensorboard` by itself) pass with
    the package too; Guild's `tensorboard.md` describes Guild's own
    monitor (its log messages and layout), so it is reported, not
    required."""
    after = env.doctest_results()
    print("Guild's doctests with guild-tensorboard:", after)
    passed_alone = [name for name, status in env.before["doctests"].items() if status == "ok"]
    assert "runs-1" in passed_alone, env.before["doctests"]  # Guild's doctests ran
    assert {name: after[name] for name in passed_alone if name != "tensorboard"} == {
        name: "ok" for name in passed_alone if name != "tensorboard"
    }, after


def test_guild_tensorboard_writes_this_packages_layout(env):
    out = env.guild("tensorboard", "--test-logdir").stdout
    [logdir] = [line.split()[-1] for line in out.splitlines() if "Initialized log dir" in line]
    try:
        folders = sorted(os.listdir(logdir))
        markers = [name for name in folders if name.startswith(".guild-tensorboard-")]
        runs = [name for name in folders if not name.startswith(".")]
        assert len(markers) == 1 and len(runs) == 3, folders
        for name in runs:
            assert glob.glob(os.path.join(logdir, name, "*.hparams")), name
            assert glob.glob(os.path.join(logdir, name, ".images", "*.image.*")), name
        _assert_tensorboard_reads(env, logdir)
    finally:
        env.py("import shutil; shutil.rmtree(%r)" % logdir)


def test_guild_tensorboard_serves_on_this_packages_monitor(env):
    port = free_port()
    proc = env.guild_process("tensorboard", "-n", "--host", "127.0.0.1", "-p", str(port))
    try:
        url = "http://127.0.0.1:%d" % port
        said = line_starting(proc, "Running TensorBoard")
        version = env.py("from tensorboard import version; print(version.VERSION)")
        assert said == "Running TensorBoard %s at %s/ (Type Ctrl+C to quit)" % (version, url), said
        _assert_served(ServedTensorBoard(url))
    finally:
        stop(proc)


def test_guild_view_serves_tensorboard_on_this_packages_monitor(env):
    port = free_port()
    proc = env.guild_process("view", "-n", "--host", "127.0.0.1", "-p", str(port))
    try:
        line_starting(proc, "Running Guild View")  # said before it listens
        tb = ServedTensorBoard("http://127.0.0.1:%d/tb/0/" % port)
        wait_for(lambda: _answers(tb))  # Guild View starts TensorBoard at its index page
        _assert_served(tb)
    finally:
        stop(proc)


def _assert_tensorboard_reads(env, logdir):
    tb = TensorBoardProcess(logdir, python=env.python)
    try:
        _assert_served(tb)
    finally:
        tb.close()


def _assert_served(tb):
    groups = wait_for(lambda: _three(tb.session_groups().session_groups))
    xs = sorted(hparam_values(group)["x"] for group in groups)
    assert xs == [1, 2, 3]
    for group in groups:
        [session] = group.sessions
        assert session.status == 1  # STATUS_SUCCESS
        metrics = metric_values(group)
        x = hparam_values(group)["x"]
        assert metrics[("", "loss")] == pytest.approx(0.01 * x * x)
        assert metrics[("eval", "val_loss")] == pytest.approx(0.02 * x * x)
    tags = tb.image_tags()
    assert all(tags[run] == ["sample.png"] for run in tags) and len(tags) == 3, tags


def _answers(tb):
    try:
        return tb.get_bytes("/") is not None
    except (urllib.error.URLError, ConnectionError):
        return False


def _three(groups):
    return groups if len(groups) == 3 else None


def test_uninstalling_leaves_guild_as_it_was(env):
    env.pip("uninstall", "-y", "-q", "guild-tensorboard")
    assert env.guild_files() == env.before["files"]
    assert not os.path.exists(os.path.join(env.site_packages, "guild_tensorboard"))
    assert env.py("import guild.tensorboard as t; print(t.__file__)") == env.before["tensorboard"]
    assert env.guild("runs").stdout == env.before["runs"]
