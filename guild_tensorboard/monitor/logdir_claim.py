"""A log directory the monitor can show it made, and what it made there.

The monitor may delete only what it can show it created, so each log
directory it writes to has a journal, kept outside the log directory (the
log directory holds run folders and nothing else; the specs count its
files) in a folder of this user's own:

    $GUILD_TENSORBOARD_STATE, else $XDG_STATE_HOME/guild-tensorboard,
    else ~/.local/state/guild-tensorboard
        logdirs/<sha256 of the log directory's real path, 32 hex>.journal

    guild-tensorboard-logdir 1 <token> <st_dev> <st_ino> <made> <path>
    + <st_ino> <run folder name> <run dir>      a run folder it made
    - <run folder name>                          one it removed

Fields are percent-encoded bytes, so any name fits on a line. The header
names the log directory by device and inode, and the log directory holds
an empty folder `.guild-tensorboard-<token>`: a folder removed and made
again at the same path (even with the same inode) is not the one the
journal speaks of. `made` is 1 when the monitor made the log directory
itself. The token marks every file the monitor writes (`guild_tensorboard.monitor.own_files`).
The marker folder holds no file, so TensorBoard ignores it.

A run folder is the monitor's when the journal lists its name with the
folder's inode; inside such a folder, links into the run it mirrors and
files carrying the token. Anything else is the user's, and stays.

Refusals (`LogdirError`, a `ValueError`): a log directory that is not a
folder, one that is not empty and that no journal shows is the monitor's,
and one that is, holds or lies inside a runs directory, a run directory
or a Guild home (`check_apart_from_runs`).
"""

import hashlib
import logging
import os
import secrets
import stat
import urllib.parse

from guild_tensorboard.monitor import own_files

log = logging.getLogger("guild")

STATE_ENV = "GUILD_TENSORBOARD_STATE"
_MAGIC = b"guild-tensorboard-logdir"
MARKER_PREFIX = ".guild-tensorboard-"
_VERSION = b"1"
_SAFE = b"/:@+,=~!$&'()*;."

_pruned = []


class LogdirError(ValueError):
    """A log directory the monitor will not use."""


class LogdirInUse(LogdirError):
    """Another runs monitor holds the log directory."""


def state_dir():
    env = os.environ.get(STATE_ENV)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "guild-tensorboard")


def journal_path(real_logdir):
    digest = hashlib.sha256(os.fsencode(real_logdir)).hexdigest()[:32]
    return os.path.join(state_dir(), "logdirs", digest + ".journal")


