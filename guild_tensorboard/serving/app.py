"""Serving TensorBoard's own application over a log directory.

The loader settings keep live event files readable: TensorBoard's Rust
data server (`--load_fast=true`) re-polls every event file; without it,
the Python loader needs `--reload_multifile=true`, or it never re-reads a
file that sorts before the newest one of a folder (the monitor's session
and image files sort last). The Rust data servers are started here, as
many as the open-files limit needs (`guild_tensorboard.serving.data_shards`).
"""

import atexit
import contextlib
import errno
import functools
import io
import logging
import os
import socket
import threading
import warnings

from guild_tensorboard.serving import data_shards
from guild_tensorboard.serving import open_files
from guild_tensorboard.monitor import base as run_util
from guild_tensorboard.serving.sharded_provider import ShardedDataProvider

log = logging.getLogger("guild")

# TensorBoard before 2.21 imports pkg_resources, whose deprecation warning
# would be the first line a command or a notebook cell prints: TensorBoard's
# own, and nothing a user can act on. Only that warning, from TensorBoard.
warnings.filterwarnings(
    "ignore", message="pkg_resources is deprecated", category=UserWarning, module=r"tensorboard\."
)

DEFAULT_RELOAD_INTERVAL = run_util.DEFAULT_INTERVAL


class TensorboardError(Exception):
    pass


class TensorboardUsageError(TensorboardError):
    """Bad TensorBoard options, or a host that is no interface of this
    machine: the caller's arguments, not the machine's state."""


def setup_logging():
    """Quiets TensorBoard's and werkzeug's per-request logging."""
    for name in ("tensorboard", "werkzeug", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)


def loader_options():
    """The loader flags that keep growing and late event files visible."""
    from tensorboard.data import server_ingester

    try:
        server_ingester.get_server_binary()
    except server_ingester.NoDataServerError:
        return {"load_fast": "false", "reload_multifile": "true"}
    return {"load_fast": "true"}


def tensorboard_argv(logdir, reload_interval=None, path_prefix="", tensorboard_options=None):
    tensorboard_options = tensorboard_options or {}
    options = {} if "load_fast" in tensorboard_options else loader_options()
    options["logdir"] = logdir
    options["reload_interval"] = str(
        DEFAULT_RELOAD_INTERVAL if reload_interval is None else reload_interval
    )
    if path_prefix:
        options["path_prefix"] = path_prefix
    options.update({name: str(val) for name, val in tensorboard_options.items()})
    return [""] + ["--%s=%s" % (name, val) for name, val in options.items()]


def create_app(
    logdir=None,
    reload_interval=None,
    path_prefix="",
    tensorboard_options=None,
    disabled_plugins=None,
    plugins=None,
    monitor=None,
):
    """Returns TensorBoard's WSGI application over `logdir` (Guild's
    signature; `disabled_plugins` leaves out the plugins whose names hold
    any of its strings).

    With TensorBoard's Rust data server (the default when installed), the
    process's open-files limit is raised to its hard limit first, and the
    run folders are dealt to as many data servers as that limit needs
    (`guild_tensorboard.serving.data_shards`), learning each folder's event files from the runs
    monitor on `logdir` (`monitor`, else this process's own), or by walking
    the log directory. The data servers run as child processes until
    `stop_app(app)` or the end of this process.
    """
    from tensorboard import program
    from tensorboard.backend import application

    if logdir is None:
        raise TensorboardError("create_app needs a logdir")
    tb = program.TensorBoard(plugins=_plugins(plugins, disabled_plugins))
    argv = tensorboard_argv(logdir, reload_interval, path_prefix, tensorboard_options)
    usage = io.StringIO()
    try:
        with contextlib.redirect_stderr(usage):
            tb.configure(argv=argv)
    except (SystemExit, ValueError) as e:
        raise TensorboardUsageError(
            "invalid TensorBoard options: %s" % (_last_error_line(usage.getvalue()) or e)
        ) from None
    shards = None
    if tb.flags.load_fast == "true" and not tb.flags.grpc_data_provider:
        chosen = "load_fast" in (tensorboard_options or {})
        data_provider, shards = _sharded_data_provider(
            tb, logdir, monitor, fallback=not chosen,
            reload_interval_chosen="reload_interval" in (tensorboard_options or {}),
        )
        multiplexer = None
    else:
        try:
            data_provider, multiplexer = tb._make_data_provider()
        except (Exception, SystemExit) as e:
            raise TensorboardError("cannot start TensorBoard's data loader: %s" % e) from None
    app = application.TensorBoardWSGIApp(
        tb.flags, tb.plugin_loaders, data_provider, tb.assets_zip_provider, multiplexer
    )
    app._guild_tensorboard = tb  # keeps the data ingester alive with the app
    app._guild_shards = shards
    if shards is not None:  # for callers that never stop the app (Guild's `guild view`)
        app._guild_close_at_exit = functools.partial(_close_shards, shards)
        atexit.register(app._guild_close_at_exit)
    return app


