"""Guild's own run filters as the oracle for the command's: a Guild home
built here, in Guild 0.9's format, and the runs that real Guild's
`guild runs --all` selects from it for each filter, recorded in
`guild_selections.json`.

To record them again (Guild installs from the registry):

    python -m venv /tmp/guild-venv && /tmp/guild-venv/bin/pip install guildai==0.9.0
    python tests/guild_selections.py /tmp/guild-venv/bin/guild
"""

import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDED = os.path.join(HERE, "guild_selections.json")
# Time ranges are taken against this time, local in TZ (Guild reads a run's
# `started` as local time); the recorder fixes Guild's clock at it.
TZ = "UTC"
REF = datetime.datetime(2023, 11, 15, 12, 30, 45)  # a Wednesday


def _usecs(text):
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()) * 1_000_000


# Runs oldest first; ids are fixed so recorded selections name them.
# `scalars`: {folder in the run: {tag: [(step, value), ...]}} in file order.
RUNS = [
    dict(op="train", exit_status=0, label="lr=0.1 best", tags=["best", "v1"], marked=True,
         sourcecode_digest="abc1230000", comments=[{"user": "alice", "host": "gpu1", "body": "Looks GOOD"}],
         started="2022-10-05 08:00:00", flags=dict(lr=0.1, optimizer="adam", epochs=5, layers=[1, 2]),
         scalars={"": {"loss": [(0, 0.9), (1, 0.3)]}, "eval": {"loss": [(1, 0.35)], "acc": [(1, 0.85)]}}),
    dict(op="train", exit_status=1, label="", tags=["v1"], started="2023-10-20 09:00:00",
         flags=dict(lr=0.01, optimizer="sgd", epochs=5),
         scalars={"": {"loss": [(2, 0.7), (0, 0.2)]}}),  # the last is the highest step's
    dict(op="eval", exit_status=0, label="baseline", comments=[], sourcecode_digest="abd4560000",
         started="2023-11-08 10:00:00", flags=dict(op="flagop"),
         scalars={"eval": {"acc": [(0, 0.6)]}, ".guild": {"loss": [(0, 0.45)]}}),
    dict(op="train", exit_status=-15, label="lr=0.3", marked=False, started="2023-11-13 23:59:59",
         flags=dict(lr=0.3, optimizer="rmsprop", epochs=10)),
    dict(op="train", model="m", exit_status=0, tags=["best"], started="2023-11-14 10:00:30",
         flags=dict(lr=0.001, optimizer="adam", epochs=20),
         scalars={"": {"loss": [(0, 0.5)]}, "eval": {"loss": [(0, 0.55)], "acc": [(0, 0.9)]}}),
    dict(op="prepare", marker="PENDING", started="2023-11-15 00:00:00", flags={}),
    dict(op="train", label="staged one", marker="STAGED", initialized="2023-11-15 11:45:00",
         flags=dict(lr=0.1, optimizer="sgd", epochs=5)),
    dict(op="train", exit_status=0, comments=[{"user": "bob", "host": "laptop", "body": "retry"}], marked=True,
         started="2023-11-15 12:30:10", flags=dict(lr=0.05, optimizer="Adam", epochs=1),
         scalars={"": {"loss": [(0, 1.5)]}}),
]

