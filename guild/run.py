"""Guild runs as found on disk (the formats of Guild 0.7 to 0.9)."""

from guild_tensorboard.runs.run import (  # noqa: F401
    Run,
    for_dir,
    pid_is_alive,
    read_attr,
    run_status,
    status_for_exit_status,
    timestamp,
)
