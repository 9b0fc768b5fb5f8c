import os

import pytest

from guild_tensorboard.runner import op_guildfile
from guild_tensorboard.runner.harness import Project, findl
from op_projects import write


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
    assert op_guildfile.script_flags(path) == {
        "lr": 0.1,
        "epochs": 10,
        "name": "mnist",
        "debug": False,
        "nothing": None,
        "neg": -2.5,
    }


def test_unknown_operation(project):
    os.makedirs(project.cwd)
    with pytest.raises(op_guildfile.OpError, match="cannot find operation"):
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
    with pytest.raises(op_guildfile.OpError, match="missing.txt"):
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
