"""A minimal operation runner writing runs in Guild 0.9's on-disk format.

Enough of `guild run` for tests and samples: an opspec names a Python script
in the project (its flags are the script's top-level assignments of simple
values) or an operation in the project's `guild.yml`. The run goes to
`<guild_home>/runs/<uuid4 hex>`; source files are copied to the run's
`.guild/sourcecode/`, required project files are linked into the run folder,
and output lines like `loss: 0.1` are logged as scalars to an event file in
the run's `.guild/` (`step: N` sets the step of the scalars that follow).
"""

import ast
import hashlib
import inspect
import json
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import uuid

import yaml

from guild import run as runlib
from guild.opref import OpRef

log = logging.getLogger("guild")

__all__ = ["OpError", "Op", "resolve_op", "run", "script_flags"]

GUILDFILE_NAMES = ("guild.yml", "guild.yaml")
MAX_SOURCE_FILES = 100
MAX_SOURCE_FILE_SIZE = 1024 * 1024
SIMPLE_TYPES = (int, float, str, bool, type(None))

# Guild's default output scalar patterns (`\key`, `\value`, `\step`), the
# value widened to a leading `+` and nan/inf.
_KEY = r"[^ \t]+"
_VALUE = r"(?:\+?[0-9.e\-]+|[-+]?(?i:nan|inf|infinity))"
OUTPUT_SCALAR = re.compile(r"^(%s):\s+(%s)(?:\s+\(.*\))?$" % (_KEY, _VALUE))
OUTPUT_STEP = re.compile(r"%s: +%s\s+\((?:step\s+)?([0-9]+)\)$" % (_KEY, _VALUE))
FLOAT_TRUNC_LEN = 5
KEYBOARD_INTERRUPT = -16  # Guild's exit status for an interrupted operation


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


# ---------------------------------------------------------------------------
# Running


def run(
    project_dir,
    opspec,
    flags=None,
    guild_home=None,
    label=None,
    extra_env=None,
):
    """Runs `opspec` in `project_dir`; returns `(run, output)`.

    `output` is the run's combined stdout and stderr. A non-zero exit is not
    an exception: the run's `exit_status` attr records it.
    """
    project_dir = os.path.abspath(project_dir)
    guild_home = os.path.abspath(guild_home or _default_guild_home())
    op = resolve_op(project_dir, opspec)
    user_flags = decoded_user_flags(op, flags or {})
    all_flags = dict(op.flag_defaults)
    all_flags.update(user_flags)
    if label is None:
        label = default_label(all_flags)
    run = init_run(guild_home)
    try:
        write_run_attrs(run, op, opspec, all_flags, user_flags, label)
        sourcecode = run.guild_path("sourcecode")
        copy_source_code(project_dir, sourcecode, op.main_path, exclude=[guild_home])
        write_attr(run, "sourcecode_digest", source_code_digest(sourcecode))
        resolve_requires(op, run.dir)
    except BaseException:
        # Like Guild: no longer pending, no exit status, so status "error".
        _remove(run.guild_path("PENDING"))
        raise
    output = _run_process(run, op, all_flags, guild_home, extra_env)
    return run, output


def init_run(guild_home):
    """Creates a pending run under `<guild_home>/runs/`."""
    run_id = uuid.uuid4().hex
    run_dir = os.path.join(guild_home, "runs", run_id)
    os.makedirs(os.path.join(run_dir, ".guild", "attrs"))
    run = runlib.Run(run_id, run_dir)
    _touch(run.guild_path("PENDING"))
    write_attr(run, "id", run_id)
    write_attr(run, "initialized", runlib.timestamp())
    return run


def write_run_attrs(run, op, opspec, all_flags, user_flags, label):
    with open(run.guild_path("opref"), "w", encoding="utf-8") as f:
        f.write(str(op.opref) + "\n")
    write_attr(run, "flags", all_flags)
    write_attr(run, "user_flags", user_flags)
    if label:
        write_attr(run, "label", label)
    write_attr(run, "cmd", _nominal_cmd(run, op, all_flags))
    write_attr(run, "host", socket.gethostname())
    write_attr(run, "user", _user())
    write_attr(
        run,
        "run_params",
        {
            "opspec": opspec,
            "label": label or None,
            "flags": flag_assigns(user_flags),
        },
    )


