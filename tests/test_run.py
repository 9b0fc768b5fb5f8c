import logging
import os
import subprocess
import sys
import time

import pytest
import yaml

from guild_tensorboard.runs import run as runlib
from guild_tensorboard.runs.opref import OpRefError


def make_run(root, run_id="a" * 32, opref=None, attrs=None, lock=None, markers=()):
    """A run dir laid out the way Guild 0.7-0.9 writes one."""
    run_dir = os.path.join(str(root), run_id)
    os.makedirs(os.path.join(run_dir, ".guild", "attrs"))
    if opref is not None:
        _write(os.path.join(run_dir, ".guild", "opref"), opref + "\n")
    for name, val in (attrs or {}).items():
        text = val if isinstance(val, str) else yaml.safe_dump(val)
        _write(os.path.join(run_dir, ".guild", "attrs", name), text)
    if lock is not None:
        _write(os.path.join(run_dir, ".guild", "LOCK"), str(lock))
    for marker in markers:
        _write(os.path.join(run_dir, ".guild", marker), "")
    return runlib.for_dir(run_dir)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_identity(tmp_path):
    run = make_run(tmp_path, "0123456789abcdef0123456789abcdef")
    assert run.id == "0123456789abcdef0123456789abcdef"
    assert run.short_id == "01234567"
    assert run.dir == run.path == str(tmp_path / run.id)
    assert repr(run) == "<guild.run.Run '0123456789abcdef0123456789abcdef'>"
    assert runlib.for_dir(run.dir + "/").id == run.id


def test_status_from_exit_status(tmp_path):
    assert make_run(tmp_path, "a", attrs={"exit_status": 0}).status == "completed"
    assert make_run(tmp_path, "b", attrs={"exit_status": 1}).status == "error"
    assert make_run(tmp_path, "c", attrs={"exit_status": -15}).status == "terminated"
    assert make_run(tmp_path, "d", attrs={"exit_status": -2}).status == "terminated"
    assert make_run(tmp_path, "e", attrs={"exit_status": "garbage"}).status == "error"


def test_no_exit_status_and_not_running_is_error(tmp_path):
    assert make_run(tmp_path, attrs={"started": 1}).status == "error"


def test_running_with_live_pid(tmp_path):
    run = make_run(tmp_path, "a", lock=os.getpid())
    assert run.status == "running"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run = make_run(tmp_path, "b", lock=proc.pid, attrs={"started": 1})
        assert run.pid == proc.pid
        assert run.status == "running"
    finally:
        proc.kill()
        proc.wait()
    assert run.status == "error"


def test_lock_with_dead_pid(tmp_path):
    pid = dead_pid()
    assert make_run(tmp_path, "a", lock=pid).status == "error"
    assert make_run(tmp_path, "b", lock=pid, attrs={"exit_status": 0}).status == "completed"


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_lock_with_zombie_pid(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            with open("/proc/%i/stat" % proc.pid, "rb") as f:
                if f.read().rpartition(b")")[2][1:2] == b"Z":
                    break
            time.sleep(0.01)
        assert make_run(tmp_path, lock=proc.pid).status == "error"
    finally:
        proc.wait()


def test_garbled_or_empty_lock(tmp_path):
    assert make_run(tmp_path, "a", lock="garbage").status == "error"
    assert make_run(tmp_path, "b", lock="").status == "error"
    assert make_run(tmp_path, "c", lock="0").status == "error"
    assert make_run(tmp_path, "d", lock="-1").status == "error"


def test_markers(tmp_path):
    assert make_run(tmp_path, "a", markers=["PENDING"]).status == "pending"
    assert make_run(tmp_path, "b", markers=["STAGED"]).status == "staged"
    assert make_run(tmp_path, "c", markers=["LOCK.remote"]).status == "running"
    # Guild checks the markers before the LOCK, and an exit status first.
    live = make_run(tmp_path, "d", lock=os.getpid(), markers=["PENDING"])
    assert live.status == "pending"
    stopped = make_run(tmp_path, "e", lock=os.getpid(), attrs={"exit_status": 0})
    assert stopped.status == "completed"
    assert make_run(tmp_path, "f", attrs={"exit_status": -16}).status == "terminated"


def test_status_is_not_cached(tmp_path):
    run = make_run(tmp_path, lock=os.getpid())
    assert run.status == "running"
    os.remove(run.guild_path("LOCK"))
    _write(run.guild_path("attrs", "exit_status"), "0\n")
    assert run.status == "completed"
    _write(run.guild_path("attrs", "exit_status"), "-15\n")
    assert run.status == "terminated"


def test_get_attrs(tmp_path):
    run = make_run(
        tmp_path,
        attrs={
            "flags": {"lr": 0.1, "name": "x"},
            "label": "lr=0.1",
            "started": 1700000000123456,
            "exit_status": 0,
            "nothing": "null\n",
        },
    )
    assert run.get("flags") == {"lr": 0.1, "name": "x"}
    assert run.get("label") == "lr=0.1"
    assert run.get("started") == 1700000000123456
    assert run.get("exit_status") == 0
    assert run.get("missing") is None
    assert run.get("missing", 42) == 42
    assert run.get("nothing", "default") == "default"
    assert run.attr_names() == ["exit_status", "flags", "label", "nothing", "started"]


def test_attr_names_without_attrs_dir(tmp_path):
    run = runlib.for_dir(str(tmp_path))
    assert run.attr_names() == []
    assert run.get("flags") is None


def test_bad_yaml_attr_logs_warning(tmp_path, caplog):
    run = make_run(tmp_path, "b" * 32, attrs={"flags": "a: [1, 2\n", "label": "x\n"})
    with caplog.at_level(logging.WARNING, logger="guild"):
        assert run.get("flags", {}) == {}
        assert run.get("label") == "x"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "flags" in message and run.id in message


def test_binary_attr_logs_warning(tmp_path, caplog):
    run = make_run(tmp_path)
    with open(run.guild_path("attrs", "label"), "wb") as f:
        f.write(b"\xff\xfe\x00bad")
    with caplog.at_level(logging.WARNING, logger="guild"):
        assert run.get("label", "?") == "?"
    assert any("label" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "encoded, pkg_type, model_name, op_name",
    [
        ("guildfile:/p/guild.yml 3f2ac1 '' train", "guildfile", "", "train"),
        ('guildfile:/p/guild.yml 3f2ac1 "" train', "guildfile", "", "train"),
        ("guildfile:/p/guild.yml 3f2ac1 mnist train", "guildfile", "mnist", "train"),
        ("script:/p/echo.py '' '' echo.py", "script", "", "echo.py"),
        ("package:gpkg.mnist 0.1.0 mnist train", "package", "mnist", "train"),
    ],
)
def test_opref_forms(tmp_path, encoded, pkg_type, model_name, op_name):
    opref = make_run(tmp_path, opref=encoded).opref
    assert (opref.pkg_type, opref.model_name, opref.op_name) == (
        pkg_type,
        model_name,
        op_name,
    )


def test_missing_opref_is_none(tmp_path):
    assert make_run(tmp_path).opref is None


def test_garbled_opref_raises(tmp_path):
    run = make_run(tmp_path, "c" * 32, opref="not an opref at all really")
    with pytest.raises(OpRefError) as e:
        run.opref
    assert run.id in str(e.value)
