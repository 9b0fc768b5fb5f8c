"""The doctest harness: the globals of the Markdown specs, as in Guild.

`test_globals()` returns them; `tests/conftest.py` injects them into
pytest's doctest namespace.
"""

import atexit
import builtins
import os
import pprint as _pprint
import shutil
import tempfile
import time

from google.protobuf import descriptor
from google.protobuf import message
from google.protobuf import text_encoding

import guild_tensorboard
from guild_tensorboard.runner import op as oplib
from guild_tensorboard.runs import run as runlib

__all__ = [
    "Project",
    "sample",
    "mkdtemp",
    "findl",
    "dir",
    "touch",
    "pprint",
    "test_globals",
]

_TEMP_DIRS = []


class Project:
    """A project folder and a Guild home to run its operations in."""

    def __init__(self, cwd, guild_home=None):
        self.cwd = os.path.abspath(cwd)
        self.guild_home = os.path.abspath(guild_home or mkdtemp())

    def run(self, opspec, flags=None, **kw):
        """Runs an operation and prints its output (`<exit N>` on failure)."""
        run, output = self.run_capture(opspec, flags, **kw)
        lines = [output.rstrip()] if output.strip() else []
        exit_status = run.get("exit_status")
        if exit_status != 0:
            lines.append("<exit %s>" % exit_status)
        if lines:
            print("\n".join(lines))

    def run_capture(self, opspec, flags=None, **kw):
        """Runs an operation; returns `(run, output)`."""
        return oplib.run(self.cwd, opspec, flags, guild_home=self.guild_home, **kw)

    def list_runs(self):
        return list_runs(os.path.join(self.guild_home, "runs"))

    def __repr__(self):
        return "<guild._test.Project %r>" % self.cwd


def list_runs(runs_dir):
    """Runs in `runs_dir`, newest first (by `started`, then folder mtime)."""
    try:
        names = os.listdir(runs_dir)
    except FileNotFoundError:
        return []
    runs = [
        runlib.Run(name, os.path.join(runs_dir, name))
        for name in names
        if os.path.isdir(os.path.join(runs_dir, name, ".guild"))
    ]
    runs.sort(key=_run_sort_key, reverse=True)
    return runs


def _run_sort_key(run):
    started = run.get("started")
    if not isinstance(started, int) or isinstance(started, bool):
        try:
            started = os.stat(run.dir).st_mtime_ns // 1000
        except OSError:
            started = 0
    return started, run.id


def sample(*parts):
    return os.path.join(samples_dir(), *parts)


def samples_dir():
    """`$GUILD_SAMPLES`, else the samples installed with the package
    (`guild_tensorboard/samples`), else a checkout's `samples/`."""
    env = os.environ.get("GUILD_SAMPLES")
    if env:
        return os.path.abspath(env)
    package = os.path.dirname(os.path.abspath(guild_tensorboard.__file__))
    installed = os.path.join(package, "samples")
    if os.path.isdir(installed):
        return installed
    return os.path.normpath(os.path.join(package, "..", "samples"))


def mkdtemp(prefix="guild-test-"):
    """A new temporary folder, removed when the process exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    _TEMP_DIRS.append(path)
    return path


@atexit.register
def _remove_temp_dirs():
    while _TEMP_DIRS:
        shutil.rmtree(_TEMP_DIRS.pop(), ignore_errors=True)


def findl(root):
    """Sorted relative paths of the files and links under `root`.

    Links are never followed: a link to a folder is one entry.
    """
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                dirnames.remove(name)
                filenames.append(name)
        for name in filenames:
            paths.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(paths)


def dir(path):
    return sorted(os.listdir(path))


def touch(path):
    """Creates `path` or sets its modification time to now."""
    with open(path, "a"):
        pass
    os.utime(path, None)


def pprint(obj, width=80):
    _pprint.pprint(obj, width=width)


def print_(*args, **kw):
    """`print`, showing protobuf messages in the classic text format.

    Protobuf's own `str()` changed with its runtimes: the specs were written
    when a float field printed its full double value (`1.1230000257492065`),
    and upb now prints the shortest form (`1.123`). The harness pins the
    classic form so the specs read the same on every protobuf.
    """
    args = [proto_text(arg) if isinstance(arg, message.Message) else arg for arg in args]
    builtins.print(*args, **kw)


def proto_text(msg, indent=0):
    """`msg` in protobuf text format, floats printed in full."""
    lines = []
    for field, value in msg.ListFields():
        if _is_map_field(field):
            for key in sorted(value):
                entry = field.message_type._concrete_class(key=key, value=value[key])
                lines.append(_message_lines(field.name, entry, indent))
        elif _is_repeated(field):
            lines.extend(_field_lines(field, item, indent) for item in value)
        else:
            lines.append(_field_lines(field, value, indent))
    return "".join(lines)


def _is_repeated(field):
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == descriptor.FieldDescriptor.LABEL_REPEATED


def _is_map_field(field):
    return (
        field.message_type is not None
        and field.message_type.GetOptions().map_entry
    )


def _field_lines(field, value, indent):
    if field.cpp_type == descriptor.FieldDescriptor.CPPTYPE_MESSAGE:
        return _message_lines(field.name, value, indent)
    return "%s%s: %s\n" % (" " * indent, field.name, _scalar_text(field, value))


def _message_lines(name, msg, indent):
    pad = " " * indent
    return "%s%s {\n%s%s}\n" % (pad, name, proto_text(msg, indent + 2), pad)


def _scalar_text(field, value):
    types = descriptor.FieldDescriptor
    if field.cpp_type == types.CPPTYPE_STRING:
        data = value.encode("utf-8") if isinstance(value, str) else value
        return '"%s"' % text_encoding.CEscape(data, False)
    if field.cpp_type == types.CPPTYPE_BOOL:
        return "true" if value else "false"
    if field.cpp_type == types.CPPTYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value else str(value)
    return str(value)


def test_globals():
    return {
        "print": print_,
        "Project": Project,
        "sample": sample,
        "mkdtemp": mkdtemp,
        "findl": findl,
        "dir": dir,
        "touch": touch,
        "path": os.path.join,
        "dirname": os.path.dirname,
        "pprint": pprint,
        "sleep": time.sleep,
        "os": os,
    }
