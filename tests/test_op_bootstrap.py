import ast
import json
import subprocess
import sys

import pytest

from guild_tensorboard.runner.op_bootstrap import BOOTSTRAP, assigned_name
from op_projects import write


def bootstrap(main, flags, sourcecode_dir, *args):
    cmd = [sys.executable, "-c", BOOTSTRAP, main, json.dumps(flags), sourcecode_dir]
    return subprocess.run(cmd + list(args), capture_output=True, text=True)


def test_bootstrap_runs_main_with_flags_rewritten(tmp_path):
    sourcecode = str(tmp_path / "src")
    write(sourcecode, "helper.py", "NAME = 'helper'\n")
    main = write(
        sourcecode,
        "pkg/main.py",
        """
        import sys
        import helper
        x = 1
        y: str = "a"
        z = 3
        print(x, y, z, sys.argv[1:], __name__, helper.NAME)
        raise ValueError(x)
        """,
    )
    proc = bootstrap(main, {"x": 2, "y": "b"}, sourcecode, "--a", "1")
    assert proc.stdout == "2 b 3 ['--a', '1'] __main__ helper\n"
    assert proc.returncode == 1
    assert 'main.py", line 7, in <module>' in proc.stderr
    assert "_exec_main" not in proc.stderr
    assert proc.stderr.endswith("ValueError: 2\n")


@pytest.mark.parametrize(
    "source, name",
    [
        ("x = 1", "x"),
        ("x: int = 1", "x"),
        ("x: int", "x"),
        ("(x): int = 1", None),
        ("a = b = 1", None),
        ("a, b = 1, 2", None),
        ("a.b = 1", None),
        ("x += 1", None),
        ("print(1)", None),
    ],
)
def test_assigned_name(source, name):
    [node] = ast.parse(source).body
    assert assigned_name(node) == name
