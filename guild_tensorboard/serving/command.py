"""The `guild-tensorboard` command: TensorBoard over a Guild home, live.

    guild-tensorboard [OPTIONS] [GUILD_HOME_OR_RUNS_DIR] [RUN...]
    guild-tensorboard demo [OPTIONS] [RUN...]

Also `python -m guild.tensorboard`. Status messages go to standard error;
standard output gets the line with TensorBoard's URL, the path that
`--test-logdir` prepared, and the CSV of `--export-scalars -`.
"""

import argparse
import contextlib
import csv
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import webbrowser

from guild_tensorboard.serving import progress as progresslib
from guild_tensorboard.monitor import logdir_claim
from guild_tensorboard.runs import filter_expr, time_range
from guild_tensorboard.runs import runs_dir as runs_dirlib
from guild_tensorboard.serving import app as tensorboard_server
from guild_tensorboard.serving import session as tensorboard_session
from guild_tensorboard.events import tfevent

log = logging.getLogger("guild")

PROG = "guild-tensorboard"
DEFAULT_HOST = "127.0.0.1"
STATUS_OPTIONS = (
    ("-Sr", "--running", "running"),
    ("-Sc", "--completed", "completed"),
    ("-Se", "--error", "error"),
    ("-St", "--terminated", "terminated"),
    ("-Sp", "--pending", "pending"),
    ("-Ss", "--staged", "staged"),
)
# Guild's `-S CHARS` (`-Set`: terminated or error), a letter per status.
STATUS_CHARS = {short[2]: status for short, _long, status in STATUS_OPTIONS}
# TensorBoard's dashboards (2.16 to 2.21), as its URLs name them.
TABS = (
    "timeseries", "scalars", "images", "hparams", "graphs", "distributions", "histograms",
    "text", "pr_curves", "audio", "custom_scalars", "projector", "mesh", "debugger-v2",
    "profile",
)
# TensorBoard flags the command sets itself.
RESERVED_TENSORBOARD_OPTIONS = {
    "logdir": "--logdir",
    "logdir_spec": "--logdir",
    "host": "--host",
    "bind_all": "--host",
    "port": "--port",
}


class CommandError(Exception):
    """Reported as one line on standard error; the command exits 1."""

    exit_status = 1