def write_attr(run, name, val):
    """Writes an attr as Guild does: YAML, no document end marker."""
    path = run.guild_path("attrs", name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_yaml(val))
        f.write("\n")


class _StrictDumper(yaml.SafeDumper):
    """Quotes `y`/`n`, booleans in YAML 1.1, as Guild's strict encoding does."""


def _represent_str(dumper, data):
    if data in ("y", "Y", "n", "N"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="'")
    return dumper.represent_str(data)


_StrictDumper.add_representer(str, _represent_str)


def encode_yaml(val, default_flow_style=False):
    encoded = yaml.dump(
        val,
        Dumper=_StrictDumper,
        default_flow_style=default_flow_style,
        indent=2,
        allow_unicode=True,
    ).strip()
    if encoded.endswith("\n..."):
        encoded = encoded[:-4]
    return encoded


def _run_process(run, op, flags, guild_home, extra_env):
    cmd = _process_cmd(run, op, flags)
    env = _process_env(run, guild_home, extra_env)
    scalars = OutputScalars(run.guild_path())
    lines = []
    exit_status = None
    write_attr(run, "started", runlib.timestamp())
    try:
        with open(run.guild_path("output"), "wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=run.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            with open(run.guild_path("LOCK"), "w") as f:
                f.write(str(proc.pid))
            _remove(run.guild_path("PENDING"))
            try:
                for raw in proc.stdout:
                    out.write(raw)
                    out.flush()
                    line = raw.decode("utf-8", errors="replace")
                    lines.append(line)
                    scalars.log_line(line)
                exit_status = proc.wait()
            except BaseException as e:
                _terminate(proc)
                exit_status = (
                    KEYBOARD_INTERRUPT
                    if isinstance(e, KeyboardInterrupt)
                    else proc.returncode
                )
                raise
            finally:
                proc.stdout.close()
    finally:
        scalars.close()
        if exit_status is not None:
            write_attr(run, "exit_status", exit_status)
        write_attr(run, "stopped", runlib.timestamp())
        _remove(run.guild_path("LOCK"))
        _remove(run.guild_path("PENDING"))
    return "".join(lines)


def _terminate(proc):
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _process_cmd(run, op, flags):
    main = _sourcecode_main(run, op)
    args = op.main_args + _flag_args(op, flags)
    globals_flags = flags if op.flags_dest == "globals" else {}
    return [
        sys.executable,
        "-u",
        "-c",
        _BOOTSTRAP,
        main,
        json.dumps(globals_flags),
        run.guild_path("sourcecode"),
        *args,
    ]


def _nominal_cmd(run, op, flags):
    """The `cmd` attr: the script as Python would run it.

    Flags with `globals` as destination are applied by rewriting the
    script's assignments, so they do not appear here.
    """
    args = op.main_args + _flag_args(op, flags)
    return [sys.executable, "-u", _sourcecode_main(run, op)] + args


def _sourcecode_main(run, op):
    rel = os.path.relpath(op.main_path, op.project_dir)
    return run.guild_path("sourcecode", rel)


def _flag_args(op, flags):
    if op.flags_dest != "args":
        return []
    args = []
    for name in sorted(flags):
        val = flags[name]
        if val is None:
            continue
        args.extend(["--%s" % name, encode_flag_val(val)])
    return args


def _process_env(run, guild_home, extra_env):
    env = dict(os.environ)
    sourcecode = run.guild_path("sourcecode")
    pythonpath = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (sourcecode, pythonpath) if p)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "GUILD_HOME": guild_home,
            "RUN_DIR": run.dir,
            "RUN_ID": run.id,
        }
    )
    env.update(extra_env or {})
    return env


def _default_guild_home():
    return os.environ.get("GUILD_HOME") or os.path.expanduser("~/.guild")


def _user():
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return None


def _touch(path):
    with open(path, "a"):
        pass


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------
# The bootstrap run by the operation's Python process
#
# Self-contained: its source is sent with `python -c`, so the operation does
# not import guild (or TensorBoard). It rewrites the script's top-level flag
# assignments in the AST, keeping line numbers, and runs it as `__main__`.


def _rewrite_flag_assigns(tree, flags):
    import ast

    for node in tree.body:
        name = _assigned_name(node)
        if name in flags and node.value is not None:
            node.value = ast.copy_location(ast.Constant(flags[name]), node.value)
    return tree


