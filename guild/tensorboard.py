"""Guild's TensorBoard support: a runs monitor that turns runs into a live
TensorBoard log directory, and the functions that serve TensorBoard on it.

`python -m guild.tensorboard` is the `guild-tensorboard` command.
"""

from guild_tensorboard.monitor.base import LogdirError, LogdirInUse  # noqa: F401
from guild_tensorboard.monitor.runs_monitor import RunsMonitor  # noqa: F401
from guild_tensorboard.serving.app import (  # noqa: F401
    DEFAULT_RELOAD_INTERVAL,
    TensorboardError,
    create_app,
    make_simple_server,
    run_simple_server,
    serve_forever,
    setup_logging,
)

__all__ = [
    "RunsMonitor", "TensorboardError", "DEFAULT_RELOAD_INTERVAL", "create_app",
    "serve_forever", "setup_logging", "make_simple_server", "run_simple_server",
    "LogdirError", "LogdirInUse",
]

if __name__ == "__main__":
    from guild_tensorboard.serving import command

    raise SystemExit(command.main())