def _plugins(plugins, disabled_plugins):
    if plugins is None:
        from tensorboard import default

        plugins = default.get_plugins()
    if disabled_plugins:
        plugins = [
            plugin for plugin in plugins
            if not any(name in str(plugin) for name in disabled_plugins)
        ]
    return plugins


def _sharded_data_provider(tb, logdir, monitor, fallback, reload_interval_chosen=False):
    """`(provider, shards)` over data servers started as the run folders
    come (see `guild_tensorboard.serving.data_shards`)."""
    from tensorboard.data import server_ingester

    try:
        binary = server_ingester.get_server_binary()
    except server_ingester.NoDataServerError as e:
        raise TensorboardError("cannot start TensorBoard's data server: %s" % e) from None
    limit = open_files.raise_soft_limit()
    provider = ShardedDataProvider(data_location=os.path.abspath(logdir))
    shards = data_shards.DataShards(
        logdir, open_files.data_server_files(limit), _data_server_starter(tb, binary, fallback),
        provider, limit=limit, reload_interval=_reload_interval(tb.flags),
        scale_reload=not reload_interval_chosen,
    )
    monitor = monitor or run_util.monitor_for(logdir)
    if monitor is not None:
        monitor.add_listener(shards)
        shards.detach = lambda: monitor.remove_listener(shards)
    else:
        sync = data_shards.DiskSync(shards, tb.flags.reload_interval)
        sync.sync_now()
        sync.start()
        shards.detach = sync.stop
    return provider, shards


def _reload_interval(flags):
    return flags.reload_interval or DEFAULT_RELOAD_INTERVAL


def _data_server_starter(tb, binary, fallback):
    """`start(shard_dir, reload_interval)` -> `(data provider, stop)`: a
    Rust data server over one shard (`guild_tensorboard.serving.data_server`); when it does not start (a busy
    machine can miss its 10-second start window) and `fallback`,
    TensorBoard's Python loader over the shard instead."""
    import shlex

    from guild_tensorboard.serving import data_server

    flags = tb.flags

    def start(shard_dir, reload_interval):
        try:
            server = data_server.DataServer(
                binary,
                shard_dir,
                reload_interval,
                flags.samples_per_plugin,
                shlex.split(flags.extra_data_server_flags),
                flags.grpc_creds_type,
            )
        except (data_server.DataServerError, OSError) as e:
            if not fallback:
                raise
            log.warning(
                "TensorBoard's data server did not start (%s); using the Python loader "
                "for the runs it was to serve", e,
            )
            return _python_loader(flags, shard_dir), lambda: None
        return server.provider, server.stop

    return start


def _python_loader(flags, logdir):
    """TensorBoard's Python loader over `logdir`, re-reading every file."""
    import argparse

    from tensorboard.backend.event_processing import data_ingester

    local = argparse.Namespace(**vars(flags))
    local.logdir = logdir
    local.load_fast = "false"
    local.reload_multifile = True
    ingester = data_ingester.LocalDataIngester(local)
    ingester.start()
    return ingester.data_provider


def _close_stdin(ingester):
    """A data server started with `--die-after-stdin` exits when its
    standard input closes."""
    stdin = getattr(ingester, "_stdin_handle", None)
    if stdin is not None:
        try:
            stdin.close()
        except OSError:
            pass


def _last_error_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line.split(" error: ", 1)[1] if " error: " in line else line


