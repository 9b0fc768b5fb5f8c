import os
import datetime

import pytest

from guild_tensorboard.runs import run_names
from guild_tensorboard.runs.run import Run

from guild_runs import make_run


def test_default_name(tmp_path):
    started = int(datetime.datetime(2024, 5, 6, 7, 8, 9).timestamp() * 1000000)
    run = make_run(str(tmp_path), model="cnn", op="train", label="lr=0.1 x", started=started)
    assert run_names.default_run_name(run) == "%s cnn:train 2024-05-06 07:08:09 lr=0.1 x" % run.short_id


def test_default_name_without_opref_or_started(tmp_path):
    run_dir = tmp_path / ("a" * 32)
    (run_dir / ".guild").mkdir(parents=True)
    assert run_names.default_run_name(Run("a" * 32, str(run_dir))) == "aaaaaaaa ?"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a/b\\c", "a_b_c"),
        ("../../etc", ".._.._etc"),
        ("..", "_.."),
        (".", "_."),
        ("", "_"),
        ("line1\nline2\r\tend", "line1 line2 end"),
        ("wait\u2026", "wait?"),
        ("caf\u00e9 \u6f22\u5b57", "caf\u00e9 \u6f22\u5b57"),
        ("bad\udcffsurrogate", "bad?surrogate"),
    ],
)
def test_safe_run_name(name, expected):
    assert run_names.safe_run_name(name) == expected


def test_safe_run_name_caps_bytes_on_a_character_boundary(tmp_path):
    name = run_names.safe_run_name("\u6f22" * 10000)
    assert len(name.encode("utf-8")) <= run_names.MAX_NAME_BYTES
    assert set(name) == {"\u6f22"}
    os.mkdir(tmp_path / name)  # the file system accepts it


def test_a_batch_runs_operation_is_its_prototypes_and_its_own(tmp_path):
    """As `guild runs` shows them: `train+`, `train+skopt:gp`."""
    from guild_tensorboard.runs import run as runlib
    from guild_tensorboard.runs.run_names import run_op_desc

    def write_opref(run_dir, model, op):
        os.makedirs(os.path.join(run_dir, ".guild"), exist_ok=True)
        with open(os.path.join(run_dir, ".guild", "opref"), "w") as f:
            f.write("guildfile:/p/guild.yml 0123abcd %s %s\n" % (model or "''", op))

    plain, batch, optimizer = (str(tmp_path / name) for name in ("plain", "batch", "optimizer"))
    write_opref(plain, "", "train")
    write_opref(batch, "", "+")
    write_opref(os.path.join(batch, ".guild", "proto"), "", "train")
    write_opref(optimizer, "skopt", "gp")
    write_opref(os.path.join(optimizer, ".guild", "proto"), "m", "train")
    assert run_op_desc(runlib.for_dir(plain)) == "train"
    assert run_op_desc(runlib.for_dir(batch)) == "train+"
    assert run_op_desc(runlib.for_dir(optimizer)) == "m:train+skopt:gp"