class UsageError(CommandError):
    exit_status = 2


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line, not a usage block."""

    def error(self, message):
        raise UsageError("%s (try '%s --help')" % (message, self.prog))


def parser():
    p = _Parser(
        prog=PROG,
        add_help=False,  # -h is the host, as in Guild
        usage="%(prog)s [OPTIONS] [GUILD_HOME_OR_RUNS_DIR] [RUN...]\n"
        "       %(prog)s demo [OPTIONS] [RUN...]",
        description=(
            "Serve TensorBoard over Guild runs, refreshing its log directory while "
            "it runs. GUILD_HOME_OR_RUNS_DIR is a Guild home (a folder with runs/) or "
            "a runs directory; it defaults to $GUILD_HOME, else ~/.guild. The first "
            "argument is taken as that folder when it is a directory or looks like a "
            "path (holds '/', starts with '.' or '~'); otherwise every argument is a "
            "RUN selector. RUN is a 1-based index (newest first), a range START:END, "
            "a run id or the start of one (digits alone are an index when fewer than "
            "8); selectors are resolved once, at start. 'demo' builds runs from the "
            "shipped sample projects in a temporary Guild home and serves them."
        ),
    )
    p.add_argument("args", nargs="*", metavar="GUILD_HOME_OR_RUNS_DIR | RUN", help=argparse.SUPPRESS)
    p.add_argument("--help", action="help", help="show this help and exit")
    serve = p.add_argument_group("serving")
    serve.add_argument("-h", "--host", default=DEFAULT_HOST, help="interface to listen on (default %(default)s)")
    serve.add_argument("-p", "--port", type=_port, default=0, help="port to listen on; 0 (the default) picks a free port")
    serve.add_argument(
        "--refresh-interval",
        type=_interval,
        default=tensorboard_session.DEFAULT_REFRESH_INTERVAL,
        metavar="SECONDS",
        help="seconds between refreshes of the log directory, and TensorBoard's reload interval (default %(default)s)",
    )
    serve.add_argument("-n", "--no-open", action="store_true", help="don't open a browser")
    serve.add_argument("--dark-mode", action="store_true", help="open TensorBoard in its dark theme (its own theme toggle still wins)")
    serve.add_argument("--tab", metavar="TAB", help="open TensorBoard at this dashboard (scalars, images, hparams, timeseries, ...)")
    serve.add_argument(
        "-O",
        "--tensorboard-option",
        dest="tensorboard_options",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="pass --OPTION=VALUE to TensorBoard (repeat for more)",
    )
    logdir = p.add_argument_group("log directory")
    logdir.add_argument("--skip-images", action="store_true", help="don't log image summaries")
    logdir.add_argument("--skip-hparams", action="store_true", help="don't log hparams sessions (nor the time metric)")
    logdir.add_argument("--run-name-flags", metavar="FLAGS", help="flags that name run folders in place of the label (comma- or space-separated)")
    logdir.add_argument("--logdir", metavar="DIR", help="use DIR as the log directory, kept on exit (default: a temporary one)")
    logdir.add_argument("--keep-logdir", action="store_true", help="keep the temporary log directory on exit")
    logdir.add_argument("--test-logdir", action="store_true", help="prepare the log directory, print its path and exit")
    logdir.add_argument(
        "--export-scalars",
        metavar="PATH",
        help="write the runs' scalars as CSV (run,path,tag,value,step) to PATH, '-' for standard output, and exit",
    )
    filters = p.add_argument_group("run filters")
    filters.add_argument("-F", "--filter", dest="filter_expr", metavar="EXPR", help="runs that pass a Guild filter expression, e.g. \"loss < 0.5 and optimizer = adam\" (names: attrs, flags, scalars)")
    filters.add_argument("-Fo", "--operation", dest="operations", action="append", default=[], metavar="VAL", help="runs whose operation matches VAL: [MODEL]:OP, a glob, or a regular expression with ^ or $ (repeat for any of several)")
    filters.add_argument("-Fl", "--label", dest="labels", action="append", default=[], metavar="VAL", help="runs whose label contains VAL (repeat for any of several)")
    filters.add_argument("-Fu", "--unlabeled", action="store_true", help="runs without a label")
    filters.add_argument("-Ft", "--tag", dest="tags", action="append", default=[], metavar="TAG", help="runs with TAG (repeat for any of several)")
    filters.add_argument("-Fc", "--comment", dest="comments", action="append", default=[], metavar="VAL", help="runs with a comment containing VAL, case aside (repeat for any of several)")
    filters.add_argument("-Fm", "--marked", action="store_true", help="marked runs")
    filters.add_argument("-Fn", "--unmarked", action="store_true", help="unmarked runs")
    filters.add_argument("-Fd", "--digest", metavar="VAL", help="runs whose source code digest starts with VAL")
    filters.add_argument("-Fs", "--started", metavar="RANGE", help="runs started in RANGE: today, yesterday, 'this week', '2 days ago', 'last 3 hours', 'after 2026-11-01', 'between 10:00 and 12:00', ... (local time, applied at each refresh)")
    for short, long, status in STATUS_OPTIONS:
        filters.add_argument(short, long, dest="statuses", action="append_const", const=status, help="%s runs" % status)
        filters.add_argument(
            "--not-" + long[2:], dest="not_statuses", action="append_const", const=status,
            help="runs that are not %s" % status,
        )
    filters.add_argument("-Sg", dest="statuses", action="append_const", const="staged", help=argparse.SUPPRESS)
    filters.add_argument("-S", dest="status_chars", action="append", default=[], metavar="CHARS", help="statuses by letter: r c e t p s (-Set: terminated or error)")
    filters.add_argument("--runs-infile", metavar="PATH", help=argparse.SUPPRESS)
    filters.add_argument("--include-batch", action="store_true", help="include batch runs (hidden by default)")
    p.add_argument("--debug", action="store_true", help="log debug messages")
    p.add_argument("--version", action="store_true", help="print versions and exit")
    p.add_argument("--check", action="store_true", help="report what the command stands on and would serve, and exit (0: all there)")
    return p


def _port(val):
    try:
        port = int(val)
    except ValueError:
        raise argparse.ArgumentTypeError("port must be a number, got '%s'" % val) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("port must be 0 to 65535, got %s" % val)
    return port


def _interval(val):
    try:
        seconds = float(val)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds, got '%s'" % val) from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError("must be more than 0 seconds, got %s" % val)
    return seconds


def parse_args(argv=None):
    args = parser().parse_intermixed_args(argv)
    args.demo = bool(args.args) and args.args[0] == "demo"
    positional = list(args.args[1:] if args.demo else args.args)
    args.guild_home = None
    if positional and not args.demo and _looks_like_path(positional[0]):
        args.guild_home = positional.pop(0)
    args.runs = positional
    args.statuses = (args.statuses or []) + _statuses_for_chars(args.status_chars)
    args.not_statuses = args.not_statuses or []
    if args.labels and args.unlabeled:
        raise UsageError("--label and --unlabeled cannot both be used")
    if args.marked and args.unmarked:
        raise UsageError("--marked and --unmarked cannot both be used")
    _check_filter_syntax(args)
    args.tensorboard_options = tensorboard_options(args.tensorboard_options)
    if args.tab is not None and args.tab not in TABS:
        raise UsageError("--tab: no dashboard '%s' (one of %s)" % (args.tab, ", ".join(TABS)))
    if args.test_logdir and args.export_scalars:
        raise UsageError("--test-logdir and --export-scalars can't be used together")
    return args


def _check_filter_syntax(args):
    if args.filter_expr:  # "" filters nothing, as in Guild
        try:
            filter_expr.parse(args.filter_expr)
        except filter_expr.FilterSyntaxError as e:
            raise UsageError("-F %r: %s" % (args.filter_expr, e)) from None
    if args.started:
        try:
            time_range.parse(args.started)
        except time_range.RangeError as e:
            raise UsageError("-Fs %r: %s (see --help for ranges)" % (args.started, e)) from None


def _statuses_for_chars(groups):
    statuses = []
    for chars in groups:
        for char in chars:
            if char not in STATUS_CHARS:
                raise UsageError("-S: unknown status letter '%s' (use %s)" % (char, " ".join(STATUS_CHARS)))
            statuses.append(STATUS_CHARS[char])
    return statuses


def _looks_like_path(arg):
    return (
        os.path.isdir(os.path.expanduser(arg))
        or os.sep in arg
        or "/" in arg
        or arg.startswith((".", "~"))
    )


def tensorboard_options(assigns):
    """`{name: value}` of `-O OPTION=VALUE` arguments."""
    options = {}
    for assign in assigns:
        name, sep, val = assign.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not sep or not name:
            raise UsageError("-O expects OPTION=VALUE, got '%s'" % assign)
        if name in RESERVED_TENSORBOARD_OPTIONS:
            raise UsageError(
                "-O %s: use %s %s instead" % (name, PROG, RESERVED_TENSORBOARD_OPTIONS[name])
            )
        options[name] = val
    return options


def main(argv=None):
    """Runs the command; returns its exit status."""
    debug = False
    try:
        args = parse_args(argv)
        debug = args.debug
        setup_logging(debug)
        if args.version:
            print_versions()
            return 0
        if args.check:
            from guild_tensorboard.serving import check

            return check.check(args.guild_home, sys.stdout)
        if args.demo:
            return _demo(args)
        return run(args)
    except CommandError as e:
        _err("%s: error: %s" % (PROG, e))
        return e.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if debug:
            raise
        _err("%s: error: %s (--debug shows where)" % (PROG, _one_line(e)))
        return 1


def _one_line(e):
    return " ".join(str(e).split()) or type(e).__name__


def setup_logging(debug=False):
    guild_log = logging.getLogger("guild")
    if not any(getattr(h, "_guild_tensorboard", False) for h in guild_log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler._guild_tensorboard = True
        guild_log.addHandler(handler)
        guild_log.propagate = False  # TensorBoard gives the root logger a handler too
    guild_log.setLevel(logging.DEBUG if debug else logging.WARNING)
    tensorboard_server.setup_logging()


def print_versions():
    from importlib import metadata

    try:
        version = metadata.version("guild-tensorboard")
    except metadata.PackageNotFoundError:
        version = "unknown"
    _out("%s %s (TensorBoard %s)" % (PROG, version, tensorboard_server.tensorboard_version()))


def run(args, guild_home=None):
    """The command on parsed `args`, over `guild_home` when given (else the
    one the arguments name); returns the exit status."""
    source = runs_source(args, guild_home or args.guild_home)
    hint = runs_dirlib.no_runs_hint(source.runs_dir)
    if hint:
        log.warning(hint)
    if args.export_scalars:
        return export_scalars(source(), args.export_scalars)
    try:
        if args.logdir:
            logdir_claim.check_apart_from_home(os.path.realpath(args.logdir), source.runs_dir)
        session = tensorboard_session.Session(
            source,
            logdir=args.logdir,
            keep_logdir=args.keep_logdir or args.test_logdir,
            refresh_interval=args.refresh_interval,
            log_images=not args.skip_images,
            log_hparams=not args.skip_hparams,
            run_name_cb=run_name_cb(args),
            tensorboard_options=args.tensorboard_options,
        )
    except logdir_claim.LogdirError as e:
        raise UsageError(str(e)) from None
    with _stop_on_signals():
        try:
            if args.test_logdir:
                _prepare(session)
                _out(session.logdir)
                return 0
            return _serve(session, args)
        except KeyboardInterrupt:
            return 0
        finally:
            _hold_signals()  # a signal now would cut the cleanup short
            session.close()


def runs_source(args, guild_home):
    try:
        runs_dir = runs_dirlib.runs_dir_for(guild_home)
    except runs_dirlib.RunsDirError as e:
        hint = "" if guild_home else " (set GUILD_HOME or name a Guild home or runs directory)"
        raise CommandError("%s%s" % (e, hint)) from None
    if args.runs_infile:  # as Guild: the file's runs, whatever the filters
        return runs_dirlib.RunsInfile(runs_dir, args.runs_infile)
    try:
        run_filter = runs_dirlib.RunFilter(
            operations=args.operations,
            labels=args.labels,
            unlabeled=args.unlabeled,
            statuses=args.statuses,
            not_statuses=args.not_statuses,
            tags=args.tags,
            comments=args.comments,
            marked=True if args.marked else False if args.unmarked else None,
            digest=args.digest,
            started=args.started,
            expr=args.filter_expr,
            include_batch=args.include_batch,
        )
        return runs_dirlib.RunsSource(runs_dir, args.runs, run_filter)
    except runs_dirlib.SelectError as e:
        raise CommandError("%s in %s" % (e, runs_dir)) from None


def run_name_cb(args):
    if args.run_name_flags is None:
        return None
    names = tensorboard_session.split_flag_names(args.run_name_flags)
    return tensorboard_session.run_name_cb_for_flags(names)


def _prepare(session):
    """The first pass, here and now (`--test-logdir`)."""
    _err("Preparing runs%s" % _ellipsis(sys.stderr))
    with _logdir_errors():
        session.prepare(progresslib.ProgressBar(sys.stderr))


@contextlib.contextmanager
def _logdir_errors():
    try:
        yield
    except logdir_claim.LogdirInUse as e:
        raise CommandError(str(e)) from None
    except logdir_claim.LogdirError as e:
        raise UsageError(str(e)) from None
    except Exception as e:
        log.debug("first pass failed", exc_info=True)
        raise CommandError("cannot prepare runs: %s" % e) from None


def _serve(session, args):
    """TensorBoard serves at once; the first pass mirrors the runs, newest
    first, while it does (they show as they come)."""
    with _logdir_errors():
        session.open()
    try:
        url = session.start_server(args.host, args.port, dark_mode=args.dark_mode)
    except tensorboard_server.TensorboardUsageError as e:
        raise UsageError(str(e)) from None
    except tensorboard_server.TensorboardError as e:
        raise CommandError(str(e)) from None
    if args.tab:
        url += "#" + args.tab
    _out(
        "Running TensorBoard %s at %s (Ctrl+C to quit)"
        % (tensorboard_server.tensorboard_version(), url)
    )
    _err("Preparing runs%s" % _ellipsis(sys.stderr))
    session.start_monitor(progresslib.ProgressBar(sys.stderr))
    if not args.no_open:
        open_browser(url)
    session.serve_forever()
    return 0


class _stop_on_signals:
    """Ctrl+C (SIGINT) and SIGTERM raise KeyboardInterrupt in the main
    thread, even when SIGINT was ignored by whatever started the command
    (a shell starting it in the background does that). Only the first
    does: the cleanup that follows it (inside this block) must not be cut
    short by a second Ctrl+C, which says it is under way instead."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self._prev = {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._prev[signum] = signal.signal(signum, _raise_keyboard_interrupt)
        return self

    def __exit__(self, *exc):
        if _stop_on_signals.stopped:
            # The cleanup is done and the command ends: ignored, a signal
            # now cannot kill the interpreter as it finalizes (which puts
            # back the default handlers, but not an ignored signal)
            for signum in self._prev:
                signal.signal(signum, signal.SIG_IGN)
            return
        for signum, handler in self._prev.items():
            signal.signal(signum, handler)

    stopped = False


