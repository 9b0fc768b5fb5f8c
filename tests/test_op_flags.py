import pytest

from guild_tensorboard.runner import op as oplib
from guild_tensorboard.runner import op_flags
from guild_tensorboard.runner.harness import Project
from op_projects import write


@pytest.fixture
def project(tmp_path):
    return Project(str(tmp_path / "project"), guild_home=str(tmp_path / "home"))


def test_flag_values_given_as_strings_are_decoded(project):
    write(project.cwd, "echo.py", "x = 1.0\nprint(repr(x))\n")
    _run, out = project.run_capture("echo.py", {"x": "2"})
    assert out == "2\n"


def test_unknown_flag_is_an_error_and_creates_no_run(project):
    write(project.cwd, "echo.py", "x = 1\n")
    with pytest.raises(oplib.OpError, match="unsupported flag"):
        project.run_capture("echo.py", {"y": 2})
    assert project.list_runs() == []


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
    assert op_flags.encode_flag_val(val) == encoded


def test_default_label():
    assert op_flags.default_label({"x_flag": 1.123}) == "x_flag=1.123"
    assert op_flags.default_label({"b": 1, "a": "x", "n": None}) == "a=x b=1"
    assert op_flags.default_label({"s": "a b", "f": 1.23456789}) == "f=1.23456 s='a b'"
    assert op_flags.default_label({}) == ""
