import os

from tensorboard.compat.proto import event_pb2, summary_pb2

from guild_tensorboard.events.records import encode_record
from guild_tensorboard.monitor.runs_monitor import RunsMonitor
from guild_tensorboard.events.tfevent import ScalarReader

import faults
from guild_runs import finish_run, make_run


def _event(step, val=1.0):
    value = summary_pb2.Summary.Value(tag="loss", simple_value=val)
    return event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value])).SerializeToString()


def _steps(folder):
    return [step for _tag, _val, step in ScalarReader(folder)]


def test_a_growing_file_damaged_later_is_repaired_and_extended(tmp_path):
    runs_dir = str(tmp_path / "home" / "runs")
    run = make_run(runs_dir, lock_pid=os.getpid(), files={"train/events.out.tfevents.1.x": encode_record(_event(1))})
    path = os.path.join(run.dir, "train", "events.out.tfevents.1.x")
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: [run])
    monitor.run_once()
    train = os.path.join(faults.run_folder(logdir, run), "train")
    assert os.path.islink(train)  # a subfolder with nothing to hide: linked whole
    assert os.listdir(train) == ["events.out.tfevents.1.x"]

    with open(path, "ab") as f:  # the running run writes a corrupt record
        f.write(faults.bad_crc_events([_event(2)], _event(3), [_event(4)]))
    monitor.run_once()
    assert not os.path.islink(train)  # now mirrored, to hide the damaged file
    assert os.listdir(train) == ["events.out.tfevents.1.x.repaired"]
    assert _steps(train) == [1, 2, 4]

    with open(path, "ab") as f:
        f.write(encode_record(_event(5)))
    monitor.run_once()
    assert _steps(train) == [1, 2, 4, 5]

    finish_run(run)
    os.unlink(path)
    monitor.run_once()
    assert os.path.islink(train)  # nothing to hide any more: linked whole again
    assert os.listdir(train) == []


def test_records_are_verified_within_a_time_budget_per_pass(tmp_path, monkeypatch):
    from guild_tensorboard.monitor import runs_monitor

    runs_dir = str(tmp_path / "home" / "runs")
    damaged = faults.bad_crc_events([_event(1)], _event(2), [_event(3)])
    run = make_run(runs_dir, files={"eval/events.out.tfevents.1.x": damaged})
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: [run])
    monkeypatch.setattr(runs_monitor, "VERIFY_SECONDS", 0)
    monitor.run_once()
    eval_dir = os.path.join(faults.run_folder(logdir, run), "eval")
    assert os.path.islink(eval_dir)  # lengths are fine: shown as it is, for now
    monkeypatch.setattr(runs_monitor, "VERIFY_SECONDS", 1)
    monitor.run_once()  # nothing changed, but the pass verifies the records
    assert not os.path.islink(eval_dir)
    assert _steps(eval_dir) == [1, 3]
