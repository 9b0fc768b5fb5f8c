"""Links from a run's log-directory folder to the run's files.

Every run file is reachable at its relative path in the run's folder,
except the run's top-level `.guild/` and its source code. The root of the
folder is mirrored entry by entry; a subfolder is linked whole (one link,
and TensorBoard, which follows links to folders, sees whatever the run adds
to it) unless it holds something to keep out: source code, a link to a
folder containing it (a loop TensorBoard would walk for ever), or a damaged
event file (see `guild.event_guard`). Such a folder is mirrored, and the
rule applies again inside it. Event files directly in `.guild/` are linked
at the root with a short digest appended to the name, so they cannot
collide with the run's own root files.

`RunLinks` remembers the modification time of every folder it walked: a
folder's mtime changes whenever an entry is added, removed or renamed in
it, so when none changed the links are current.
"""

import hashlib
import logging
import os
import shlex

from guild import event_guard

log = logging.getLogger("guild")

GUILD_DIR = ".guild"


class RunLinks:
    """Keeps the links in `run_logdir` in step with the files of `run_dir`.

    Between passes it keeps little (the monitor holds one per run): the
    folders' mtimes, which subfolders are mirrored, and the event guard.
    """

    __slots__ = ("run_dir", "run_logdir", "reserved_names", "guard", "dir_mtimes", "mirrored_dirs")

    def __init__(self, run_dir, run_logdir, reserved_names=()):
        self.run_dir = run_dir
        self.run_logdir = run_logdir
        self.reserved_names = _frozen(reserved_names)
        self.guard = event_guard.EventFileGuard(run_logdir)
        self.dir_mtimes = None  # reldir -> mtime_ns, from the last walk
        self.mirrored_dirs = ()  # subfolders mirrored, not linked whole

    def refresh(self):
        """Walks the run when a folder of it changed. Returns the relpaths
        of the run's own files when it walked, None when nothing changed."""
        if self.dir_mtimes is not None and not self.dirs_changed():
            return None
        tree = RunTree(self.run_dir, self.reserved_names)
        self.dir_mtimes = tree.dir_mtimes
        self.guard.check(tree.event_files)
        self._apply(tree)
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
        return self.guard.unverified()

    def _apply(self, tree):
        damaged = self.guard.damaged()
        links = tree.links(damaged)
        self.mirrored_dirs = tuple(sorted(tree.mirrored_dirs(damaged)))
        ensure_links(self.run_logdir, links, self.mirrored_dirs)
        self.guard.write_repaired_copies()
        remove_unexpected_links(self.run_logdir, links, self.reserved_names)

    def dirs_changed(self):
        for reldir, mtime in self.dir_mtimes.items():
            try:
                if os.stat(os.path.join(self.run_dir, reldir)).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False


class RunTree:
    """One walk of a run directory (links are never followed, so a symlink
    loop cannot trap it): what it holds and what must stay out of view."""

    def __init__(self, run_dir, reserved_names=()):
        self.run_dir = run_dir
        self.dir_mtimes = {}
        self.children = {}  # reldir -> [(name, kind)], kind "dir", "file" or "link"
        self.hidden = set()  # relpaths kept out of view
        self.event_files = {}  # link relpath -> target, every event file
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
            entries = list(os.scandir(path))
        except OSError as e:
            log.warning("cannot read %s: %s", path, e)
            return
        children = self.children[reldir] = []
        for entry in entries:
            if not reldir and entry.name in self._reserved:
                continue
            rel = reldir + "/" + entry.name if reldir else entry.name
            kind = _entry_kind(entry)
            if kind is None:
                continue
            children.append((entry.name, kind))
            if kind == "dir":
                self._walk(rel)
            elif kind == "link":
                self._check_link(rel, entry.path)
            elif rel in self._source:
                self.hidden.add(rel)
            elif event_guard.is_event_file_name(entry.name):
                self.event_files[rel] = entry.path

    def _check_link(self, rel, path):
        if not os.path.exists(path):
            self.hidden.add(rel)  # dangling in the run itself: nothing to show
        elif _links_to_an_ancestor(path):
            log.warning("%s links to a folder that contains it; not shown", path)
            self.hidden.add(rel)

    def _add_guild_event_files(self):
        # `.guild/` and `.guild/attrs/` change when the run stops (its LOCK
        # goes, its exit status comes): their mtimes are watched too.
        guild_dir = os.path.join(self.run_dir, GUILD_DIR)
        attrs_dir = os.path.join(guild_dir, "attrs")
        try:
            self.dir_mtimes[GUILD_DIR] = os.stat(guild_dir).st_mtime_ns
            self.dir_mtimes[os.path.join(GUILD_DIR, "attrs")] = os.stat(attrs_dir).st_mtime_ns
            entries = list(os.scandir(guild_dir))
        except OSError:
            return
        for entry in entries:
            if event_guard.is_event_file_name(entry.name) and entry.is_file():
                name = guild_event_link_name(entry.name)
                self.guild_event_links[name] = self.event_files[name] = entry.path

    def _entries(self):
        for reldir, children in self.children.items():
            for name, kind in children:
                yield (os.path.join(reldir, name) if reldir else name), kind

    def mirrored_dirs(self, damaged=()):
        """Folders that hold something hidden: mirrored, not linked whole."""
        mirrored = set()
        for rel in self.hidden.union(damaged):
            parent = os.path.dirname(rel)
            while parent and parent not in mirrored:
                mirrored.add(parent)
                parent = os.path.dirname(parent)
        return mirrored

    def links(self, damaged=()):
        """`{relpath: target}` of the links that show the run."""
        hidden = self.hidden.union(damaged)
        mirrored = self.mirrored_dirs(damaged)
        links = {}
        self._add_links("", mirrored, hidden, links)
        for name, target in self.guild_event_links.items():
            if name not in hidden:
                links[name] = target
        return links

    def _add_links(self, reldir, mirrored, hidden, links):
        for name, kind in self.children.get(reldir, ()):
            rel = os.path.join(reldir, name) if reldir else name
            if rel in hidden:
                continue
            if kind == "dir" and rel in mirrored:
                self._add_links(rel, mirrored, hidden, links)
            else:
                links[rel] = os.path.join(self.run_dir, rel)