def _assigned_name(node):
    import ast

    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AnnAssign) and node.simple:
        target = node.target
    else:
        return None
    return target.id if isinstance(target, ast.Name) else None


def _exec_main(main_path, flags_json, sourcecode_dir, *args):
    import ast
    import json
    import os
    import sys
    import traceback

    with open(main_path, "rb") as f:
        source = f.read()
    tree = _rewrite_flag_assigns(ast.parse(source, main_path), json.loads(flags_json))
    code = compile(tree, main_path, "exec")
    sys.argv = [main_path] + list(args)
    sys.path[0:1] = [os.path.dirname(main_path), sourcecode_dir]
    main_globals = {
        "__name__": "__main__",
        "__file__": main_path,
        "__builtins__": __builtins__,
        "__loader__": None,
        "__spec__": None,
        "__package__": None,
    }
    try:
        exec(code, main_globals)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        etype, e, tb = sys.exc_info()
        traceback.print_exception(etype, e, tb.tb_next)
        sys.exit(1)


_BOOTSTRAP = "\n".join(
    [
        "import sys",
        inspect.getsource(_rewrite_flag_assigns),
        inspect.getsource(_assigned_name),
        inspect.getsource(_exec_main),
        "_exec_main(*sys.argv[1:])",
    ]
)


# ---------------------------------------------------------------------------
# Output scalars