FILTERS = [
    [],
    ["-Ft", "best"],
    ["-Ft", "v1", "-Ft", "missing"],
    ["-Fc", "good"],
    ["-Fc", "BOB"],
    ["-Fc", "-"],
    ["-Fm"],
    ["-Fn"],
    ["-Fd", "abc"],
    ["-Fd", "ab"],
    ["-Fl", "-"],
    ["-Fl", "lr="],
    ["-Fu"],
    ["-Sc"],
    ["--not-completed"],
    ["-Sc", "--not-error"],
    ["-Set"],
    ["-Ss"],
    ["-Sp"],
    ["--not-staged", "--not-pending"],
    ["-Ft", "best", "-Sc"],
    ["-Fm", "-Ft", "v1"],
    ["-Fn", "--not-completed", "-Fc", "-"],
    ["-Fo", "train"],
    ["-Fo", "tra"],
    ["-Fo", "m:train"],
    ["-Fo", "m:"],
    ["-Fo", ":train"],
    ["-Fo", "*ain"],
    ["-Fo", "^ev"],
    ["-Fo", "ain$"],
    ["-Fo", "eval", "-Fo", "prepare"],
    ["-Fo", "train", "-Sc"],
] + [["-F", expr] for expr in [
    "loss < 0.5",
    "loss >= 0.5",
    "scalar:loss < 0.5",
    "eval#loss < 0.4",
    "scalar:eval#acc > 0.8",
    "acc > 0.8",
    "scalar:.guild#loss < 1",
    "optimizer = adam",
    "optimizer = 'adam'",
    "optimizer != adam",
    "optimizer in [adam, rmsprop]",
    "optimizer not in [adam]",
    "lr >= 0.01 and lr <= 0.1",
    "lr < 1e-2",
    "lr < 1.0e-2",
    "lr = 0.1 or epochs = 5 and optimizer = sgd",
    "epochs = 5 and optimizer = sgd or lr = 0.1",
    "not optimizer = adam",
    "not (optimizer = adam or optimizer = sgd)",
    "NOT optimizer = adam AND epochs > 3",
    "epochs in [5, 10]",
    "layers = [1, 2]",
    "layers contains 2",
    "label contains best",
    "label contains LR",
    "label not contains lr",
    "tags contains v1",
    "tags contains V1",
    "label is undefined",
    "label is not undefined",
    "marked = true",
    "marked is true",
    "marked = yes",
    "status = completed",
    "status in [error, terminated]",
    "op = train",
    "operation = m:train",
    "model = m",
    "model = ''",
    "run = '5e1ec700'",
    "id contains '5e1ec70'",
    "exit_status = 1",
    "exit_status > 0",
    "sourcecode = abc12300",
    "started >= '2023-11-14'",
    "stopped = ''",
    "time = '0:00:00'",
    "from = '/project/guild.yml'",
    "op = flagop",
    "flag:op = flagop",
    "attr:op = train",
    "OPTIMIZER = adam",
    "true",
    "false",
    "[]",
    "optimizer",
    # Guild refuses these: a number then a word, an unfinished test, ...
    "run = 5e1ec700",
    "loss <",
    "loss < 0.5 and",
    "@",
    "optimizer not adam",
    "(loss < 1",
]] + [
    ["-F", "lr > 0.05", "-Sc"],
] + [["-Fs", spec] for spec in [
    "today",
    "yesterday",
    "this week",
    "1 week ago",
    "this month",
    "1 month ago",
    "this year",
    "1 year ago",
    "this minute",
    "last hour",
    "last 2 days",
    "last 30 min",
    "before today",
    "after yesterday",
    "after 2023-11-14 10:00:30",
    "before 2023-11-14 10:00:30",
    "between 2023-11-01 and 2023-11-14",
    "between today and 1 week ago",
    "2023-11-14",
    "11-13",
    "12:30",
    "before 11-01",
    "after 23-11-13",
    # ... and these
    "last week",
    "2023-02-30",
    "this mon",
    "",
]] + [
    ["-Fs", "this week", "-Sc"],
    ["-Fs", "this year", "-F", "loss < 1"],
]


def key(args):
    """The recorded selection's key: the arguments, quoted where needed."""
    return " ".join(arg if arg and " " not in arg else repr(arg) for arg in args)


def run_id(index):
    return "%08x" % (0x5e1ec700 + index) + "0" * 24


def build_home(runs_dir):
    """Writes RUNS into `runs_dir` as Guild 0.9 does."""
    for i, spec in enumerate(RUNS):
        rid = run_id(i)
        guild = os.path.join(runs_dir, rid, ".guild")
        os.makedirs(os.path.join(guild, "attrs"))
        with open(os.path.join(guild, "opref"), "w") as f:
            f.write("guildfile:/project/guild.yml 0123abcd %s %s\n" % (spec.get("model") or "''", spec["op"]))
        attrs = {"id": rid, "flags": dict(spec["flags"], i=i)}
        for name in ("started", "initialized"):
            if name in spec:
                attrs[name] = _usecs(spec[name])
        for name in ("exit_status", "label", "tags", "marked", "sourcecode_digest", "comments"):
            if name in spec:
                attrs[name] = spec[name]
        if "exit_status" in spec:
            attrs["stopped"] = attrs["started"] + 500_000
        for name, val in attrs.items():
            with open(os.path.join(guild, "attrs", name), "w") as f:
                f.write(yaml.safe_dump(val))
        if "marker" in spec:
            open(os.path.join(guild, spec["marker"]), "w").close()
        for folder, tags in spec.get("scalars", {}).items():
            _write_scalars(os.path.join(runs_dir, rid, folder), tags)


