"""The main job on shipped sample data: build sample runs in a temporary
Guild home, run the monitor once, and print the log directory it prepared.

    python -m guild.demo [LOGDIR]
"""

import os
import sys
import tempfile

from guild import _test
from guild.tensorboard import RunsMonitor

SAMPLE_FLAGS = ({"x_flag": 1.123}, {"x_flag": 2.5}, {"x_flag": -0.5})


def build_sample_runs(guild_home):
    """Runs the sample projects' operations into `guild_home`; returns the
    hparam-summaries and image-summaries projects."""
    echo = _test.Project(_test.sample("projects", "hparam-summaries"), guild_home)
    for flags in SAMPLE_FLAGS:
        echo.run_capture("echo.py", flags)
    images = _test.Project(_test.sample("projects", "image-summaries"), guild_home)
    images.run_capture("copy-images")
    return echo


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    guild_home = tempfile.mkdtemp(prefix="guild-home-")
    logdir = argv[0] if argv else tempfile.mkdtemp(prefix="guild-tensorboard-")
    project = build_sample_runs(guild_home)
    monitor = RunsMonitor(logdir, project.list_runs)
    monitor.run_once()
    print("Guild home with sample runs: %s" % guild_home)
    print("TensorBoard log directory: %s" % logdir)
    for path in _test.findl(logdir):
        print("  " + path)
    print("Serve it with: tensorboard --logdir '%s'" % logdir)


if __name__ == "__main__":
    main()
