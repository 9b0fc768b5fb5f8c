"""The runs monitor: one log-directory folder per run, kept in step with a
run-listing callback by a polling thread.

Subclasses say what goes into a run's folder (`_refresh_run`); this class
lists the runs, names their folders, makes them, and removes the folders of
runs that are no longer listed.

The log directory is the monitor's alone, and it can show what it made
(`guild_tensorboard.monitor.logdir_claim`): a run folder is removed only when the log
directory's journal lists it, and inside it only links into its run and
files carrying the log directory's token; anything else stays, with one
warning. `RunsMonitor` refuses (`LogdirError`, a `ValueError`) a log
directory that is not a folder, one that is not empty and not its own, and
one that is, holds or lies inside a run, a runs directory or a Guild home.
A log directory removed while the monitor runs is made again, whole.
"""

import errno
import fcntl
import logging
import os
import stat
import threading
import weakref

from guild_tensorboard.monitor import logdir_claim
from guild_tensorboard.monitor import run_links
from guild_tensorboard.runs import run_names
from guild_tensorboard.events.log_once import error_once, warning_once
from guild_tensorboard.monitor.logdir_claim import LogdirError, LogdirInUse  # noqa: F401 (public)

log = logging.getLogger("guild")

DEFAULT_INTERVAL = 5

# Every this many passes the log directory is listed even when the runs did
# not change, to find folders removed or added by hand.
RESCAN_PASSES = 10


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

    def stopping(self):
        return self._stopping.is_set()


_monitors = weakref.WeakValueDictionary()  # real log directory -> its monitor


def monitor_for(logdir):
    """The runs monitor of this process on `logdir`, or None."""
    return _monitors.get(os.path.realpath(logdir))


def _stop_requested():
    """True in a polling thread asked to stop (a pass over many runs stops
    between two runs)."""
    thread = threading.current_thread()
    return isinstance(thread, LoopingThread) and thread.stopping()


class _FolderNamer:
    """Names the folders of a pass's runs, in listing order. Runs not
    refreshed keep their names; a refreshed run keeps its name while it is
    unchanged; a name another run holds, or that something the monitor did
    not make holds, gets the run's short id appended. Names are given run
    by run, as the pass goes (`names` holds the last names of the runs not
    named yet)."""

    def __init__(self, monitor, runs, stale):
        self.monitor = monitor
        old = monitor._names
        self.names = {}
        for run in runs:
            name = old.get(run.id)
            if name is not None:
                self.names[run.id] = name
        self.taken = {name for run_id, name in self.names.items() if run_id not in stale}
        self.taken |= monitor._foreign

    def name(self, run):
        try:
            name = self.monitor._safe_name(run)
        except Exception as e:
            log.error("cannot name run %s: %s", getattr(run, "id", run), e)
            self.names.pop(run.id, None)
            return None
        if name in self.taken:
            name = run_names.safe_run_name("%s %s" % (name, run.id[:8]))
            if name in self.taken:
                name = run_names.safe_run_name(run.id)
        self.names[run.id] = name
        self.taken.add(name)
        return name


class ForeignFolder(Exception):
    """A run folder's name is taken by something the monitor did not make."""


