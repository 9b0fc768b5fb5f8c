"""One TensorBoard over a runs monitor: what the command and the notebook
API share.

A session owns a log directory (a temporary one unless given), a runs
monitor that keeps it in step with a list of runs, TensorBoard's
application over it and a server. `close()` stops the server, the monitor
and TensorBoard's data server, and removes a temporary log directory
unless it is kept.

A temporary log directory that is not kept goes to memory, `/dev/shm`,
when that is a folder with room for it (`temp_logdir_places`) and `TMPDIR`
does not say otherwise: a first pass makes some fifteen folders, links and
files a run, which cost microseconds each there and up to a millisecond on
a slow disk. Its image summaries, which grow with the user's images, go to
a store on disk (`guild_tensorboard.monitor.image_store`).
"""

import logging
import os
import re
import tempfile

from guild_tensorboard.runs import run_names
from guild_tensorboard.monitor import runs_monitor
from guild_tensorboard.serving import app as tensorboard_server
from guild_tensorboard.serving.dark_mode import dark_mode_middleware, dark_mode_url

log = logging.getLogger("guild")

DEFAULT_REFRESH_INTERVAL = tensorboard_server.DEFAULT_RELOAD_INTERVAL
LOGDIR_PREFIX = "guild-tensorboard-"


class Session:
    def __init__(
        self,
        list_runs_cb,
        logdir=None,
        keep_logdir=False,
        refresh_interval=DEFAULT_REFRESH_INTERVAL,
        log_images=True,
        log_hparams=True,
        run_name_cb=None,
        tensorboard_options=None,
    ):
        self.temp_logdir = logdir is None
        self.keep_logdir = keep_logdir or not self.temp_logdir
        image_store = None
        if logdir is None:
            in_memory = None if self.keep_logdir else memory_folder(_count(list_runs_cb))
            logdir = tempfile.mkdtemp(prefix=LOGDIR_PREFIX, dir=in_memory)
            if in_memory:
                image_store = (tempfile.mkdtemp(prefix=LOGDIR_PREFIX + "images-"), image_memory())
        self.logdir = os.path.abspath(logdir)
        self.image_store = image_store
        self.refresh_interval = refresh_interval
        self.tensorboard_options = dict(tensorboard_options or {})
        self.progress = None
        try:
            self.monitor = runs_monitor.RunsMonitor(
                self.logdir,
                list_runs_cb,
                interval=refresh_interval,
                log_images=log_images,
                log_hparams=log_hparams,
                run_name_cb=run_name_cb,
                progress_cb=self._progress,
                image_store=image_store,
            )
        except Exception:
            if self.temp_logdir:
                os.rmdir(self.logdir)
            if image_store:
                os.rmdir(image_store[0])
            raise
        self.app = None
        self.server = None
        self.url = None
        self._server_thread = None

    def _progress(self, done, total):
        progress = self.progress
        if progress:
            if done == 1:
                progress.start(total)
            progress.tick()
            if done == total:
                self.progress = None
                progress.finish()

    def open(self):
        """Takes the log directory: lists the runs, checks the log directory
        lies apart from them, makes and locks it. Raises
        `guild_tensorboard.monitor.base.LogdirError` (`LogdirInUse` when another monitor
        holds it)."""
        self.monitor.take_logdir()

    def prepare(self, progress=None):
        """The first monitor pass, in this thread; `progress` (a
        `guild_tensorboard.serving.progress.ProgressBar`) follows it run by run.

        Raises `guild_tensorboard.monitor.base.LogdirError` for a log directory it must not
        use (`LogdirInUse` when another monitor holds it).
        """
        self.progress = progress
        try:
            self.monitor.run_once(exit_on_error=True)
        finally:
            self.progress = None
            if progress:
                progress.finish()

    def start_server(self, host, port, dark_mode=False):
        """Creates TensorBoard's application and a server on `host:port`
        (0: a free port), in TensorBoard's dark theme with `dark_mode`;
        returns the URL. Raises `guild.tensorboard.TensorboardError`."""
        self.app = tensorboard_server.create_app(
            logdir=self.logdir,
            reload_interval=self.refresh_interval,
            tensorboard_options=self.tensorboard_options,
        )
        served = dark_mode_middleware(self.app) if dark_mode else self.app
        self.server, self.url = tensorboard_server.make_simple_server(served, host, port)
        if dark_mode:
            self.url = dark_mode_url(self.url)
        return self.url

    def start_monitor(self, progress=None):
        """Starts the monitor's polling thread, whose first pass mirrors the
        runs newest first while TensorBoard already serves (`progress`, a
        `guild_tensorboard.serving.progress.ProgressBar`, follows that pass)."""
        self.progress = progress
        self.monitor.start()

    def wait(self, timeout=None):
        """Waits until the first pass has mirrored every run; True when it
        has."""
        return self.monitor.mirrored.wait(timeout)

    def serve_forever(self):
        """Serves in this thread until interrupted (Ctrl+C)."""
        self.server.serve_forever()

    def serve_in_thread(self):
        self._server_thread = tensorboard_server.serve_in_thread(self.server)

    def close(self):
        """Stops everything; removes a temporary log directory unless kept."""
        if self.server is not None:
            if self._server_thread is not None:
                self.server.shutdown()
                self._server_thread.join(5)
                self._server_thread = None
            self.server.server_close()
            self.server = None
        self.monitor.stop()
        if self.app is not None:
            tensorboard_server.stop_app(self.app)
            self.app = None
        if not self.keep_logdir:
            left = self.monitor.remove_logdir()
            if left:
                log.warning(
                    "left log directory %s in place: it holds %s, which the monitor did not make",
                    self.logdir, left[0],
                )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# Where a temporary log directory goes

