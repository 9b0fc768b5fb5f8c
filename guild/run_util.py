"""The runs monitor: one log-directory folder per run, kept in step with a
run-listing callback by a polling thread.

Subclasses say what goes into a run's folder (`_refresh_run`); this class
lists the runs, names their folders, and removes the folders of runs that
are no longer listed. Removal deletes only links and files the monitor
writes, never following a link, so foreign files in the log directory
survive.
"""

import errno
import fcntl
import logging
import os
import threading

from guild import run_links
from guild import run_names

log = logging.getLogger("guild")

DEFAULT_INTERVAL = 5

# Every this many passes the log directory is listed even when the runs did
# not change, to find folders removed or added by hand.
RESCAN_PASSES = 10


class LogdirInUse(Exception):
    pass


class LoopingThread(threading.Thread):
    """Calls `cb` every `interval` seconds until stopped."""

    def __init__(self, cb, interval, stop_timeout=5):
        super().__init__(daemon=True)
        self._cb = cb
        self._interval = interval
        self._stop_timeout = stop_timeout
        self._stopping = threading.Event()

    def run(self):
        while not self._stopping.is_set():
            try:
                self._cb()
            except Exception:
                log.exception("runs monitor pass failed; trying again in %ss", self._interval)
            self._stopping.wait(self._interval)

    def stop(self):
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(self._stop_timeout)


class RunsMonitor:
    """Mirrors the runs that `list_runs_cb()` returns into `logdir`.

    A pass lists the runs, asks `_runs_to_refresh` which of them need work
    (all of them here; subclasses keep state to answer cheaply), names the
    folders of those (a run keeps its folder name while it is not
    refreshed), refreshes them, and removes the folders of runs no longer
    listed. `progress_cb(done, total)`, when given, follows a pass run by
    run.
    """

    def __init__(self, logdir, list_runs_cb, interval=None, run_name_cb=None, progress_cb=None):
        self.logdir = logdir
        self.list_runs_cb = list_runs_cb
        self.interval = interval or DEFAULT_INTERVAL
        self.run_name_cb = run_name_cb or run_names.default_run_name
        self.progress_cb = progress_cb
        self._names = {}  # run id -> folder name, stable across passes
        self._listed_names = None  # folder names the last removal saw
        self._passes = 0
        self._thread = None
        self._lock_fd = None
        self._pass_lock = threading.RLock()

    # Polling thread

    def start(self):
        if self._thread and self._thread.is_alive():
            raise RuntimeError("monitor already started")
        self._lock_logdir()
        self._thread = LoopingThread(self.run_once, self.interval)
        self._thread.start()

    def stop(self):
        """Stops the polling thread, waiting for a pass under way."""
        if self._thread:
            self._thread.stop()
            self._thread = None
        with self._pass_lock:
            self._unlock_logdir()

    def is_alive(self):
        return bool(self._thread and self._thread.is_alive())

    # One pass

    def run_once(self, exit_on_error=False):
        """Refreshes the log directory for the runs listed now."""
        with self._pass_lock:
            self._lock_logdir()
            try:
                runs = list(self.list_runs_cb())
            except Exception as e:
                if exit_on_error:
                    raise
                log.error("cannot list runs: %s", e)
                return
            os.makedirs(self.logdir, exist_ok=True)
            self._passes += 1
            self._before_refresh(runs)
            stale = self._runs_to_refresh(runs)
            names = self._run_folder_names(runs, stale)
            todo = [(run, names[run.id]) for run in runs if run.id in stale and run.id in names]
            self._refresh_runs(todo)
            self._remove_unlisted_run_folders(set(names.values()))
            self._after_refresh(runs)

    def _refresh_runs(self, todo):
        """Refreshes `[(run, folder name)]`, one after the other: threads
        were tried and made a first pass slower (the work holds the GIL, and
        the file system served parallel calls no faster)."""
        total = len(todo)
        for n, (run, name) in enumerate(todo, 1):
            self._refresh_run_safely(run, name)
            if self.progress_cb:
                self.progress_cb(n, total)

    def _runs_to_refresh(self, runs):
        """Ids of the runs to refresh this pass."""
        return {run.id for run in runs}

    def _before_refresh(self, runs):
        pass

    def _after_refresh(self, runs):
        pass

    def _refresh_run_safely(self, run, name):
        try:
            self._refresh_run(run, os.path.join(self.logdir, name))
        except Exception as e:
            log.error("cannot refresh run %s: %s", getattr(run, "id", run), e)
            log.debug("refresh error", exc_info=True)

    def _refresh_run(self, run, run_logdir):
        os.makedirs(run_logdir, exist_ok=True)

    # Names

    def _run_folder_names(self, runs, stale):
        """Maps run id to folder name. Runs not refreshed keep theirs; a
        refreshed run keeps its name while unchanged; a name another run
        holds gets the run's short id appended."""
        names = {}
        pending = []
        for run in runs:
            name = self._names.get(run.id)
            if name is not None and run.id not in stale:
                names[run.id] = name
            else:
                pending.append(run)
        taken = set(names.values())
        for run in pending:
            try:
                name = self._safe_name(run)
            except Exception as e:
                log.error("cannot name run %s: %s", getattr(run, "id", run), e)
                continue
            if name in taken:
                name = run_names.safe_run_name("%s %s" % (name, run.id[:8]))
                if name in taken:
                    name = run_names.safe_run_name(run.id)
            names[run.id] = name
            taken.add(name)
        self._names = names
        return names

    def _safe_name(self, run):
        return run_names.safe_run_name(self.run_name_cb(run))

    # Removal

    def _remove_unlisted_run_folders(self, names):
        """Removes folders of unlisted runs: each pass the names change,
        and every `RESCAN_PASSES` passes for folders changed by hand."""
        if names == self._listed_names and self._passes % RESCAN_PASSES:
            return
        self._listed_names = names
        try:
            entries = list(os.scandir(self.logdir))
        except OSError as e:
            log.error("cannot list log directory %s: %s", self.logdir, e)
            return
        for entry in entries:
            if entry.name in names or not entry.is_dir(follow_symlinks=False):
                continue
            log.debug("removing folder of unlisted run %s", entry.path)
            remove_run_folder(entry.path, self._is_own_file)
        self._after_scan(entries)

    def _after_scan(self, entries):
        pass

    def _is_own_file(self, path):
        """True when the regular file at `path` in a run folder is ours."""
        return False

    # Log directory lock

    def _lock_logdir(self):
        if self._lock_fd is not None:
            return
        os.makedirs(self.logdir, exist_ok=True)
        fd = os.open(self.logdir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise LogdirInUse(
                    "log directory %s is in use by another runs monitor" % self.logdir
                ) from None
            raise
        self._lock_fd = fd

    def _unlock_logdir(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __del__(self):
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def remove_run_folder(path, is_own_file):
    """Removes links and our own files under `path`, bottom up, never
    following a link. Folders left holding foreign files stay."""
    if not run_links.remove_links_and_own_files(path, is_own_file):
        log.warning("left %s in place: it holds files the monitor did not write", path)
