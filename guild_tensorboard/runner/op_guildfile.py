"""Resolving an opspec to an Op: an operation in the project's guildfile
(`guild.yml`) or, failing that, a Python script in the project.

A script's flags are its top-level assignments of simple values. A guildfile
operation gets its main module, flag defaults (its own `flags` and those
imported from the main module) and the project files it `requires`.
"""

import ast
import os
import shlex

import yaml

from guild_tensorboard.runner.op_bootstrap import assigned_name
from guild_tensorboard.runner.op_sourcecode import file_digest
from guild_tensorboard.runs.opref import OpRef

__all__ = ["Op", "OpError", "guildfile_path", "resolve_op", "script_flags"]

GUILDFILE_NAMES = ("guild.yml", "guild.yaml")
SIMPLE_TYPES = (int, float, str, bool, type(None))


class OpError(Exception):
    pass


class Op:
    """A resolved operation: what to run and how to pass it flags."""

    def __init__(
        self,
        project_dir,
        opref,
        main_path,
        main_args=(),
        flag_defaults=None,
        flags_dest="globals",
        requires=(),
    ):
        self.project_dir = project_dir
        self.opref = opref
        self.main_path = main_path
        self.main_args = list(main_args)
        self.flag_defaults = dict(flag_defaults or {})
        self.flags_dest = flags_dest
        self.requires = list(requires)

    @property
    def name(self):
        model = self.opref.model_name
        return "%s:%s" % (model, self.opref.op_name) if model else self.opref.op_name

    def __repr__(self):
        return "<guild.op.Op %r>" % self.name


def resolve_op(project_dir, opspec):
    """Returns the Op for `opspec` in `project_dir`; raises OpError."""
    project_dir = os.path.abspath(project_dir)
    guildfile = guildfile_path(project_dir)
    if guildfile:
        op = _guildfile_op(project_dir, guildfile, opspec)
        if op:
            return op
    script = os.path.join(project_dir, opspec)
    if opspec.endswith(".py") and os.path.isfile(script):
        return _script_op(project_dir, script)
    raise OpError("cannot find operation %r in %s" % (opspec, project_dir))


def guildfile_path(project_dir):
    for name in GUILDFILE_NAMES:
        path = os.path.join(project_dir, name)
        if os.path.isfile(path):
            return path
    return None


def _script_op(project_dir, script):
    # Guild 0.9: `script:<script's folder> '' '' <script name>`.
    script = os.path.abspath(script)
    opref = OpRef("script", os.path.dirname(script), "", "", os.path.basename(script))
    return Op(project_dir, opref, script, flag_defaults=script_flags(script))


def script_flags(path):
    """The top-level assignments of simple values in a Python script."""
    with open(path, "rb") as f:
        source = f.read()
    try:
        tree = ast.parse(source, path)
    except SyntaxError as e:
        raise OpError("cannot read flags from %s: %s" % (path, e)) from None
    flags = {}
    for node in tree.body:
        name = assigned_name(node)
        if name is None or name in flags or node.value is None:
            continue
        try:
            val = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(val, SIMPLE_TYPES):
            flags[name] = val
    return flags


def _guildfile_op(project_dir, guildfile, opspec):
    model_name, _, op_name = opspec.rpartition(":")
    data = _load_guildfile(guildfile)
    for model, ops in _guildfile_models(data, guildfile):
        if model_name and model != model_name:
            continue
        opdef = ops.get(op_name)
        if opdef is None:
            continue
        if not isinstance(opdef, dict):
            opdef = {"main": opdef} if isinstance(opdef, str) else {}
        return _op_for_opdef(project_dir, guildfile, model, op_name, opdef)
    return None


def _load_guildfile(path):
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise OpError("cannot read %s: %s" % (path, e)) from None


