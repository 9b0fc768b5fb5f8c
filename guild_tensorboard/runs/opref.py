"""Operation references: the `.guild/opref` line of a run.

Guild 0.7-0.9 writes one line naming what the run ran:

    guildfile:/path/to/guild.yml 3f2a...c1 '' train
    script:/path/to/echo.py '' '' echo.py
    package:gpkg.mnist 0.1.0 mnist train

Fields are separated by spaces and quoted shell-style when needed (an empty
model name is written `''`, sometimes `""`). The first field is
`<pkg_type>:<pkg_name>`; the older five-field form puts the type in a field
of its own (`guildfile: /path ...` or `guildfile /path ...`).
"""

import os
import re
import shlex

from guild_tensorboard.events.regular_files import read_regular

__all__ = ["OpRef", "OpRefError"]


# An opref is one line; anything larger is not one Guild wrote.
_OPREF_LIMIT = 64 * 1024


class OpRefError(ValueError):
    pass


class OpRef:
    __slots__ = ("pkg_type", "pkg_name", "pkg_version", "model_name", "op_name")

    def __init__(self, pkg_type, pkg_name, pkg_version, model_name, op_name):
        self.pkg_type = pkg_type
        self.pkg_name = pkg_name
        self.pkg_version = pkg_version
        self.model_name = model_name
        self.op_name = op_name

    @staticmethod
    def parse(encoded):
        return parse_opref(encoded)

    @staticmethod
    def for_run(run):
        return opref_for_run_dir(run.dir)

    def _fields(self):
        return (
            self.pkg_type,
            self.pkg_name,
            self.pkg_version,
            self.model_name,
            self.op_name,
        )

    def __str__(self):
        return "%s:%s %s %s %s" % (
            self.pkg_type,
            _quote(self.pkg_name),
            _quote(self.pkg_version),
            _quote(self.model_name),
            _quote(self.op_name),
        )

    def __repr__(self):
        return "<guild.opref.OpRef %r>" % str(self)

    def __eq__(self, other):
        if not isinstance(other, OpRef):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self):
        return hash(self._fields())


def parse_opref(encoded):
    """Returns an OpRef for an encoded opref line; raises OpRefError."""
    if not isinstance(encoded, str):
        raise OpRefError("opref must be a string, got %r" % (encoded,))
    try:
        parts = _split_fields(encoded.strip())
    except ValueError as e:
        raise OpRefError("cannot parse opref %r: %s" % (encoded, e)) from None
    if len(parts) == 4:
        pkg_type, sep, pkg_name = parts[0].partition(":")
        if not sep:
            raise OpRefError("opref %r has no package type" % encoded)
        rest = parts[1:]
    elif len(parts) == 5 and ":" not in parts[0].rstrip(":"):
        pkg_type, pkg_name = parts[0].rstrip(":"), parts[1]
        rest = parts[2:]
    else:
        raise OpRefError(
            "opref %r has %i fields, expected 4 or 5" % (encoded, len(parts))
        )
    if not pkg_type:
        raise OpRefError("opref %r has an empty package type" % encoded)
    pkg_version, model_name, op_name = rest
    if not op_name:
        raise OpRefError("opref %r has an empty operation name" % encoded)
    return OpRef(pkg_type, pkg_name, pkg_version, model_name, op_name)


_FIELD = re.compile(r"""(?:'([^']*)'|"([^"\\]*)"|([^\s'"\\]+))(?=\s|$)""")


def _split_fields(line):
    """Fields split shell-style. Guild's oprefs quote only empty or spaced
    fields, which a regular expression splits fast; anything else (escapes,
    quotes inside a field) goes to `shlex`."""
    fields = []
    pos = 0
    n = len(line)
    while pos < n:
        if line[pos].isspace():
            pos += 1
            continue
        m = _FIELD.match(line, pos)
        if not m:
            return shlex.split(line)
        fields.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
    return fields


def opref_for_run_dir(run_dir):
    """Returns the OpRef of a run dir, None when it has no opref file.

    Raises OpRefError when the file cannot be read or parsed.
    """
    path = os.path.join(run_dir, ".guild", "opref")
    try:
        encoded = read_regular(path, _OPREF_LIMIT).decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise OpRefError("cannot read %s: %s" % (path, e)) from None
    return parse_opref(encoded)


def _quote(s):
    return shlex.quote("" if s is None else str(s))
