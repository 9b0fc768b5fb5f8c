"""TensorBoard over Guild runs from a notebook (Jupyter, IPython).

    from guild_tensorboard.serving import notebook

    tb = notebook.start("~/.guild")   # monitor + TensorBoard, in this process
    tb.display()                      # TensorBoard inline, in an IFrame
    tb.stop()                         # stops both, removes the temporary logdir

`start` takes the command's options as keywords; it raises what goes wrong
(`guild.runs_dir.RunsDirError`, `guild.runs_dir.SelectError`,
`guild_tensorboard.monitor.base.LogdirError` (a `ValueError`; `LogdirInUse` is one),
`guild.tensorboard.TensorboardError`).
TensorBoards still running when the interpreter exits are stopped then.
"""

import atexit
import logging
import threading

from guild_tensorboard.runs import runs_dir as runs_dirlib
from guild_tensorboard.serving import session as tensorboard_session

log = logging.getLogger("guild")

DEFAULT_HEIGHT = 800

_running = []
_running_lock = threading.Lock()


def start(
    guild_home_or_runs_dir=None,
    runs=(),
    operations=(),
    labels=(),
    unlabeled=False,
    statuses=(),
    include_batch=False,
    not_statuses=(),
    tags=(),
    comments=(),
    marked=None,
    digest=None,
    started=None,
    filter_expr=None,
    host="127.0.0.1",
    port=0,
    refresh_interval=tensorboard_session.DEFAULT_REFRESH_INTERVAL,
    log_images=True,
    log_hparams=True,
    run_name_flags=None,
    logdir=None,
    keep_logdir=False,
    tensorboard_options=None,
    dark_mode=False,
):
    """Starts a runs monitor and TensorBoard over the runs of a Guild home
    or runs directory (default `$GUILD_HOME`, else `~/.guild`); returns a
    `NotebookTensorBoard`.

    `runs`: run selectors, as the command takes them; `operations`,
    `labels`, `unlabeled`, `statuses`, `not_statuses`, `tags`, `comments`,
    `marked` (True, False: unmarked), `digest`, `started` (a time range,
    `"last hour"`), `filter_expr` (`"loss < 0.5 and optimizer = adam"`),
    `include_batch`: run filters, with Guild's semantics
    (`runs_dir.RunFilter`; a bad range or expression raises ValueError);
    `dark_mode`: TensorBoard in its dark theme; `run_name_flags`: flag names (a list, or a comma- or space-separated
    string) that name run folders in place of the label. `port=0` picks a
    free port.
    """
    runs_dir = runs_dirlib.runs_dir_for(guild_home_or_runs_dir)
    run_filter = runs_dirlib.RunFilter(
        operations=_list(operations),
        labels=_list(labels),
        unlabeled=unlabeled,
        statuses=_list(statuses),
        include_batch=include_batch,
        not_statuses=_list(not_statuses),
        tags=_list(tags),
        comments=_list(comments),
        marked=marked,
        digest=digest,
        started=started,
        expr=filter_expr,
    )
    source = runs_dirlib.RunsSource(runs_dir, _list(runs), run_filter)
    session = tensorboard_session.Session(
        source,
        logdir=logdir,
        keep_logdir=keep_logdir,
        refresh_interval=refresh_interval,
        log_images=log_images,
        log_hparams=log_hparams,
        run_name_cb=_run_name_cb(run_name_flags),
        tensorboard_options=tensorboard_options,
    )
    try:
        session.open()
        session.start_server(host, port, dark_mode=dark_mode)
        session.start_monitor()  # the first pass goes on while TensorBoard serves
        session.serve_in_thread()
    except BaseException:
        session.close()
        raise
    tb = NotebookTensorBoard(session)
    with _running_lock:
        _running.append(tb)
    return tb


def _list(val):
    if val is None:
        return []
    if isinstance(val, str):
        return [val]
    return list(val)


def _run_name_cb(run_name_flags):
    if run_name_flags is None:
        return None
    if isinstance(run_name_flags, str):
        names = tensorboard_session.split_flag_names(run_name_flags)
    else:
        names = list(run_name_flags)
    return tensorboard_session.run_name_cb_for_flags(names)


class NotebookTensorBoard:
    """A running TensorBoard: `url`, `logdir`, `display()`, `stop()`.

    As the last expression of a cell it shows TensorBoard inline.
    """

    def __init__(self, session):
        self._session = session
        self.url = session.url
        self.logdir = session.logdir
        self.stopped = False

    @property
    def monitor(self):
        return self._session.monitor

    def frame(self, height=DEFAULT_HEIGHT, tab=None):
        """An `IPython.display.IFrame` showing TensorBoard (at dashboard
        `tab`, e.g. "hparams", when given)."""
        from IPython.display import IFrame

        return IFrame(self.url_for(tab), width="100%", height=height)

    def wait(self, timeout=None):
        """Waits until every run is in the log directory (TensorBoard serves
        from the start, showing runs as they come); True when they are."""
        return self._session.wait(timeout)

    def url_for(self, tab=None):
        return self.url + ("#%s" % tab if tab else "")

    def display(self, height=DEFAULT_HEIGHT, tab=None):
        """Shows TensorBoard inline in the notebook."""
        from IPython.display import display

        display(self.frame(height, tab))

    def _repr_html_(self):
        if self.stopped:
            return "<p>TensorBoard at %s is stopped.</p>" % self.url
        return self.frame()._repr_html_()

    def stop(self):
        """Stops TensorBoard and the monitor; removes a temporary log
        directory unless it was kept."""
        if self.stopped:
            return
        self.stopped = True
        with _running_lock:
            if self in _running:
                _running.remove(self)
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        state = "stopped" if self.stopped else "running"
        return "<guild.notebook.NotebookTensorBoard %s at %s, logdir %s>" % (
            state,
            self.url,
            self.logdir,
        )


def running():
    """The TensorBoards started here and not stopped."""
    with _running_lock:
        return list(_running)


@atexit.register
def stop_all():
    """Stops every TensorBoard started here."""
    for tb in running():
        try:
            tb.stop()
        except Exception as e:
            log.warning("cannot stop TensorBoard at %s: %s", tb.url, e)