def _frozen(names):
    return names if isinstance(names, frozenset) else frozenset(names)


def _entry_kind(entry):
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        return "file"
    except OSError:
        return None


def _links_to_an_ancestor(path):
    """True for a link to a folder that contains the link: TensorBoard
    follows links to folders, and would walk such a loop for ever."""
    target = os.path.realpath(path)
    parent = os.path.realpath(os.path.dirname(path))
    return os.path.isdir(target) and (
        parent == target or parent.startswith(target.rstrip(os.sep) + os.sep)
    )


def guild_event_link_name(name):
    digest = hashlib.md5((GUILD_DIR + "/" + name).encode("utf-8")).hexdigest()[:8]
    return "%s.%s" % (name, digest)


def source_code_paths(run_dir):
    """Run-relative paths that Guild 0.8+ lists as source in the manifest."""
    manifest = os.path.join(run_dir, GUILD_DIR, "manifest")
    try:
        with open(manifest, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return frozenset()
    paths = set()
    for line in lines:
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


def ensure_links(run_logdir, links, mirrored_dirs=()):
    """Creates or corrects the symlinks `{relpath: target}` under
    `run_logdir`, and the real folders `mirrored_dirs` that hold them."""
    os.makedirs(run_logdir, exist_ok=True)
    for rel in sorted(mirrored_dirs):
        _make_real_dir(os.path.join(run_logdir, rel))
    for rel, target in links.items():
        _ensure_link(os.path.join(run_logdir, rel), target)


def _make_real_dir(path):
    # A link where a folder should be (the folder was linked whole before
    # it came to hold something hidden) is replaced by the folder.
    if os.path.islink(path):
        os.unlink(path)
    try:
        os.mkdir(path)
    except FileExistsError:
        pass


def _ensure_link(dest, target):
    try:
        os.symlink(target, dest)
        return
    except FileExistsError:
        pass
    except OSError as e:
        log.warning("cannot link %s: %s", dest, e)
        return
    try:
        if os.readlink(dest) == target:
            return
    except OSError:
        if os.path.isdir(dest) and not os.path.islink(dest):
            _replace_mirrored_dir(dest, target)
        else:
            log.warning("cannot link %s: a file the monitor did not write is in the way", dest)
        return
    _replace_link(dest, target)


def _replace_mirrored_dir(dest, target):
    # The folder no longer holds anything hidden: link it whole again.
    remove_links_and_own_files(dest, lambda path: event_guard.is_repaired_name(os.path.basename(path)))
    if not os.path.lexists(dest):
        _replace_link(dest, target)


def _replace_link(dest, target):
    tmp = "%s.%s.tmp-link" % (dest, os.getpid())
    try:
        os.symlink(target, tmp)
        os.replace(tmp, dest)
    except OSError as e:
        log.warning("cannot link %s: %s", dest, e)


def remove_unexpected_links(run_logdir, links, own_names=()):
    """Removes links under `run_logdir` that are not in `links` (their
    target is gone or no longer shown), and folders they leave empty.
    Top-level entries named in `own_names` (the monitor's own) are kept."""
    skip = frozenset(own_names) | {GUILD_DIR}
    _remove_unexpected_links(run_logdir, "", links, skip)


def _remove_unexpected_links(path, reldir, links, skip):
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        rel = os.path.join(reldir, entry.name) if reldir else entry.name
        if not reldir and entry.name in skip:
            continue
        if entry.is_symlink():
            if rel not in links:
                try:
                    os.unlink(entry.path)
                except OSError as e:
                    log.warning("cannot remove %s: %s", entry.path, e)
        elif entry.is_dir(follow_symlinks=False):
            _remove_unexpected_links(entry.path, rel, links, ())
            try:
                os.rmdir(entry.path)  # only when empty
            except OSError:
                pass


def remove_links_and_own_files(path, is_own_file):
    """Removes the links under `path` and the files `is_own_file(path)`
    says are the monitor's, bottom up, never following a link; returns
    False when foreign files kept a folder in place."""
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return True
    except OSError as e:
        log.warning("cannot list %s: %s", path, e)
        return False
    removed_all = True
    for entry in entries:
        if entry.is_symlink() or (
            entry.is_file(follow_symlinks=False) and is_own_file(entry.path)
        ):
            _unlink_quietly(entry.path)
        elif entry.is_dir(follow_symlinks=False):
            removed_all = remove_links_and_own_files(entry.path, is_own_file) and removed_all
        else:
            removed_all = False
    if removed_all:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:
            return False
    return removed_all


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("cannot remove %s: %s", path, e)
