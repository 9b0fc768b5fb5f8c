import glob
import os

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from guild_tensorboard.runner import op_output_scalars
from guild_tensorboard.runner.harness import Project, findl
from op_projects import write


def scalars(run):
    """`(tag, value, step)` of the run's output scalars, via TensorBoard."""
    files = sorted(glob.glob(run.guild_path("*tfevents*")))
    result = []
    for path in files:
        for event in EventFileLoader(path).Load():
            for value in event.summary.value:
                result.append((value.tag, _value(value), event.step))
    return result


def _value(value):
    if value.HasField("simple_value"):
        return round(value.simple_value, 5)
    from tensorboard.util import tensor_util

    return round(float(tensor_util.make_ndarray(value.tensor)), 5)


@pytest.fixture
def project(tmp_path):
    return Project(str(tmp_path / "project"), guild_home=str(tmp_path / "home"))


def test_output_scalars_with_steps(project):
    write(
        project.cwd,
        "train.py",
        """
        print("loss: 2.0")
        print("step: 1")
        print("loss: 1.5")
        print("acc: 0.25")
        print("not a scalar: 1")
        print("val/loss: 1e-3")
        print("step: 3")
        print("loss:0.5")
        print("loss: nan-ish")
        print("loss: 0.25 (step 5)")
        print("loss: 0.125")
        """,
    )
    run, out = project.run_capture("train.py")
    assert run.status == "completed"
    assert scalars(run) == [
        ("loss", 2.0, 0),
        ("loss", 1.5, 1),
        ("acc", 0.25, 1),
        ("val/loss", 0.001, 1),
        ("loss", 0.25, 5),
        ("loss", 0.125, 5),
    ]
    events = [os.path.basename(p) for p in glob.glob(run.guild_path("*tfevents*"))]
    assert len(events) == 1 and events[0].startswith("events.out.tfevents.")


def test_no_event_file_without_scalars(project):
    write(project.cwd, "quiet.py", "print('hello')\n")
    run, _out = project.run_capture("quiet.py")
    assert [p for p in findl(run.dir) if "tfevents" in p] == []


@pytest.mark.parametrize(
    "line, parsed",
    [
        ("loss: 1.5\n", {"loss": 1.5}),
        ("val/acc: -2e-3 \r\n", {"val/acc": -0.002}),
        ("x_metric: 1.123\n", {"x_metric": 1.123}),
        ("step: 10", {"step": 10.0}),
        ("a.b-c: .5", {"a.b-c": 0.5}),
        ("loss: 1.", {"loss": 1.0}),
        ("loss: +1", {"loss": 1.0}),
        ("loss: inf", {"loss": float("inf")}),
        ("loss: -Inf", {"loss": float("-inf")}),
        ("loss: 1.5 (best)", {"loss": 1.5}),
        ("loss: 1.5 (step 7)", {"loss": 1.5, "step": 7.0}),
        ("loss: 1.5 (7)", {"loss": 1.5, "step": 7.0}),
        ("9lives: 1", {"9lives": 1.0}),
        ("loss:1.5", {}),
        ("loss: 1.5 best", {}),
        ("two words: 1", {}),
        (" loss: 1", {}),
        ("loss: ", {}),
        ("loss: 1.2.3", {}),
        ("loss: e", {}),
        ("Traceback (most recent call last):", {}),
    ],
)
def test_output_scalars(line, parsed):
    assert op_output_scalars.output_scalars(line) == parsed


def test_output_scalar_nan():
    [(key, val)] = op_output_scalars.output_scalars("loss: NaN").items()
    assert key == "loss" and val != val
