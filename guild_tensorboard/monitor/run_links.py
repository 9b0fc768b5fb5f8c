"""Links from a run's log-directory folder to the run's files.

Every run file is reachable in the run's folder, except the run's
top-level `.guild/`, its source code and what TensorBoard must not open.
The root of the folder is mirrored entry by entry; a subfolder is linked
whole (one link, and TensorBoard, which follows links to folders, sees
whatever the run adds to it) unless it holds something to keep out or to
rename, then it is mirrored and the rule applies again inside it. Kept
out: source code, special files (FIFOs, devices, sockets: TensorBoard
would block opening one), links to them, dangling links, links to a folder
containing them (a loop TensorBoard would walk for ever), damaged event
files (see `guild_tensorboard.monitor.event_guard`).

Names are shown as they are, with two exceptions, both in the mirror only:

- a name that is not valid UTF-8 (TensorBoard's Python loader dies on the
  first one it meets, anywhere in the log directory) is shown with its
  undecodable bytes escaped, `h\\xf6st.txt`;
- a name the monitor uses for its own files (`.images`, the hparams
  session and time files at the root, `<event file>.repaired` anywhere)
  is shown with `~run` appended, as is an escaped name that would clash
  with a name already there.

Event files directly in `.guild/` are linked at the root with a short
digest of their path appended to the name, so they cannot collide with the
run's own root files.

`RunLinks` remembers the modification time of every folder it walked: a
folder's mtime changes whenever an entry is added, removed or renamed in
it, so when none changed the links are current. A link it failed to make
(a full disk, say) makes it walk again at the next pass.

The links a folder holds are the monitor's when they point into the run
the folder mirrors; only those are ever removed or replaced.
"""

import hashlib
import logging
import os
import shlex
import stat

from guild_tensorboard.monitor import event_guard
from guild_tensorboard.events.log_once import warning_once
from guild_tensorboard.runs.run_names import display_name
from guild_tensorboard.events.regular_files import file_kind

log = logging.getLogger("guild")

GUILD_DIR = ".guild"
RENAMED_SUFFIX = "~run"

# The most read of a manifest (Guild lists one line per source file).
_MANIFEST_LIMIT = 64 * 1024 * 1024


class RunLinks:
    """Keeps the links in `run_logdir` in step with the files of `run_dir`.

    Between passes it keeps little (the monitor holds one per run): the
    folders' mtimes, which subfolders are mirrored, and the event guard.
    `files` (a `guild_tensorboard.monitor.own_files.OwnFiles`) writes and knows the monitor's
    own files.
    """

    __slots__ = (
        "run_dir", "run_logdir", "reserved_names", "files", "guard", "dir_mtimes",
        "mirrored_dirs", "event_files",
    )

    def __init__(self, run_dir, run_logdir, files, reserved_names=()):
        self.run_dir = run_dir
        self.run_logdir = run_logdir
        self.files = files
        self.reserved_names = _frozen(reserved_names)
        self.guard = event_guard.EventFileGuard(run_logdir, files)
        self.dir_mtimes = None  # run reldir -> mtime_ns, from the last walk
        self.mirrored_dirs = ()  # run subfolders mirrored, not linked whole
        self.event_files = 0  # the run's event files shown (or their repaired copies)

    def refresh(self):
        """Walks the run when a folder of it changed. Returns the relpaths
        of the run's own files when it walked, None when nothing changed."""
        if self.dir_mtimes is not None and not self.dirs_changed():
            return None
        tree = RunTree(self.run_dir, self.reserved_names)
        self.guard.check(tree.event_files)
        complete = self._apply(tree)
        self.dir_mtimes = tree.dir_mtimes if complete else None
        return tree.own_files

    def refresh_event_files(self):
        """Checks what the event files gained since the last look (for runs
        still writing them); a file found damaged is taken out of view."""
        if self.guard.check_growth():
            self._apply(RunTree(self.run_dir, self.reserved_names))
        else:
            self.guard.write_repaired_copies()

    def verify_event_files(self, deadline):
        """Verifies the event files' records until `deadline`; a file found
        damaged is taken out of view. True when records remain unverified."""
        if self.guard.verify(deadline):
            self._apply(RunTree(self.run_dir, self.reserved_names))
        else:
            self.guard.write_repaired_copies(deadline)
        return self.guard.unverified()

    def _apply(self, tree):
        """Makes the folder show `tree`; True when every link was made."""
        self.event_files = len(tree.event_files)
        damaged = self.guard.damaged()
        links = tree.links(damaged)
        mirrored = tree.mirrored_dirs(damaged)
        self.mirrored_dirs = tuple(sorted(mirrored))
        shown_dirs = [tree.shown_dirs[rel] for rel in self.mirrored_dirs]
        failures = ensure_links(self.run_logdir, links, shown_dirs, self.run_dir, self.files)
        failures += self.guard.write_repaired_copies()
        remove_unexpected_links(
            self.run_logdir, links, self.run_dir, self.reserved_names, shown_dirs
        )
        return failures == 0

    def dirs_changed(self):
        run_dir = self.run_dir
        for reldir, mtime in self.dir_mtimes.items():
            try:
                if os.stat(run_dir + "/" + reldir if reldir else run_dir).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False