class RunsMonitor:
    """Mirrors the runs that `list_runs_cb()` returns into `logdir`.

    A pass lists the runs, asks `_runs_to_refresh` which of them need work
    (all of them here; subclasses keep state to answer cheaply), names the
    folders of those (a run keeps its folder name while it is not
    refreshed), refreshes them, and removes the folders of runs no longer
    listed. `progress_cb(done, total)`, when given, follows a pass run by
    run.

    Raises `LogdirError` when `logdir` may not be used (see the module).
    """

    def __init__(
        self, logdir, list_runs_cb, interval=None, run_name_cb=None, progress_cb=None,
        image_store=None,
    ):
        self.logdir = logdir
        # `(folder, bytes in memory)` for image summaries (see guild_tensorboard.monitor.image_store)
        self.image_store_root = image_store
        self.image_store = None
        self.list_runs_cb = list_runs_cb
        self.interval = interval or DEFAULT_INTERVAL
        self.run_name_cb = run_name_cb or run_names.default_run_name
        self.progress_cb = progress_cb
        self.claim = logdir_claim.LogdirClaim(logdir)
        self.claim.check()
        _monitors[self.claim.real] = self
        self._names = {}  # run id -> folder name, stable across passes
        self._listed_names = None  # folder names the last removal saw
        self._foreign = set()  # names in the log directory the monitor did not make
        self._apart = set()  # ids of runs checked to lie apart from the log directory
        self._apart_parents = {}
        self._passes = 0
        self.mirrored = threading.Event()  # set once a pass has refreshed every run listed
        self._listeners = []
        self._thread = None
        self._lock_fd = None
        self._pass_lock = threading.RLock()

    @property
    def files(self):
        """The `guild_tensorboard.monitor.own_files.OwnFiles` of the log directory (once locked)."""
        return self.claim.files

    # Polling thread

    def start(self):
        """Starts the polling thread. A log directory that exists is locked
        now (`LogdirInUse` when another monitor holds it); one that does not
        is made by the first pass, once the runs are known to lie apart."""
        if self._thread and self._thread.is_alive():
            raise RuntimeError("monitor already started")
        if os.path.isdir(self.logdir):
            self._lock_logdir()
        self._thread = LoopingThread(self.run_once, self.interval)
        self._thread.start()

    def take_logdir(self):
        """Checks the log directory lies apart from the runs, and makes and
        locks it: what a first pass does before it refreshes a run. Raises
        `LogdirError` (`LogdirInUse`).

        A listing that can name, cheaply, every run folder it may list
        (`list_runs_cb.run_dirs()`, a runs directory's entries) is checked
        by those, without reading a run; else the runs are listed. Each
        pass checks the runs it lists again before it writes."""
        with self._pass_lock:
            run_dirs = getattr(self.list_runs_cb, "run_dirs", None)
            if run_dirs is not None:
                logdir_claim.check_apart_from_runs(self.claim.real, run_dirs(), self._apart_parents)
            else:
                self._check_apart_from(list(self.list_runs_cb()))
            self._lock_logdir()

    def stop(self):
        """Stops the polling thread, waiting for a pass under way (a pass
        stops between two runs)."""
        if self._thread:
            self._thread.stop()
            self._thread = None
        with self._pass_lock:
            self._unlock_logdir()

    def is_alive(self):
        return bool(self._thread and self._thread.is_alive())

    # Listeners (TensorBoard's data servers, `guild_tensorboard.serving.data_shards`)

    def add_listener(self, listener):
        """Tells `listener.folder_refreshed(name, event_files)` each time a
        run folder is refreshed (now, for those there already),
        `listener.folder_removed(name)` when one goes,
        `listener.pass_started(runs)` when a pass lists `runs` runs, and
        `listener.pass_done()` when a pass has refreshed every run (either
        may be left out)."""
        with self._pass_lock:
            self._listeners.append(listener)
            for name, count in self.event_file_counts().items():
                listener.folder_refreshed(name, count)
            if self.mirrored.is_set() and hasattr(listener, "pass_done"):
                listener.pass_done()

    def remove_listener(self, listener):
        if listener in self._listeners:
            self._listeners.remove(listener)

    def event_file_counts(self):
        """`{run folder name: event files TensorBoard opens there}`."""
        return {}

    def _tell_listeners(self, method, *args):
        for listener in list(self._listeners):
            call = getattr(listener, method, None)
            if call is None:
                continue
            try:
                call(*args)
            except Exception:
                log.exception("runs monitor listener %r failed", listener)

    # One pass

    def run_once(self, exit_on_error=False):
        """Refreshes the log directory for the runs listed now. Raises
        `LogdirError` for a log directory it must not use, when
        `exit_on_error` (else logs it, once, and does nothing)."""
        with self._pass_lock:
            try:
                runs = list(self.list_runs_cb())
            except Exception as e:
                if exit_on_error:
                    raise
                log.error("cannot list runs: %s", e)
                return
            try:
                # Nothing is made before the runs are known to lie apart.
                self._check_apart_from(runs)
                self._lock_logdir()
                self._remake_vanished_logdir()
            except LogdirError as e:
                if exit_on_error or isinstance(e, LogdirInUse):
                    raise
                error_once(("logdir", self.logdir, str(e)), "%s; nothing written", e)
                return
            self._passes += 1
            self._tell_listeners("pass_started", len(runs))
            self._before_refresh(runs)
            stale = self._runs_to_refresh(runs)
            namer = _FolderNamer(self, runs, stale)
            complete = self._refresh_runs([run for run in runs if run.id in stale], namer)
            self._names = namer.names
            if not complete:
                return  # stopped part way: nothing is removed on a partial view
            self._remove_unlisted_run_folders(set(namer.names.values()))
            self._after_refresh(runs)
            self.mirrored.set()
            self._tell_listeners("pass_done")

    def _check_apart_from(self, runs):
        new = [run for run in runs if run.id not in self._apart]
        if new:
            logdir_claim.check_apart_from_runs(
                self.claim.real, [run.dir for run in new], self._apart_parents
            )
            self._apart.update(run.id for run in new)

    def _refresh_runs(self, todo, namer):
        """Names and refreshes the runs `todo`, one after the other (so the
        first run shows before the last is named): threads were tried and
        made a first pass slower (the work holds the GIL, and the file
        system served parallel calls no faster). False when stopped part
        way."""
        total = len(todo)
        for n, run in enumerate(todo, 1):
            if _stop_requested():
                return False  # stop() was called: the rest waits for no one
            name = namer.name(run)
            if name is not None:
                self._refresh_run_safely(run, name)
            if self.progress_cb:
                self.progress_cb(n, total)
        return True

    def _runs_to_refresh(self, runs):
        """Ids of the runs to refresh this pass."""
        return {run.id for run in runs}

    def _before_refresh(self, runs):
        pass

    def _after_refresh(self, runs):
        pass

    def _refresh_run_safely(self, run, name):
        try:
            if not _is_dir(run.dir):
                warning_once(("gone", run.dir), "run %s is gone (%s); skipping it", run.id, run.dir)
                return
            path, fresh = self._run_folder(run, name)
            count = self._refresh_run(run, path, fresh)
            if count is not None:
                self._tell_listeners("folder_refreshed", name, count)
        except ForeignFolder as e:
            warning_once(("foreign", e.args[0]), "%s", e.args[1])
            self._listed_names = None  # rescan: the name is taken
        except Exception as e:
            log.error("cannot refresh run %s: %s", getattr(run, "id", run), e)
            log.debug("refresh error", exc_info=True)

    def _run_folder(self, run, name):
        """`(path, fresh)` of the run's folder, made when missing (`fresh`).
        Raises `ForeignFolder` when the name is taken by something else."""
        claim = self.claim
        state = claim.folder_state(name)
        if state == "ours" and claim.run_dir_of(name) != run.dir:
            # The name now goes to another run: clear what showed the last.
            self._remove_run_folder(name, os.path.join(self.logdir, name))
            state = claim.folder_state(name)
        if state == "ours":
            return os.path.join(self.logdir, name), False
        if state == "foreign":
            raise ForeignFolder(
                os.path.join(self.logdir, name),
                "%s was not made by the monitor; run %s is not shown there"
                % (os.path.join(self.logdir, name), run.id),
            )
        claim.forget_run_folder(name)
        try:
            path = claim.make_run_folder(name, run.dir)
            self.files.made_folder(path)
            return path, True
        except FileExistsError:
            raise ForeignFolder(
                os.path.join(self.logdir, name),
                "%s appeared beside the monitor; run %s is not shown there"
                % (os.path.join(self.logdir, name), run.id),
            ) from None

    def _refresh_run(self, run, run_logdir, fresh):
        """Fills the run's folder (`fresh` when it was just made); returns
        how many event files it holds, or None."""

    # Names

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
            with os.scandir(self.logdir) as it:
                entries = list(it)
        except OSError as e:
            log.error("cannot list log directory %s: %s", self.logdir, e)
            return
        foreign = set()
        entries = [entry for entry in entries if not self.claim.is_marker(entry.name)]
        for entry in entries:
            ours = _is_real_dir(entry) and self.claim.is_our_folder(entry.name, entry.inode())
            if not ours:
                foreign.add(entry.name)
                warning_once(
                    ("foreign", entry.path),
                    "%s was not made by the monitor: left as it is", entry.path,
                )
            elif entry.name not in names:
                log.debug("removing folder of unlisted run %s", entry.path)
                self._remove_run_folder(entry.name, entry.path)
        present = {entry.name for entry in entries}
        for name in list(self.claim.folders):
            if name not in present:
                self.claim.forget_run_folder(name)
        self._foreign = foreign
        self._after_scan(present - foreign)

    def _remove_run_folder(self, name, path):
        """Removes what the monitor made in run folder `name`: links into
        its run and the monitor's own files; a folder holding anything else
        stays (one warning)."""
        left = run_links.remove_own_entries(path, self._ours_test(name), self.files)
        if left:
            warning_once(
                ("left", path),
                "left %s in place: it holds %d entr%s the monitor did not make (%s)",
                path, len(left), "y" if len(left) == 1 else "ies", left[0],
            )
        else:
            self.claim.forget_run_folder(name)
            self._tell_listeners("folder_removed", name)

    def _ours_test(self, name):
        """A test of link targets in run folder `name`: into its run, or
        into the image store."""
        into_run = run_links.links_into(self.claim.run_dir_of(name))
        store = self.image_store
        if store is None:
            return into_run
        return lambda target: into_run(target) or store.holds(target)

    def _after_scan(self, our_names):
        """Called with the names of the run folders found on a rescan."""

    def remove_logdir(self):
        """Removes what the monitor made in the log directory (its run
        folders, but for what they hold that it did not make), then the log
        directory when that leaves it empty. Returns the paths left."""
        with self._pass_lock:
            self._unlock_logdir()
            left = []
            for name in sorted(self.claim.folders):
                path = os.path.join(self.logdir, name)
                if self.claim.folder_state(name) == "ours":
                    left.extend(run_links.remove_own_entries(path, self._ours_test(name), self.files))
            if self.image_store is not None:
                left.extend(self.image_store.remove())
            if not left and self.claim.token:
                self.claim.discard()
                try:
                    os.rmdir(self.logdir)  # only when empty
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(self.logdir)
            return left

    # Log directory lock

    def _lock_logdir(self):
        if self._lock_fd is not None:
            return
        self.claim.check()
        made = logdir_claim.make_logdir(self.logdir)
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
        try:
            self.claim.open(made)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        if self.image_store_root and self.image_store is None:
            from guild_tensorboard.monitor.image_store import ImageStore

            root, budget = self.image_store_root
            os.makedirs(root, exist_ok=True)
            self.image_store = ImageStore(root, self.claim.token, budget)

    def _unlock_logdir(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.claim.close()

    def _remake_vanished_logdir(self):
        """A log directory removed (or replaced) while the monitor holds it
        is made again and locked again, and every run folder rebuilt."""
        try:
            st = os.stat(self.logdir)
            same = (st.st_dev, st.st_ino) == self.claim.dir_id()
        except OSError:
            same = False
        if same:
            return
        log.warning("log directory %s was removed: making it again", self.logdir)
        self._unlock_logdir()
        self._names = {}
        self._listed_names = None
        self._foreign = set()
        self._forget_run_folders()
        self._lock_logdir()

    def _forget_run_folders(self):
        """The run folders are gone: forget what was known of them."""

    def __del__(self):
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def _is_dir(path):
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _is_real_dir(entry):
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False
