"""guild-tensorboard's Guild-named modules: Guild AI's `guild.tensorboard`
and what it stands on, without Guild.

Each module here is a thin face of `guild_tensorboard`, where the code
lives by layer (events, runs, runner, monitor, serving). Installed from a
wheel, this folder is `guild_tensorboard/_guild/`, importable as `guild`
through `guild_tensorboard._import_hook` when Guild itself is not
installed; with Guild installed, only `guild.tensorboard` is this
package's (see the README, "With Guild").
"""

from guild_tensorboard import __version__  # noqa: F401