MEMORY_FOLDER = "/dev/shm"
# Room a log directory in memory needs (images are on disk): some 15
# entries and two small files a run, and a margin for the rest of memory.
MEMORY_PER_RUN = 64 * 1024
MEMORY_MARGIN = 512 * 1024 * 1024
IMAGE_MEMORY = 512 * 1024 * 1024


def memory_folder(runs):
    """`/dev/shm` when a temporary log directory for `runs` runs may go
    there (and `$TMPDIR` is not set), else None."""
    if os.environ.get("TMPDIR") or not os.path.isdir(MEMORY_FOLDER):
        return None
    try:
        st = os.statvfs(MEMORY_FOLDER)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    if not os.access(MEMORY_FOLDER, os.W_OK | os.X_OK) or free < MEMORY_MARGIN + runs * MEMORY_PER_RUN:
        return None
    return MEMORY_FOLDER


def image_memory():
    """Bytes of image summaries a log directory in memory may hold before
    the rest go to disk: an eighth of the free memory folder, at most
    512 MiB."""
    try:
        st = os.statvfs(MEMORY_FOLDER)
    except OSError:
        return 0
    return min(IMAGE_MEMORY, st.f_bavail * st.f_frsize // 8)


def _count(list_runs_cb):
    """How many runs the log directory may hold: a lister's cheap upper
    bound when it has one (`RunsSource.most_runs`: the first pass reads
    the runs, not this count), else the length of its list."""
    try:
        most = getattr(list_runs_cb, "most_runs", None)
        return most() if most else len(list_runs_cb())
    except Exception:
        return 0


# Run names from flags (`--run-name-flags`)


def split_flag_names(arg):
    """Flag names from a comma- or space-separated list."""
    return [name for name in re.split(r"[\s,]+", arg or "") if name]


def run_name_cb_for_flags(flag_names):
    """A `run_name_cb` naming a run folder like the default name, with the
    given flags (`name=value`, in the order given) in place of the label.
    Flags a run does not have are left out."""
    flag_names = list(flag_names)

    def run_name(run):
        flags = run.get("flags")
        flags = flags if isinstance(flags, dict) else {}
        label = " ".join(
            "%s=%s" % (name, format_flag_val(flags[name])) for name in flag_names if name in flags
        )
        return run_names.default_run_name(_RunWithLabel(run, label))

    return run_name


def format_flag_val(val):
    """A flag value as Guild shows it in labels."""
    if val is True:
        return "yes"
    if val is False:
        return "no"
    if val is None:
        return "null"
    if isinstance(val, (list, tuple)):
        return "[%s]" % ", ".join(format_flag_val(item) for item in val)
    if isinstance(val, str) and (not val or re.search(r"\s", val)):
        return repr(val)
    return str(val)


class _RunWithLabel:
    """A run whose `label` attr reads as `label`."""

    def __init__(self, run, label):
        self._run = run
        self._label = label

    def get(self, name, default=None):
        if name == "label":
            return self._label
        return self._run.get(name, default)

    def __getattr__(self, name):
        return getattr(self._run, name)
