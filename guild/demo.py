"""The sample runs that `guild-tensorboard demo` serves; `python -m
guild.demo [OPTIONS]` is `guild-tensorboard demo [OPTIONS]`."""

import sys

from guild_tensorboard.runner.demo import SAMPLE_FLAGS, build_sample_runs  # noqa: F401
from guild_tensorboard.serving.command import demo_main as main

if __name__ == "__main__":
    sys.exit(main())
