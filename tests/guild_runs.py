"""Test fixtures: runs written the way Guild 0.7-0.9 writes them.

A run is `<runs dir>/<32 hex id>/`. Inside it, Guild writes:

- `.guild/opref`: one line naming what ran, `guildfile:<path> <digest>
  <model> <op>` (Guild quotes an empty model as `''`);
- `.guild/attrs/<name>`: one YAML value each: `id`, `initialized`,
  `started` and `stopped` (microseconds since the epoch), `flags` (a
  mapping), `label`, `cmd`, `exit_status` (0 completed, negative when
  stopped by a signal, other values error), `sourcecode_digest`, and
  optionally `compare` (the run's compare spec);
- `.guild/LOCK`: the pid of the run's process, while it runs;
- `.guild/output`: the run's combined output;
- `.guild/manifest`: Guild 0.8+ lists the source files it copied to the
  run root, one line each, `s <path> <sha> <source path>`;
- `.guild/events.out.tfevents.*`: scalars Guild logged from the output;
- anything else: files the run's own code wrote (event files in
  subfolders like `train/`, images, checkpoints...).
"""

import os
import time
import uuid

import yaml

from guild_tensorboard.runs import run as runlib
from guild_tensorboard.events.summary import SummaryWriter

_counter = [0]


def make_run(
    runs_dir,
    op="train",
    model="",
    guildfile="/project/guild.yml",
    flags=None,
    label=None,
    started=None,
    stopped=None,
    exit_status=0,
    sourcecode_digest="0123456789abcdef0123456789abcdef",
    compare=None,
    lock_pid=None,
    scalars=None,
    files=None,
    sources=(),
    run_id=None,
):
    """Writes a run; returns its `guild.run.Run`.

    `scalars` maps a run-relative folder (`.guild` for Guild's output
    scalars, `""` for the root, `train`...) to `{tag: [(step, value)]}`.
    `files` maps run-relative paths to bytes. `sources` are run-relative
    paths written as source code and listed in the manifest. A run with
    `lock_pid` is running: no `stopped` or `exit_status` yet.
    """
    _counter[0] += 1
    run_id = run_id or uuid.uuid4().hex
    run_dir = os.path.join(runs_dir, run_id)
    guild_dir = os.path.join(run_dir, ".guild")
    os.makedirs(os.path.join(guild_dir, "attrs"))
    now_us = int(time.time() * 1000000)
    started = started if started is not None else now_us - 60000000 + _counter[0]
    with open(os.path.join(guild_dir, "opref"), "w") as f:
        f.write("guildfile:%s 6a1f52c0a6cd4e4d91fd2c3a5b5ad0b2 '%s' %s\n" % (guildfile, model, op))
    attrs = {
        "id": run_id,
        "initialized": started - 1000,
        "started": started,
        "flags": flags or {},
        "cmd": ["python", "-um", "guild.op_main", op],
        "sourcecode_digest": sourcecode_digest,
    }
    if label is not None:
        attrs["label"] = label
    if compare is not None:
        attrs["compare"] = compare
    if lock_pid is None:
        attrs["stopped"] = stopped if stopped is not None else started + 42000000
        attrs["exit_status"] = exit_status
    for name, val in attrs.items():
        write_attr(run_dir, name, val)
    with open(os.path.join(guild_dir, "output"), "w") as f:
        f.write("")
    if lock_pid is not None:
        with open(os.path.join(guild_dir, "LOCK"), "w") as f:
            f.write(str(lock_pid))
    for folder, tags in (scalars or {}).items():
        write_scalars(run_dir, folder, tags)
    for rel, data in (files or {}).items():
        write_file(run_dir, rel, data)
    if sources:
        with open(os.path.join(guild_dir, "manifest"), "w") as f:
            for rel in sources:
                write_file(run_dir, rel, b"# source\n")
                f.write("s %s 9f2c %s\n" % (rel, rel))
    return runlib.Run(run_id, run_dir)


def write_attr(run_dir, name, val):
    with open(os.path.join(run_dir, ".guild", "attrs", name), "w") as f:
        yaml.safe_dump(val, f, default_flow_style=False)


def write_file(run_dir, rel, data):
    path = os.path.join(run_dir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_scalars(run_dir, folder, tags):
    with SummaryWriter(os.path.join(run_dir, folder)) as writer:
        for tag, points in tags.items():
            for step, val in points:
                writer.add_scalar(tag, val, step)


def finish_run(run, exit_status=0):
    """What Guild does when a running run's process exits."""
    write_attr(run.dir, "exit_status", exit_status)
    write_attr(run.dir, "stopped", int(time.time() * 1000000))
    os.unlink(os.path.join(run.dir, ".guild", "LOCK"))
