import os
import time

import yaml

from guild_tensorboard.runner import harness as _test
from guild_tensorboard.runs import run as runlib


def test_globals_names():
    g = _test.test_globals()
    assert set(g) == {
        "Project",
        "sample",
        "mkdtemp",
        "findl",
        "dir",
        "touch",
        "path",
        "dirname",
        "pprint",
        "sleep",
        "os",
        "print",
    }
    assert g["path"] is os.path.join
    assert g["dirname"] is os.path.dirname
    assert g["sleep"] is time.sleep


def test_sample_paths_exist():
    assert os.path.isdir(_test.sample("projects", "hparam-summaries"))
    assert os.path.isfile(_test.sample("projects", "hparam-summaries", "echo.py"))
    assert os.path.isfile(_test.sample("projects", "image-summaries", "guild.yml"))
    assert os.path.isabs(_test.sample())
    assert os.path.normpath(_test.sample()) == _test.sample()


def test_sample_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("GUILD_SAMPLES", str(tmp_path))
    assert _test.sample("projects") == os.path.join(str(tmp_path), "projects")


def test_findl_does_not_follow_links(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "file.txt").write_text("x")
    (root / "empty").mkdir()
    (root / ".hidden").write_text("x")
    target = tmp_path / "target"
    (target / "deep").mkdir(parents=True)
    (target / "deep" / "inside.txt").write_text("x")
    os.symlink(str(target), str(root / "dirlink"))
    os.symlink(str(target / "deep" / "inside.txt"), str(root / "a" / "filelink"))
    os.symlink(str(tmp_path / "gone"), str(root / "dangling"))
    assert _test.findl(str(root)) == [
        ".hidden",
        "a/b/file.txt",
        "a/filelink",
        "dangling",
        "dirlink",
    ]


def test_findl_missing_dir(tmp_path):
    assert _test.findl(str(tmp_path / "missing")) == []


def test_dir_is_sorted(tmp_path):
    for name in ["b", "a", ".c"]:
        (tmp_path / name).write_text("")
    assert _test.dir(str(tmp_path)) == [".c", "a", "b"]


def test_touch(tmp_path):
    path = str(tmp_path / "file")
    _test.touch(path)
    assert os.path.isfile(path)
    os.utime(path, (1000, 1000))
    _test.touch(path)
    assert abs(os.path.getmtime(path) - time.time()) < 60


def test_mkdtemp():
    path = _test.mkdtemp()
    assert os.path.isdir(path) and os.listdir(path) == []
    assert path != _test.mkdtemp()


def test_project_run_prints_output(capsys):
    project = _test.Project(_test.sample("projects", "hparam-summaries"))
    project.run("echo.py", {"x_flag": 1.123})
    assert capsys.readouterr().out == "x_metric: 1.123\n"
    [run] = project.list_runs()
    assert isinstance(run, runlib.Run)
    assert run.opref.op_name == "echo.py"
    assert run.get("label") == "x_flag=1.123"
    assert run.status == "completed"


def test_project_uses_its_own_guild_home(tmp_path):
    project = _test.Project(str(tmp_path), guild_home=str(tmp_path / "home"))
    assert project.guild_home == str(tmp_path / "home")
    assert project.list_runs() == []
    other = _test.Project(str(tmp_path))
    assert other.guild_home != project.guild_home


def test_image_project_run_dir():
    project = _test.Project(_test.sample("projects", "image-summaries"))
    run, out = project.run_capture("copy-images")
    assert out == ""
    assert _test.dir(run.dir) == [
        ".guild",
        "favicon-copy.png",
        "favicon.png",
        "heart-copy.jpg",
        "heart.jpg",
    ]
    assert os.path.islink(os.path.join(run.dir, "favicon.png"))
    assert os.path.islink(os.path.join(run.dir, "heart.jpg"))
    assert not os.path.islink(os.path.join(run.dir, "favicon-copy.png"))
    assert not os.path.islink(os.path.join(run.dir, "heart-copy.jpg"))
    assert [p for p in _test.findl(run.dir) if "tfevents" in p] == []


def test_list_runs_newest_first():
    project = _test.Project(_test.sample("projects", "hparam-summaries"))
    for x in (1.0, 2.0, 3.0):
        project.run_capture("echo.py", {"x_flag": x})
    runs = project.list_runs()
    assert [run.get("flags")["x_flag"] for run in runs] == [3.0, 2.0, 1.0]


def test_list_runs_orders_by_started_then_mtime(tmp_path):
    runs_dir = tmp_path / "runs"
    for run_id, started, mtime in [
        ("old", 1000, 5000),
        ("new", 3000, 1000),
        ("mid", 2000, 1000),
        ("pending", None, 2_000_000),
    ]:
        attrs = runs_dir / run_id / ".guild" / "attrs"
        attrs.mkdir(parents=True)
        if started is not None:
            (attrs / "started").write_text(yaml.safe_dump(started * 1_000_000))
        os.utime(str(runs_dir / run_id), (mtime, mtime))
    (runs_dir / "not-a-run").mkdir()
    (runs_dir / "stray-file").write_text("")
    ids = [run.id for run in _test.list_runs(str(runs_dir))]
    assert ids == ["pending", "new", "mid", "old"]


def test_pprint_one_item_per_line(capsys):
    _test.pprint(["x" * 50, "y" * 50])
    assert capsys.readouterr().out == "['%s',\n '%s']\n" % ("x" * 50, "y" * 50)


def test_project_run_prints_nothing_for_no_output(capsys, tmp_path):
    (tmp_path / "quiet.py").write_text("pass\n")
    project = _test.Project(str(tmp_path), guild_home=str(tmp_path / "home"))
    project.run("quiet.py")
    assert capsys.readouterr().out == ""


def test_print_shows_float_fields_in_full(capsys):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    value = summary_pb2.Summary.Value(tag="x\u00e9", simple_value=1.123)
    event = event_pb2.Event(step=3, summary=summary_pb2.Summary(value=[value]))
    _test.print_(event)
    assert capsys.readouterr().out == (
        "step: 3\n"
        "summary {\n"
        "  value {\n"
        '    tag: "x\\303\\251"\n'
        "    simple_value: 1.1230000257492065\n"
        "  }\n"
        "}\n\n"
    )


def test_print_matches_protobuf_text_format_apart_from_floats(capsys):
    from google.protobuf import text_format
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo(group_name="g", start_time_secs=2.0)
    start.hparams["b"].string_value = "two"
    start.hparams["a"].bool_value = True
    data = plugin_data_pb2.HParamsPluginData(version=0, session_start_info=start)
    image = summary_pb2.Summary.Image(height=2, encoded_image_string=b"\x89PNG\r\n")
    for msg in (data, image):
        _test.print_(msg, "after")
        expected = text_format.MessageToString(msg) + " after\n"
        assert capsys.readouterr().out == expected
