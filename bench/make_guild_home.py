"""Generate a synthetic Guild home in Guild 0.9's on-disk format.

    python bench/make_guild_home.py DEST --runs N --steps K --files F --images I

DEST gets:

    DEST/project/guild.yml, train.py    the project the runs' opref names
    DEST/runs/<32 hex id>/              one folder per run
    DEST/bench-home.json                the parameters, so a benchmark can
                                        reuse a home built with the same ones

Each run folder is laid out as Guild 0.9 writes it (checked against a run
made by `guild run` with guildai 0.9.0):

    .guild/opref                        guildfile:DEST/project/guild.yml <digest> '' train
    .guild/attrs/<name>                 one YAML value each: id, initialized,
                                        flags {lr, batch_size, optimizer},
                                        user_flags, label, cmd, env, deps, host,
                                        user, platform, plugins, random_seed,
                                        op, sourcecode_digest, started, stopped
                                        (microseconds), exit_status (0, or 1
                                        for one run in 20)
    .guild/output, .guild/output.index  the run's output (step/loss/acc lines)
    .guild/manifest                     `s <path> <sha1> <path>` per source file
    .guild/events.out.tfevents.<started>.bench.<pid>.0
                                        K steps of `loss` and `acc` scalars, as
                                        Guild's output-scalar logger writes them
                                        (one event per scalar, no wall time)
    guild.yml, train.py                 source code (Guild 0.8+: at the run root)
    train/events.out.tfevents.*         F files in nested folders: the first two
    eval/events.out.tfevents.*          are event files in train/ and eval/
    data/a/b/file3.txt, logs/...        (K/10 steps of loss/acc each), the rest
    checkpoints/model-N.ckpt ...        text and binary files in nested folders
    images/sample-N.png                 I small PNG images (Pillow)

Everything is a function of the parameters and `--seed`: file contents,
run ids, times, and the mtimes of every file and folder (set to the run's
stop time), so two homes built with the same parameters are identical but
for inode numbers and ctimes. No two runs share a file (no hard links): the
monitors compare mtimes and sizes, which must be each run's own.

Event records are framed with `guild_tensorboard.events.records.encode_record` (masked CRC-32C).
`guild.tfevent.EventFileWriter` is not used because it stamps the current time
into each file's first event; the files written here are byte-for-byte what
Guild 0.9 writes for the same scalars.
"""

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from guild_tensorboard.events.records import encode_record  # noqa: E402

FORMAT_VERSION = 1
BASE_STARTED_US = 1672531200 * 1000000  # 2023-01-01 00:00:00 UTC
RUN_SPACING_US = 600 * 1000000

GUILD_YML = """\
train:
  description: Train a synthetic model
  main: train
  flags:
    lr: 0.01
    batch_size: 32
    optimizer: adam
"""

TRAIN_PY = """\
lr = 0.01
batch_size = 32
optimizer = "adam"

for step in range(100):
    loss = 1.0 / (step + 1)
    acc = 1.0 - loss
    print("step: %d" % step)
    print("loss: %f" % loss)
    print("acc: %f" % acc)
"""

LRS = (0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001)
BATCH_SIZES = (16, 32, 64, 128, 256)
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad")

