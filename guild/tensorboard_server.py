"""Serving TensorBoard's own application over a log directory.

The loader settings keep live event files readable: TensorBoard's Rust
data server (`--load_fast=true`) re-polls every event file; without it,
the Python loader needs `--reload_multifile=true`, or it never re-reads a
file that sorts before the newest one of a folder (the monitor's session
and image files sort last).
"""

import logging
import socket

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
    try:
        tb.configure(argv=tensorboard_argv(logdir, reload_interval, path_prefix, tensorboard_options))
    except (SystemExit, ValueError) as e:
        raise TensorboardError("invalid TensorBoard options: %s" % e) from None
    data_provider, multiplexer = tb._make_data_provider()
    app = application.TensorBoardWSGIApp(
        tb.flags, tb.plugin_loaders, data_provider, tb.assets_zip_provider, multiplexer
    )
    app._guild_tensorboard = tb  # keeps the data ingester alive with the app
    return app


def make_simple_server(app, host, port):
    """A threaded werkzeug server for `app`; port 0 picks a free port."""
    from werkzeug import serving

    try:
        return serving.make_server(host, port, app, threaded=True)
    except (OSError, socket.error, SystemExit) as e:
        raise TensorboardError("cannot serve on %s:%s: %s" % (host, port, e)) from None


def run_simple_server(tb_app, host, port, ready_cb=None):
    server = make_simple_server(tb_app, host, port)
    url = server_url(server)
    if ready_cb:
        ready_cb(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()


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
