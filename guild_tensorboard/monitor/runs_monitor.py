"""The runs monitor of `guild.tensorboard`: it turns runs into a live
TensorBoard log directory, keeping per-run state between passes.

Layout of a run's folder (see DESIGN.md): links to the run's files
(`run_links`), the hparams session files and `.guild/hparams` marker
(`run_hparams`), and `.images/` image summaries (`run_images`).
"""

import logging
import os
import stat
import time

from guild_tensorboard.monitor import run_hparams
from guild_tensorboard.monitor import run_images
from guild_tensorboard.monitor import run_links
from guild_tensorboard.monitor import base as run_util

log = logging.getLogger("guild")

_RESERVED_NAMES = frozenset((run_images.IMAGES_DIR,) + run_hparams.ROOT_FILES)


class RunsMonitor(run_util.RunsMonitor):
    """Mirrors runs into `logdir` for TensorBoard.

    `logspec` is the older form, a list naming what to log (`"hparams"`,
    `"images"`, `"time"`), which also writes Guild's experiment summary;
    the keyword flags are the newer form, where TensorBoard computes the
    experiment from the sessions, so runs that arrive later with new flags
    or metrics show without a restart.

    Between passes the monitor keeps, per run, what it last saw (see
    `_RunFolder`). A pass refreshes only the runs that may have changed:
    new runs, runs still going (not stopped: their status, files and event
    files are checked every pass), and stopped runs whose top folder,
    mirrored folders or images changed. The rest of a stopped run (its
    subfolders linked whole, `.guild/`, attrs, label) is checked in turn, a
    tenth of the stopped runs a pass (fewer when that takes more than
    `DEEP_CHECK_SECONDS`); files added to a subfolder linked whole show in
    TensorBoard at once all the same, through the link.
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
        progress_cb=None,
        image_store=None,
    ):
        super().__init__(
            logdir,
            list_runs_cb,
            interval or run_util.DEFAULT_INTERVAL,
            run_name_cb,
            progress_cb,
            image_store,
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
        self._folders = {}  # run id -> _RunFolder
        self._unverified = {}  # run id -> None, runs with unverified event records
        self._rotation = 0  # where the next turn of deep checks starts
        self._experiment = None
        self._pass_runs = ()

    # Which runs to refresh

    def _runs_to_refresh(self, runs):
        stale = set()
        stopped = []
        for run in runs:
            folder = self._folders.get(run.id)
            if folder is None or folder.active or folder.dirty or folder.fast_check_changed():
                stale.add(run.id)
            else:
                stopped.append(run.id)
        stale.update(self._deep_check_some(stopped))
        return stale

    def _deep_check_some(self, stopped):
        """Deep-checks the next tenth of the stopped runs, or as many as
        `DEEP_CHECK_SECONDS` allows; returns the ids of those changed."""
        if not stopped:
            return ()
        count = min(-(-len(stopped) // DEEP_CHECK_PASSES), len(stopped))
        start = self._rotation % len(stopped)
        deadline = time.monotonic() + DEEP_CHECK_SECONDS
        changed = []
        checked = 0
        while checked < count and time.monotonic() < deadline:
            run_id = stopped[(start + checked) % len(stopped)]
            if self._folders[run_id].deep_check_changed():
                changed.append(run_id)
            checked += 1
        self._rotation = start + checked
        return changed

    def _after_scan(self, our_names):
        for run_id, folder in list(self._folders.items()):
            if os.path.basename(folder.run_logdir) not in our_names:
                del self._folders[run_id]  # removed by hand: rebuilt next pass

    def _forget_run_folders(self):
        self._folders = {}
        self._unverified = {}

    # Refreshing a run

    def _before_refresh(self, runs):
        self._pass_runs = runs
        self._experiment = None

    def _after_refresh(self, runs):
        listed = {run.id for run in runs}
        for run_id in list(self._folders):
            if run_id not in listed:
                del self._folders[run_id]
                self._unverified.pop(run_id, None)
        self._pass_runs = ()
        self._verify_event_files(time.monotonic() + VERIFY_SECONDS)

    def _verify_event_files(self, deadline):
        """Spends up to `VERIFY_SECONDS` a pass verifying event records."""
        for run_id in list(self._unverified):
            if time.monotonic() >= deadline:
                break
            folder = self._folders.get(run_id)
            if folder is None or not folder.links.verify_event_files(deadline):
                del self._unverified[run_id]

    def _refresh_run(self, run, run_logdir, fresh):
        folder = self._folders.get(run.id)
        if fresh or folder is None or folder.run_logdir != run_logdir:
            folder = self._folders[run.id] = _RunFolder(run, run_logdir, self)
        folder.refresh(run, self._experiment_cb if self.log_experiment else None)
        if folder.links.guard.unverified():
            self._unverified[run.id] = None
        return folder.event_files()

    def event_file_counts(self):
        return {
            os.path.basename(folder.run_logdir): folder.event_files()
            for folder in list(self._folders.values())
        }

    def _experiment_cb(self):
        if self._experiment is None:
            self._experiment = run_hparams.experiment_for_runs(self._pass_runs, self.log_time)
        return self._experiment



# A stopped run's subfolders, `.guild/`, attrs and label are checked every
# this many passes (a share of the stopped runs each pass), as long as a
# pass spends no more than DEEP_CHECK_SECONDS on them.
DEEP_CHECK_PASSES = 10
DEEP_CHECK_SECONDS = 0.1

# Time a pass spends verifying the CRCs of event records not yet verified.
VERIFY_SECONDS = 0.05


class _RunFolder:
    """What the monitor keeps for one run's folder between passes."""

    __slots__ = (
        "run_dir", "run_logdir", "active", "dirty", "links", "session", "images",
        "_label_sig", "_watched",
    )

    def __init__(self, run, run_logdir, monitor):
        files = monitor.files
        self.run_dir = run.dir
        self.run_logdir = run_logdir
        self.active = True
        self.dirty = True  # until a refresh wrote everything it had to
        self._label_sig = None
        self._watched = ()  # (path, mtime_ns) checked every pass
        remove_temp_files(run_logdir, files)
        self.links = run_links.RunLinks(run.dir, run_logdir, files, _RESERVED_NAMES)
        self.session = (
            run_hparams.RunSession(run_logdir, monitor.log_time, files)
            if monitor.log_hparams
            else None
        )
        self.images = (
            run_images.RunImages(run.dir, run_logdir, files, monitor.image_store, run.id)
            if monitor.log_images
            else None
        )

    def refresh(self, run, experiment_cb):
        """Brings the folder up to date. What a failed write (a full disk,
        the folder gone) left undone makes the folder `dirty`: it is
        refreshed in full again at the next pass."""
        if self.dirty:  # the last refresh was cut short: walk the run again
            self.links.dir_mtimes = None
        self.dirty = True
        if not _is_dir(self.run_dir):
            log.warning("run %s is gone (%s); skipping it", run.id, self.run_dir)
            return
        run_files = self.links.refresh()
        status = run.status
        self.active = status in run_hparams.NOT_STOPPED
        if self.active and run_files is None:
            self.links.refresh_event_files()
        if self.session:
            self.session.refresh(run, status, experiment_cb)
        if self.images:
            self.images.refresh(run_files)
        self._label_sig = _file_sig(os.path.join(self.run_dir, ".guild", "attrs", "label"))
        self._watched = self._fast_watch()
        self.dirty = self.links.dir_mtimes is None or bool(self.images and not self.images.complete)

    def _fast_watch(self):
        # The top folder (entries added or removed there), folders mirrored
        # rather than linked whole (their new files need links), the images,
        # and the folders holding them (where new images come).
        mtimes = self.links.dir_mtimes or {}
        dirs = {""}
        dirs.update(self.links.mirrored_dirs)
        if self.images:
            dirs.update(self.images.folders())
        watched = [
            (os.path.join(self.run_dir, reldir) if reldir else self.run_dir, mtimes.get(reldir))
            for reldir in sorted(dirs)
            if reldir in mtimes
        ]
        if self.images:
            watched.extend(self.images.watched())
        return tuple(watched)

    def event_files(self):
        """How many event files TensorBoard finds in the folder."""
        return (
            self.links.event_files
            + (self.session.event_files() if self.session else 0)
            + (self.images.summary_files() if self.images else 0)
        )

    def fast_check_changed(self):
        """The run's top folder or its images changed."""
        for path, mtime in self._watched:
            try:
                if os.stat(path).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False

    def deep_check_changed(self):
        """A subfolder, attr or label of the run changed, or its folder in
        the log directory is gone."""
        return (
            self.links.dir_mtimes is None
            or self.links.dirs_changed()
            or _file_sig(os.path.join(self.run_dir, ".guild", "attrs", "label")) != self._label_sig
            or not _is_dir(self.run_logdir)
        )



def _is_dir(path):
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _file_sig(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def remove_temp_files(run_logdir, files):
    """Removes what a monitor killed mid-write left: its temporary files
    (named with the log directory's token)."""
    for sub in ("", ".guild", run_images.IMAGES_DIR):
        try:
            with os.scandir(os.path.join(run_logdir, sub)) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            if files.is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
                log.debug("removing leftover %s", entry.path)
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