class RunTree:
    """One walk of a run directory (links are never followed, so a symlink
    loop cannot trap it): what it holds, what must stay out of view, and
    the name each entry is shown under."""

    def __init__(self, run_dir, reserved_names=()):
        self.run_dir = run_dir
        self.dir_mtimes = {}
        self.children = {}  # run reldir -> [(name, kind, shown name)]
        self.hidden = set()  # run relpaths kept out of view
        self.renamed = set()  # run relpaths shown under another name
        self.shown_dirs = {"": ""}  # run reldir -> its path in the run folder
        self._run_dirs = {"": ""}  # the reverse
        self.event_files = {}  # shown relpath -> target, every event file
        self.guild_event_links = {}  # root link name -> event file in .guild/
        self._source = source_code_paths(run_dir)
        self._reserved = frozenset(reserved_names) | {GUILD_DIR}
        self._walk("")
        self._add_guild_event_files()
        self.own_files = sorted(
            rel for rel, kind in self._entries() if kind == "file" and rel not in self.hidden
        )

    def _walk(self, reldir):
        path = self.run_dir + "/" + reldir if reldir else self.run_dir
        try:
            self.dir_mtimes[reldir] = os.stat(path).st_mtime_ns
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            warning_once(("walk", path), "cannot read %s: %s", path, e)
            return
        if not reldir:
            entries = [entry for entry in entries if entry.name != GUILD_DIR]
        reserved = self._reserved if not reldir else ()
        names = [entry.name for entry in entries]
        shown = shown_names(names, reserved) if _any_to_rename(names, reserved) else None
        shown_dir = self.shown_dirs[reldir]
        children = self.children[reldir] = []
        for entry in entries:
            rel = reldir + "/" + entry.name if reldir else entry.name
            kind = _entry_kind(entry)
            if kind is None:
                continue
            name_shown = shown[entry.name] if shown else entry.name
            children.append((entry.name, kind, name_shown))
            if name_shown != entry.name:
                self.renamed.add(rel)
            shown_rel = shown_dir + "/" + name_shown if shown_dir else name_shown
            if kind == "dir":
                self.shown_dirs[rel] = shown_rel
                self._run_dirs[shown_rel] = rel
                self._walk(rel)
            elif kind == "link":
                self._check_link(rel, entry.path)
            elif kind == "special":
                self.hidden.add(rel)
                warning_once(
                    ("special", entry.path), "%s is a %s: not shown (TensorBoard would block on it)",
                    entry.path, _special_kind(entry),
                )
            elif rel in self._source:
                self.hidden.add(rel)
            elif event_guard.is_event_file_name(entry.name):
                self.event_files[shown_rel] = entry.path

    def _check_link(self, rel, path):
        try:
            st = os.stat(path)
        except OSError:
            self.hidden.add(rel)  # dangling (or a loop of links): nothing to show
            return
        if stat.S_ISDIR(st.st_mode):
            if _links_to_an_ancestor(path):
                warning_once(("loop", path), "%s links to a folder that contains it; not shown", path)
                self.hidden.add(rel)
        elif not stat.S_ISREG(st.st_mode):
            warning_once(
                ("special", path), "%s links to a %s: not shown (TensorBoard would block on it)",
                path, file_kind(st.st_mode),
            )
            self.hidden.add(rel)

    def _add_guild_event_files(self):
        # `.guild/` and `.guild/attrs/` change when the run stops (its LOCK
        # goes, its exit status comes): their mtimes are watched too.
        guild_dir = os.path.join(self.run_dir, GUILD_DIR)
        attrs_dir = os.path.join(guild_dir, "attrs")
        try:
            self.dir_mtimes[GUILD_DIR] = os.stat(guild_dir).st_mtime_ns
            self.dir_mtimes[os.path.join(GUILD_DIR, "attrs")] = os.stat(attrs_dir).st_mtime_ns
            with os.scandir(guild_dir) as it:
                entries = sorted(it, key=_name)
        except OSError:
            return
        taken = {shown for _name, _kind, shown in self.children.get("", ())} | self._reserved
        for entry in entries:
            if event_guard.is_event_file_name(entry.name) and _is_regular(entry):
                name = guild_event_link_name(entry.name)
                while name in taken:
                    name += RENAMED_SUFFIX
                taken.add(name)
                self.guild_event_links[name] = self.event_files[name] = entry.path

    def _entries(self):
        for reldir, children in self.children.items():
            for name, kind, _shown in children:
                yield (reldir + "/" + name if reldir else name), kind

    def mirrored_dirs(self, damaged=()):
        """Run subfolders that hold something hidden, renamed or damaged
        (`damaged`: shown relpaths): mirrored, not linked whole."""
        mirrored = set()
        starts = [os.path.dirname(rel) for rel in self.hidden | self.renamed]
        starts.extend(self._run_dirs.get(os.path.dirname(rel), "") for rel in damaged)
        for parent in starts:
            while parent and parent not in mirrored:
                mirrored.add(parent)
                parent = os.path.dirname(parent)
        return mirrored

    def links(self, damaged=()):
        """`{shown relpath: target}` of the links that show the run."""
        damaged = frozenset(damaged)
        mirrored = self.mirrored_dirs(damaged)
        links = {}
        self._add_links("", mirrored, damaged, links)
        for name, target in self.guild_event_links.items():
            if name not in damaged:
                links[name] = target
        return links

    def _add_links(self, reldir, mirrored, damaged, links):
        shown_dir = self.shown_dirs[reldir]
        for name, kind, shown in self.children.get(reldir, ()):
            rel = reldir + "/" + name if reldir else name
            if rel in self.hidden:
                continue
            shown_rel = shown_dir + "/" + shown if shown_dir else shown
            if shown_rel in damaged:
                continue
            if kind == "dir" and rel in mirrored:
                self._add_links(rel, mirrored, damaged, links)
            else:
                links[shown_rel] = self.run_dir + "/" + rel


