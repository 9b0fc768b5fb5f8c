import glob
import os
import textwrap
import time

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from guild import op as oplib
from guild._test import Project, findl


def write(root, rel, text):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text).lstrip())
    return path


def scalars(run):
    """`(tag, value, step)` of the run's output scalars, via TensorBoard."""
    files = sorted(glob.glob(run.guild_path("*tfevents*")))
    result = []
    for path in files:
        for event in EventFileLoader(path).Load():
            for value in event.summary.value:
                result.append((value.tag, _value(value), event.step))
    return result


def _value(value):
    if value.HasField("simple_value"):
        return round(value.simple_value, 5)
    from tensorboard.util import tensor_util

    return round(float(tensor_util.make_ndarray(value.tensor)), 5)


@pytest.fixture
def project(tmp_path):
    return Project(str(tmp_path / "project"), guild_home=str(tmp_path / "home"))


def test_script_flags(tmp_path):
    path = write(
        tmp_path,
        "train.py",
        """
        import os
        lr = 0.1
        epochs = 10
        name = "mnist"
        debug = False
        nothing = None
        neg = -2.5
        lr = 0.5
        items = [1, 2]
        a = b = 3
        other = os.getcwd()
        def f():
            inner = 1
        """,
    )
    assert oplib.script_flags(path) == {
        "lr": 0.1,
        "epochs": 10,
        "name": "mnist",
        "debug": False,
        "nothing": None,
        "neg": -2.5,
    }


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


def test_attrs_are_written_like_guild(project):
    write(project.cwd, "echo.py", "x = 'y'\n")
    run, _out = project.run_capture("echo.py")
    with open(run.guild_path("attrs", "exit_status")) as f:
        assert f.read() == "0\n"
    with open(run.guild_path("attrs", "flags")) as f:
        assert f.read() == "x: 'y'\n"
    assert run.get("flags") == {"x": "y"}


def test_flag_values_given_as_strings_are_decoded(project):
    write(project.cwd, "echo.py", "x = 1.0\nprint(repr(x))\n")
    _run, out = project.run_capture("echo.py", {"x": "2"})
    assert out == "2\n"


def test_unknown_flag_is_an_error_and_creates_no_run(project):
    write(project.cwd, "echo.py", "x = 1\n")
    with pytest.raises(oplib.OpError, match="unsupported flag"):
        project.run_capture("echo.py", {"y": 2})
    assert project.list_runs() == []


def test_unknown_operation(project):
    os.makedirs(project.cwd)
    with pytest.raises(oplib.OpError, match="cannot find operation"):
        project.run_capture("missing.py")


