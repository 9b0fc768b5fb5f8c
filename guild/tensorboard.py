"""Guild's TensorBoard support: a runs monitor that turns runs into a live
TensorBoard log directory, and the functions that serve TensorBoard on it.

Layout of a run's folder (see DESIGN.md): links to the run's files, the
hparams session files and `.guild/hparams` marker (`guild.run_hparams`),
and `.images/` image summaries (`guild.run_images`).
"""

import logging
import os

from guild import event_files
from guild import event_guard
from guild import run_hparams
from guild import run_images
from guild import run_links
from guild import run_util
from guild.tensorboard_server import (  # noqa: F401 (public API)
    TensorboardError,
    create_app,
    make_simple_server,
    run_simple_server,
    serve_forever,
    setup_logging,
)

log = logging.getLogger("guild")

DEFAULT_RELOAD_INTERVAL = 5

_RESERVED_NAMES = (run_images.IMAGES_DIR,) + run_hparams.ROOT_FILES


class RunsMonitor(run_util.RunsMonitor):
    """Mirrors runs into `logdir` for TensorBoard.

    `logspec` is the older form, a list naming what to log (`"hparams"`,
    `"images"`, `"time"`), which also writes Guild's experiment summary;
    the keyword flags are the newer form, where TensorBoard computes the
    experiment from the sessions, so runs that arrive later with new flags
    or metrics show without a restart.
    """

    def __init__(
        self,
        logdir,
        list_runs_cb,
        interval=None,
        log_images=True,
        log_hparams=True,
        run_name_cb=None,
        logspec=None,
    ):
        super().__init__(
            logdir, list_runs_cb, interval or DEFAULT_RELOAD_INTERVAL, run_name_cb
        )
        if logspec is not None:
            logspec = set(logspec)
            self.log_hparams = "hparams" in logspec
            self.log_images = "images" in logspec
            self.log_time = self.log_hparams and "time" in logspec
            self.log_experiment = self.log_hparams
        else:
            self.log_hparams = log_hparams
            self.log_images = log_images
            self.log_time = log_hparams
            self.log_experiment = False
        self._states = {}  # run id -> _RunFolder
        self._experiment = None
        self._pass_runs = ()

    def _before_refresh(self, runs):
        self._pass_runs = runs
        self._experiment = None

    def _after_refresh(self, runs):
        listed = {run.id for run in runs}
        for run_id in list(self._states):
            if run_id not in listed:
                del self._states[run_id]
        self._pass_runs = ()

    def _refresh_run(self, run, run_logdir):
        if not os.path.isdir(run.dir):
            log.warning("run %s is gone (%s); skipping it", run.id, run.dir)
            return
        folder = self._run_folder(run, run_logdir)
        if not folder.links.refresh() and not (folder.session and folder.session.done()):
            folder.links.refresh_event_files()
        if folder.session:
            folder.session.refresh(run, self._experiment_cb if self.log_experiment else None)
        if folder.images:
            folder.images.refresh(folder.links.run_files)

    def _run_folder(self, run, run_logdir):
        folder = self._states.get(run.id)
        if folder is None or folder.run_logdir != run_logdir:
            folder = _RunFolder(run, run_logdir, self)
            self._states[run.id] = folder
        return folder

    def _experiment_cb(self):
        if self._experiment is None:
            self._experiment = run_hparams.experiment_for_runs(self._pass_runs, self.log_time)
        return self._experiment

    def _is_own_file(self, path):
        return is_monitor_file(path)


class _RunFolder:
    """The state the monitor keeps for one run's folder between passes."""

    def __init__(self, run, run_logdir, monitor):
        self.run_logdir = run_logdir
        remove_temp_files(run_logdir)
        self.links = run_links.RunLinks(run.dir, run_logdir, _RESERVED_NAMES)
        self.session = (
            run_hparams.RunSession(run_logdir, monitor.log_time)
            if monitor.log_hparams
            else None
        )
        self.images = (
            run_images.RunImages(run.dir, run_logdir) if monitor.log_images else None
        )


def remove_temp_files(run_logdir):
    """Removes what a monitor killed mid-write left: its temporary files."""
    for sub in ("", ".guild", run_images.IMAGES_DIR):
        try:
            entries = list(os.scandir(os.path.join(run_logdir, sub)))
        except OSError:
            continue
        for entry in entries:
            if event_files.is_temp_file(entry.name) and entry.is_file(follow_symlinks=False):
                log.debug("removing leftover %s", entry.path)
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass


def is_monitor_file(path):
    """True when `path`, a regular file in a run folder, is one the monitor writes."""
    name = os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    return (
        name in run_hparams.ROOT_FILES
        or event_files.is_temp_file(name)
        or event_guard.is_repaired_name(name)
        or (parent == ".guild" and name == "hparams")
        or (parent == run_images.IMAGES_DIR and run_images.is_image_summary_name(name))
    )


if __name__ == "__main__":  # python -m guild.tensorboard: the guild-tensorboard command
    from guild import tensorboard_cmd

    raise SystemExit(tensorboard_cmd.main())
