"""TensorBoard's data server over more event files than one process can open.

TensorBoard's Rust data server keeps every event file it reads open, for
good, one descriptor each; past its open-files limit it cannot open files
(they stay missing until it restarts) nor walk its log directory (every
run vanishes until a walk succeeds again). The limit is per process, so
the run folders are dealt to shards, each served by a data server of its
own and holding at most `budget` event files:

    <shards root>/<N>/<run folder name> -> <logdir>/<run folder name>

A shard is a folder of links to run folders, outside the log directory
(on tmpfs when there is one), so a data server names the runs exactly as
one over the log directory would. `guild_tensorboard.serving.sharded_provider` answers
TensorBoard's application from all of them.

`DataShards` learns each run folder's event-file count from the runs
monitor as it goes (`folder_refreshed`, `folder_removed`, `pass_done`), or
by walking the log directory (`count_event_files`) when there is no
monitor.

During the monitor's first pass (over every run, newest first, which can
take a minute on a slow disk) the folders go to shards in windows of time
that double: the first folder to shard 0, whose server starts at once,
the folders of the next half second to shard 1, then of one second, two,
then eight shards of four seconds, then eight seconds, sixteen... A
shard's data server starts when its window closes, so its first load cycle
reads every folder of the window at once: no folder waits a data server's
reload interval (5 seconds) for a server started before it, and the
loading goes on beside the pass rather than after it. The first run shows
a moment after TensorBoard serves, the last a few seconds after the pass;
a pass of half a minute takes ten data servers, of five minutes sixteen
(an idle one holds 8 MiB). After the first
pass a new folder goes to the first shard with room (up to 90% of its
budget, leaving room to grow) and shows at that data server's next reload;
a shard pushed over its budget by a growing folder passes that folder on.
Data servers start in a thread of their own (a start takes up to half a
second).
"""

import logging
import math
import os
import stat
import tempfile
import threading
import time

from guild_tensorboard.events import tfevent
from guild_tensorboard.runs import run as runlib

log = logging.getLogger("guild")

ROOT_PREFIX = "guild-tensorboard-shards-"
OWNER = "owner"  # a shards root's file naming the pid of the process it serves
FILL = 0.9  # of a shard's budget, for folders placed new
# Seconds of the first pass each shard takes folders for: the first shard's
# server starts with the first folder; then half a second, doubling up to
# four seconds (so no shard's first load is left to do after the pass),
# eight shards of four seconds, then doubling again (so a first pass of
# minutes does not take a data server every four seconds).
WINDOWS = (0.0, 0.5)
MAX_WINDOW = 4.0
MAX_WINDOW_SHARDS = 8
# A data server's reload re-reads every event file it holds, changed or not,
# at about this CPU cost a file (measured: bench/README.md); the reload
# interval grows with the event files so that reloading takes at most this
# share of the machine's cores. Under ~20,000 files it stays at 5 seconds.
RELOAD_CPU_SECONDS_PER_FILE = 0.12e-3
RELOAD_CPU_SHARE = 0.25


