import atexit
import os
import shutil
import tempfile

from hypothesis import given, settings, strategies as st

from guild_tensorboard.runs import run_names

_ROOT = tempfile.mkdtemp(prefix="guild-names-")
atexit.register(shutil.rmtree, _ROOT, True)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.text(alphabet="./\\\n\u2026 \x00\udcff", max_size=40))
def test_any_name_becomes_one_safe_path_component(name):
    safe = run_names.safe_run_name(name)
    assert safe not in ("", ".", "..")
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert len(safe.encode("utf-8")) <= run_names.MAX_NAME_BYTES
    assert run_names.safe_run_name(safe) == safe
    path = os.path.join(_ROOT, safe)
    assert os.path.dirname(path) == _ROOT
    os.makedirs(path, exist_ok=True)  # the file system accepts it
    assert os.path.isdir(path)
