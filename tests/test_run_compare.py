import os

from guild_tensorboard.monitor import run_compare

from guild_runs import make_run


def test_compare_spec_scalar_columns():
    spec = ["=lr", ".label", "loss", "min loss as best", "train#acc step", "last val#loss", 7, "'bad"]
    assert run_compare.compare_spec_metrics(spec) == [
        ("", "loss"), ("train", "acc"), ("val", "loss"), ("", "'bad"),
    ]


def test_run_attr_compare_wins(tmp_path):
    run = make_run(str(tmp_path), compare=["=lr", "acc"], scalars={".guild": {"loss": [(1, 1.0)]}})
    assert run_compare.run_metrics(run) == [("", "acc")]


def test_guildfile_compare_operation_only_form(tmp_path):
    guildfile = tmp_path / "guild.yml"
    guildfile.write_text("train:\n  compare: [loss, 'eval#acc', '=lr']\n")
    run = make_run(str(tmp_path / "home" / "runs"), guildfile=str(guildfile))
    assert run_compare.run_metrics(run) == [("", "loss"), ("eval", "acc")]


def test_guildfile_compare_model_form(tmp_path):
    guildfile = tmp_path / "guild.yml"
    guildfile.write_text(
        "- model: cnn\n  operations:\n    train:\n      compare: [f1]\n"
        "- model: ''\n  operations:\n    train:\n      compare: [other]\n"
    )
    run = make_run(str(tmp_path / "home" / "runs"), model="cnn", guildfile=str(guildfile))
    assert run_compare.run_metrics(run) == [("", "f1")]


def test_missing_guildfile_falls_back_to_scalars(tmp_path):
    run = make_run(
        str(tmp_path / "home" / "runs"),
        guildfile=str(tmp_path / "gone.yml"),
        scalars={
            ".guild": {"loss": [(1, 1.0)], "sys/cpu": [(1, 9.0)]},
            "": {"acc": [(1, 0.5)]},
            "train": {"acc": [(1, 0.5)], "grad/norm": [(1, 2.0)]},
            os.path.join("eval", "deep"): {"acc": [(1, 0.4)]},
        },
    )
    assert run_compare.run_metrics(run) == [
        ("", "acc"), ("", "loss"), ("eval/deep", "acc"), ("train", "acc"),
    ]