def shown_names(names, reserved=()):
    """`{name: shown name}` for the entries of one folder: a name as it is
    when it is valid UTF-8 and not `reserved` (nor a repaired copy's);
    otherwise escaped and suffixed until it is free."""
    shown = {}
    taken = set()
    pending = []
    for name in names:
        if _is_utf8(name) and name not in reserved and not event_guard.is_repaired_name(name):
            shown[name] = name
            taken.add(name)
        else:
            pending.append(name)
    for name in sorted(pending):  # the same names in the same order: the same result
        candidate = display_name(name) if not _is_utf8(name) else name
        while (
            candidate in taken
            or candidate in reserved
            or event_guard.is_repaired_name(candidate)
        ):
            candidate += RENAMED_SUFFIX
        shown[name] = candidate
        taken.add(candidate)
    return shown


def _any_to_rename(names, reserved):
    """False when every name is shown as it is (the usual case, told cheaply)."""
    for name in names:
        if not name.isascii() or name in reserved or name.endswith(event_guard.REPAIRED_SUFFIX):
            return True
    return False


def _is_utf8(name):
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _name(entry):
    return entry.name


def _frozen(names):
    return names if isinstance(names, frozenset) else frozenset(names)


def _entry_kind(entry):
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        if entry.is_file(follow_symlinks=False):
            return "file"
        return "special"
    except OSError:
        return None


