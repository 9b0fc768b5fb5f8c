import os
import time

import pytest

from guild_tensorboard.runner import op as oplib
from guild_tensorboard.runner.harness import Project
from guild_tensorboard.runner.op_output_scalars import OutputScalars
from op_projects import write


@pytest.fixture
def project(tmp_path):
    return Project(str(tmp_path / "project"), guild_home=str(tmp_path / "home"))


def test_script_op_replaces_flags(project):
    write(
        project.cwd,
        "train.py",
        """
        lr = 0.1
        epochs = 10  # a comment
        name = "mnist"
        debug = False
        print("lr=%r epochs=%r name=%r debug=%r" % (lr, epochs, name, debug))
        import os, sys
        print("cwd=%s" % os.getcwd())
        print("file=%s" % os.path.relpath(__file__, os.environ["RUN_DIR"]))
        print("argv0=%s" % os.path.basename(sys.argv[0]))
        print("name=%s" % __name__)
        """,
    )
    run, out = project.run_capture("train.py", {"lr": 0.01, "name": "a b", "debug": True})
    lines = out.splitlines()
    assert lines[0] == "lr=0.01 epochs=10 name='a b' debug=True"
    assert lines[1] == "cwd=%s" % run.dir
    assert lines[2] == "file=.guild/sourcecode/train.py"
    assert lines[3] == "argv0=train.py"
    assert lines[4] == "name=__main__"
    assert run.status == "completed"
    assert run.get("exit_status") == 0
    assert run.get("flags") == {"lr": 0.01, "epochs": 10, "name": "a b", "debug": True}
    assert run.get("label") == "debug=yes epochs=10 lr=0.01 name='a b'"
    assert str(run.opref) == "script:%s '' '' train.py" % project.cwd
    assert run.get("id") == run.id and len(run.id) == 32
    assert run.get("initialized") <= run.get("started") <= run.get("stopped")
    assert os.path.dirname(run.dir) == os.path.join(project.guild_home, "runs")
    # The script is not copied to the run folder itself.
    assert os.listdir(run.dir) == [".guild"]
    with open(run.guild_path("output")) as f:
        assert f.read() == out


def test_default_label_has_all_flags(project):
    write(project.cwd, "echo.py", "x = 1\ny = 0.123456789\nz = None\nprint(x)\n")
    run, out = project.run_capture("echo.py")
    assert out == "1\n"
    assert run.get("label") == "x=1 y=0.12345"
    assert run.get("flags") == {"x": 1, "y": 0.123456789, "z": None}
    assert run.get("user_flags") == {}


def test_script_without_flags_has_no_label(project):
    write(project.cwd, "hello.py", "print('hello')\n")
    run, _out = project.run_capture("hello.py")
    assert run.get("label") is None
    assert "label" not in run.attr_names()


def test_explicit_label(project):
    write(project.cwd, "echo.py", "x = 1\n")
    run, _out = project.run_capture("echo.py", label="my label")
    assert run.get("label") == "my label"


def test_failing_op(project, capsys):
    write(project.cwd, "fail.py", "print('before')\n1 / 0\n")
    project.run("fail.py")
    out = capsys.readouterr().out
    assert out.startswith("before\nTraceback (most recent call last):\n")
    assert 'fail.py", line 2, in <module>' in out
    assert "_exec_main" not in out
    assert out.endswith("ZeroDivisionError: division by zero\n<exit 1>\n")
    run = project.list_runs()[0]
    assert run.status == "error"
    assert run.get("exit_status") == 1


def test_sys_exit_status(project, capsys):
    write(project.cwd, "exit.py", "import sys\nsys.exit(3)\n")
    project.run("exit.py")
    assert capsys.readouterr().out == "<exit 3>\n"
    assert project.list_runs()[0].status == "error"


def test_killed_op_is_terminated(project):
    write(project.cwd, "kill.py", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    run, _out = project.run_capture("kill.py")
    assert run.get("exit_status") == -15
    assert run.status == "terminated"


def test_lock_holds_pid_while_running(project):
    write(
        project.cwd,
        "lock.py",
        """
        import os
        with open(os.path.join(os.environ["RUN_DIR"], ".guild", "LOCK")) as f:
            print("lock: %s" % (f.read() == str(os.getpid())))
        print(os.path.exists(os.path.join(os.environ["RUN_DIR"], ".guild", "PENDING")))
        """,
    )
    run, out = project.run_capture("lock.py")
    assert out == "lock: True\nFalse\n"


def test_interrupted_op_is_terminated(project, monkeypatch):
    write(project.cwd, "slow.py", "import time\nprint('go', flush=True)\ntime.sleep(60)\n")

    def interrupt(self, line):
        raise KeyboardInterrupt()

    monkeypatch.setattr(OutputScalars, "log_line", interrupt)
    started = time.time()
    with pytest.raises(KeyboardInterrupt):
        project.run_capture("slow.py")
    assert time.time() - started < 30
    [run] = project.list_runs()
    assert run.get("exit_status") == oplib.KEYBOARD_INTERRUPT
    assert run.status == "terminated"
    assert not os.path.exists(run.guild_path("LOCK"))


def test_failed_init_leaves_an_error_run(project, monkeypatch):
    write(project.cwd, "echo.py", "print(1)\n")

    def fail(op, run_dir):
        raise OSError("disk full")

    monkeypatch.setattr(oplib, "resolve_requires", fail)
    with pytest.raises(OSError):
        project.run_capture("echo.py")
    [run] = project.list_runs()
    assert run.status == "error"