class OutputScalars:
    """Logs `key: value` output lines to an event file, created lazily."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.step = None
        self._writer = None

    def log_line(self, line):
        parsed = output_scalars(line)
        step = parsed.pop("step", None)
        if step is not None and step == step and abs(step) != float("inf"):
            self.step = int(step)
        for key, val in sorted(parsed.items()):
            self._ensure_writer().add_scalar(key, val, self.step)
            self._writer.flush()

    def _ensure_writer(self):
        if self._writer is None:
            from guild.summary import SummaryWriter

            self._writer = SummaryWriter(self.logdir)
        return self._writer

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def output_scalars(line):
    """The `{key: float}` scalars of an output line, as Guild matches them.

    `loss: 0.1` gives `{"loss": 0.1}`; `step: 2` gives `{"step": 2.0}`;
    `loss: 0.1 (step 2)` gives both.
    """
    line = line.rstrip()
    vals = {}
    m = OUTPUT_STEP.search(line)
    if m:
        vals["step"] = float(m.group(1))
    m = OUTPUT_SCALAR.match(line)
    if m:
        try:
            vals[m.group(1)] = float(m.group(2))
        except ValueError:
            pass
    return vals


# ---------------------------------------------------------------------------
# Resolving operations


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
        return _script_op(project_dir, script, opspec)
    raise OpError("cannot find operation %r in %s" % (opspec, project_dir))


def guildfile_path(project_dir):
    for name in GUILDFILE_NAMES:
        path = os.path.join(project_dir, name)
        if os.path.isfile(path):
            return path
    return None


def _script_op(project_dir, script, opspec):
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
        name = _assigned_name(node)
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


def resolve_requires(op, run_dir):
    """Links (or copies) required project files into the run folder."""
    for source in op.requires:
        src = os.path.join(op.project_dir, source["file"])
        target_dir = os.path.join(run_dir, source["target-path"])
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, os.path.basename(os.path.normpath(src)))
        if source["target-type"] == "copy":
            if os.path.isdir(src):
                shutil.copytree(src, target, symlinks=True)
            else:
                shutil.copy2(src, target)
        else:
            os.symlink(os.path.abspath(src), target)


# ---------------------------------------------------------------------------
# Flags


def decoded_user_flags(op, flags):
    unknown = sorted(set(flags) - set(op.flag_defaults))
    if unknown:
        raise OpError(
            "unsupported flag%s for %s: %s"
            % ("s" if len(unknown) > 1 else "", op.name, ", ".join(unknown))
        )
    return {
        name: _decode_flag_val(val, op.flag_defaults.get(name))
        for name, val in flags.items()
    }


def _decode_flag_val(val, default):
    if isinstance(val, str) and not isinstance(default, str) and default is not None:
        try:
            decoded = yaml.safe_load(val)
        except yaml.YAMLError:
            return val
        if isinstance(decoded, SIMPLE_TYPES):
            return decoded
    if not isinstance(val, SIMPLE_TYPES):
        raise OpError("unsupported flag value %r" % (val,))
    return val


def default_label(flags):
    """Guild's default label: the non-null flags as `name=value`, by name.

    Floats are cut to 5 decimals; strings with spaces are quoted.
    """
    non_null = {name: val for name, val in flags.items() if val is not None}
    return " ".join(flag_assigns(non_null, truncate_floats=True))


def flag_assigns(flags, truncate_floats=False):
    return [
        "%s=%s" % (name, format_flag(flags[name], truncate_floats))
        for name in sorted(flags)
    ]


def format_flag(val, truncate_floats=False):
    encoded = encode_flag_val(val)
    if truncate_floats and isinstance(val, float):
        encoded = re.sub(
            r"\.[0-9]+", lambda m: m.group(0)[: FLOAT_TRUNC_LEN + 1], encoded
        )
    if isinstance(val, str) and encoded[:1] not in ("'", '"') and " " in encoded:
        encoded = repr(encoded)
    return encoded


def encode_flag_val(val):
    """A flag value as Guild writes it in labels and arguments."""
    if val is True:
        return "yes"
    if val is False:
        return "no"
    if val is None:
        return "null"
    return encode_yaml(val, default_flow_style=True)


# ---------------------------------------------------------------------------
# Source code


def copy_source_code(project_dir, dest, main_path=None, exclude=()):
    """Copies the project's source files to `dest`; returns their paths.

    Like Guild's defaults: text files up to 1 MiB, at most 100 files,
    skipping hidden, cache, virtualenv and Guild folders. The main module
    is always copied. Folders in `exclude` (and run folders) are skipped.
    """
    paths = source_code_paths(project_dir, exclude)
    if main_path:
        main_rel = os.path.relpath(main_path, project_dir)
        if main_rel not in paths:
            paths.append(main_rel)
    os.makedirs(dest, exist_ok=True)
    for rel in paths:
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(project_dir, rel), target)
    return sorted(paths)


def source_code_paths(project_dir, exclude=()):
    exclude = {os.path.realpath(path) for path in exclude}
    paths = []
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(
            d for d in dirs if _is_source_dir(os.path.join(root, d), exclude)
        )
        for name in sorted(files):
            path = os.path.join(root, name)
            if _is_source_file(path):
                paths.append(os.path.relpath(path, project_dir))
                if len(paths) >= MAX_SOURCE_FILES:
                    log.warning(
                        "more than %i source files in %s; copying the first %i",
                        MAX_SOURCE_FILES,
                        project_dir,
                        MAX_SOURCE_FILES,
                    )
                    return paths
    return paths


def _is_source_dir(path, exclude):
    name = os.path.basename(path)
    return not (
        name.startswith(".")
        or name in ("__pycache__", "node_modules")
        or name.endswith(".egg-info")
        or os.path.islink(path)
        or os.path.exists(os.path.join(path, "pyvenv.cfg"))
        or os.path.exists(os.path.join(path, "bin", "activate"))
        or os.path.exists(os.path.join(path, ".guild-nocopy"))
        or os.path.isdir(os.path.join(path, ".guild"))
        or os.path.realpath(path) in exclude
    )


def _is_source_file(path):
    name = os.path.basename(path)
    if name.startswith(".") or name.endswith((".pyc", ".pyo")) or os.path.islink(path):
        return False
    try:
        if os.path.getsize(path) > MAX_SOURCE_FILE_SIZE:
            return False
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return _is_text(head)


def _is_text(head):
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at the end of the sample is still text.
        return e.start >= len(head) - 3 and e.reason == "unexpected end of data"
    return True


def source_code_digest(dir):
    """MD5 over the files under `dir`: relative path, NUL, bytes, NUL."""
    md5 = hashlib.md5()
    paths = []
    for root, _dirs, files in os.walk(dir):
        paths.extend(os.path.relpath(os.path.join(root, name), dir) for name in files)
    for rel in sorted(paths):
        md5.update(rel.replace(os.sep, "/").encode("utf-8"))
        md5.update(b"\x00")
        with open(os.path.join(dir, rel), "rb") as f:
            for block in iter(lambda: f.read(65536), b""):
                md5.update(block)
        md5.update(b"\x00")
    return md5.hexdigest()


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()
