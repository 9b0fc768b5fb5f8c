"""Guild runs as found on disk (the formats of Guild 0.7 to 0.9).

A run is a folder named by its id holding a `.guild/` folder: `opref`,
`attrs/<name>` (one YAML value each), `output`, and while the run is going a
`LOCK` file with the pid of its process. Nothing here writes to a run.
"""

import logging
import os
import re
import time

import yaml

from guild_tensorboard.runs import opref as opreflib
from guild_tensorboard.events.log_once import warning_once
from guild_tensorboard.events.regular_files import open_regular, read_regular

log = logging.getLogger("guild")

__all__ = ["Run", "for_dir", "timestamp", "pid_is_alive"]

_MISSING = object()

# An attr is one YAML value: anything larger is not one Guild wrote.
ATTR_LIMIT = 4 * 1024 * 1024


class Run:
    def __init__(self, id, path):
        self.id = id
        self.path = path
        self._opref = _MISSING

    @property
    def dir(self):
        return self.path

    @property
    def short_id(self):
        return self.id[:8]

    def guild_path(self, *parts):
        return os.path.join(self.path, ".guild", *parts)

    @property
    def opref(self):
        """The run's OpRef, None when it has none.

        Raises `guild.opref.OpRefError` when the opref is garbled.
        """
        if self._opref is _MISSING:
            try:
                self._opref = opreflib.opref_for_run_dir(self.path)
            except opreflib.OpRefError as e:
                raise opreflib.OpRefError(
                    "invalid opref for run %s (%s): %s" % (self.id, self.path, e)
                ) from None
        return self._opref

    @property
    def pid(self):
        """The pid in the run's LOCK file, or None."""
        return pid_in_lock_file(self.guild_path("LOCK"))

    @property
    def status(self):
        return run_status(self)

    def get(self, name, default=None):
        """The value of attr `name`, `default` when missing, null or bad."""
        val = read_attr(self, name, default)
        return default if val is None else val

    def attr_names(self):
        try:
            names = os.listdir(self.guild_path("attrs"))
        except OSError:
            return []
        return sorted(
            name
            for name in names
            if os.path.isfile(self.guild_path("attrs", name))
        )

    def __repr__(self):
        return "<guild.run.Run '%s'>" % self.id


def for_dir(path):
    path = os.path.abspath(path)
    return Run(os.path.basename(path.rstrip(os.sep)), path)


def timestamp():
    """Guild's timestamp: microseconds since the epoch."""
    return time.time_ns() // 1000


def read_attr(run, name, default=None):
    path = run.guild_path("attrs", name)
    try:
        data = read_regular(path, ATTR_LIMIT)
    except FileNotFoundError:
        return default
    except OSError as e:
        warning_once(("attr", path), "cannot read attr %r of run %s: %s", name, run.id, e)
        return default
    try:
        return decode_attr(data)
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as e:
        warning_once(
            ("attr", path),
            "invalid YAML in attr %r of run %s (%s): %s",
            name,
            run.id,
            path,
            _one_line(e),
        )
        return default


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT = re.compile(rb"-?(?:0|[1-9][0-9]*)")


def decode_attr(data):
    """One YAML value, as Guild writes attrs. Integers (ids, times, exit
    statuses: most attrs) skip the YAML parser; the rest uses libyaml's
    safe loader when PyYAML has it."""
    text = data.strip()
    if text.endswith(b"\n...") or text == b"...":
        text = text[:-3].strip()
    if _INT.fullmatch(text):
        return int(text)
    return yaml.load(data.decode("utf-8-sig"), Loader=_YAML_LOADER)


def run_status(run):
    """Status as Guild 0.9 computes it, read afresh on every call.

    In order: `LOCK.remote` -> running, `PENDING` -> pending, `STAGED` ->
    staged; then the `exit_status` attr when there is one; then running
    when `LOCK` names a live process; else error (the process died without
    recording an exit status).
    """
    if os.path.exists(run.guild_path("LOCK.remote")):
        return "running"
    if os.path.exists(run.guild_path("PENDING")):
        return "pending"
    if os.path.exists(run.guild_path("STAGED")):
        return "staged"
    exit_status = run.get("exit_status")
    if exit_status is not None:
        return status_for_exit_status(exit_status)
    if pid_is_alive(run.pid):
        return "running"
    return "error"


def status_for_exit_status(exit_status):
    """completed for 0, terminated when killed by a signal (< 0), else error.

    Guild records -15 for SIGTERM and -16 for a keyboard interrupt.
    """
    if isinstance(exit_status, bool):
        exit_status = int(exit_status)
    if isinstance(exit_status, str):
        try:
            exit_status = int(exit_status.strip())
        except ValueError:
            return "error"
    if not isinstance(exit_status, int):
        return "error"
    if exit_status == 0:
        return "completed"
    if exit_status < 0:
        return "terminated"
    return "error"


def pid_in_lock_file(path):
    try:
        with open_regular(path) as f:
            raw = f.read(64)
    except OSError:
        return None
    try:
        pid = int(raw.strip() or b"0")
    except ValueError:
        return None
    return pid if pid > 0 else None


def pid_is_alive(pid):
    """True when `pid` names a live (not zombie) process."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    return not _is_zombie(pid)


def _is_zombie(pid):
    try:
        with open("/proc/%i/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # pid (comm) state ...; comm may hold spaces and parens.
    _, _, rest = stat.rpartition(b")")
    return rest[1:2] == b"Z"


def _one_line(e):
    return " ".join(str(e).split())
