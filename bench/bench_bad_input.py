"""Bad input: what it costs the monitor, per pass and in all.

    python bench/bench_bad_input.py [--runs 50] [--dir DIR]

Two tables:

resync
  `guild_tensorboard.events.records.next_record_start` over 16 MiB of bytes that hold no
  record (random, zeros, a repeating 0..255 ramp, small little-endian
  integers, which put four zero bytes every few bytes), in ms a MiB: what
  finding the next good record past damage costs.

passes
  a runs monitor over a synthetic Guild home (`make_guild_home.py`, K=100,
  F=10, I=1) where one run in five also holds one kind of bad input: an
  event file with an 8 MiB zero tail, 256 MiB of zeros written mid-file
  (read in slices, a pass at a time), a 1 GiB sparse zero tail (a hole,
  skipped unread) with records after it, 1 MiB of random bytes mid-file, FIFOs and a device named like
  images and event files, names that are not UTF-8, files named like the
  monitor's own. It times every pass from the first until every event file
  is checked (`monitor._unverified` empty), and reports the first pass, the
  worst later pass, the passes it took, and whether the good records after
  each damage show in the log directory.
"""

import argparse
import logging
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import machine  # noqa: E402
import make_guild_home  # noqa: E402

from guild_tensorboard.events import records  # noqa: E402
from guild_tensorboard.runs.runs_dir import RunsSource  # noqa: E402
from guild_tensorboard.monitor.runs_monitor import RunsMonitor  # noqa: E402
from guild_tensorboard.events.tfevent import ScalarReader  # noqa: E402

logging.getLogger("guild").addHandler(logging.NullHandler())
logging.getLogger("guild").propagate = False

MIB = 1 << 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--dir", help="where to build the home and log directory (default: a temp dir)")
    p.add_argument("--max-passes", type=int, default=500)
    return p.parse_args(argv)


def resync_table():
    rng_bytes = os.urandom(16 * MIB)
    kinds = {
        "random": rng_bytes,
        "zeros": b"\0" * (16 * MIB),
        "ramp 0..255": bytes(range(256)) * (16 * MIB // 256),
        "small ints": struct.pack("<I", 7) * (4 * MIB),
    }
    rows = []
    for kind, buf in kinds.items():
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            records.next_record_start(buf, 0)
            times.append(time.perf_counter() - t0)
        rows.append((kind, statistics.median(times) * 1000 / 16))
    return rows


def event(step, tag="loss"):
    return records.encode_record(make_guild_home.scalar_event_bytes(tag, 1.0, step))


def add_bad_input(run_dir, kind):
    """Adds one kind of bad input to a run; returns `{subfolder: last step}`
    of the good records that must show past the damage."""
    head = b"".join(event(i) for i in range(3))
    path = os.path.join(run_dir, kind)
    os.makedirs(path, exist_ok=True)
    if kind == "zero-tail":
        _write(os.path.join(path, "events.out.tfevents.1.z"), head + b"\0" * (8 * MIB))
        return {}
    if kind == "written-zeros":
        name = os.path.join(path, "events.out.tfevents.1.w")
        with open(name, "wb") as f:
            f.write(head)
            block = b"\0" * (16 * MIB)
            for _ in range(16):  # 256 MiB of zeros on disk: no hole to skip
                f.write(block)
            f.write(event(97))
        return {kind: 97}
    if kind == "sparse-tail":
        name = os.path.join(path, "events.out.tfevents.1.s")
        _write(name, head)
        os.truncate(name, 1 << 30)
        with open(name, "ab") as f:
            f.write(event(99))
        return {kind: 99}
    if kind == "garbage":
        _write(os.path.join(path, "events.out.tfevents.1.g"), head + os.urandom(MIB) + event(98))
        return {kind: 98}
    if kind == "special":
        os.mkfifo(os.path.join(path, "live.png"))
        os.mkfifo(os.path.join(path, "events.out.tfevents.2.fifo"))
        os.symlink("/dev/zero", os.path.join(path, "frames.png"))
        return {}
    if kind == "names":
        b = os.fsencode(path)
        _write(os.path.join(b, b"h\xf6st.png"), b"not a png")
        _write(os.path.join(b, b"events.out.tfevents.3.\xff"), head)
        _write(os.path.join(run_dir, "events.out.tfevents.9999999998.hparams"), head)
        return {}
    raise ValueError(kind)


KINDS = ("zero-tail", "written-zeros", "sparse-tail", "garbage", "special", "names")


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def passes_table(args, root):
    home = os.path.join(root, "home")
    make_guild_home.make_home(home, args.runs, steps=100, files=10, images=1, seed=7)
    runs_dir = os.path.join(home, "runs")
    expected = {}
    for i, run_id in enumerate(sorted(os.listdir(runs_dir))):
        if i % 5 == 0:
            kind = KINDS[(i // 5) % len(KINDS)]
            expected[run_id] = add_bad_input(os.path.join(runs_dir, run_id), kind)
    logdir = os.path.join(root, "logdir")
    monitor = RunsMonitor(logdir, RunsSource(runs_dir))
    times = []
    for _ in range(args.max_passes):
        t0 = time.perf_counter()
        monitor.run_once()
        times.append(time.perf_counter() - t0)
        if not monitor._unverified:
            break
    shown = all(
        _last_step(logdir, run_id, sub) == step
        for run_id, subs in expected.items()
        for sub, step in subs.items()
    )
    monitor.stop()
    return {
        "runs": args.runs,
        "bad runs": len(expected),
        "first pass s": times[0],
        "worst later pass s": max(times[1:]) if len(times) > 1 else 0.0,
        "median later pass s": statistics.median(times[1:]) if len(times) > 1 else 0.0,
        "passes until all checked": len(times),
        "good records past the damage shown": shown,
    }


def _last_step(logdir, run_id, sub):
    [name] = [n for n in os.listdir(logdir) if n.startswith(run_id[:8])]
    steps = [step for _t, _v, step in ScalarReader(os.path.join(logdir, name, sub))]
    return steps[-1] if steps else None


def main(argv=None):
    args = parse_args(argv)
    root = args.dir or tempfile.mkdtemp(prefix="bench-bad-input-")
    os.makedirs(root, exist_ok=True)
    info = machine.machine_info()
    print("machine: %(nproc)s cores, %(cpu)s, Python %(python)s, %(date)s, load %(loadavg_at_start)s" % info)
    print()
    print("| resync over bytes with no record | ms / MiB |")
    print("|---|---:|")
    for kind, ms in resync_table():
        print("| %s | %.2f |" % (kind, ms))
    print()
    try:
        result = passes_table(args, root)
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    print("| monitor over bad input | |")
    print("|---|---:|")
    for key, val in result.items():
        print("| %s | %s |" % (key, "%.3f" % val if isinstance(val, float) else val))


if __name__ == "__main__":
    main()
