"""Names of run folders in a TensorBoard log directory.

A run folder is a direct child of the log directory. Whatever a run's label
or a `run_name_cb` returns, the name is made safe for the file system: no
path separators or control characters, no `.`/`..`, a length cap in bytes.
"""

import datetime
import os
import re

from guild_tensorboard.runs import run as runlib

MAX_NAME_BYTES = 200

_SEPARATORS = re.compile(r"[/\\]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s{2,}")


def default_run_name(run):
    """`<short_id> <[model:]op> <started YYYY-MM-DD HH:MM:SS> <label>`."""
    parts = [run.short_id, run_op_desc(run), _format_started(run.get("started"))]
    parts.append(_label(run))
    return " ".join(part for part in parts if part)


def run_op_desc(run, _seen=None):
    """`[model:]op`, as Guild shows it; a batch run's is its prototype's
    and its own joined by `+` (`train+`, `train+skopt:gp`)."""
    try:
        opref = run.opref
    except Exception:
        return "?"
    if opref is None:
        return "?"
    model = opref.model_name or ""
    desc = "%s:%s" % (model, opref.op_name) if model else opref.op_name
    proto = _batch_proto(run, _seen if _seen is not None else set())
    if proto is None:
        return desc
    return run_op_desc(proto, _seen) + ("" if desc.startswith("+") else "+") + desc


def _batch_proto(run, seen):
    """The run's batch prototype (`.guild/proto`), once on a chain."""
    run_dir = getattr(run, "dir", None)
    if not run_dir:
        return None
    proto_dir = os.path.join(run_dir, ".guild", "proto")
    if proto_dir in seen or not os.path.isfile(os.path.join(proto_dir, ".guild", "opref")):
        return None
    seen.add(proto_dir)
    return runlib.for_dir(proto_dir)


def _format_started(started):
    if not isinstance(started, (int, float)) or isinstance(started, bool):
        return ""
    try:
        when = datetime.datetime.fromtimestamp(started / 1000000)
    except (OverflowError, OSError, ValueError):
        return ""
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _label(run):
    label = run.get("label")
    return "" if label is None else str(label).strip()


def display_name(name):
    """`name` (a file name, a run id) as valid UTF-8: bytes that do not
    decode are escaped (`\\xf6`)."""
    if name.isascii():
        return name
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def safe_run_name(name, max_bytes=MAX_NAME_BYTES):
    """Returns `name` as a single, file-system-safe path component, valid
    UTF-8 (what does not decode becomes `?`)."""
    name = str(name).replace("\u2026", "?")
    name = _SEPARATORS.sub("_", name)
    name = _CONTROL_CHARS.sub(" ", name)
    name = _SPACES.sub(" ", name).strip()
    name = _cap_bytes(name, max_bytes).rstrip()
    if name in ("", ".", ".."):
        name = "_" + name
    return name


def _cap_bytes(name, max_bytes):
    encoded = name.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return encoded.decode("utf-8")
    return encoded[:max_bytes].decode("utf-8", "ignore")
