"""Image summaries kept on disk when the log directory is in memory.

The command puts its temporary log directory on tmpfs when it can: a log
directory is mostly folders and links, which cost microseconds each there
against up to a millisecond on a disk, thousands of times over in a first
pass. Image summaries are the one part of it that grows with the user's
data (a copy of each image version), so those stay on disk, in a store of
the monitor's own, and the run folder's `.images/` holds links to them:

    <store>/<run id>/events.out.tfevents.<N>.image.<md5>
    <run folder>/.images/events.out.tfevents.<N>.image.<md5> -> that file

A summary is written whole in the store before it is linked, so
TensorBoard never sees half of one. The store is the monitor's: it holds
only files carrying the log directory's token.
"""

import os

from guild import own_files
from guild import run_links
from guild.run_names import display_name


class ImageStore:
    def __init__(self, root, token):
        self.root = root
        self.files = own_files.OwnFiles(root, token)

    def write(self, run_id, name, values, mtime_ns):
        """Writes a summary for run `run_id`; returns its path."""
        folder = os.path.join(self.root, display_name(run_id))
        self.files.make_dir(folder)
        path = os.path.join(folder, name)
        try:
            self.files.write_new_events(path, values, mtime_ns)
        except FileExistsError:  # left by a write cut short: ours to replace
            self.files.write_events(path, values, mtime_ns=mtime_ns)
        return path

    def holds(self, path):
        return path.startswith(self.root.rstrip(os.sep) + os.sep)

    def remove(self):
        """Removes the store: its files carrying the token, and the folders
        that leaves empty; returns the paths of what it left."""
        return run_links.remove_own_entries(self.root, lambda _target: False, self.files)
