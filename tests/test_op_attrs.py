import pytest

from guild_tensorboard.runner import op_attrs
from guild_tensorboard.runner.harness import Project
from op_projects import write


@pytest.fixture
def project(tmp_path):
    return Project(str(tmp_path / "project"), guild_home=str(tmp_path / "home"))


def test_attrs_are_written_like_guild(project):
    write(project.cwd, "echo.py", "x = 'y'\n")
    run, _out = project.run_capture("echo.py")
    with open(run.guild_path("attrs", "exit_status")) as f:
        assert f.read() == "0\n"
    with open(run.guild_path("attrs", "flags")) as f:
        assert f.read() == "x: 'y'\n"
    assert run.get("flags") == {"x": "y"}


@pytest.mark.parametrize(
    "val, encoded",
    [
        (1, "1"),
        (None, "null"),
        (True, "true"),
        ("a", "a"),
        ("y", "'y'"),
        ("N", "'N'"),
        ("\u00e9", "\u00e9"),
        ({"b": 1, "a": [1, 2]}, "a:\n- 1\n- 2\nb: 1"),
    ],
)
def test_encode_yaml(val, encoded):
    assert op_attrs.encode_yaml(val) == encoded
