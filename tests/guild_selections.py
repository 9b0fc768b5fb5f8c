"""Guild's own run filters as the oracle for the command's: a Guild home
built here, in Guild 0.9's format, and the runs that real Guild's
`guild runs --all` selects from it for each filter, recorded in
`guild_selections.json`.

To record them again (Guild installs from the registry):

    python -m venv /tmp/guild-venv && /tmp/guild-venv/bin/pip install guildai==0.9.0
    python tests/guild_selections.py /tmp/guild-venv/bin/guild
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDED = os.path.join(HERE, "guild_selections.json")
T0 = 1_700_000_000_000_000  # microseconds since the epoch

# Runs oldest first; ids are fixed so recorded selections name them.
RUNS = [
    dict(op="train", exit_status=0, label="lr=0.1 best", tags=["best", "v1"], marked=True,
         sourcecode_digest="abc1230000", comments=[{"user": "alice", "host": "gpu1", "body": "Looks GOOD"}]),
    dict(op="train", exit_status=1, label="", tags=["v1"]),
    dict(op="eval", exit_status=0, label="baseline", comments=[], sourcecode_digest="abd4560000"),
    dict(op="train", exit_status=-15, label="lr=0.3", marked=False),
    dict(op="train", model="m", exit_status=0, tags=["best"]),
    dict(op="prepare", marker="PENDING"),
    dict(op="train", label="staged one", marker="STAGED"),
    dict(op="train", exit_status=0, comments=[{"user": "bob", "host": "laptop", "body": "retry"}], marked=True),
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
]


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
        attrs = {"id": rid, "flags": {"i": i}, "started": T0 + i * 1_000_000}
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


def record(guild_exe):
    home = tempfile.mkdtemp(prefix="guild-selections-")
    build_home(os.path.join(home, "runs"))
    env = dict(os.environ, GUILD_HOME=home)
    recorded = {}
    for args in FILTERS:
        out = subprocess.run(
            [guild_exe, "runs", "--all"] + args, env=env, check=True,
            stdout=subprocess.PIPE, text=True,
        ).stdout
        recorded[" ".join(args)] = re.findall(r"^\[\d+:([0-9a-f]{8})\]", out, re.MULTILINE)
    version = subprocess.run([guild_exe, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    with open(RECORDED, "w") as f:
        json.dump({"guild": version, "selections": recorded}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    record(sys.argv[1])