def _special_kind(entry):
    try:
        return file_kind(entry.stat(follow_symlinks=False).st_mode)
    except OSError:
        return "special file"


def _is_regular(entry):
    try:
        return entry.is_file()  # follows a link: its target must be a file
    except OSError:
        return False


def _links_to_an_ancestor(path):
    """True for a link to a folder that contains the link: TensorBoard
    follows links to folders, and would walk such a loop for ever."""
    target = os.path.realpath(path)
    parent = os.path.realpath(os.path.dirname(path))
    return parent == target or parent.startswith(target.rstrip(os.sep) + os.sep)


def guild_event_link_name(name):
    digest = hashlib.md5(os.fsencode(GUILD_DIR + "/" + name)).hexdigest()[:8]
    return "%s.%s" % (display_name(name), digest)


def source_code_paths(run_dir):
    """Run-relative paths that Guild 0.8+ lists as source in the manifest."""
    from guild_tensorboard.events.regular_files import read_regular

    manifest = os.path.join(run_dir, GUILD_DIR, "manifest")
    try:
        data = read_regular(manifest, _MANIFEST_LIMIT)
    except FileNotFoundError:
        return frozenset()
    except OSError as e:
        warning_once(("manifest", manifest), "cannot read %s: %s", manifest, e)
        return frozenset()
    paths = set()
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        parts = _split_manifest_line(line)
        if len(parts) >= 2 and parts[0] == "s":
            paths.add(os.path.normpath(parts[1]))
    return frozenset(paths)


def _split_manifest_line(line):
    if "'" not in line and '"' not in line and "\\" not in line:
        return line.split()
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


# Making and removing links


def links_into(run_dir):
    """A test of link targets: True for a path inside `run_dir`."""
    prefix = run_dir.rstrip(os.sep) + os.sep

    def is_ours(target):
        return target.startswith(prefix)

    return is_ours


def ensure_links(run_logdir, links, mirrored_dirs, run_dir, files):
    """Creates or corrects the symlinks `{relpath: target}` under
    `run_logdir`, and the real folders `mirrored_dirs` that hold them;
    returns how many it could not make. Only links into `run_dir` are
    replaced; anything else in the way stays, with a warning."""
    ours = links_into(run_dir)
    failures = 0
    failed_dirs = set()
    for rel in sorted(mirrored_dirs):
        if os.path.dirname(rel) in failed_dirs or not _make_real_dir(
            os.path.join(run_logdir, rel), ours, files
        ):
            failed_dirs.add(rel)
            failures += 1
    for rel, target in links.items():
        if os.path.dirname(rel) in failed_dirs:
            failures += 1  # its folder is not a real folder of ours: no link there
        else:
            failures += not _ensure_link(run_logdir + "/" + rel, target, ours, files)
    return failures


def _make_real_dir(path, ours, files):
    # A link where a folder should be (the folder was linked whole before
    # it came to hold something hidden) is replaced by the folder.
    try:
        if ours(os.readlink(path)):
            os.unlink(path)
    except OSError:
        pass
    try:
        files.make_dir(path)
        return True
    except OSError as e:
        warning_once(("mkdir", path), "cannot make folder %s: %s", path, e)
        return False


def _ensure_link(dest, target, ours, files):
    # The folder holding `dest` is the run folder or one of its mirrored
    # folders, each made (or checked to be a real folder) just before: a
    # plain symlink() there cannot land anywhere else.
    try:
        os.symlink(target, dest)
        return True
    except FileExistsError:
        pass
    except OSError as e:
        log.warning("cannot link %s: %s", dest, e)
        return False
    try:
        current = os.readlink(dest)
    except OSError:
        if os.path.isdir(dest) and not os.path.islink(dest):
            return _replace_mirrored_dir(dest, target, ours, files)
        warning_once(("in-the-way", dest), "cannot link %s: a file the monitor did not make is in the way", dest)
        return False
    if current == target:
        return True
    if not ours(current):
        warning_once(("in-the-way", dest), "cannot link %s: a link the monitor did not make is in the way", dest)
        return False
    return _replace_link(dest, target, files)


