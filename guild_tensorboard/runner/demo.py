"""The sample runs that `guild-tensorboard demo` serves.

`build_sample_runs(guild_home)` runs the shipped sample projects'
operations into a Guild home: `echo.py` of `hparam-summaries` once for each
of `SAMPLE_FLAGS` (an HParams row each), and `copy-images` of
`image-summaries` (two images).
"""

from guild_tensorboard.runner import harness as _test

SAMPLE_FLAGS = ({"x_flag": 1.123}, {"x_flag": 2.5}, {"x_flag": -0.5})


def build_sample_runs(guild_home):
    """Runs the sample projects' operations into `guild_home`; returns the
    hparam-summaries project."""
    echo = _test.Project(_test.sample("projects", "hparam-summaries"), guild_home)
    for flags in SAMPLE_FLAGS:
        echo.run_capture("echo.py", flags)
    images = _test.Project(_test.sample("projects", "image-summaries"), guild_home)
    images.run_capture("copy-images")
    return echo