def _raise_keyboard_interrupt(signum, frame):
    _stop_on_signals.stopped = True
    _hold_signals()
    raise KeyboardInterrupt()


def _hold_signals():
    if threading.current_thread() is threading.main_thread():
        for signum in _stop_on_signals.SIGNALS:
            signal.signal(signum, _say_stopping)


def _say_stopping(signum, frame):
    _err("Stopping: removing the temporary log directory and TensorBoard's data servers")


def open_browser(url):
    """Opens `url` in a browser, when there is a display to show one
    (a console browser would take over the terminal)."""
    if not _has_display():
        return
    threading.Thread(target=_open_url_quietly, args=(url,), daemon=True).start()


def _has_display():
    return (
        sys.platform in ("darwin", "win32")
        or any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"))
    )


def _open_url_quietly(url):
    try:
        webbrowser.open(url)
    except Exception as e:
        log.debug("cannot open a browser: %s", e)


def export_scalars(runs, path):
    """Writes the scalars of `runs` as CSV: `run,path,tag,value,step`, one
    row a scalar event; `path` is the folder of the event file relative to
    the run (`.guild` for Guild's output scalars). Returns 0."""
    if path == "-":
        try:
            _write_scalars(runs, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
        return 0
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            _write_scalars(runs, f)
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (path, e)) from None
    return 0


