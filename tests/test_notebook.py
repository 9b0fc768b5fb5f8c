"""The notebook API in a real notebook: nbclient running an ipykernel."""

import json
import os
import sys
import urllib.error
import urllib.request

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from guild_tensorboard.runner import demo
from guild_tensorboard.serving import notebook

import faults

from tensorboard_client import wait_for

KERNEL_NAME = "guild-tensorboard-test"


@pytest.fixture(scope="module")
def guild_home(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("guild-home"))
    demo.build_sample_runs(home)
    return home


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A kernelspec for this Python, and Jupyter/IPython state in tmp_path."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "guild-tensorboard tests",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def _text_output(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def _errors(nb):
    return [out for cell in nb.cells for out in cell.get("outputs", []) if out.output_type == "error"]


def test_a_notebook_shows_tensorboard_inline_and_stops_it(guild_home, kernel_env, tmp_path):
    nb = new_notebook(
        cells=[
            new_code_cell(
                "from guild import notebook\n"
                "tb = notebook.start(%r, refresh_interval=1)\n"
                "print(tb.url)\n"
                "print(tb.logdir)" % guild_home
            ),
            new_code_cell("tb.display(height=600, tab='hparams')"),
            new_code_cell("tb"),
            new_code_cell("tb.stop()\nprint(tb)"),
            new_code_cell(  # a request served while a cell runs (its logs would land here)
                "import urllib.request\nimport time\n"
                "tb2 = notebook.start(%r, refresh_interval=1)\n"
                "urllib.request.urlopen(tb2.url + 'data/runs', timeout=30).read()\n"
                "time.sleep(1)\ntb2.stop()" % guild_home
            ),
        ]
    )
    client = NotebookClient(
        nb, kernel_name=KERNEL_NAME, timeout=120, allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},  # not the checkout: the installed package
    )
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        url, logdir = _text_output(nb.cells[0]).split()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert os.path.dirname(logdir) == str(tmp_path)

        client.execute_cell(nb.cells[1], 1)
        [display] = [out for out in nb.cells[1].outputs if out.output_type == "display_data"]
        html = display.data["text/html"]
        assert "<iframe" in html
        assert 'src="%s#hparams' % url in html
        assert 'height="600"' in html and 'width="100%"' in html

        client.execute_cell(nb.cells[2], 2)
        [result] = [out for out in nb.cells[2].outputs if out.output_type == "execute_result"]
        assert '<iframe' in result.data["text/html"] and 'src="%s' % url in result.data["text/html"]

        # The kernel serves TensorBoard: the HParams and Images data of the runs.
        # (TensorBoard's data server loads the log directory in the background.)
        wait_for(lambda: len([run for run in _get_json(url + "data/runs") if " echo.py " in run]) == 3)
        tags = wait_for(lambda: _get_json(url + "data/plugin/images/tags"))
        [images] = [tags[run] for run in tags if " copy-images " in run]
        assert sorted(images) == ["favicon-copy.png", "heart-copy.jpg"]
        assert len(faults.run_folders(logdir)) == 4

        client.execute_cell(nb.cells[3], 3)
        assert "stopped" in _text_output(nb.cells[3])
        client.execute_cell(nb.cells[4], 4)
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(url + "data/runs", timeout=5)
        assert not os.path.exists(logdir)
    assert not _errors(nb)
    # TensorBoard's requests are not logged into the cells.
    outputs = [out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])]
    assert not [text for text in outputs if "GET /" in text], outputs
    nbformat.validate(nb)


def _get_json(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def test_start_in_process_with_options(guild_home, tmp_path):
    logdir = str(tmp_path / "logdir")
    with notebook.start(
        guild_home, runs=["1:"], operations="echo.py", run_name_flags="x_flag", logdir=logdir, port=0
    ) as tb:
        assert notebook.running() == [tb]
        assert tb.wait(60)  # it serves at once; the runs come as the first pass goes
        flags = sorted(name.rsplit(" ", 1)[1] for name in faults.run_folders(logdir))
        assert flags == ["x_flag=-0.5", "x_flag=1.123", "x_flag=2.5"]
        assert _get_json(tb.url + "data/environment")
        assert "running at" in repr(tb)
    assert notebook.running() == []
    assert tb.stopped and "stopped" in repr(tb) and "stopped" in tb._repr_html_()
    assert os.path.isdir(logdir)  # a given log directory stays
    tb.stop()  # twice is fine


def test_start_takes_guilds_filters_as_keywords(tmp_path):
    import guild_selections

    home = str(tmp_path / "home")
    guild_selections.build_home(os.path.join(home, "runs"))
    logdir = str(tmp_path / "logdir")
    with notebook.start(home, tags="best", not_statuses=["error"], marked=True, logdir=logdir, log_images=False) as tb:
        assert tb.wait(60)
        shown = sorted(name.split(" ", 1)[0] for name in faults.run_folders(logdir))
    # -Ft best -Fm --not-error, as Guild selects: the one marked run tagged best
    assert shown == [guild_selections.run_id(0)[:8]]
    logdir = str(tmp_path / "logdir2")
    with notebook.start(home, filter_expr="optimizer in [adam, rmsprop] and loss < 1", started="after 2023-01-01",
                        logdir=logdir, log_images=False) as tb:
        assert tb.wait(60)
        shown = sorted(name.split(" ", 1)[0] for name in faults.run_folders(logdir))
    # -F ... -Fs ..., as Guild selects (guild_selections.json: runs 4 and 0 pass
    # -F, and run 0 started in 2022)
    assert shown == [guild_selections.run_id(4)[:8]]
    with pytest.raises(ValueError):
        notebook.start(home, filter_expr="loss <")
    with pytest.raises(ValueError):
        notebook.start(home, started="last week")


def test_start_raises_what_goes_wrong(tmp_path):
    from guild_tensorboard.runs.runs_dir import RunsDirError

    with pytest.raises(RunsDirError):
        notebook.start(str(tmp_path / "nope"))
    assert notebook.running() == []
