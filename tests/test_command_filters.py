"""The command's run filters against Guild's own: for each filter, the
runs it shows are those real Guild 0.9.0's `guild runs` selects from the
same home (recorded in `guild_selections.json`, see `guild_selections.py`)."""

import datetime
import json
import os
import time

import pytest

from guild_tensorboard.runs import runs_dir as runs_dirlib
from guild_tensorboard.serving import command

import guild_selections

with open(guild_selections.RECORDED) as f:
    RECORDED = json.load(f)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("guild-home")
    guild_selections.build_home(str(home / "runs"))
    return str(home)


@pytest.fixture
def at_ref(monkeypatch):
    """Local time in guild_selections.TZ, and now its REF, as recorded."""
    monkeypatch.setenv("TZ", guild_selections.TZ)
    time.tzset()

    class Clock(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return guild_selections.REF

    monkeypatch.setattr(runs_dirlib.datetime, "datetime", Clock)
    yield
    monkeypatch.undo()
    time.tzset()


def _shown(home, argv):
    args = command.parse_args([home] + argv)
    return [run.id[:8] for run in command.runs_source(args, home)()]


def test_the_selections_were_recorded_from_guild_0_9_0():
    assert RECORDED["guild"] == "guild 0.9.0"
    assert sorted(RECORDED["selections"]) == sorted(map(guild_selections.key, guild_selections.FILTERS))


@pytest.mark.parametrize("argv", guild_selections.FILTERS, ids=lambda argv: guild_selections.key(argv) or "none")
def test_a_filter_shows_what_guild_runs_selects(home, at_ref, argv):
    selected = RECORDED["selections"][guild_selections.key(argv)]
    if isinstance(selected, dict):  # Guild refused it: so does the command
        with pytest.raises(command.UsageError) as e:
            _shown(home, argv)
        assert e.value.exit_status == 2
        assert "syntax error" in str(e.value) or "-Fs" in str(e.value)
    else:
        assert _shown(home, argv) == selected


def test_the_clock_is_read_at_each_listing(home, at_ref, monkeypatch):
    args = command.parse_args([home, "-Fs", "last hour"])
    source = command.runs_source(args, home)
    assert [run.id[:8] for run in source()] == ["5e1ec707", "5e1ec706"]
    later = guild_selections.REF + datetime.timedelta(minutes=20)
    monkeypatch.setattr(guild_selections, "REF", later)
    assert [run.id[:8] for run in source()] == ["5e1ec707"]  # the staged run, initialized at 11:45, is now 65 minutes old


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-Fl", "x", "-Fu"], "--label and --unlabeled cannot both be used"),
        (["-Fm", "-Fn"], "--marked and --unmarked cannot both be used"),
        (["-Sxq"], "-S: unknown status letter 'x'"),
    ],
)
def test_filters_guild_refuses_are_usage_errors(home, argv, message):
    with pytest.raises(command.UsageError) as e:
        command.parse_args([home] + argv)
    assert str(e.value).startswith(message) and e.value.exit_status == 2


def test_guilds_spellings_of_host_and_staged(home):
    args = command.parse_args([home, "-h", "0.0.0.0", "-Sg"])
    assert args.host == "0.0.0.0" and args.statuses == ["staged"]
    assert command.parse_args([home, "-Ss"]).statuses == ["staged"]


def test_help_is_the_long_option(capsys):
    with pytest.raises(SystemExit) as e:
        command.parse_args(["--help"])
    assert e.value.code == 0
    assert "-h HOST, --host HOST" in capsys.readouterr().out


def test_runs_infile_lists_the_runs_it_names_read_again_each_time(home, tmp_path):
    infile = tmp_path / "runs.txt"
    args = command.parse_args([home, "--runs-infile", str(infile), "-Sc"])  # filters aside, as Guild
    source = command.runs_source(args, home)
    assert source() == []  # no file yet: no runs
    ids = [guild_selections.run_id(i) for i in (3, 0, 5)]
    infile.write_text("%s\n%s not-a-run ../runs %s %s\n" % (ids[0], ids[1], ids[2], ids[0]))
    assert [run.id for run in source()] == ids  # the file's order, once each
    infile.write_text(ids[2])
    assert [run.id for run in source()] == [ids[2]]
    assert os.path.isdir(os.path.join(home, "runs", ids[0]))
