"""Operation references: the `.guild/opref` line of a run."""

from guild_tensorboard.runs.opref import OpRef, OpRefError, opref_for_run_dir, parse_opref  # noqa: F401
