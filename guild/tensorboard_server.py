"""Serving TensorBoard's own application over a log directory.

The loader settings keep live event files readable: TensorBoard's Rust
data server (`--load_fast=true`) re-polls every event file; without it,
the Python loader needs `--reload_multifile=true`, or it never re-reads a
file that sorts before the newest one of a folder (the monitor's session
and image files sort last).
"""

import contextlib
import io
import logging
import socket
import threading

log = logging.getLogger("guild")

DEFAULT_RELOAD_INTERVAL = 5


class TensorboardError(Exception):
    pass


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


def create_app(plugins=None, logdir=None, reload_interval=None, path_prefix="", tensorboard_options=None):
    """Returns TensorBoard's WSGI application over `logdir`.

    The application owns its data loader (the Rust data server runs as a
    child process for as long as this process does).
    """
    from tensorboard import program
    from tensorboard.backend import application

    if logdir is None:
        raise TensorboardError("create_app needs a logdir")
    tb = program.TensorBoard(plugins=plugins)
    argv = tensorboard_argv(logdir, reload_interval, path_prefix, tensorboard_options)
    usage = io.StringIO()
    try:
        with contextlib.redirect_stderr(usage):
            tb.configure(argv=argv)
    except (SystemExit, ValueError) as e:
        raise TensorboardError(
            "invalid TensorBoard options: %s" % (_last_error_line(usage.getvalue()) or e)
        ) from None
    try:
        data_provider, multiplexer = tb._make_data_provider()
    except Exception as e:
        if (tensorboard_options or {}).get("load_fast") is not None or tb.flags.load_fast != "true":
            raise TensorboardError("cannot start TensorBoard's data loader: %s" % e) from None
        # Guild-chosen Rust data server did not start (a busy machine can
        # miss its 10-second start window): fall back to the Python loader.
        log.warning("TensorBoard's data server did not start (%s); using the Python loader", e)
        fallback = dict(tensorboard_options or {}, load_fast="false", reload_multifile="true")
        return create_app(plugins, logdir, reload_interval, path_prefix, fallback)
    app = application.TensorBoardWSGIApp(
        tb.flags, tb.plugin_loaders, data_provider, tb.assets_zip_provider, multiplexer
    )
    app._guild_tensorboard = tb  # keeps the data ingester alive with the app
    return app


def _last_error_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line.split(" error: ", 1)[1] if " error: " in line else line


def stop_app(app):
    """Stops the Rust data server that `app` started, if any.

    The data server exits when its standard input closes (TensorBoard
    starts it with `--die-after-stdin`); otherwise it lives as long as
    this process.
    """
    tb = getattr(app, "_guild_tensorboard", None)
    ingester = getattr(tb, "_ingester", None)
    stdin = getattr(ingester, "_stdin_handle", None)
    if stdin is not None:
        try:
            stdin.close()
        except OSError:
            pass


def tensorboard_version():
    from tensorboard import version

    return version.VERSION


def make_simple_server(app, host, port):
    """A threaded werkzeug server for `app`; port 0 picks a free port."""
    from werkzeug import serving

    said = io.StringIO()  # werkzeug prints why it cannot bind, then exits
    try:
        with contextlib.redirect_stderr(said):
            return serving.make_server(host, port, app, threaded=True)
    except (OSError, socket.error, SystemExit) as e:
        reason = " ".join(said.getvalue().split()) if isinstance(e, SystemExit) else str(e)
        raise TensorboardError("cannot serve on %s:%s: %s" % (host, port, reason or e)) from None


def run_simple_server(tb_app, host, port, ready_cb=None):
    server = make_simple_server(tb_app, host, port)
    url = server_url(server)
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
    host, port = server.server_address[:2]
    if ":" in host:
        host = "[%s]" % host
    return "http://%s:%s%s/" % (host, port, path_prefix.rstrip("/"))


def serve_forever(
    logdir,
    host,
    port,
    reload_interval=DEFAULT_RELOAD_INTERVAL,
    tensorboard_options=None,
    middleware=None,
    ready_cb=None,
):
    app = create_app(
        logdir=logdir, reload_interval=reload_interval, tensorboard_options=tensorboard_options
    )
    if middleware:
        app = middleware(app)
    run_simple_server(app, host, port, ready_cb)
