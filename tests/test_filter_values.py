"""What a filter expression's names find in a run: Guild's computed attrs,
flags, and scalars' last values, read again only when their files change."""

import os

from guild_tensorboard.events.summary import SummaryWriter
from guild_tensorboard.runs.filter_values import RunValues, run_scalars
from guild_tensorboard.runs.runs_dir import RunsLister

from test_runs_dir import T0, write_attr, write_run


def _info(runs_dir, run_id):
    return {info.run.id: info for info in RunsLister(runs_dir).infos()}[run_id]


def _scalars(dir, *points):
    os.makedirs(dir, exist_ok=True)
    with SummaryWriter(dir) as writer:
        for tag, val, step in points:
            writer.add_scalar(tag, val, step)


def test_names_are_attrs_then_flags_then_scalars(tmp_path):
    runs_dir = str(tmp_path)
    rid = write_run(runs_dir, op="train", model="m", started=T0, exit_status=0,
                    flags={"lr": 0.1, "op": "flag-op", "loss": 9})
    write_attr(runs_dir, rid, "stopped", T0 + 61_000_000)
    _scalars(os.path.join(runs_dir, rid), ("loss", 0.5, 1), ("acc", 0.75, 1))
    values = RunValues(_info(runs_dir, rid))
    assert values.lookup("op") == "train"  # the attr comes first
    assert values.lookup("flag:op") == "flag-op"
    assert values.lookup("loss") == 9  # the flag before the scalar
    assert values.lookup("scalar:loss") == 0.5
    assert values.lookup("acc") == 0.75
    assert values.lookup("status") == "completed"
    assert values.lookup("operation") == "m:train"
    assert values.lookup("time") == "0:01:01"
    assert values.lookup("run") == rid[:8]
    assert values.lookup("nothing") is None


def test_a_scalar_is_its_value_at_the_last_step_in_its_folder(tmp_path):
    runs_dir = str(tmp_path)
    rid = write_run(runs_dir, started=T0)
    run_dir = os.path.join(runs_dir, rid)
    _scalars(run_dir, ("loss", 0.125, 5), ("loss", 0.875, 2))
    _scalars(os.path.join(run_dir, "eval", "a"), ("loss", 0.375, 0))
    values = RunValues(_info(runs_dir, rid))
    assert values.lookup("loss") == 0.125
    assert values.lookup("eval/a#loss") == 0.375
    assert values.lookup("eval#loss") is None


def test_scalars_are_read_again_only_when_event_files_change(tmp_path):
    runs_dir = str(tmp_path)
    rid = write_run(runs_dir, started=T0)
    run_dir = os.path.join(runs_dir, rid)
    _scalars(run_dir, ("loss", 0.5, 0))
    info = _info(runs_dir, rid)
    first = run_scalars(info)
    assert run_scalars(info) is first  # nothing changed: not read again
    _scalars(run_dir, ("loss", 0.25, 1))  # a second event file
    assert run_scalars(info) == [("", "loss", 0.25)]


def test_links_are_followed_only_into_runs(tmp_path):
    runs_dir = str(tmp_path / "runs")
    step = write_run(runs_dir, started=T0)
    _scalars(os.path.join(runs_dir, step), ("loss", 0.625, 0))
    pipeline = write_run(runs_dir, started=T0 + 1)
    elsewhere = str(tmp_path / "elsewhere")
    _scalars(elsewhere, ("acc", 0.875, 0))
    os.symlink(os.path.join(runs_dir, step), os.path.join(runs_dir, pipeline, "step"))
    os.symlink(elsewhere, os.path.join(runs_dir, pipeline, "data"))
    os.symlink(os.path.join(runs_dir, pipeline), os.path.join(runs_dir, pipeline, "loop"))
    assert run_scalars(_info(runs_dir, pipeline)) == [("step", "loss", 0.625)]


def test_a_stopped_runs_folders_are_walked_again_only_now_and_then(tmp_path, monkeypatch):
    from guild_tensorboard.runs import filter_values

    runs_dir = str(tmp_path)
    rid = write_run(runs_dir, started=T0, exit_status=0)
    run_dir = os.path.join(runs_dir, rid)
    _scalars(run_dir, ("loss", 0.5, 0))
    info = _info(runs_dir, rid)
    assert run_scalars(info) == [("", "loss", 0.5)]
    _scalars(os.path.join(run_dir, "eval"), ("loss", 0.25, 0))  # written after it stopped
    assert run_scalars(info) == [("", "loss", 0.5)]  # not walked again yet
    monkeypatch.setattr(filter_values, "STOPPED_RUN_RECHECK", 0.0)
    assert run_scalars(info) == [("", "loss", 0.5), ("eval", "loss", 0.25)]
