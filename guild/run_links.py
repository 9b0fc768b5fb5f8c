"""Links from a run's log-directory folder to the run's files.

Every file of the run gets a symlink at the same relative path, except the
run's top-level `.guild/` and its source code. Event files directly in
`.guild/` are linked at the folder root with a short digest appended to the
name, so they cannot collide with the run's own root files. Links to
folders are mirrored as links, not descended.

`RunLinks` keeps what the last pass saw: the modification times of the
run's folders. A folder's mtime changes whenever an entry is added,
removed or renamed in it, so when none changed, the links are current and
the pass costs one `stat` per folder.
"""

import hashlib
import logging
import os
import shlex

from guild import event_guard

log = logging.getLogger("guild")

GUILD_DIR = ".guild"


class RunLinks:
    """Keeps the links in `run_logdir` in step with the files of `run_dir`."""

    def __init__(self, run_dir, run_logdir, reserved_names=()):
        self.run_dir = run_dir
        self.run_logdir = run_logdir
        self.reserved_names = frozenset(reserved_names)
        self._dir_mtimes = None  # reldir -> mtime_ns, from the last walk
        self.links = {}  # relpath in run_logdir -> absolute target
        self.run_files = ()  # relpaths of the run's own (not linked) files
        self.guard = event_guard.EventFileGuard(run_logdir)

    def refresh(self):
        """Returns True when the links changed."""
        if self._dir_mtimes is not None and not self._run_dirs_changed():
            if os.path.isdir(self.run_logdir):
                return False
        links, run_files, dir_mtimes = run_file_links(self.run_dir, self.reserved_names)
        self._dir_mtimes = dir_mtimes
        self.run_files = run_files
        links = self.guard.screen(links)
        ensure_links(self.run_logdir, links)
        remove_unexpected_links(self.run_logdir, links, self.reserved_names)
        changed = links != self.links
        self.links = links
        return changed

    def refresh_event_files(self):
        """Checks what the linked event files gained since the last look
        (for runs still writing them); unlinks any found damaged."""
        if self.guard.check_growth():
            self.links = self.guard.screen(self.links)

    def _run_dirs_changed(self):
        for reldir, mtime in self._dir_mtimes.items():
            try:
                if os.stat(os.path.join(self.run_dir, reldir)).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False


def run_file_links(run_dir, reserved_names=()):
    """Returns `(links, run_files, dir_mtimes)` for `run_dir`: the links to
    make (`{relpath: target}`), the sorted relpaths of files the run holds
    itself (not links), and the mtime of every folder walked."""
    links = {}
    run_files = []
    dir_mtimes = {}
    source = source_code_paths(run_dir)
    _walk_run_dir(run_dir, "", links, run_files, dir_mtimes, source, reserved_names)
    _add_guild_event_links(run_dir, links, dir_mtimes)
    return links, sorted(run_files), dir_mtimes


def _walk_run_dir(run_dir, reldir, links, run_files, dir_mtimes, source, reserved):
    # Links are never followed, so a symlink loop cannot trap the walk.
    path = os.path.join(run_dir, reldir) if reldir else run_dir
    try:
        dir_mtimes[reldir] = os.stat(path).st_mtime_ns
        entries = list(os.scandir(path))
    except OSError as e:
        log.warning("cannot read %s: %s", path, e)
        return
    for entry in entries:
        rel = os.path.join(reldir, entry.name) if reldir else entry.name
        if not reldir and (entry.name == GUILD_DIR or entry.name in reserved):
            continue
        try:
            is_link = entry.is_symlink()
            is_dir = not is_link and entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_dir:
            _walk_run_dir(run_dir, rel, links, run_files, dir_mtimes, source, reserved)
        elif rel in source:
            continue
        elif is_link and not os.path.exists(entry.path):
            continue  # dangling in the run itself: nothing to show
        elif is_link and _links_to_an_ancestor(entry.path):
            log.warning("%s links to a folder that contains it; not shown", entry.path)
        else:
            links[rel] = entry.path
            if not is_link:
                run_files.append(rel)


def _links_to_an_ancestor(path):
    """True for a link to a folder that contains the link: TensorBoard
    follows links to folders, and would walk such a loop for ever."""
    target = os.path.realpath(path)
    parent = os.path.realpath(os.path.dirname(path))
    return os.path.isdir(target) and (
        parent == target or parent.startswith(target.rstrip(os.sep) + os.sep)
    )


def _add_guild_event_links(run_dir, links, dir_mtimes):
    guild_dir = os.path.join(run_dir, GUILD_DIR)
    try:
        dir_mtimes[GUILD_DIR] = os.stat(guild_dir).st_mtime_ns
        entries = list(os.scandir(guild_dir))
    except OSError:
        return
    for entry in entries:
        if "tfevents" in entry.name and entry.is_file():
            links[guild_event_link_name(entry.name)] = entry.path


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
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def ensure_links(run_logdir, links):
    """Creates or corrects the symlinks `{relpath: target}` under `run_logdir`."""
    os.makedirs(run_logdir, exist_ok=True)
    made_dirs = {run_logdir}
    for rel, target in links.items():
        dest = os.path.join(run_logdir, rel)
        parent = os.path.dirname(dest)
        if parent not in made_dirs:
            _make_link_parent(parent, run_logdir)
            made_dirs.add(parent)
        _ensure_link(dest, target)


def _make_link_parent(parent, run_logdir):
    # A link where a folder should be (the run replaced a linked folder
    # with a real one) is replaced by the folder.
    rel = os.path.relpath(parent, run_logdir)
    path = run_logdir
    for part in rel.split(os.sep):
        path = os.path.join(path, part)
        if os.path.islink(path):
            os.unlink(path)
        if not os.path.isdir(path):
            os.mkdir(path)


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
        log.warning("cannot link %s: a file the monitor did not write is in the way", dest)
        return
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