FILE_DIRS = ("data/a/b", "data/a", "data", "logs", "checkpoints", "data/c", "")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dest", help="Guild home to create (must not exist unless --force)")
    p.add_argument("--runs", type=int, default=100, help="number of runs (N)")
    p.add_argument("--steps", type=int, default=100, help="steps of loss/acc per run (K)")
    p.add_argument("--files", type=int, default=10, help="files per run in nested folders (F)")
    p.add_argument("--images", type=int, default=1, help="PNG images per run (I)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace DEST if it exists")
    p.add_argument("--jobs", type=int, default=0, help="worker processes (0: one per core)")
    p.add_argument("-q", "--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.perf_counter()
    make_home(
        args.dest,
        runs=args.runs,
        steps=args.steps,
        files=args.files,
        images=args.images,
        seed=args.seed,
        force=args.force,
        jobs=args.jobs,
    )
    if not args.quiet:
        print(
            "%s: %d runs (K=%d F=%d I=%d) in %.1f s"
            % (args.dest, args.runs, args.steps, args.files, args.images,
               time.perf_counter() - t0)
        )


def home_params(runs, steps, files, images, seed):
    return {
        "format": FORMAT_VERSION,
        "runs": runs,
        "steps": steps,
        "files": files,
        "images": images,
        "seed": seed,
    }


def read_params(dest):
    try:
        with open(os.path.join(dest, "bench-home.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def make_home(dest, runs, steps=100, files=10, images=1, seed=0, force=False, jobs=0):
    """Creates the Guild home `dest`; returns its runs directory."""
    dest = os.path.abspath(dest)
    if os.path.exists(dest):
        if not force:
            raise SystemExit("%s exists (use --force to replace it)" % dest)
        shutil.rmtree(dest)
    params = home_params(runs, steps, files, images, seed)
    tmp = dest + ".partial"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(os.path.join(tmp, "runs"))
    project = _write_project(tmp, dest)
    if not jobs:  # one per core, each with at least 500 runs to make
        jobs = max(1, min(os.cpu_count() or 1, runs // 500))
    jobs = max(1, min(jobs, runs))
    spec = (tmp, dest, project, steps, files, images, seed)
    if jobs == 1:
        _make_runs(spec, 0, runs)
    else:
        import multiprocessing

        bounds = [(runs * j // jobs, runs * (j + 1) // jobs) for j in range(jobs)]
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_make_runs, args=(spec, lo, hi)) for lo, hi in bounds]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        if any(proc.exitcode for proc in procs):
            raise SystemExit("generating runs failed")
    with open(os.path.join(tmp, "bench-home.json"), "w") as f:
        json.dump(params, f, indent=2, sort_keys=True)
        f.write("\n")
    # The home's own files and folders: as of the project's creation.
    home_ns = BASE_STARTED_US * 1000
    for path in (
        os.path.join(tmp, "project", "guild.yml"),
        os.path.join(tmp, "project", "train.py"),
        os.path.join(tmp, "project"),
        os.path.join(tmp, "bench-home.json"),
        os.path.join(tmp, "runs"),
        tmp,
    ):
        os.utime(path, ns=(home_ns, home_ns))
    os.rename(tmp, dest)
    return os.path.join(dest, "runs")


def run_id(seed, index):
    return hashlib.md5(b"guild-bench:%d:%d" % (seed, index)).hexdigest()


# Project


class _Project:
    def __init__(self, guildfile, guild_yml, train_py):
        self.guildfile = guildfile  # path in the final home
        self.guild_yml = guild_yml
        self.train_py = train_py
        self.guildfile_digest = hashlib.md5(guild_yml).hexdigest()
        self.guild_yml_sha1 = hashlib.sha1(guild_yml).hexdigest()
        self.train_py_sha1 = hashlib.sha1(train_py).hexdigest()
        self.sourcecode_digest = hashlib.md5(guild_yml + train_py).hexdigest()


def _write_project(tmp, dest):
    guild_yml = GUILD_YML.encode()
    train_py = TRAIN_PY.encode()
    project_dir = os.path.join(tmp, "project")
    os.makedirs(project_dir)
    _write(os.path.join(project_dir, "guild.yml"), guild_yml)
    _write(os.path.join(project_dir, "train.py"), train_py)
    return _Project(os.path.join(dest, "project", "guild.yml"), guild_yml, train_py)


# Runs


def _make_runs(spec, lo, hi):
    tmp, dest, project, steps, files, images, seed = spec
    png_cache = {}
    runs_dir = os.path.join(tmp, "runs")
    for i in range(lo, hi):
        _make_run(runs_dir, dest, project, i, steps, files, images, seed, png_cache)


def _make_run(runs_dir, dest, project, i, steps, nfiles, nimages, seed, png_cache):
    rid = run_id(seed, i)
    rng = random.Random("%d:%d" % (seed, i))
    run_dir = os.path.join(runs_dir, rid)
    guild_dir = os.path.join(run_dir, ".guild")
    attrs_dir = os.path.join(guild_dir, "attrs")
    os.makedirs(attrs_dir)

    initialized = BASE_STARTED_US + i * RUN_SPACING_US
    started = initialized + 400000 + rng.randrange(200000)
    stopped = started + rng.randrange(60, 3600) * 1000000 + rng.randrange(1000000)
    exit_status = 1 if i % 20 == 7 else 0
    lr = rng.choice(LRS)
    batch_size = rng.choice(BATCH_SIZES)
    optimizer = rng.choice(OPTIMIZERS)
    label = "batch_size=%d lr=%s optimizer=%s" % (batch_size, lr, optimizer)
    pid = 1000 + i % 30000
    started_secs = started // 1000000

    # Scalars: loss falls and acc rises with noise, per run.
    decay = 0.02 + rng.random() * 0.05
    final_acc = 0.6 + rng.random() * 0.39
    losses = []
    accs = []
    for step in range(steps):
        noise = rng.random() * 0.02
        loss = 2.5 * (1 - decay) ** step + noise
        losses.append(loss)
        accs.append(final_acc * (1 - (1 - decay) ** (step + 1)) - noise / 4)

    # .guild
    _write(
        os.path.join(guild_dir, "opref"),
        b"guildfile:%s %s '' train\n"
        % (project.guildfile.encode(), project.guildfile_digest.encode()),
    )
    attrs = {
        "id": rid,
        "initialized": initialized,
        "flags": "batch_size: %d\nlr: %s\noptimizer: %s" % (batch_size, lr, optimizer),
        "user_flags": "lr: %s" % lr,
        "label": label,
        "cmd": "- /usr/bin/python3\n- -um\n- guild.op_main\n- train\n- --\n"
        "- --batch_size\n- '%d'\n- --lr\n- '%s'\n- --optimizer\n- %s"
        % (batch_size, lr, optimizer),
        "env": "FLAGS_DEST: globals\nGUILD_OP: train\nRUN_ID: %s\nRUN_DIR: %s"
        % (rid, os.path.join(dest, "runs", rid)),
        "deps": "{}",
        "host": "bench",
        "user": "bench",
        "platform": "architecture: 64bit ELF\ncpus: 2\nprocessor: ''\n"
        "python_version: 3.11.7\nuname: Linux bench x86_64",
        "plugins": "- cpu\n- disk\n- memory\n- perf\n- python_script",
        "random_seed": rng.randrange(2**31),
        "op": "flags-extra: {}\nlabel-template: null\noutput-scalars: null\n"
        "sourcecode:\n  dest: .",
        "sourcecode_digest": project.sourcecode_digest,
        "started": started,
        "stopped": stopped,
        "exit_status": exit_status,
    }
    for name, val in attrs.items():
        _write(os.path.join(attrs_dir, name), ("%s\n" % val).encode())

    out = io.StringIO()
    index = io.BytesIO()
    t_ms = started // 1000
    for step in range(steps):
        for line in (
            "step: %d" % step,
            "loss: %f" % losses[step],
            "acc: %f" % accs[step],
        ):
            out.write(line + "\n")
            index.write(struct.pack(">QI", t_ms + step * 10, 0))
    _write(os.path.join(guild_dir, "output"), out.getvalue().encode())
    _write(os.path.join(guild_dir, "output.index"), index.getvalue())

    _write(
        os.path.join(guild_dir, "manifest"),
        b"s guild.yml %s guild.yml\ns train.py %s train.py\n"
        % (project.guild_yml_sha1.encode(), project.train_py_sha1.encode()),
    )
    _write(
        os.path.join(guild_dir, "events.out.tfevents.%d.bench.%d.0" % (started_secs, pid)),
        event_file_bytes(range(steps), losses, accs),
    )

    # Source code at the run root (Guild 0.8+)
    _write(os.path.join(run_dir, "guild.yml"), project.guild_yml)
    _write(os.path.join(run_dir, "train.py"), project.train_py)

    # F files in nested folders
    made = {run_dir}
    for n in range(nfiles):
        if n < 2:
            sub = ("train", "eval")[n]
            every = 10
            steps_sub = list(range(0, steps, every)) or [0]
            data = event_file_bytes(
                steps_sub,
                [losses[s] * (1.1 if n else 1.0) for s in steps_sub] if steps else [0.0],
                [accs[s] * (0.97 if n else 1.0) for s in steps_sub] if steps else [0.0],
            )
            rel = "%s/events.out.tfevents.%d.bench.%d.%d" % (sub, started_secs, pid, n + 1)
        else:
            sub = FILE_DIRS[(n - 2) % len(FILE_DIRS)]
            if sub == "checkpoints":
                name = "model-%d.ckpt" % n
                data = rng.randbytes(512 + rng.randrange(3584))
            else:
                name = "file%d.txt" % n
                data = (
                    ("run %s file %d\n" % (rid, n))
                    + "x=%f\n" % rng.random() * (4 + rng.randrange(60))
                ).encode()
            rel = "%s/%s" % (sub, name) if sub else name
        _write_in(run_dir, rel, data, made)

    # I images
    for n in range(nimages):
        key = (rng.randrange(8), n % 4)
        png = png_cache.get(key)
        if png is None:
            png = png_cache[key] = _png(*key)
        _write_in(run_dir, "images/sample-%d.png" % n, png, made)

    _set_times(run_dir, stopped * 1000)


def _png(shade, shape):
    from PIL import Image, ImageDraw

    size = 32
    im = Image.new("RGB", (size, size), (shade * 32, 255 - shade * 32, 128))
    draw = ImageDraw.Draw(im)
    if shape == 0:
        draw.ellipse((4, 4, 27, 27), fill=(255, 255, 255))
    elif shape == 1:
        draw.rectangle((8, 8, 23, 23), fill=(0, 0, 0))
    elif shape == 2:
        draw.line((0, 0, 31, 31), fill=(255, 0, 0), width=3)
    else:
        draw.polygon(((16, 2), (30, 29), (2, 29)), fill=(0, 0, 255))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


# Event encoding (as Guild 0.9's output-scalar logger writes it)

_FILE_VERSION = encode_record(b"\x1a\x0dbrain.Event:2")
_F32 = struct.Struct("<f")


def event_file_bytes(steps, losses, accs):
    parts = [_FILE_VERSION]
    loss_prefix = _summary_prefix("loss")
    acc_prefix = _summary_prefix("acc")
    pack = _F32.pack
    for step, loss, acc in zip(steps, losses, accs):
        step_field = _step_field(step)
        parts.append(encode_record(step_field + loss_prefix + pack(loss)))
        parts.append(encode_record(step_field + acc_prefix + pack(acc)))
    return b"".join(parts)


def scalar_event_bytes(tag, val, step):
    """`Event(step=step, summary=Summary(value=[Value(tag, simple_value)]))`."""
    return _step_field(step) + _summary_prefix(tag) + _F32.pack(val)


_prefixes = {}
_step_fields = {}


def _summary_prefix(tag):
    """The bytes of the summary field of an Event holding one
    `simple_value` for `tag`, up to the value's 4 float bytes."""
    prefix = _prefixes.get(tag)
    if prefix is None:
        tag_bytes = tag.encode()
        value_len = 1 + len(_varint(len(tag_bytes))) + len(tag_bytes) + 5
        value_head = b"\x0a" + _varint(len(tag_bytes)) + tag_bytes + b"\x15"
        summary_len = 1 + len(_varint(value_len)) + value_len
        prefix = (
            b"\x2a" + _varint(summary_len) + b"\x0a" + _varint(value_len) + value_head
        )
        _prefixes[tag] = prefix
    return prefix


def _step_field(step):
    field = _step_fields.get(step)
    if field is None:
        field = b"\x10" + _varint(step) if step else b""
        if len(_step_fields) < 100000:
            _step_fields[step] = field
    return field


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# Files


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _write(path, data):
    fd = os.open(path, _WRITE_FLAGS, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write_in(root, rel, data, made):
    path = os.path.join(root, rel)
    parent = os.path.dirname(path)
    if parent not in made:
        os.makedirs(parent, exist_ok=True)
        made.add(parent)
    _write(path, data)


def _set_times(root, mtime_ns):
    """Sets the mtime (and atime) of everything under `root` to `mtime_ns`,
    folders last so that setting their files' times leaves theirs alone."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.utime(os.path.join(dirpath, name), ns=(mtime_ns, mtime_ns))
        os.utime(dirpath, ns=(mtime_ns, mtime_ns))


if __name__ == "__main__":
    main()