def test_guildfile_op_with_requires(project):
    write(
        project.cwd,
        "guild.yml",
        """
        copy-data:
          requires:
            - file: data.txt
            - file: subdir
            - file: other.txt
              target-path: inputs
        """,
    )
    write(project.cwd, "copy_data.py", "import shutil\nshutil.copyfile('data.txt', 'copy.txt')\n")
    write(project.cwd, "data.txt", "hello\n")
    write(project.cwd, "subdir/file.txt", "sub\n")
    write(project.cwd, "other.txt", "other\n")
    with open(os.path.join(project.cwd, "image.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    os.makedirs(os.path.join(project.cwd, "__pycache__"))
    write(project.cwd, "__pycache__/x.txt", "cache\n")

    run, out = project.run_capture("copy-data")
    assert out == ""
    assert run.status == "completed"
    assert sorted(os.listdir(run.dir)) == [".guild", "copy.txt", "data.txt", "inputs", "subdir"]
    for rel in ("data.txt", "subdir", "inputs/other.txt"):
        link = os.path.join(run.dir, rel)
        assert os.path.islink(link)
        assert os.readlink(link) == os.path.join(project.cwd, os.path.basename(rel))
    assert not os.path.islink(os.path.join(run.dir, "copy.txt"))
    opref = run.opref
    assert opref.pkg_type == "guildfile"
    assert opref.pkg_name == os.path.join(project.cwd, "guild.yml")
    assert len(opref.pkg_version) == 32
    assert (opref.model_name, opref.op_name) == ("", "copy-data")
    assert str(opref).endswith(" '' copy-data")
    # Source code: the project's text files, not the images or caches.
    assert findl(run.guild_path("sourcecode")) == [
        "copy_data.py",
        "data.txt",
        "guild.yml",
        "other.txt",
        "subdir/file.txt",
    ]
    assert len(run.get("sourcecode_digest")) == 32
    # Nothing of the running state is left behind.
    assert not os.path.exists(run.guild_path("LOCK"))
    assert not os.path.exists(run.guild_path("PENDING"))


def test_missing_required_file_creates_no_run(project):
    write(project.cwd, "guild.yml", "op:\n  main: op\n  requires:\n    - file: missing.txt\n")
    write(project.cwd, "op.py", "")
    with pytest.raises(oplib.OpError, match="missing.txt"):
        project.run_capture("op")
    assert project.list_runs() == []


def test_guildfile_model_list_and_flags(project):
    write(
        project.cwd,
        "guild.yml",
        """
        - model: mnist
          operations:
            train:
              main: pkg.train --fixed 1
              flags:
                lr: 0.1
                batch:
                  default: 32
        - model: ''
          operations:
            echo:
              main: echo
              flags:
                x: 1
        """,
    )
    write(project.cwd, "pkg/__init__.py", "")
    write(
        project.cwd,
        "pkg/train.py",
        """
        import sys
        print(" ".join(sys.argv[1:]))
        """,
    )
    write(project.cwd, "echo.py", "x = 0\nprint(x)\n")

    run, out = project.run_capture("mnist:train", {"lr": 0.5})
    assert out == "--fixed 1 --batch 32 --lr 0.5\n"
    assert (run.opref.model_name, run.opref.op_name) == ("mnist", "train")
    assert run.get("flags") == {"lr": 0.5, "batch": 32}

    run, out = project.run_capture("echo")
    assert out == "1\n"
    assert run.opref.model_name == ""
    assert str(run.opref).endswith(" '' echo")


def test_output_scalars_with_steps(project):
    write(
        project.cwd,
        "train.py",
        """
        print("loss: 2.0")
        print("step: 1")
        print("loss: 1.5")
        print("acc: 0.25")
        print("not a scalar: 1")
        print("val/loss: 1e-3")
        print("step: 3")
        print("loss:0.5")
        print("loss: nan-ish")
        print("loss: 0.25 (step 5)")
        print("loss: 0.125")
        """,
    )
    run, out = project.run_capture("train.py")
    assert run.status == "completed"
    assert scalars(run) == [
        ("loss", 2.0, 0),
        ("loss", 1.5, 1),
        ("acc", 0.25, 1),
        ("val/loss", 0.001, 1),
        ("loss", 0.25, 5),
        ("loss", 0.125, 5),
    ]
    events = [os.path.basename(p) for p in glob.glob(run.guild_path("*tfevents*"))]
    assert len(events) == 1 and events[0].startswith("events.out.tfevents.")


def test_no_event_file_without_scalars(project):
    write(project.cwd, "quiet.py", "print('hello')\n")
    run, _out = project.run_capture("quiet.py")
    assert [p for p in findl(run.dir) if "tfevents" in p] == []


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


@pytest.mark.parametrize(
    "line, parsed",
    [
        ("loss: 1.5\n", {"loss": 1.5}),
        ("val/acc: -2e-3 \r\n", {"val/acc": -0.002}),
        ("x_metric: 1.123\n", {"x_metric": 1.123}),
        ("step: 10", {"step": 10.0}),
        ("a.b-c: .5", {"a.b-c": 0.5}),
        ("loss: 1.", {"loss": 1.0}),
        ("loss: +1", {"loss": 1.0}),
        ("loss: inf", {"loss": float("inf")}),
        ("loss: -Inf", {"loss": float("-inf")}),
        ("loss: 1.5 (best)", {"loss": 1.5}),
        ("loss: 1.5 (step 7)", {"loss": 1.5, "step": 7.0}),
        ("loss: 1.5 (7)", {"loss": 1.5, "step": 7.0}),
        ("9lives: 1", {"9lives": 1.0}),
        ("loss:1.5", {}),
        ("loss: 1.5 best", {}),
        ("two words: 1", {}),
        (" loss: 1", {}),
        ("loss: ", {}),
        ("loss: 1.2.3", {}),
        ("loss: e", {}),
        ("Traceback (most recent call last):", {}),
    ],
)
def test_output_scalars(line, parsed):
    assert oplib.output_scalars(line) == parsed


def test_output_scalar_nan():
    [(key, val)] = oplib.output_scalars("loss: NaN").items()
    assert key == "loss" and val != val


@pytest.mark.parametrize(
    "val, encoded",
    [
        (1.123, "1.123"),
        (1.0, "1.0"),
        (3, "3"),
        (True, "yes"),
        (False, "no"),
        (None, "null"),
        ("abc", "abc"),
        ("a b", "a b"),
        ("1", "'1'"),
        ("yes", "'yes'"),
        ("", "''"),
        ("it's", "it's"),
        ("y", "'y'"),
        (1e-10, "1.0e-10"),
    ],
)
def test_encode_flag_val(val, encoded):
    assert oplib.encode_flag_val(val) == encoded


def test_default_label():
    assert oplib.default_label({"x_flag": 1.123}) == "x_flag=1.123"
    assert oplib.default_label({"b": 1, "a": "x", "n": None}) == "a=x b=1"
    assert oplib.default_label({"s": "a b", "f": 1.23456789}) == "f=1.23456 s='a b'"
    assert oplib.default_label({}) == ""


def test_interrupted_op_is_terminated(project, monkeypatch):
    write(project.cwd, "slow.py", "import time\nprint('go', flush=True)\ntime.sleep(60)\n")

    def interrupt(self, line):
        raise KeyboardInterrupt()

    monkeypatch.setattr(oplib.OutputScalars, "log_line", interrupt)
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