class DataShards:
    """`start_server(shard_dir, reload_interval)` starts a data server over
    a shard and returns `(data provider, stop)`; `provider` is the
    `guild_tensorboard.serving.sharded_provider.ShardedDataProvider` the
    application reads; every data server re-reads its shard each
    `reload_interval` seconds, longer with many event files unless not
    `scale_reload` (`server_reload_interval`)."""

    def __init__(
        self, logdir, budget, start_server, provider, limit=None, reload_interval=5,
        scale_reload=True,
    ):
        self.logdir = os.path.abspath(logdir)
        self.budget = budget
        self.reload_interval = reload_interval
        self.scale_reload = scale_reload
        self._expected_folders = 0  # runs the monitor's first pass lists
        self.limit = limit
        self.provider = provider
        self._start_server = start_server
        fast_tmp = _fast_tmp()
        reap_stale_roots(fast_tmp or tempfile.gettempdir())
        self.root = tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=fast_tmp)
        with open(os.path.join(self.root, OWNER), "w") as f:
            f.write("%d\n" % os.getpid())
        self._shards = []
        self._where = {}  # run folder -> shard
        self._lock = threading.RLock()
        self._first_pass = True
        self._said_split = False
        self._said_interval = None

    # What the monitor reports

    def pass_started(self, runs):
        """The monitor's pass lists `runs` runs (during the first, the
        event files to come are projected from it)."""
        with self._lock:
            if self._first_pass:
                self._expected_folders = runs

    def folder_refreshed(self, name, count):
        with self._lock:
            shard = self._where.get(name)
            if shard is not None:
                shard.set_count(name, count)
                if shard.load <= self.budget:
                    return
                shard.remove(name)  # grew past the budget: pass it on
            self._place(name, count)
            self._start_due()

    def folder_removed(self, name):
        with self._lock:
            shard = self._where.pop(name, None)
            if shard is not None:
                shard.remove(name)
                self.provider.unroute(name)

    def pass_done(self):
        """The monitor's pass has refreshed every run: the first pass is
        over, and every shard with folders is served."""
        with self._lock:
            self._first_pass = False
            self._start_due()

    def sync(self, counts):
        """Makes the shards hold exactly `{run folder: event files}`, all
        known at once (no windows: the folders fill shards by budget)."""
        with self._lock:
            self._first_pass = False
            for name in list(self._where):
                if name not in counts:
                    self.folder_removed(name)
            for name, count in counts.items():
                self.folder_refreshed(name, count)
            self.pass_done()

    # State

    def files(self):
        with self._lock:
            return sum(shard.load for shard in self._shards)

    def servers(self):
        with self._lock:
            return sum(1 for shard in self._shards if shard.started)

    def wait_started(self, timeout=60):
        """Waits for the data servers being started; True when all are."""
        deadline = time.monotonic() + timeout
        for shard in list(self._shards):
            if shard.thread is not None:
                shard.thread.join(max(0, deadline - time.monotonic()))
                if shard.thread.is_alive():
                    return False
        return True

    def close(self):
        self.wait_started(30)
        with self._lock:
            for shard in self._shards:
                shard.close()
            self._shards = []
            self._where = {}
        _remove_root(self.root)

    # Placing

    def _place(self, name, count):
        shard = self._shard_for(count)
        shard.add(name, count)
        self._where[name] = shard
        self.provider.route(name, shard.index)
        if count > self.budget:
            log.warning(
                "run folder %s has %d event files, more than one TensorBoard data server "
                "can hold (%d): some will not show", name, count, self.budget,
            )

    def _shard_for(self, count):
        """A shard with room; during the first pass only the newest, while
        its data server has not started (its window is open)."""
        if self._first_pass:
            candidates = self._shards[-1:]
        else:
            candidates = self._shards
        now = time.monotonic()
        for shard in candidates:
            if self._first_pass and (shard.started or shard.window_closed(now)):
                continue
            if not shard.load or shard.load + count <= self.budget * FILL:
                return shard
        return self._new_shard()

    def _new_shard(self):
        index = len(self._shards)
        shard = _Shard(index, os.path.join(self.root, str(index)), self, _window(index))
        self._shards.append(shard)
        if self._shards_needed_for_files() > 1:
            self._say_split()
        return shard

    def server_reload_interval(self):
        """Seconds between a new data server's reloads: `reload_interval`,
        or longer when its reloads over every event file (those there, or
        projected for the first pass) would take more than
        RELOAD_CPU_SHARE of the cores."""
        with self._lock:
            files = self.files()
            folders = len(self._where)
            if self._first_pass and folders and self._expected_folders > folders:
                files = files * self._expected_folders // folders
        if not self.scale_reload:
            return self.reload_interval
        cores = os.cpu_count() or 1
        needed = files * RELOAD_CPU_SECONDS_PER_FILE / (RELOAD_CPU_SHARE * cores)
        interval = self.reload_interval if needed <= self.reload_interval else math.ceil(needed)
        if interval > self.reload_interval and interval != self._said_interval:
            self._said_interval = interval
            say = log.warning if interval >= 2 * self.reload_interval else log.info
            say(
                "%d event files: TensorBoard's data servers re-read them every %d seconds "
                "(not %g) to leave the CPU to the rest; new data shows within that",
                files, interval, self.reload_interval,
            )
        return interval

    def _shards_needed_for_files(self):
        return -(-max(1, self.files()) // self.budget)

    def _start_due(self):
        now = time.monotonic()
        for shard in self._shards:
            if shard.started or not shard.load:
                continue
            if not self._first_pass or shard.window_closed(now) or shard.load >= self.budget * FILL:
                shard.start()

    def _say_split(self):
        if self._said_split:
            return
        self._said_split = True
        log.warning(
            "%d event files and counting, more than one TensorBoard data server can hold "
            "under the open-files limit (%s): serving them with a data server for each %d",
            self.files(), self.limit or "of this process", self.budget,
        )


def _window(index):
    if index < len(WINDOWS):
        return WINDOWS[index]
    growing = int(math.log2(MAX_WINDOW / WINDOWS[-1]))  # 1, 2: the windows up to the longest
    steady = index - len(WINDOWS) - growing
    if steady < 0:
        return WINDOWS[-1] * 2 ** (index - len(WINDOWS) + 1)
    if steady < MAX_WINDOW_SHARDS:
        return MAX_WINDOW
    return MAX_WINDOW * 2 ** (steady - MAX_WINDOW_SHARDS + 1)


class _Shard:
    __slots__ = (
        "index", "dir", "shards", "counts", "load", "started", "thread", "window",
        "opened", "_stop",
    )

    def __init__(self, index, path, shards, window):
        self.index = index
        self.dir = path
        self.shards = shards
        self.window = window
        self.opened = None  # when its first folder came
        self.counts = {}
        self.load = 0
        self.started = False
        self.thread = None
        self._stop = None
        os.mkdir(path)

    def window_closed(self, now):
        return self.opened is not None and now - self.opened >= self.window

    def add(self, name, count):
        if self.opened is None:
            self.opened = time.monotonic()
        self.counts[name] = count
        self.load += count
        try:
            os.symlink(os.path.join(self.shards.logdir, name), os.path.join(self.dir, name))
        except FileExistsError:
            pass

    def set_count(self, name, count):
        self.load += count - self.counts.get(name, 0)
        self.counts[name] = count

    def remove(self, name):
        self.load -= self.counts.pop(name, 0)
        _unlink_our_link(os.path.join(self.dir, name), self.shards.logdir)

    def start(self):
        """Starts the shard's data server, in a thread of its own."""
        if self.started:
            return
        self.started = True
        self.thread = threading.Thread(
            target=self._start, name="guild-tensorboard-data-server-%d" % self.index, daemon=True
        )
        self.thread.start()

    def _start(self):
        try:
            member, self._stop = self.shards._start_server(
                self.dir, self.shards.server_reload_interval()
            )
        except Exception as e:
            log.error("cannot start TensorBoard's data server for %s: %s", self.dir, e)
            return
        self.shards.provider.add_member(self.index, member)

    def close(self):
        if self._stop:
            self._stop()
            self._stop = None
        self.shards.provider.remove_member(self.index)
        for name in list(self.counts):
            self.remove(name)
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def _unlink_our_link(path, logdir):
    """Removes the shard link `path` when it is one of ours (a link into
    the log directory)."""
    try:
        if os.readlink(path).startswith(logdir.rstrip(os.sep) + os.sep):
            os.unlink(path)
    except OSError:
        pass


def reap_stale_roots(parent):
    """Removes the shard roots in `parent` whose process is gone (killed
    before it could close them): only what a root is made of, its owner
    file, numbered shard folders and the links in them."""
    try:
        names = [name for name in os.listdir(parent) if name.startswith(ROOT_PREFIX)]
    except OSError:
        return
    for name in names:
        root = os.path.join(parent, name)
        pid = _owner_pid(root)
        if pid is None or pid == os.getpid() or runlib.pid_is_alive(pid):
            continue
        log.debug("removing shards of a process that is gone (%d): %s", pid, root)
        _remove_root(root)


def _owner_pid(root):
    try:
        with open(os.path.join(root, OWNER)) as f:
            return int(f.read(32).strip())
    except (OSError, ValueError):
        return None


def _remove_root(root):
    """Removes a shards root: links in its numbered folders, the folders,
    its owner file; anything else keeps it (and what holds it) in place."""
    try:
        entries = os.listdir(root)
    except OSError:
        return
    for name in entries:
        path = os.path.join(root, name)
        if name.isdigit() and os.path.isdir(path) and not os.path.islink(path):
            for link in os.listdir(path):
                link_path = os.path.join(path, link)
                if os.path.islink(link_path):
                    os.unlink(link_path)
            _rmdir_quietly(path)
    try:
        os.unlink(os.path.join(root, OWNER))
    except OSError:
        pass
    _rmdir_quietly(root)


def _rmdir_quietly(path):
    try:
        os.rmdir(path)
    except OSError:
        pass


def _fast_tmp():
    """/dev/shm when it is a writable folder (links there cost microseconds,
    against half a millisecond on a disk), else the default temp folder."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


# Counting without a monitor


def count_event_files(logdir):
    """`{entry: event files}` for each entry of the log directory, as
    TensorBoard would open them (links followed, each real folder once)."""
    counts = {}
    try:
        with os.scandir(logdir) as it:
            entries = list(it)
    except OSError:
        return counts
    for entry in entries:
        if entry.name.startswith(".guild-tensorboard-"):
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            counts[entry.name] = _count_under(entry.path)
        elif "tfevents" in entry.name and stat.S_ISREG(st.st_mode):
            counts[entry.name] = 1
    return counts


def _count_under(path):
    return sum(
        1
        for _dirpath, _dirnames, filenames in tfevent.walk_real_folders(path)
        for name in filenames
        if "tfevents" in name
    )


class DiskSync(threading.Thread):
    """Keeps `shards` in step with what is on disk, every `interval`
    seconds, for a log directory no runs monitor in this process keeps."""

    def __init__(self, shards, interval):
        super().__init__(daemon=True, name="guild-tensorboard-shard-sync")
        self.shards = shards
        self.interval = max(1.0, interval or 5)
        self._stopping = threading.Event()

    def sync_now(self):
        self.shards.sync(count_event_files(self.shards.logdir))

    def run(self):
        while not self._stopping.wait(self.interval):
            try:
                self.sync_now()
            except Exception:
                log.exception("cannot count the event files of %s", self.shards.logdir)

    def stop(self):
        self._stopping.set()
