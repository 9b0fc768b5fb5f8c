"""The runs monitor's base and its refusals (`LogdirError`, a `ValueError`;
`LogdirInUse` when another monitor holds the log directory)."""

from guild_tensorboard.monitor.base import (  # noqa: F401
    LogdirError,
    LogdirInUse,
    LoopingThread,
    RunsMonitor,
    monitor_for,
)
