"""Image summaries kept on disk when the log directory is in memory.

The command puts its temporary log directory on tmpfs when it can: a log
directory is mostly folders and links, which cost microseconds each there
against up to a millisecond on a disk, thousands of times over in a first
pass. Image summaries are the one part of it that grows with the user's
data (a copy of each image version): they stay in memory up to a budget
(`memory_budget` bytes in all), and past it they go to a store on disk of
the monitor's own, linked into the run folder's `.images/`:

    <store>/<run id>.events.out.tfevents.<N>.image.<md5>
    <run folder>/.images/events.out.tfevents.<N>.image.<md5> -> that file

A summary is written whole in the store before it is linked, so
TensorBoard never sees half of one. The store holds only files carrying
the log directory's token.
"""

import os

from guild_tensorboard.monitor import own_files
from guild_tensorboard.monitor import run_links
from guild_tensorboard.runs.run_names import display_name


class ImageStore:
    def __init__(self, root, token, memory_budget=0):
        self.root = root
        self.files = own_files.OwnFiles(root, token)
        self.memory_left = memory_budget

    def takes(self, nbytes):
        """True when a summary of `nbytes` goes to the store (the memory
        budget is spent); else it is counted against the budget."""
        if nbytes <= self.memory_left:
            self.memory_left -= nbytes
            return False
        return True

    def write(self, run_id, name, values, mtime_ns):
        """Writes a summary of run `run_id` to the store; returns its path."""
        path = os.path.join(self.root, "%s.%s" % (display_name(run_id), name))
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
