"""The doctest harness: the globals of the Markdown specs, as in Guild."""

from guild_tensorboard.runner.harness import (  # noqa: F401
    Project,
    dir,
    findl,
    list_runs,
    mkdtemp,
    pprint,
    print_,
    sample,
    samples_dir,
    test_globals,
    touch,
)
