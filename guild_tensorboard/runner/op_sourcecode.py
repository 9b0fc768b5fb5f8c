"""Source code: which project files are source, their copy in a run's
`.guild/sourcecode/`, and digests."""

import hashlib
import logging
import os
import shutil

log = logging.getLogger("guild")

__all__ = [
    "MAX_SOURCE_FILES",
    "MAX_SOURCE_FILE_SIZE",
    "copy_source_code",
    "file_digest",
    "source_code_digest",
    "source_code_paths",
]

MAX_SOURCE_FILES = 100
MAX_SOURCE_FILE_SIZE = 1024 * 1024


def copy_source_code(project_dir, dest, main_path=None, exclude=()):
    """Copies the project's source files to `dest`; returns their paths.

    Like Guild's defaults: text files up to 1 MiB, at most 100 files,
    skipping hidden, cache, virtualenv and Guild folders. The main module
    is always copied. Folders in `exclude` (and run folders) are skipped.
    """
    paths = source_code_paths(project_dir, exclude)
    if main_path:
        main_rel = os.path.relpath(main_path, project_dir)
        if main_rel not in paths:
            paths.append(main_rel)
    os.makedirs(dest, exist_ok=True)
    for rel in paths:
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(project_dir, rel), target)
    return sorted(paths)


def source_code_paths(project_dir, exclude=()):
    exclude = {os.path.realpath(path) for path in exclude}
    paths = []
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(
            d for d in dirs if _is_source_dir(os.path.join(root, d), exclude)
        )
        for name in sorted(files):
            path = os.path.join(root, name)
            if _is_source_file(path):
                paths.append(os.path.relpath(path, project_dir))
                if len(paths) >= MAX_SOURCE_FILES:
                    log.warning(
                        "more than %i source files in %s; copying the first %i",
                        MAX_SOURCE_FILES,
                        project_dir,
                        MAX_SOURCE_FILES,
                    )
                    return paths
    return paths


def _is_source_dir(path, exclude):
    name = os.path.basename(path)
    return not (
        name.startswith(".")
        or name in ("__pycache__", "node_modules")
        or name.endswith(".egg-info")
        or os.path.islink(path)
        or os.path.exists(os.path.join(path, "pyvenv.cfg"))
        or os.path.exists(os.path.join(path, "bin", "activate"))
        or os.path.exists(os.path.join(path, ".guild-nocopy"))
        or os.path.isdir(os.path.join(path, ".guild"))
        or os.path.realpath(path) in exclude
    )


def _is_source_file(path):
    name = os.path.basename(path)
    if name.startswith(".") or name.endswith((".pyc", ".pyo")) or os.path.islink(path):
        return False
    try:
        if os.path.getsize(path) > MAX_SOURCE_FILE_SIZE:
            return False
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return _is_text(head)


def _is_text(head):
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at the end of the sample is still text.
        return e.start >= len(head) - 3 and e.reason == "unexpected end of data"
    return True


def source_code_digest(dir):
    """MD5 over the files under `dir`: relative path, NUL, bytes, NUL."""
    md5 = hashlib.md5()
    paths = []
    for root, _dirs, files in os.walk(dir):
        paths.extend(os.path.relpath(os.path.join(root, name), dir) for name in files)
    for rel in sorted(paths):
        md5.update(rel.replace(os.sep, "/").encode("utf-8"))
        md5.update(b"\x00")
        with open(os.path.join(dir, rel), "rb") as f:
            for block in iter(lambda: f.read(65536), b""):
                md5.update(block)
        md5.update(b"\x00")
    return md5.hexdigest()


def file_digest(path):
    """MD5 of a file's bytes (a guildfile's digest is its opref version)."""
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()
