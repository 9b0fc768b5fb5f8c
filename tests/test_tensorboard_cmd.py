"""The guild-tensorboard command: arguments, --test-logdir, --export-scalars,
filters, serving and Ctrl+C."""

import argparse
import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from guild_tensorboard.runner import demo
from guild_tensorboard.serving import progress
from guild_tensorboard.monitor import base as run_util
from guild_tensorboard.serving import command as tensorboard_cmd
from guild_tensorboard.serving import session as tensorboard_session
from guild_tensorboard.monitor.runs_monitor import RunsMonitor

from run_snapshot import snapshot
from command_process import CommandProcess, pid_is_running
from tensorboard_client import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
X_FLAGS = [flags["x_flag"] for flags in demo.SAMPLE_FLAGS]


@pytest.fixture(scope="module")
def guild_home(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("guild-home"))
    demo.build_sample_runs(home)
    return home


@pytest.fixture
def runs(guild_home):
    from guild_tensorboard.runs.runs_dir import RunsLister

    return RunsLister(os.path.join(guild_home, "runs"))()


@pytest.fixture(autouse=True)
def _own_tmpdir(tmp_path, monkeypatch):
    """Temporary log directories go under the test's own folder."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("BROWSER", raising=False)
    return tmp


def main(capsys, *argv):
    """Runs the command in this process: `(exit status, stdout, stderr)`."""
    status = tensorboard_cmd.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_folders(logdir):
    return sorted(name for name in os.listdir(logdir) if not name.startswith("."))


# Arguments


def test_defaults(monkeypatch):
    monkeypatch.chdir(ROOT)
    args = tensorboard_cmd.parse_args([])
    assert (args.host, args.port, args.refresh_interval) == ("127.0.0.1", 0, 5)
    assert args.guild_home is None and args.runs == [] and not args.demo
    assert not (args.no_open or args.skip_images or args.skip_hparams or args.include_batch)
    assert args.tensorboard_options == {} and args.statuses == []


def test_the_first_argument_is_the_home_when_it_looks_like_a_path(guild_home, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = tensorboard_cmd.parse_args([guild_home, "1", "abc"])
    assert (args.guild_home, args.runs) == (guild_home, ["1", "abc"])
    args = tensorboard_cmd.parse_args(["1", "abc"])
    assert (args.guild_home, args.runs) == (None, ["1", "abc"])
    assert tensorboard_cmd.parse_args(["./x"]).guild_home == "./x"
    assert tensorboard_cmd.parse_args(["~/runs"]).guild_home == "~/runs"
    args = tensorboard_cmd.parse_args(["demo", "-n", "2"])
    assert (args.demo, args.guild_home, args.runs, args.no_open) == (True, None, ["2"], True)


def test_all_options_parse(monkeypatch):
    monkeypatch.chdir(ROOT)
    args = tensorboard_cmd.parse_args(
        "home/ 1 --host 0.0.0.0 -p 8080 --refresh-interval 0.5 --skip-images --skip-hparams "
        "--run-name-flags x,y -O reload_multifile=true -O samples-per-plugin=images=5 --tab hparams -n "
        "--logdir /tmp/l --keep-logdir --include-batch -Fo train -Fl best -Sr -Sc -Se -St "
        "-Ft t1 -Fc note -Fm -Fd abc --not-pending -Sps".split()
    )
    assert args.guild_home == "home/" and args.runs == ["1"]
    assert (args.host, args.port, args.refresh_interval) == ("0.0.0.0", 8080, 0.5)
    assert args.skip_images and args.skip_hparams and args.no_open and args.keep_logdir
    assert args.run_name_flags == "x,y" and args.tab == "hparams" and args.logdir == "/tmp/l"
    assert args.tensorboard_options == {"reload_multifile": "true", "samples_per_plugin": "images=5"}
    assert args.operations == ["train"] and args.labels == ["best"]
    assert args.statuses == ["running", "completed", "error", "terminated", "pending", "staged"]
    assert args.not_statuses == ["pending"]
    assert (args.tags, args.comments, args.marked, args.digest) == (["t1"], ["note"], True, "abc")
    assert args.include_batch


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["-p", "70000"], "port must be 0 to 65535"),
        (["-p", "http"], "port must be a number"),
        (["--refresh-interval", "0"], "must be more than 0 seconds"),
        (["--refresh-interval", "soon"], "must be a number of seconds"),
        (["-O", "reload_interval"], "-O expects OPTION=VALUE"),
        (["-O", "logdir=/x"], "use guild-tensorboard --logdir instead"),
        (["-O", "port=1"], "use guild-tensorboard --port instead"),
        (["--test-logdir", "--export-scalars", "-"], "can't be used together"),
        (["--tab", "hparam"], "--tab: no dashboard 'hparam' (one of timeseries, scalars"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message):
    status, out, err = main(capsys, *argv)
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("guild-tensorboard: error: ")
    assert message in err


def _export_stderr(folder):
    proc = subprocess.run(
        [sys.executable, "-m", "guild.tensorboard", str(folder), "--export-scalars", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(folder), timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("layout", ["empty", "project"])
def test_a_folder_without_runs_says_what_was_probably_meant(tmp_path, layout):
    folder = tmp_path / "folder"
    folder.mkdir()
    if layout == "project":  # a project's folder, its runs in .guild/runs
        (folder / ".guild" / "runs").mkdir(parents=True)
    (folder / "notes").mkdir()
    if layout == "project":
        said = "no runs in %s; its Guild home is %s (a project's .guild)" % (folder, folder / ".guild")
    else:
        said = "no runs in %s; a Guild home holds runs/, the default is $GUILD_HOME, else ~/.guild" % folder
    assert _export_stderr(folder).splitlines() == ["WARNING: " + said]


def test_a_home_with_runs_gets_no_hint(guild_home):
    assert "no runs in" not in _export_stderr(guild_home)


def test_a_missing_guild_home_gives_one_line_and_exit_1(capsys, tmp_path, monkeypatch):
    status, out, err = main(capsys, str(tmp_path / "no-such-home"))
    assert (status, out) == (1, "")
    assert err == "guild-tensorboard: error: %s does not exist: no Guild home or runs directory there\n" % (
        tmp_path / "no-such-home"
    )
    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "unset-home"))
    status, out, err = main(capsys, "--test-logdir")
    assert status == 1 and len(err.splitlines()) == 1
    assert "unset-home does not exist" in err and "set GUILD_HOME" in err


def test_an_unmatched_selector_gives_one_line(capsys, guild_home):
    status, _, err = main(capsys, guild_home, "ffffffffff", "--test-logdir")
    assert status == 1
    assert err.splitlines()[-1] == "guild-tensorboard: error: no run matches 'ffffffffff' in %s" % os.path.join(
        guild_home, "runs"
    )


def test_an_invalid_tensorboard_option_gives_one_line(capsys, guild_home, monkeypatch):
    monkeypatch.setattr(tensorboard_session.Session, "serve_forever", _not_reached)
    status, out, err = main(capsys, guild_home, "-n", "-O", "no_such_flag=1")
    assert (status, out) == (2, "")  # a bad argument
    assert err.splitlines()[-1] == (
        "guild-tensorboard: error: invalid TensorBoard options: unrecognized arguments: --no_such_flag=1"
    )
    assert "usage:" not in err


def test_a_port_in_use_gives_one_line(capsys, guild_home, _own_tmpdir):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        status, out, err = main(capsys, guild_home, "-n", "-p", str(port))
    assert (status, out) == (1, "")
    assert re.match(r"guild-tensorboard: error: cannot serve on 127\.0\.0\.1:%i: .*in use" % port, err.splitlines()[-1])
    assert not [name for name in os.listdir(_own_tmpdir) if name.startswith("guild-")]


@pytest.mark.parametrize("host", ["no.such.host.invalid", "192.0.2.1"])  # unknown; not this machine's
def test_a_host_that_is_no_interface_here_is_a_bad_argument(capsys, guild_home, host):
    status, out, err = main(capsys, guild_home, "-n", "-h", host)
    assert (status, out) == (2, "")
    assert err.splitlines()[-1].startswith("guild-tensorboard: error: cannot serve on %s:0: " % host)
    assert "Errno" not in err


def test_an_unexpected_error_gives_one_line_unless_debugging(capsys, guild_home, monkeypatch):
    def boom(*args, **kw):
        raise OSError("disk on fire\nreally")

    monkeypatch.setattr(tensorboard_cmd, "export_scalars", boom)
    status, _, err = main(capsys, guild_home, "--export-scalars", "-")
    assert (status, err) == (1, "guild-tensorboard: error: disk on fire really (--debug shows where)\n")
    with pytest.raises(OSError):
        tensorboard_cmd.main([guild_home, "--export-scalars", "-", "--debug"])


def _not_reached(self):
    raise AssertionError("not reached")


def test_a_logdir_in_use_gives_one_line(capsys, guild_home, tmp_path):
    logdir = str(tmp_path / "logdir")
    other = RunsMonitor(logdir, lambda: [])
    other.run_once()
    try:
        status, out, err = main(capsys, guild_home, "--logdir", logdir, "--test-logdir")
    finally:
        other.stop()
    assert (status, out) == (1, "")
    assert err.splitlines()[-1] == (
        "guild-tensorboard: error: log directory %s is in use by another runs monitor" % logdir
    )
    assert issubclass(run_util.LogdirInUse, Exception)


@pytest.mark.parametrize(
    "where, message",
    [
        ("{home}", "is the Guild home"),
        ("{home}/runs", "is the runs directory"),
        ("{home}/runs/new", "lies inside the runs directory"),
        ("{run}", "lies inside the runs directory"),
        ("{run}/tb", "lies inside the runs directory"),
        ("{home}/cache/tb", "lies inside the Guild home"),
        ("{mine}", "is not empty and is not a log directory this command made"),
        ("{mine}/notes.txt", "is a file, not a folder"),
    ],
)
def test_a_logdir_among_the_runs_or_of_the_users_is_refused(capsys, guild_home, tmp_path, where, message):
    home = str(tmp_path / "home")
    shutil.copytree(guild_home, home, symlinks=True)
    run = os.path.join(home, "runs", sorted(os.listdir(os.path.join(home, "runs")))[0])
    mine = tmp_path / "mine"
    (mine / "exp1").mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    os.symlink(mine / "exp1", mine / "latest")
    (mine / "empty").mkdir()
    before = snapshot(str(tmp_path))
    logdir = where.format(home=home, run=run, mine=mine)
    status, out, err = main(capsys, home, "--logdir", logdir, "--test-logdir")
    assert (status, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith("guild-tensorboard: error: ") and message in line
    assert snapshot(str(tmp_path)) == before


def test_a_logdir_it_made_before_is_taken_again(capsys, guild_home, tmp_path):
    logdir = str(tmp_path / "tb")
    for _ in range(2):
        status, out, _ = main(capsys, guild_home, "--logdir", logdir, "--test-logdir")
        assert (status, out) == (0, logdir + "\n")
    assert len(run_folders(logdir)) == 4


def test_version(capsys):
    status, out, _ = main(capsys, "--version")
    assert status == 0
    assert re.match(r"guild-tensorboard \S+ \(TensorBoard \d+\.\d+", out)


# --test-logdir


def test_test_logdir_prepares_prints_the_path_and_keeps_it(capsys, guild_home, runs, _own_tmpdir):
    status, out, err = main(capsys, guild_home, "--test-logdir")
    assert status == 0
    logdir = out.strip()
    assert out == logdir + "\n"
    assert os.path.dirname(logdir) == str(_own_tmpdir)
    assert err.splitlines() == ["Preparing runs\u2026"]
    folders = run_folders(logdir)
    assert len(folders) == len(runs) == 4
    assert sorted(name.split()[0] for name in folders) == sorted(run.short_id for run in runs)
    for name in folders:
        assert "events.out.tfevents.9999999998.hparams" in os.listdir(os.path.join(logdir, name))
    [images_run] = [name for name in folders if " copy-images " in name]
    assert sorted(os.listdir(os.path.join(logdir, images_run, ".images")))[0].startswith("events.out.tfevents.")


def test_test_logdir_into_a_given_logdir(capsys, guild_home, tmp_path):
    logdir = str(tmp_path / "my-logdir")
    status, out, _ = main(capsys, guild_home, "--logdir", logdir, "--test-logdir")
    assert (status, out) == (0, logdir + "\n")
    assert len(run_folders(logdir)) == 4


def test_skip_options_and_run_name_flags(capsys, guild_home):
    _, out, _ = main(capsys, guild_home, "--test-logdir", "--skip-images", "--skip-hparams", "--run-name-flags", "x_flag")
    logdir = out.strip()
    folders = run_folders(logdir)
    echo_flags = sorted(name.rsplit(" ", 1)[1] for name in folders if " echo.py " in name)
    assert echo_flags == ["x_flag=-0.5", "x_flag=1.123", "x_flag=2.5"]
    [images_run] = [name for name in folders if " copy-images " in name]
    assert re.match(r"^\w{8} copy-images \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", images_run)
    for name in folders:
        files = os.listdir(os.path.join(logdir, name))
        assert ".images" not in files
        assert not any("9999999998.hparams" in f for f in files)


def test_selectors_and_filters_pick_the_run_folders(capsys, guild_home, runs):
    def folders(*argv):
        status, out, err = main(capsys, guild_home, "--test-logdir", *argv)
        assert status == 0, err
        return sorted(name.split()[0] for name in run_folders(out.strip()))

    short_ids = [run.short_id for run in runs]  # newest first
    assert folders("1") == short_ids[:1]
    assert folders("2:3") == sorted(short_ids[1:3])
    assert folders(runs[2].short_id) == [short_ids[2]]  # 8 digits or more: never an index
    assert folders("-Fo", "copy-images") == [r.short_id for r in runs if _op(r) == "copy-images"]
    assert folders("-Fo", "echo.py") == sorted(r.short_id for r in runs if _op(r) == "echo.py")
    assert folders("-Fo", "echo*") == folders("-Fo", "echo.py")
    assert folders("-Fl", "x_flag=2.5") == [r.short_id for r in runs if r.get("label") == "x_flag=2.5"]
    assert folders("-Fu") == [r.short_id for r in runs if not r.get("label")]
    assert folders("-Sc") == sorted(short_ids)
    assert folders("-Se") == folders("-Sr") == folders("-St") == []
    assert folders("-Fo", "echo.py", "1") == [next(r.short_id for r in runs if _op(r) == "echo.py")]


def _op(run):
    return run.opref.op_name


def test_demo_test_logdir_keeps_its_sample_home(capsys):
    status, out, err = main(capsys, "demo", "--test-logdir")
    assert status == 0
    logdir = out.strip()
    home = err.splitlines()[0].split(" in ", 1)[1]
    try:
        assert len(run_folders(logdir)) == 4
        assert len(os.listdir(os.path.join(home, "runs"))) == 4
    finally:
        shutil.rmtree(home)
        shutil.rmtree(logdir)


def test_the_console_script_is_the_command():
    from importlib import metadata

    [script] = [ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "guild-tensorboard"]
    assert script.value == "guild_tensorboard.serving.command:main"


def test_python_m_guild_demo_is_the_demo_command(monkeypatch):
    import guild.demo

    calls = []
    monkeypatch.setattr(tensorboard_cmd, "main", lambda argv: calls.append(argv) or 0)
    assert guild.demo.main(["-n", "--tab", "images"]) == 0
    assert calls == [["demo", "-n", "--tab", "images"]]


# --export-scalars


def test_export_scalars_to_stdout(capsys, guild_home, runs):
    status, out, err = main(capsys, guild_home, "--export-scalars", "-")
    assert (status, err) == (0, "")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["run", "path", "tag", "value", "step"]
    by_run = {row[0]: row for row in rows[1:]}
    echo_runs = [run for run in runs if _op(run) == "echo.py"]
    assert len(rows) == 1 + len(echo_runs)  # the copy-images run logs no scalars
    for run in echo_runs:
        run_id, path, tag, value, step = by_run[run.id]
        assert (path, tag, step) == (".guild", "x_metric", "0")
        assert float(value) == pytest.approx(run.get("flags")["x_flag"], rel=1e-6)
    assert [row[0] for row in rows[1:]] == [run.id for run in echo_runs]  # newest first


def test_export_scalars_to_a_file_with_a_filter(capsys, guild_home, runs, tmp_path):
    path = str(tmp_path / "scalars.csv")
    status, out, _ = main(capsys, guild_home, "--export-scalars", path, "-Fl", "x_flag=2.5")
    assert (status, out) == (0, "")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    [run] = [run for run in runs if run.get("label") == "x_flag=2.5"]
    assert rows == [["run", "path", "tag", "value", "step"], [run.id, ".guild", "x_metric", "2.5", "0"]]
    status, _, err = main(capsys, guild_home, "--export-scalars", str(tmp_path / "no" / "dir.csv"))
    assert status == 1 and "cannot write" in err and len(err.splitlines()) == 1


# Serving, in this process


def test_serving_opens_the_tab_and_cleans_up_on_ctrl_c(capsys, guild_home, monkeypatch, _own_tmpdir):
    opened = []
    seen = {}
    monkeypatch.setattr(tensorboard_cmd, "open_browser", opened.append)

    def serve_forever(session):
        seen["logdir"] = session.logdir
        seen["monitor_alive"] = session.monitor.is_alive()  # its first pass goes on as it serves
        assert session.wait(60)
        seen["folders"] = run_folders(session.logdir)
        raise KeyboardInterrupt()

    monkeypatch.setattr(tensorboard_session.Session, "serve_forever", serve_forever)
    status, out, err = main(capsys, guild_home, "--tab", "hparams", "--refresh-interval", "0.2")
    assert status == 0
    [line] = out.splitlines()
    url = re.match(r"Running TensorBoard \S+ at (http://127\.0\.0\.1:\d+/#hparams) \(Ctrl\+C to quit\)$", line).group(1)
    assert opened == [url]  # the printed URL names the tab too (no display: no browser)
    assert len(seen["folders"]) == 4 and seen["monitor_alive"]
    assert not os.path.exists(seen["logdir"])
    assert not [name for name in os.listdir(_own_tmpdir) if name.startswith("guild-")]
    assert not [t for t in threading.enumerate() if isinstance(t, run_util.LoopingThread) and t.is_alive()]


def test_keep_logdir_keeps_the_temporary_logdir(capsys, guild_home, monkeypatch):
    seen = {}

    def serve_forever(session):
        seen["logdir"] = session.logdir
        assert session.wait(60)
        raise KeyboardInterrupt()

    monkeypatch.setattr(tensorboard_session.Session, "serve_forever", serve_forever)
    assert main(capsys, guild_home, "-n", "--keep-logdir")[0] == 0
    assert len(run_folders(seen["logdir"])) == 4


def test_a_session_stops_its_server_monitor_and_data_server(guild_home, runs):
    from guild_tensorboard.runs.runs_dir import RunsSource

    data_servers_before = _data_servers()
    session = tensorboard_session.Session(RunsSource(os.path.join(guild_home, "runs")), refresh_interval=0.2)
    session.prepare()
    url = session.start_server("127.0.0.1", 0)
    session.start_monitor()
    session.serve_in_thread()
    import urllib.request

    with urllib.request.urlopen(url + "data/environment", timeout=30) as resp:
        assert resp.status == 200
    session.app._guild_shards.wait_started()
    data_servers = [pid for pid in _data_servers() if pid not in data_servers_before]
    assert data_servers  # one for each shard (see guild_tensorboard.serving.data_shards)
    thread = session.monitor._thread
    session.close()
    assert not thread.is_alive()
    assert not os.path.exists(session.logdir)
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "data/environment", timeout=5)
    wait_for(lambda: not any(pid_is_running(pid) for pid in data_servers), timeout=20)


def _data_servers():
    from command_process import child_pids

    return [
        pid
        for pid in child_pids(os.getpid())
        if pid_is_running(pid) and "tensorboard_data_server" in _cmdline(pid)
    ]


def _cmdline(pid):
    try:
        with open("/proc/%i/cmdline" % pid, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# The command in a subprocess: live refresh, Ctrl+C


@pytest.mark.parametrize("when", ["serving", "first pass"])
def test_ctrl_c_twice_still_removes_the_logdir(guild_home, tmp_path, when):
    """A second Ctrl+C while the command cleans up says so and lets it
    finish, at any moment, the first pass included."""
    for attempt in range(3):
        tmp = tmp_path / ("cmd-tmp-%d" % attempt)
        tmp.mkdir()
        with CommandProcess([guild_home, "-n", "-p", "0"], tmp, env={"TMPDIR": str(tmp)}) as cmd:
            [logdir] = [str(tmp / name) for name in os.listdir(tmp) if name.startswith("guild-tensorboard-")]
            if when == "serving":
                wait_for(lambda: len(run_folders(logdir)) == 4)
            cmd.proc.send_signal(signal.SIGINT)
            time.sleep(0.02 * attempt)
            cmd.proc.send_signal(signal.SIGINT)
            status = cmd.wait(60)
            assert status == 0, cmd.stderr()
            assert not os.path.exists(logdir), cmd.stderr()
            assert not [name for name in os.listdir(tmp) if name.startswith("guild-")]
            assert "Traceback" not in cmd.stderr()


def test_ctrl_c_stops_the_command_and_removes_its_logdir(guild_home, tmp_path):
    tmp = tmp_path / "cmd-tmp"
    tmp.mkdir()
    home = str(tmp_path / "home")
    shutil.copytree(guild_home, home, symlinks=True)
    with CommandProcess([home, "-n", "-p", "0", "--refresh-interval", "0.5"], tmp) as cmd:
        [logdir] = [str(tmp / name) for name in os.listdir(tmp) if name.startswith("guild-tensorboard-")]
        wait_for(lambda: len(run_folders(logdir)) == 4)  # the first pass goes on as it serves
        wait_for(lambda: len([run for run in cmd.get_json("data/runs") if " echo.py " in run]) == 3)
        # A run added while it serves shows without a restart.
        project = demo._test.Project(demo._test.sample("projects", "hparam-summaries"), home)
        new_run, _ = project.run_capture("echo.py", {"x_flag": 7.0})
        wait_for(lambda: any(run.startswith(new_run.short_id) for run in cmd.get_json("data/runs")), timeout=60)
        children = cmd.children()
        assert children, "TensorBoard's data server runs as a child process"
        status = cmd.interrupt()
        assert status == 0, cmd.stderr()
        assert not os.path.exists(logdir)
        assert not [name for name in os.listdir(tmp) if name.startswith("guild-")]
        wait_for(lambda: not any(pid_is_running(pid) for pid in children), timeout=20)
        assert "Traceback" not in cmd.stderr()
        assert cmd.stderr_lines[0] == "Preparing runs\u2026"
        assert re.match(r"Running TensorBoard \S+ at http://127\.0\.0\.1:\d+/ \(Ctrl\+C to quit\)$", cmd.stdout_lines[0])


def test_its_temporary_log_directory_is_in_memory(guild_home, tmp_path):
    """With TMPDIR not set, in /dev/shm; its image summaries too, within the
    image memory budget (past it they go to a store on disk: see
    test_run_images); both are gone once it quits."""
    tmp = tmp_path / "cmd-tmp"
    tmp.mkdir()
    shm_before = set(os.listdir("/dev/shm"))
    system_tmp = "/tmp"  # the command's temp folder without TMPDIR (this process's is the test's)
    tmp_before = set(os.listdir(system_tmp))
    with CommandProcess([guild_home, "-n"], tmp, env={"TMPDIR": ""}) as cmd:
        [logdir] = [
            os.path.join("/dev/shm", name) for name in set(os.listdir("/dev/shm")) - shm_before
            if name.startswith("guild-tensorboard-") and "-shards-" not in name
        ]
        [store] = [
            name for name in set(os.listdir(system_tmp)) - tmp_before
            if name.startswith("guild-tensorboard-images-")
        ]
        wait_for(lambda: len(run_folders(logdir)) == 4)
        [images_run] = [name for name in run_folders(logdir) if " copy-images " in name]
        images = os.path.join(logdir, images_run, ".images")
        wait_for(lambda: len(os.listdir(images)) == 2)
        assert not any(os.path.islink(os.path.join(images, n)) for n in os.listdir(images))
        tags = wait_for(lambda: cmd.get_json("data/plugin/images/tags").get(images_run + "/.images"))
        assert sorted(tags) == ["favicon-copy.png", "heart-copy.jpg"]
        assert cmd.interrupt() == 0, cmd.stderr()
    assert not os.path.exists(logdir)
    assert not os.path.exists(os.path.join(system_tmp, store))
    assert not [n for n in set(os.listdir("/dev/shm")) - shm_before if n.startswith("guild-tensorboard-")]


# Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_draws_on_a_terminal_once_the_pass_is_long():
    stream = _Terminal()
    bar = progress.ProgressBar(stream, delay=0, min_redraw=0)
    bar.start(4)
    for _ in range(4):
        bar.tick()
    bar.finish()
    lines = stream.getvalue().split("\r")
    assert lines[1] == " [#######.......................] 1/4 runs".lstrip()
    assert lines[-1] == "[##############################] 4/4 runs\n"


def test_progress_bar_is_quiet_when_quick_or_not_a_terminal():
    quick = _Terminal()
    bar = progress.ProgressBar(quick, delay=60)
    bar.start(3)
    bar.tick()
    bar.finish()
    assert quick.getvalue() == ""
    pipe = io.StringIO()
    bar = progress.ProgressBar(pipe, delay=0)
    bar.start(3)
    bar.tick()
    bar.finish()
    assert pipe.getvalue() == ""


def test_the_first_pass_ticks_the_progress_bar_per_run(guild_home):
    from guild_tensorboard.runs.runs_dir import RunsSource

    stream = _Terminal()
    bar = progress.ProgressBar(stream, delay=0, min_redraw=0)
    session = tensorboard_session.Session(RunsSource(os.path.join(guild_home, "runs")))
    try:
        session.prepare(bar)
    finally:
        session.close()
    assert stream.getvalue().endswith("[##############################] 4/4 runs\n")
    assert stream.getvalue().count("\r") == 5


# README


def test_readme_documents_every_option():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for action in tensorboard_cmd.parser()._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        for option in action.option_strings:
            assert "`%s" % option in readme or " %s" % option in readme, option


def test_readme_main_job_is_the_demo_command():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first = re.findall(r"^    (\S.*)$", section, re.M)[0]
    assert first.endswith("guild-tensorboard demo")
    assert sys.version_info >= (3, 9)


# The server


def test_a_data_server_that_does_not_start_leaves_its_runs_to_the_python_loader(
    monkeypatch, tmp_path, guild_home
):
    """A data server that exits at once (a real program, not a mock): its
    runs are served by TensorBoard's Python loader, with one warning; asked
    for by name (`-O load_fast=true`), the runs wait for it instead."""
    import json

    from werkzeug.test import Client

    from guild_tensorboard.serving import app as tensorboard_server

    failing = tmp_path / "data-server"
    failing.write_text("#!/bin/sh\necho 'no data server here' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("TENSORBOARD_DATA_SERVER_BINARY", str(failing))
    status, out, _ = main(capsys_none(), guild_home, "--logdir", str(tmp_path / "tb"), "--test-logdir")
    assert status == 0
    app = tensorboard_server.create_app(logdir=str(tmp_path / "tb"), reload_interval=1)
    try:
        def echo_runs():
            runs = json.loads(Client(app).get("/data/runs").get_data())
            return len([run for run in runs if " echo.py " in run]) == 3

        wait_for(echo_runs, timeout=60)
    finally:
        tensorboard_server.stop_app(app)


def capsys_none():
    class _Quiet:
        def readouterr(self):
            return "", ""

    return _Quiet()
