"""A minimal operation runner writing runs in Guild 0.9's on-disk format.

Enough of `guild run` for tests and samples: an opspec names a Python script
in the project (its flags are the script's top-level assignments of simple
values) or an operation in the project's `guild.yml`. The run goes to
`<guild_home>/runs/<uuid4 hex>`; source files are copied to the run's
`.guild/sourcecode/`, required project files are linked into the run folder,
and output lines like `loss: 0.1` are logged as scalars to an event file in
the run's `.guild/` (`step: N` sets the step of the scalars that follow).

The parts, by module: `op_guildfile` (opspec to `Op`), `op_flags`,
`op_attrs`, `op_sourcecode`, `op_bootstrap` (the script in the operation's
process) and `op_output_scalars`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid

from guild_tensorboard.runs import run as runlib
from guild_tensorboard.runner.op_attrs import write_attr
from guild_tensorboard.runner.op_bootstrap import BOOTSTRAP
from guild_tensorboard.runner.op_flags import decoded_user_flags, default_label, flag_args, flag_assigns
from guild_tensorboard.runner.op_guildfile import Op, OpError, resolve_op, script_flags
from guild_tensorboard.runner.op_output_scalars import OutputScalars
from guild_tensorboard.runner.op_sourcecode import copy_source_code, source_code_digest

__all__ = ["OpError", "Op", "resolve_op", "run", "script_flags"]

KEYBOARD_INTERRUPT = -16  # Guild's exit status for an interrupted operation


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
    args = op.main_args + flag_args(op, flags)
    globals_flags = flags if op.flags_dest == "globals" else {}
    return [
        sys.executable,
        "-u",
        "-c",
        BOOTSTRAP,
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
    args = op.main_args + flag_args(op, flags)
    return [sys.executable, "-u", _sourcecode_main(run, op)] + args


def _sourcecode_main(run, op):
    rel = os.path.relpath(op.main_path, op.project_dir)
    return run.guild_path("sourcecode", rel)


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

