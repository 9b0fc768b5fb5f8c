"""The runs of a Guild home or runs directory: listing, selecting, filtering."""

from guild_tensorboard.runs.runs_dir import (  # noqa: F401
    RunFilter,
    RunsDirError,
    RunsLister,
    RunsSource,
    SelectError,
    default_guild_home,
    runs_dir_for,
    select_runs,
)