def _guildfile_models(data, path):
    """Yields `(model_name, ops)` for each model in a guildfile.

    Guild's forms: a top-level mapping of operations, or a list of items
    where `- model: NAME` / `- operations:` items hold operations.
    """
    if data is None:
        return
    if isinstance(data, dict):
        if "model" in data or "operations" in data:
            data = [data]
        else:
            yield "", data
            return
    if not isinstance(data, list):
        raise OpError("unsupported guildfile format in %s" % path)
    for item in data:
        if not isinstance(item, dict):
            continue
        if "model" in item or "operations" in item:
            ops = item.get("operations") or {}
            if isinstance(ops, dict):
                yield str(item.get("model") or ""), ops


def _op_for_opdef(project_dir, guildfile, model, op_name, opdef):
    main_spec = opdef.get("main") or op_name.replace("-", "_")
    try:
        main_parts = shlex.split(str(main_spec))
    except ValueError as e:
        raise OpError("invalid main %r for %s: %s" % (main_spec, op_name, e)) from None
    if not main_parts:
        raise OpError("empty main for operation %r" % op_name)
    main_path = _module_path(project_dir, main_parts[0])
    flag_defaults = _imported_flags(opdef, main_path)
    flag_defaults.update(_opdef_flag_defaults(opdef))
    flags_dest = opdef.get("flags-dest") or _default_flags_dest(
        main_path, flag_defaults
    )
    if flags_dest not in ("globals", "args"):
        raise OpError("unsupported flags-dest %r for %s" % (flags_dest, op_name))
    guildfile = os.path.abspath(guildfile)
    opref = OpRef("guildfile", guildfile, file_digest(guildfile), model, op_name)
    return Op(
        project_dir,
        opref,
        main_path,
        main_parts[1:],
        flag_defaults,
        flags_dest,
        _requires(opdef, project_dir, op_name),
    )


def _module_path(project_dir, module):
    rel = module.replace(".", os.sep) if "/" not in module else module
    for candidate in (rel + ".py", os.path.join(rel, "__main__.py")):
        path = os.path.join(project_dir, candidate)
        if os.path.isfile(path):
            return path
    raise OpError("cannot find module %r in %s" % (module, project_dir))


def _opdef_flag_defaults(opdef):
    flags = opdef.get("flags") or {}
    if not isinstance(flags, dict):
        return {}
    defaults = {}
    for name, flagdef in flags.items():
        if name == "$include":
            continue
        defaults[str(name)] = (
            flagdef.get("default") if isinstance(flagdef, dict) else flagdef
        )
    return defaults


def _imported_flags(opdef, main_path):
    spec = opdef.get("flags-import")
    if spec in (None, False, "no", "off"):
        return {}
    module_flags = script_flags(main_path)
    if spec in (True, "all", "yes", "on"):
        return module_flags
    if isinstance(spec, str):
        spec = [spec]
    return {name: module_flags[name] for name in spec if name in module_flags}


def _default_flags_dest(main_path, flag_defaults):
    if not flag_defaults:
        return "globals"
    module_flags = script_flags(main_path)
    return "globals" if all(name in module_flags for name in flag_defaults) else "args"


def _requires(opdef, project_dir, op_name):
    requires = opdef.get("requires") or []
    if isinstance(requires, (str, dict)):
        requires = [requires]
    sources = []
    for item in requires:
        if isinstance(item, dict) and "sources" in item:
            for source in item.get("sources") or []:
                sources.append(_file_source(source, op_name, item))
        else:
            sources.append(_file_source(item, op_name, {}))
    for source in sources:
        path = os.path.join(project_dir, source["file"])
        if not os.path.exists(path):
            raise OpError(
                "cannot resolve requirement %r for operation %r: %s does not exist"
                % (source["file"], op_name, path)
            )
    return sources


def _file_source(item, op_name, resource):
    if not isinstance(item, dict) or "file" not in item:
        raise OpError("unsupported requirement %r for operation %r" % (item, op_name))
    return {
        "file": str(item["file"]),
        "target-path": item.get("target-path")
        or item.get("path")
        or resource.get("target-path")
        or resource.get("path")
        or "",
        "target-type": item.get("target-type") or resource.get("target-type") or "link",
    }
