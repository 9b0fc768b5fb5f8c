"""`guild-tensorboard --check`: what the command stands on, and what it
would serve, one `name: value` line each (in the spirit of `guild check`).

The exit status is 0 when everything the command needs is there
(TensorBoard and protobuf import, the Guild home exists); a missing Rust
data server is reported, not an error: the command falls back to
TensorBoard's Python loader.
"""

import importlib
import os
import platform
import sys

from guild_tensorboard.runs import runs_dir as runs_dirlib
from guild_tensorboard.serving import open_files


def check(guild_home, out):
    """Writes the report to `out`; returns the exit status."""
    problems = []

    def say(name, value):
        out.write("%s: %s\n" % (name, value))

    say("guild_tensorboard_version", _version("guild-tensorboard"))
    say("python_version", "%s (%s)" % (platform.python_version(), sys.executable))
    for package, module in (("tensorboard", "tensorboard"), ("protobuf", "google.protobuf")):
        try:
            importlib.import_module(module)
        except Exception as e:
            problems.append(package)
            say("%s_version" % package, "cannot import %s: %s" % (module, e))
        else:
            say("%s_version" % package, _version(package))
    if "protobuf" not in problems:
        say("protobuf_implementation", _protobuf_implementation())
    for package in ("Pillow", "numpy", "werkzeug"):
        say("%s_version" % package.lower(), _version(package))
    say("data_server", _data_server() if "tensorboard" not in problems else "unknown")
    say("guild_tensorboard_module", _guild_tensorboard_module())
    soft, hard = open_files.limits()
    raised = open_files.raise_soft_limit()
    say("open_files_limit", "soft %s, hard %s; raised to %s for TensorBoard's data servers" % (
        soft, "unlimited" if hard is None else hard, raised))
    say("event_files_per_data_server", open_files.data_server_files(raised))
    try:
        runs_dir = runs_dirlib.runs_dir_for(guild_home)
    except runs_dirlib.RunsDirError as e:
        problems.append("guild home")
        say("guild_home", "missing: %s" % e)
    else:
        say("runs_dir", runs_dir)
        say("runs", len(runs_dirlib.RunsLister(runs_dir)()))
        hint = runs_dirlib.no_runs_hint(runs_dir)
        if hint:
            say("runs_hint", hint)
    say("result", "ok" if not problems else "missing: %s" % ", ".join(problems))
    return 0 if not problems else 1


def _version(package):
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _protobuf_implementation():
    try:
        from google.protobuf.internal import api_implementation

        return api_implementation.Type()
    except Exception as e:
        return "unknown (%s)" % e


def _data_server():
    from tensorboard.data import server_ingester

    try:
        binary = server_ingester.get_server_binary()
    except server_ingester.NoDataServerError as e:
        return "not found (%s): TensorBoard's Python loader serves instead" % e
    path = getattr(binary, "path", binary)
    return "%s (version %s)" % (path, getattr(binary, "version", None) or _version("tensorboard-data-server"))


def _guild_tensorboard_module():
    """Which `guild.tensorboard` an import finds, and whose `guild`
    package it is in: this package's, or Guild AI's (installed)."""
    try:  # inspected, not used: by name, as a user's import finds them
        guild = importlib.import_module("guild")
        module = importlib.import_module("guild.tensorboard")
    except Exception as e:
        return "cannot import guild.tensorboard: %s" % e
    monitor = getattr(module, "RunsMonitor", None)
    ours = getattr(monitor, "__module__", "").startswith("guild_tensorboard.")
    guilds = os.path.isfile(os.path.join(os.path.dirname(guild.__file__), "commands", "main.py"))
    return "%s (%s monitor, in %s guild package)" % (
        module.__file__, "this package's" if ours else "Guild's own", "Guild AI's" if guilds else "this package's",
    )