def _write_scalars(dir, tags):
    from guild_tensorboard.events.summary import SummaryWriter

    os.makedirs(dir, exist_ok=True)
    with SummaryWriter(dir) as writer:
        for tag, points in tags.items():
            for step, val in points:
                writer.add_scalar(tag, val, step)


# Runs Guild's command with `guild.timerange` taken against REF.
_GUILD_AT_REF = """
import datetime, sys
from guild import timerange
from guild.main_bootstrap import main
timerange.parse_spec = lambda s: timerange.parser().parse(s)(datetime.datetime.fromisoformat(%r))
sys.argv[0] = "guild"
sys.exit(main())
"""


# Time range specs, and what Guild's parser makes of each at REF.
RANGES = [
    "today", "yesterday", "TODAY", "This Week", "3 DAYS AGO", "2days ago",
    "this minute", "this hour", "this day", "this week", "this month", "this year",
    "1 minute ago", "5 minutes ago", "2 hours ago", "3 days ago", "1 week ago", "2 weeks ago",
    "1 month ago", "11 months ago", "13 months ago", "1 year ago", "2 years ago",
    "last minute", "last hour", "last day", "last 5 minutes", "last 2 hours", "last 3 days",
    "last 10 min", "last hr",
    "before today", "after yesterday", "before 2023-11-01", "after 2023-11-01", "after 11-01",
    "after 23-11-1", "before 10:00", "after 10:00:30", "after 2023-11-01 10:00",
    "after 2023-11-01 10:00:30",
    "2023-11-01", "11-01", "23-11-01", "10:00", "10:00:30", "2023-11-01 10:00",
    "2023-11-01 10:00:30",
    "between 2023-11-01 and 2023-11-10", "between 2023-11-10 and 2023-11-01",
    "between yesterday and today", "between today and yesterday",
    "between 2 days ago and this week", "between 10:00 and 11:00", "between 1 week ago and today",
    "between after today and yesterday",
    # not ranges
    "", "last week", "last month", "this", "2023-02-30", "foo", "before", "last 5", "1 minute",
    "min", "last 5 mins", "10:00 2023-11-01", "this mon", "minutes ago",
    "between 2023-11-01 and", "2023-11-01 and",
]

_GUILD_RANGES = """
import datetime, json, sys
from guild.timerange import trparse
ref = datetime.datetime.fromisoformat(sys.argv[1])
out = {}
for spec in json.loads(sys.argv[2]):
    try:
        out[spec] = [str(t) if t else None for t in trparse.parser().parse(spec)(ref)]
    except Exception as e:
        out[spec] = {"error": str(e)}
print(json.dumps(out))
"""


def record(guild_exe):
    home = tempfile.mkdtemp(prefix="guild-selections-")
    build_home(os.path.join(home, "runs"))
    env = dict(os.environ, GUILD_HOME=home)
    recorded = {}
    guild_python = os.path.join(os.path.dirname(guild_exe), "python")
    env = dict(env, TZ=TZ)
    for args in FILTERS:
        out = subprocess.run(
            [guild_python, "-I", "-c", _GUILD_AT_REF % REF.isoformat(), "runs", "--all"] + args,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        if out.returncode:  # a usage error, Guild's message recorded
            recorded[key(args)] = {"error": out.stderr.strip()}
        else:
            recorded[key(args)] = re.findall(r"^\[\d+:([0-9a-f]{8})\]", out.stdout, re.MULTILINE)
    ranges = json.loads(subprocess.run(
        [guild_python, "-I", "-c", _GUILD_RANGES, REF.isoformat(), json.dumps(RANGES)],
        check=True, stdout=subprocess.PIPE, text=True,
    ).stdout)
    version = subprocess.run([guild_exe, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    with open(RECORDED, "w") as f:
        json.dump({"guild": version, "selections": recorded, "ranges": ranges}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    record(sys.argv[1])
