"""Snapshots of a folder tree, to prove the monitor changed nothing in it.

Root can write anywhere, so read-only bits prove nothing: the snapshot
records every path with its type, size, mtime and link target.
"""

import os


def snapshot(root):
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            target = os.readlink(path) if os.path.islink(path) else None
            size = st.st_size if not os.path.isdir(path) or target else None
            entries[os.path.relpath(path, root)] = (st.st_mode, size, st.st_mtime_ns, target)
    return entries