class LogdirClaim:
    """The journal of one log directory, read and appended to.

    `check()` tells whether the directory may be used (read only; raises
    `LogdirError`); `open(made)`, called once the directory is made
    (`make_logdir`) and locked, starts or loads the journal. Appends
    go straight to the file, so a monitor killed mid-pass leaves a journal
    that names every folder it made but, at most, the last one.
    """

    def __init__(self, logdir):
        self.logdir = logdir
        self.real = os.path.realpath(logdir)
        self.journal = journal_path(self.real)
        self.token = None
        self.made_root = False
        self.folders = {}  # run folder name -> (st_ino, run dir)
        self.files = None  # OwnFiles, once open
        self._dir_id = None  # (st_dev, st_ino) of the log directory
        self._journal_fd = None
        self._warned_journal = False

    # Checking, without writing

    def check(self):
        """Raises `LogdirError` when the log directory may not be used."""
        try:
            st = os.stat(self.logdir)
        except FileNotFoundError:
            return
        except OSError as e:
            raise LogdirError("cannot use %s as a log directory: %s" % (self.logdir, e.strerror)) from None
        if not stat.S_ISDIR(st.st_mode):
            raise LogdirError(
                "%s is a %s, not a folder: a log directory must be a new or empty "
                "folder, or one this command made before" % (self.logdir, _kind(st.st_mode))
            )
        if _is_empty(self.logdir):
            return
        header = _read_header(self.journal)
        if not self._header_is_ours(header, (st.st_dev, st.st_ino)):
            raise LogdirError(
                "%s is not empty and is not a log directory this command made: "
                "use a new or empty folder (nothing in it was changed)" % self.logdir
            )

    # Opening

    def open(self, made=False):
        """Starts or loads the journal of the log directory, which exists
        and is locked (`guild_tensorboard.monitor.base`); `made` when the monitor just
        made it."""
        self.real = os.path.realpath(self.logdir)
        self.journal = journal_path(self.real)
        st = os.stat(self.logdir)
        dir_id = (st.st_dev, st.st_ino)
        entries = _read_journal(self.journal)
        header = entries[0] if entries else None
        self._dir_id = dir_id
        if self._header_is_ours(header, dir_id):
            self.token = header["token"]
            self.made_root = header["made"]
            self.folders = _folders_from(entries[1:])
            if len(entries) > 2 * len(self.folders) + 64:
                self._rewrite()
        else:
            if not made and not _is_empty(self.logdir):
                raise LogdirError(
                    "%s is not empty and is not a log directory this command made: "
                    "use a new or empty folder (nothing in it was changed)" % self.logdir
                )
            self.token = secrets.token_hex(8)
            self.made_root = made
            self.folders = {}
            self._rewrite()
            os.mkdir(self.marker())
        self.files = own_files.OwnFiles(self.logdir, self.token)
        _prune_stale_journals_once()

    def dir_id(self):
        return self._dir_id

    def marker(self, token=None):
        return os.path.join(self.logdir, MARKER_PREFIX + (token or self.token))

    def is_marker(self, name):
        return self.token is not None and name == MARKER_PREFIX + self.token

    def _header_is_ours(self, header, dir_id):
        return (
            header is not None
            and header["dir_id"] == dir_id
            and header["path"] == self.real
            and os.path.isdir(self.marker(header["token"]))
            and not os.path.islink(self.marker(header["token"]))
        )

    # Run folders

    def make_run_folder(self, name, run_dir):
        """Makes the run folder `name` and records it; returns its path.
        Raises FileExistsError when something is there already."""
        path = os.path.join(self.logdir, name)
        os.mkdir(path)
        ino = os.lstat(path).st_ino
        self.folders[name] = (ino, run_dir)
        self._append(b"+ %d %s %s\n" % (ino, _enc(name), _enc(run_dir)))
        return path

    def discard(self):
        """Removes the journal and the marker folder: the log directory is
        no longer the monitor's."""
        self.close()
        for remove, path in ((os.rmdir, self.marker()), (os.unlink, self.journal)):
            try:
                remove(path)
            except OSError:
                pass
        self.folders = {}

    def forget_run_folder(self, name):
        if self.folders.pop(name, None) is not None:
            self._append(b"- %s\n" % _enc(name))

    def is_our_folder(self, name, ino):
        """True when the journal lists run folder `name` with inode `ino`."""
        recorded = self.folders.get(name)
        return recorded is not None and recorded[0] == ino

    def folder_state(self, name):
        """"ours", "gone" (recorded, not there), "foreign" or "free"."""
        path = os.path.join(self.logdir, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return "gone" if name in self.folders else "free"
        if stat.S_ISDIR(st.st_mode) and self.is_our_folder(name, st.st_ino):
            return "ours"
        return "foreign"

    def run_dir_of(self, name):
        recorded = self.folders.get(name)
        return recorded[1] if recorded else None

    # The journal file

    def _append(self, line):
        try:
            if self._journal_fd is None:
                self._journal_fd = os.open(
                    self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600
                )
            os.write(self._journal_fd, line)  # unbuffered: on disk with the folder
        except OSError as e:
            self._journal_failed(e)

    def close(self):
        """Closes the journal (the monitor unlocked the log directory)."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None

    def _rewrite(self):
        header = b"%s %s %s %d %d %d %s\n" % (
            _MAGIC, _VERSION, self.token.encode(), self._dir_id[0], self._dir_id[1],
            1 if self.made_root else 0, _enc(self.real),
        )
        lines = [header] + [
            b"+ %d %s %s\n" % (ino, _enc(name), _enc(run_dir))
            for name, (ino, run_dir) in sorted(self.folders.items())
        ]
        self.close()
        tmp = "%s.%d.tmp" % (self.journal, os.getpid())
        try:
            os.makedirs(os.path.dirname(self.journal), mode=0o700, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(b"".join(lines))
            os.replace(tmp, self.journal)
        except OSError as e:
            self._journal_failed(e)

    def _journal_failed(self, e):
        if not self._warned_journal:
            self._warned_journal = True
            log.warning(
                "cannot record what the monitor makes in %s (%s): a later monitor will not "
                "take this log directory as its own", self.journal, e
            )


def make_logdir(path):
    """Makes the log directory (and missing parents, which are not the
    monitor's to remove); True when it made it."""
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        return False
    except FileNotFoundError:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return make_logdir(path)


def _is_empty(path):
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def _kind(mode):
    from guild_tensorboard.events.regular_files import file_kind

    return file_kind(mode)


def _enc(text):
    return urllib.parse.quote_from_bytes(os.fsencode(text), safe=_SAFE).encode("ascii")


def _dec(field):
    return os.fsdecode(urllib.parse.unquote_to_bytes(field))


def _read_header(journal):
    entries = _read_journal(journal, header_only=True)
    return entries[0] if entries else None


def _read_journal(journal, header_only=False):
    """`[header, (op, fields)...]`, `[]` when there is no valid journal."""
    try:
        with open(journal, "rb") as f:
            lines = [f.readline()] if header_only else f.read().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    parts = lines[0].split()
    if len(parts) != 7 or parts[0] != _MAGIC or parts[1] != _VERSION:
        return []
    try:
        header = {
            "token": parts[2].decode("ascii"),
            "dir_id": (int(parts[3]), int(parts[4])),
            "made": parts[5] == b"1",
            "path": _dec(parts[6]),
        }
    except (ValueError, UnicodeDecodeError):
        return []
    return [header] + [line.split() for line in lines[1:]]


def _folders_from(lines):
    folders = {}
    for parts in lines:
        try:
            if len(parts) == 4 and parts[0] == b"+":
                folders[_dec(parts[2])] = (int(parts[1]), _dec(parts[3]))
            elif len(parts) == 2 and parts[0] == b"-":
                folders.pop(_dec(parts[1]), None)
        except ValueError:
            continue  # a line cut short by a kill
    return folders


def _prune_stale_journals_once():
    """Removes journals of log directories that are gone (once a process)."""
    if _pruned:
        return
    _pruned.append(True)
    folder = os.path.join(state_dir(), "logdirs")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.endswith(".journal"):
            continue
        journal = os.path.join(folder, name)
        header = _read_header(journal)
        if header is not None and _dir_id_of(header["path"]) == header["dir_id"]:
            continue
        try:
            os.unlink(journal)
        except OSError:
            pass


def _dir_id_of(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# Log directories apart from runs


def check_apart_from_runs(real_logdir, run_dirs, known_parents=None):
    """Raises `LogdirError` when the log directory (a real path) is, holds
    or lies inside one of `run_dirs`, their runs directory, or the Guild
    home holding it (the parent of a runs directory named `runs`).
    `known_parents`, a dict, keeps what is known of the runs directories
    between calls."""
    known_parents = {} if known_parents is None else known_parents
    for run_dir in run_dirs:
        if os.path.islink(run_dir):
            real_run = os.path.realpath(run_dir)
            outer = _outer_folders(os.path.dirname(real_run))
        else:
            parent = os.path.dirname(os.path.abspath(run_dir))
            outer = known_parents.get(parent)
            if outer is None:
                if len(known_parents) > 1000:
                    known_parents.clear()
                outer = known_parents[parent] = _outer_folders(parent)
            real_run = os.path.join(outer[0][0], os.path.basename(run_dir.rstrip(os.sep)))
        _check_apart(real_logdir, [(real_run, "run directory")] + outer)


def check_apart_from_home(real_logdir, runs_dir):
    """Raises `LogdirError` when the log directory is, holds or lies inside
    the runs directory `runs_dir` or the Guild home holding it."""
    _check_apart(real_logdir, _outer_folders(runs_dir))


def _outer_folders(runs_dir):
    """`[(real path, what)]` of a runs directory and its Guild home."""
    real_runs = os.path.realpath(runs_dir)
    folders = [(real_runs, "runs directory")]
    if os.path.basename(real_runs) == "runs":
        folders.append((os.path.dirname(real_runs), "Guild home"))
    return folders


def _check_apart(real_logdir, folders):
    """`folders`: `[(real path, what)]`, innermost first. Says the one the
    log directory is, else the nearest it lies inside, else the largest it
    holds."""
    for relation, matches, order in (
        ("is the", lambda folder: real_logdir == folder, folders),
        ("lies inside the", lambda folder: _within(real_logdir, folder), folders),
        ("holds the", lambda folder: _within(folder, real_logdir), reversed(folders)),
    ):
        for folder, what in order:
            if matches(folder):
                raise LogdirError(
                    "log directory %s %s %s %s: choose a folder apart from the runs"
                    % (real_logdir, relation, what, folder)
                )


def _within(path, folder):
    """True when `path` is `folder` or lies inside it (real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