def stop_app(app):
    """Stops the data servers that `app` started, if any: its shards' and
    TensorBoard's own (which exits when its standard input closes; else it
    lives as long as this process)."""
    shards = getattr(app, "_guild_shards", None)
    if shards is not None:
        atexit.unregister(app._guild_close_at_exit)
        _close_shards(shards)
    tb = getattr(app, "_guild_tensorboard", None)
    ingester = getattr(tb, "_ingester", None)
    if ingester is not None:
        _close_stdin(ingester)


def _close_shards(shards):
    detach = getattr(shards, "detach", None)
    if detach:
        detach()
    shards.close()


def tensorboard_version():
    from tensorboard import version

    return version.VERSION


def make_simple_server(app, host, port):
    """A threaded werkzeug server for `app` and its URL, `(server, url)`
    as Guild's; port 0 picks a free port."""
    from werkzeug import serving

    _check_host(host, port)
    said = io.StringIO()  # werkzeug prints why it cannot bind, then exits
    try:
        with contextlib.redirect_stderr(said):
            server = serving.make_server(
                host, port, app, threaded=True, request_handler=_quiet_request_handler()
            )
    except (OSError, socket.error, SystemExit) as e:
        reason = _sentences(said.getvalue()) if isinstance(e, SystemExit) else _os_reason(e)
        error = TensorboardUsageError if _is_bad_host(e) else TensorboardError
        raise error("cannot serve on %s:%s: %s" % (host, port, reason or e)) from None
    server.daemon_threads = True
    return server, server_url(server)


def _sentences(text):
    """werkzeug's lines as sentences: `Address already in use. Port N is
    in use by another program. ...`."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return " ".join(line if line[-1] in ".!?" else line + "." for line in lines if line)


def _quiet_request_handler():
    """werkzeug's request handler without its line per request (which a
    notebook shows in the cell that runs; errors are still logged)."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietRequestHandler(WSGIRequestHandler):
        def log_request(self, code="-", size="-"):
            pass

    return QuietRequestHandler


def _check_host(host, port):
    """Raises `TensorboardUsageError` for a host that names no interface
    of this machine (werkzeug would print why and exit)."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.bind(address)
    except OSError as e:
        if _is_bad_host(e):
            raise TensorboardUsageError(
                "cannot serve on %s:%s: %s" % (host, port, _os_reason(e))
            ) from None


def _is_bad_host(e):
    return isinstance(e, socket.gaierror) or getattr(e, "errno", None) == errno.EADDRNOTAVAIL


def _os_reason(e):
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def run_simple_server(tb_app, host, port, ready_cb=None):
    """Serves `tb_app` until interrupted, saying where (as Guild does)."""
    server, url = make_simple_server(tb_app, host, port)
    log.info("Running TensorBoard %s at %s (Type Ctrl+C to quit)", tensorboard_version(), url)
    if ready_cb:
        ready_cb(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def serve_in_thread(server):
    """Serves `server` from a daemon thread; returns the thread. Stop
    with `server.shutdown()`, then `server.server_close()`."""
    thread = threading.Thread(
        target=server.serve_forever, name="guild-tensorboard-server", daemon=True
    )
    thread.start()
    return thread


def server_url(server, path_prefix=""):
    """The URL a browser opens: a server on every interface (`0.0.0.0`,
    `::`) is named by this machine's host name."""
    host, port = server.server_address[:2]
    host = reachable_host(host)
    if ":" in host:
        host = "[%s]" % host
    return "http://%s:%s%s/" % (host, port, path_prefix.rstrip("/"))


def reachable_host(host):
    if host not in ("0.0.0.0", "::", ""):
        return host
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
    except OSError:
        return "localhost"
    return name


def serve_forever(
    logdir,
    host,
    port,
    reload_interval=DEFAULT_RELOAD_INTERVAL,
    tensorboard_options=None,
    middleware=None,
    ready_cb=None,
):
    setup_logging()
    app = create_app(
        logdir=logdir, reload_interval=reload_interval, tensorboard_options=tensorboard_options
    )
    served = middleware(app) if middleware else app
    try:
        run_simple_server(served, host, port, ready_cb)
    finally:
        stop_app(app)
