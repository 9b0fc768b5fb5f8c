import os

from tensorboard.compat.proto import event_pb2, summary_pb2

from guild import _test
from guild.records import encode_record
from guild.tensorboard import RunsMonitor
from guild.tfevent import ScalarReader

import faults
from guild_runs import finish_run, make_run


def _event(step, val=1.0):
    value = summary_pb2.Summary.Value(tag="loss", simple_value=val)
    return event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value])).SerializeToString()


def _steps(folder):
    return [step for _tag, _val, step in ScalarReader(folder)]


def test_a_growing_file_damaged_later_is_repaired_and_extended(tmp_path):
    runs_dir = str(tmp_path / "runs")
    run = make_run(runs_dir, lock_pid=os.getpid(), files={"train/events.out.tfevents.1.x": encode_record(_event(1))})
    path = os.path.join(run.dir, "train", "events.out.tfevents.1.x")
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: [run])
    monitor.run_once()
    train = os.path.join(faults.run_folder(logdir, run), "train")
    assert os.listdir(train) == ["events.out.tfevents.1.x"]
    assert os.path.islink(os.path.join(train, "events.out.tfevents.1.x"))

    with open(path, "ab") as f:  # the running run writes a corrupt record
        f.write(faults.bad_crc_events([_event(2)], _event(3), [_event(4)]))
    monitor.run_once()
    assert os.listdir(train) == ["events.out.tfevents.1.x.repaired"]
    assert _steps(train) == [1, 2, 4]

    with open(path, "ab") as f:
        f.write(encode_record(_event(5)))
    monitor.run_once()
    assert _steps(train) == [1, 2, 4, 5]

    finish_run(run)
    os.unlink(path)
    monitor.run_once()
    assert not os.path.exists(train)
    assert _test.findl(os.path.join(run.dir, "train")) == []
