"""The values a filter expression names, for one run, as Guild 0.9's run
index gives them: attrs (a few computed, as `guild compare` shows them),
flags, and the last value of each scalar."""

import datetime
import logging
import os
import time

from guild_tensorboard.events import tfevent

log = logging.getLogger("guild")

STOPPED_RUN_RECHECK = 60.0  # seconds between walks of a stopped run for its scalars


class RunValues:
    """Looks up names for `info` (a `runs_dir.RunInfo`); what is read is
    kept on `info` while its files are unchanged."""

    def __init__(self, info):
        self.info = info

    def lookup(self, name):
        """`attr:NAME`, `flag:NAME`, `scalar:[PREFIX#]TAG`, or a bare
        name: the first of attr, flag and scalar that is not None."""
        for prefix, get in (("attr:", self.attr), ("flag:", self.flag), ("scalar:", self.scalar)):
            if name.startswith(prefix):
                return get(name[len(prefix):])
        for get in (self.attr, self.flag, self.scalar):
            val = get(name)
            if val is not None:
                return val
        return None

    def attr(self, name):
        computed = _COMPUTED_ATTRS.get(name)
        if computed is not None:
            try:
                return computed(self.info)
            except Exception as e:  # a garbled opref: the run has no such value
                log.debug("run %s: cannot compute %s: %s", self.info.run.id, name, e)
                return None
        return self.info.attr(name)

    def flag(self, name):
        flags = self.info.attr("flags")
        return flags.get(name) if isinstance(flags, dict) else None

    def scalar(self, key):
        prefix, tag = key.split("#", 1) if "#" in key else ("", key)
        for entry_prefix, entry_tag, last_val in run_scalars(self.info):
            if (not prefix or prefix == entry_prefix) and tag == entry_tag:
                return last_val
        return None


def _format_timestamp(ts):
    """Guild's local `%Y-%m-%d %H:%M:%S`, `""` without a time."""
    if not isinstance(ts, (int, float)) or isinstance(ts, bool) or not ts:
        return ""
    return datetime.datetime.fromtimestamp(ts / 1000000).strftime("%Y-%m-%d %H:%M:%S")


def _run_time(info):
    """`H:MM:SS` the run took (so far, while running); None otherwise."""
    started, stopped = info.attr("started"), info.attr("stopped")
    if not isinstance(started, int):
        return None
    status = info.status()
    if status == "running":
        stopped = datetime.datetime.now().timestamp() * 1000000
    elif not isinstance(stopped, int):
        return None
    minutes, seconds = divmod(int((stopped - started) // 1000000), 60)
    hours, minutes = divmod(minutes, 60)
    return "%i:%02i:%02i" % (hours, minutes, seconds)


def _pkg_name(info):
    opref = info.run.opref
    if opref.pkg_type == "package":
        return "%s==%s" % (opref.pkg_name, opref.pkg_version)
    if opref.pkg_type in ("guildfile", "script"):
        path = os.path.abspath(opref.pkg_name)
        home = os.path.expanduser("~")
        return os.path.join("~", path[len(home) + 1:]) if path.startswith(home) else path
    return opref.pkg_name


_COMPUTED_ATTRS = {
    "id": lambda info: info.run.id,
    "run": lambda info: info.run.short_id,
    "short_id": lambda info: info.run.short_id,
    "model": lambda info: info.run.opref.model_name,
    "op": lambda info: info.run.opref.op_name,
    "operation": lambda info: info.op_desc(),
    "from": _pkg_name,
    "sourcecode": lambda info: str(info.attr("sourcecode_digest") or "")[:8],
    "started": lambda info: _format_timestamp(info.attr("started")),
    "stopped": lambda info: _format_timestamp(info.attr("stopped")),
    "status": lambda info: info.status(),
    "time": _run_time,
}


def run_scalars(info):
    """`(prefix, tag, last value)` of each scalar in the run's event
    files, `prefix` the folder's path in the run (`""` at its top, `eval`,
    `.guild`); read again only when an event file changed."""
    return info.memo("scalars", None, _RunScalars).get(info)


class _RunScalars:
    """A run's scalars, and when its folders were last walked for event
    files: each call for a run not yet stopped, every
    STOPPED_RUN_RECHECK seconds for a stopped one (a walk costs about a
    millisecond a run, too much for every pass over thousands)."""

    def __init__(self):
        self.walked = None
        self.folders = None
        self.values = None

    def get(self, info):
        now = time.monotonic()
        info.status()
        if self.values is not None and info.final_status and now - self.walked < STOPPED_RUN_RECHECK:
            return self.values
        folders = tuple(_event_folders(info.run.dir))
        self.walked = now
        if folders != self.folders:
            self.folders = folders
            self.values = _read_scalars(folders)
        return self.values


def _event_folders(run_dir):
    """`(prefix, dir, digest)` of each folder of the run holding event
    files. Links are followed into runs only (a step's link to its run),
    as Guild does; each real folder once."""
    for dir, dirnames, filenames in tfevent.walk_real_folders(run_dir):
        dirnames[:] = sorted(name for name in dirnames if _follows(dir, name))
        names = sorted(name for name in filenames if ".tfevents." in name)
        if not names:
            continue
        digest = tfevent.event_files_digest(dir, names)
        if digest is not None:
            prefix = os.path.relpath(dir, run_dir).replace(os.sep, "/")
            yield ("" if prefix == "." else prefix), dir, digest


def _follows(dir, name):
    path = os.path.join(dir, name)
    return not os.path.islink(path) or os.path.exists(os.path.join(path, ".guild", "opref"))


def _read_scalars(folders):
    scalars = []
    for prefix, dir, _digest in folders:
        last = {}  # tag -> (step, value) at the highest step, the later on a tie
        try:
            for tag, val, step in tfevent.ScalarReader(dir):
                if tag not in last or step >= last[tag][0]:
                    last[tag] = (step, val)
        except OSError as e:
            log.error("cannot read scalars in %s: %s", dir, e)
        scalars.extend((prefix, tag, val) for tag, (_step, val) in last.items())
    return scalars
