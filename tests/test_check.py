"""`guild-tensorboard --check` (`guild_tensorboard.serving.check`), run as
a user runs it, under an open-files limit the test sets."""

import resource
import subprocess
import sys

from guild_tensorboard.runner import demo


def _check(*args, soft=None):
    def limit():
        if soft:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    proc = subprocess.run(
        [sys.executable, "-m", "guild.tensorboard", "--check"] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit, timeout=120,
    )
    report = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    return proc.returncode, report


def test_check_reports_versions_limits_and_the_runs(tmp_path):
    import google.protobuf
    import tensorboard

    home = str(tmp_path / "home")
    demo.build_sample_runs(home)
    status, report = _check(home, soft=256)
    assert status == 0 and report["result"] == "ok"
    assert report["tensorboard_version"] == tensorboard.__version__
    assert report["protobuf_version"] == google.protobuf.__version__
    assert "tensorboard_data_server" in report["data_server"]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        assert report["open_files_limit"].startswith("soft 256, hard %s; raised to %s" % (hard, hard))
        assert int(report["event_files_per_data_server"]) == hard - 64
    else:
        assert report["open_files_limit"].startswith("soft 256, hard unlimited; raised to ")
    assert report["runs_dir"] == home + "/runs" and report["runs"] == "4"
    assert "this package's monitor" in report["guild_tensorboard_module"]


def test_check_without_a_guild_home_exits_1(tmp_path):
    status, report = _check(str(tmp_path / "nope"))
    assert status == 1
    assert report["guild_home"].startswith("missing: ")
    assert report["result"] == "missing: guild home"


def test_check_says_when_a_folder_holds_no_runs(tmp_path):
    status, report = _check(str(tmp_path))
    assert status == 0
    assert report["runs"] == "0" and report["runs_hint"].startswith("no runs in %s" % tmp_path)
