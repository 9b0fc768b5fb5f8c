"""Event file I/O: ours against TensorBoard's own, in one run.

    python bench/bench_events.py [--events 200000] [--repeat 3] [--dir DIR]

Writes N scalar events (tags `loss`/`acc` alternating, step = i // 2, no
wall time, as Guild's output-scalar logger writes them) and reads them back:

write
  ours EventFileWriter.add_event  guild.tfevent.EventFileWriter, an Event
                                  message built per scalar
  ours SummaryWriter.add_scalar   guild.summary.SummaryWriter
  TB EventFileWriter.add_event    tensorboard.summary.writer.event_file_writer
                                  (its writer thread; timed to close())
read (all of the same file, written by ours)
  ours RecordReader               guild_tensorboard.events.records.RecordReader: framing and CRCs
  ours EventReader                guild.tfevent.EventReader: decoded events
  ours ScalarReader               guild.tfevent.ScalarReader: (tag, value, step)
  TB EventFileLoader              tensorboard's event_file_loader.EventFileLoader
  TB RawEventFileLoader           the same without decoding

Each figure is the median of `--repeat` runs, in events per second. The
ratio column is ours / TensorBoard's EventFileWriter (writes) or
EventFileLoader (reads). Targets from issue 4/5: write >= 200,000 events/s,
read >= 300,000 events/s.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import machine  # noqa: E402

import tensorboard  # noqa: E402
from tensorboard.backend.event_processing import event_file_loader  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.summary.writer import event_file_writer as tb_writer  # noqa: E402

from guild_tensorboard.events import records, summary, tfevent  # noqa: E402

WRITE_TARGET = 200000
READ_TARGET = 300000
TAGS = ("loss", "acc")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", help="where to write the files (default: a temp dir)")
    p.add_argument("--json", help="also write the results as JSON to this file")
    return p.parse_args(argv)


def scalar_event(i):
    event = event_pb2.Event(step=i // 2)
    event.summary.value.add(tag=TAGS[i % 2], simple_value=1.0 / (i + 1))
    return event


# Writers: each writes `n` events into a fresh folder `d`; returns the path.


def write_ours_event_file_writer(d, n):
    path = os.path.join(d, "events.out.tfevents.0000000001.ours")
    writer = tfevent.EventFileWriter(path)
    add = writer.add_event
    for i in range(n):
        event = event_pb2.Event(step=i // 2)
        event.summary.value.add(tag=TAGS[i % 2], simple_value=1.0 / (i + 1))
        add(event)
    writer.close()
    return path


def write_ours_summary_writer(d, n):
    writer = summary.SummaryWriter(d, filename_base="0000000001.summary")
    add = writer.add_scalar
    for i in range(n):
        add(TAGS[i % 2], 1.0 / (i + 1), i // 2)
    writer.close()
    return writer.path


def write_tb_event_file_writer(d, n):
    writer = tb_writer.EventFileWriter(d, max_queue_size=1000, flush_secs=120)
    add = writer.add_event
    for i in range(n):
        event = event_pb2.Event(step=i // 2)
        event.summary.value.add(tag=TAGS[i % 2], simple_value=1.0 / (i + 1))
        add(event)
    writer.close()
    return writer.get_logdir() and _only_event_file(d)


def _only_event_file(d):
    names = [name for name in os.listdir(d) if "tfevents" in name]
    assert len(names) == 1, names
    return os.path.join(d, names[0])


WRITERS = (
    ("ours EventFileWriter.add_event", write_ours_event_file_writer),
    ("ours SummaryWriter.add_scalar", write_ours_summary_writer),
    ("TB EventFileWriter.add_event", write_tb_event_file_writer),
)
WRITE_BASELINE = "TB EventFileWriter.add_event"


# Readers: each reads the file at `path` (in folder `d`); returns the number
# of summary events (or records) seen.


def read_ours_record_reader(path, d):
    return sum(1 for _ in records.RecordReader(path).read_records())


def read_ours_event_reader(path, d):
    return sum(1 for _ in tfevent.EventReader(d))


def read_ours_scalar_reader(path, d):
    return sum(1 for _ in tfevent.ScalarReader(d))


def read_tb_event_file_loader(path, d):
    return sum(1 for _ in event_file_loader.EventFileLoader(path).Load())


def read_tb_raw_event_file_loader(path, d):
    return sum(1 for _ in event_file_loader.RawEventFileLoader(path).Load())


READERS = (
    ("ours RecordReader (records)", read_ours_record_reader),
    ("ours EventReader (events)", read_ours_event_reader),
    ("ours ScalarReader (scalars)", read_ours_scalar_reader),
    ("TB EventFileLoader (events)", read_tb_event_file_loader),
    ("TB RawEventFileLoader (records)", read_tb_raw_event_file_loader),
)
READ_BASELINE = "TB EventFileLoader (events)"


def timed(f, *args):
    t0 = time.perf_counter()
    result = f(*args)
    return time.perf_counter() - t0, result


def run(n, repeat, root):
    results = {"write": {}, "read": {}}
    # Writes
    for name, writer in WRITERS:
        times = []
        for r in range(repeat):
            d = os.path.join(root, "w-%s-%d" % (writer.__name__, r))
            os.makedirs(d)
            secs, path = timed(writer, d, n)
            times.append(secs)
            check = sum(1 for _ in tfevent.ScalarReader(d))
            assert check == n, (name, check, n)
            if r:
                shutil.rmtree(d)
        results["write"][name] = _rate(n, times)
    # Reads, all of one file written by ours.
    d = os.path.join(root, "r")
    os.makedirs(d)
    path = write_ours_event_file_writer(d, n)
    size = os.path.getsize(path)
    for name, reader in READERS:
        times = []
        for _ in range(repeat):
            secs, count = timed(reader, path, d)
            times.append(secs)
        # Raw readers also count the file_version record.
        assert count in (n, n + 1), (name, count, n)
        results["read"][name] = _rate(n, times)
    results["file_bytes"] = size
    return results


def _rate(n, times):
    secs = statistics.median(times)
    return {"seconds": secs, "events_per_sec": n / secs, "runs": times}


def print_table(results, n):
    out = []
    out.append("Event I/O, %s scalar events (median of runs; events/s)" % format(n, ","))
    out.append("")
    out.append("| operation | events/s | seconds | ours / TB |")
    out.append("|---|---:|---:|---:|")
    for kind, baseline in (("write", WRITE_BASELINE), ("read", READ_BASELINE)):
        base = results[kind][baseline]["events_per_sec"]
        for name, r in results[kind].items():
            ratio = "%.1f×" % (r["events_per_sec"] / base) if name.startswith("ours") else ""
            out.append(
                "| %s: %s | %s | %.3f | %s |"
                % (kind, name, format(int(r["events_per_sec"]), ","), r["seconds"], ratio)
            )
    out.append("")
    w = results["write"]["ours EventFileWriter.add_event"]["events_per_sec"]
    rd = results["read"]["ours EventReader (events)"]["events_per_sec"]
    out.append(
        "targets: write >= %s/s: %s (%s/s); read >= %s/s: %s (%s/s, EventReader)"
        % (
            format(WRITE_TARGET, ","), "met" if w >= WRITE_TARGET else "NOT met",
            format(int(w), ","),
            format(READ_TARGET, ","), "met" if rd >= READ_TARGET else "NOT met",
            format(int(rd), ","),
        )
    )
    return "\n".join(out)


def main(argv=None):
    args = parse_args(argv)
    root = args.dir or tempfile.mkdtemp(prefix="guild-bench-events-")
    os.makedirs(root, exist_ok=True)
    try:
        results = run(args.events, args.repeat, root)
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    results["machine"] = machine.machine_info()
    results["tensorboard"] = tensorboard.__version__
    import google.protobuf

    results["protobuf"] = google.protobuf.__version__
    print(print_table(results, args.events))
    print()
    print(
        "Python %s, tensorboard %s, protobuf %s (%s)"
        % (platform.python_version(), results["tensorboard"], results["protobuf"],
           _protobuf_impl())
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def _protobuf_impl():
    try:
        from google.protobuf.internal import api_implementation

        return api_implementation.Type()
    except Exception:
        return "?"


if __name__ == "__main__":
    main()