def _replace_mirrored_dir(dest, target, ours, files):
    # The folder no longer holds anything hidden: link it whole again.
    if remove_own_entries(dest, ours, files):
        warning_once(("in-the-way", dest), "cannot link %s: it holds files the monitor did not make", dest)
        return False
    return _replace_link(dest, target, files)


def _replace_link(dest, target, files):
    try:
        files.replace_link(dest, target)
        return True
    except OSError as e:
        log.warning("cannot link %s: %s", dest, e)
        return False


def remove_unexpected_links(run_logdir, links, run_dir, own_names=(), keep_dirs=()):
    """Removes links into `run_dir` under `run_logdir` that are not in
    `links` (their target is gone or no longer shown), and folders they
    leave empty but for `keep_dirs`. Top-level entries named in
    `own_names` (the monitor's own) are kept, as is every link elsewhere."""
    skip = frozenset(own_names) | {GUILD_DIR}
    keep = frozenset(keep_dirs)
    _remove_unexpected_links(run_logdir, "", links, skip, keep, links_into(run_dir))


def _remove_unexpected_links(path, reldir, links, skip, keep, ours):
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError:
        return
    for entry in entries:
        rel = reldir + "/" + entry.name if reldir else entry.name
        if not reldir and entry.name in skip:
            continue
        if entry.is_symlink():
            if rel not in links and _link_is_ours(entry.path, ours):
                _unlink_quietly(entry.path)
        elif entry.is_dir(follow_symlinks=False):
            _remove_unexpected_links(entry.path, rel, links, (), keep, ours)
            if rel not in keep:
                try:
                    os.rmdir(entry.path)  # only when empty
                except OSError:
                    pass


def remove_own_entries(path, ours, files):
    """Removes, under the folder `path` and bottom up, never following a
    link (folders are opened with `O_NOFOLLOW` and entered by descriptor):
    links whose target `ours` accepts, the files `files` shows are the
    monitor's, and the folders that leaves empty. Returns the paths of
    what it left: entries the monitor did not make."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return []
    except OSError as e:
        log.warning("cannot remove %s: %s", path, e)
        return [path]
    try:
        left = _remove_own_entries_in(fd, path, ours, files)
    finally:
        os.close(fd)
    if not left:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:
            left.append(path)
    return left


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _remove_own_entries_in(dir_fd, path, ours, files):
    try:
        with os.scandir(dir_fd) as it:
            entries = [(entry.name, _entry_kind(entry)) for entry in it]
    except OSError as e:
        log.warning("cannot list %s: %s", path, e)
        return [path]
    left = []
    for name, kind in entries:
        entry_path = os.path.join(path, name)
        if kind == "link":
            try:
                mine = ours(os.readlink(name, dir_fd=dir_fd))
            except OSError:
                mine = False
            if mine:
                _unlink_quietly(name, dir_fd)
            else:
                left.append(entry_path)
        elif kind == "dir":
            try:
                sub_fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                left.append(entry_path)
                continue
            try:
                sub_left = _remove_own_entries_in(sub_fd, entry_path, ours, files)
            finally:
                os.close(sub_fd)
            if not sub_left:
                try:
                    os.rmdir(name, dir_fd=dir_fd)
                except OSError:
                    sub_left = [entry_path]
            left.extend(sub_left)
        elif kind == "file" and files.is_own_file(entry_path):
            _unlink_quietly(name, dir_fd)
        else:
            left.append(entry_path)
    return left


def _link_is_ours(path, ours):
    try:
        return ours(os.readlink(path))
    except OSError:
        return False


def _unlink_quietly(path, dir_fd=None):
    try:
        os.unlink(path, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("cannot remove %s: %s", path, e)
