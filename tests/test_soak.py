"""A bounded soak: the polling thread runs while another thread creates,
grows and deletes runs for a minute; afterwards the log directory matches
the runs exactly."""

import logging
import os
import random
import shutil
import threading
import time

from guild_tensorboard.runner import harness as _test
from guild_tensorboard.monitor import run_links
from guild_tensorboard.events.records import encode_record
from guild_tensorboard.monitor.runs_monitor import RunsMonitor
from tensorboard.compat.proto import event_pb2, summary_pb2

import faults
from guild_runs import make_run

SOAK_SECONDS = float(os.getenv("GUILD_SOAK_SECONDS", "60"))


def _event(step):
    value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / step)
    return event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value])).SerializeToString()


def _churn(runs_dir, stop, rng, counts):
    live = []
    step = 0
    while not stop.is_set():
        op = rng.random()
        if op < 0.35 or len(live) < 3:
            run = make_run(runs_dir, flags={"i": counts["created"]}, files={"out/a.txt": b"a"})
            if rng.random() < 0.5:
                faults.good_png(os.path.join(run.dir, "plot.png"))
            live.append(run)
            counts["created"] += 1
        elif op < 0.7:
            run = rng.choice(live)
            step += 1
            path = os.path.join(run.dir, "train", "events.out.tfevents.1.soak")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "ab") as f:
                f.write(encode_record(_event(step)))
            counts["grown"] += 1
        elif op < 0.85:
            run = rng.choice(live)
            with open(os.path.join(run.dir, "out", "f%d.txt" % rng.randrange(5)), "w") as f:
                f.write("x")
        else:
            run = live.pop(rng.randrange(len(live)))
            shutil.rmtree(run.dir)
            counts["deleted"] += 1
        time.sleep(rng.uniform(0, 0.03))


def test_soak(tmp_path, caplog):
    runs_dir = str(tmp_path / "home" / "runs")
    os.makedirs(runs_dir)
    logdir = str(tmp_path / "logdir")
    monitor = RunsMonitor(logdir, lambda: _test.list_runs(runs_dir), interval=0.1)
    stop = threading.Event()
    counts = {"created": 0, "grown": 0, "deleted": 0}
    churn = threading.Thread(target=_churn, args=(runs_dir, stop, random.Random(7), counts))
    with caplog.at_level(logging.WARNING, "guild"):
        monitor.start()
        churn.start()
        deadline = time.time() + SOAK_SECONDS
        while time.time() < deadline:
            assert monitor.is_alive()
            time.sleep(0.5)
        stop.set()
        churn.join()
        assert monitor.is_alive()
        monitor.stop()
        monitor.run_once()
    assert not [r for r in caplog.records if "pass failed" in r.getMessage()]
    assert counts["created"] > 50 and counts["deleted"] > 10 and counts["grown"] > 50

    runs = _test.list_runs(runs_dir)
    folders = faults.run_folders(logdir)
    assert sorted(name.split()[0] for name in folders) == sorted(run.short_id for run in runs)
    for run in runs:
        folder = faults.run_folder(logdir, run)
        expected = run_links.RunTree(run.dir, (".images",)).links()
        found = {
            os.path.relpath(os.path.join(d, n), folder)
            for d, dirs, names in os.walk(folder)
            for n in dirs + names
            if os.path.islink(os.path.join(d, n))
        }
        assert found == set(expected), run.id
        faults.assert_complete(logdir, run)