def _write_scalars(runs, f):
    out = csv.writer(f, lineterminator="\n")
    out.writerow(["run", "path", "tag", "value", "step"])
    for run in runs:
        for dir, _digest, reader in tfevent.scalar_readers(run.dir):
            subpath = os.path.relpath(dir, run.dir)
            for tag, value, step in reader:
                out.writerow([run.id, subpath, tag, value, step])


def _silence_stdout():
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def demo_main(argv=None):
    """`guild-tensorboard demo [ARGS]` (`python -m guild.demo`)."""
    argv = sys.argv[1:] if argv is None else argv
    return main(["demo"] + list(argv))


def _demo(args):
    from guild_tensorboard.runner import demo

    guild_home = tempfile.mkdtemp(prefix="guild-demo-")
    keep = args.keep_logdir or args.test_logdir or args.logdir
    try:
        _err("Building sample runs in %s" % guild_home)
        demo.build_sample_runs(guild_home)
        return run(args, guild_home)
    finally:
        if not keep:
            shutil.rmtree(guild_home, ignore_errors=True)


def _out(line):
    _write(sys.stdout, line)


def _err(line):
    _write(sys.stderr, line)


def _write(stream, line):
    try:
        stream.write(line + "\n")
        stream.flush()
    except UnicodeEncodeError:
        stream.write(line.encode("ascii", "replace").decode("ascii") + "\n")
        stream.flush()


def _ellipsis(stream):
    try:
        "\u2026".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "..."
    return "\u2026"


if __name__ == "__main__":
    sys.exit(main())
