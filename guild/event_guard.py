"""Keeping corrupt event files away from TensorBoard.

TensorBoard's loaders stop reading an event file at its first corrupt
record, and a record whose length field claims an absurd size under a
valid CRC makes both of them (the Python loader and the Rust data server)
try to allocate it and die. So the monitor reads every run event file it
would link, incrementally (only the bytes added since it last looked). A
file with a corrupt region is not linked: in its place the run folder gets
`<name>.repaired`, the file's good records, which the monitor appends to as
the file grows. Nothing is written to the run.
"""

import logging
import os

from guild import event_files
from guild import records

log = logging.getLogger("guild")

REPAIRED_SUFFIX = ".repaired"


def is_event_file_name(name):
    return "tfevents" in name and not name.endswith(REPAIRED_SUFFIX)


def is_repaired_name(name):
    return "tfevents" in name and name.endswith(REPAIRED_SUFFIX)


class EventFileGuard:
    """Screens the event files a run folder links to."""

    def __init__(self, run_logdir):
        self.run_logdir = run_logdir
        self._files = {}  # relpath in run_logdir -> _GuardedFile

    def screen(self, links):
        """Returns `links` without the damaged event files, whose repaired
        copies it writes or extends."""
        screened = {}
        seen = set()
        for rel, target in links.items():
            if not is_event_file_name(os.path.basename(rel)):
                screened[rel] = target
                continue
            seen.add(rel)
            guarded = self._guarded(rel, target)
            guarded.read_new_records()
            if not guarded.damaged:
                screened[rel] = target
        self._forget_files_not_in(seen)
        return screened

    def check_growth(self):
        """Reads what the event files gained since the last look; returns
        True when a file was newly found damaged (its link must go)."""
        newly_damaged = False
        for rel, guarded in self._files.items():
            was_damaged = guarded.damaged
            guarded.read_new_records()
            if guarded.damaged and not was_damaged:
                _unlink_link(os.path.join(self.run_logdir, rel))
                newly_damaged = True
        return newly_damaged

    def _guarded(self, rel, target):
        guarded = self._files.get(rel)
        if guarded is None or guarded.target != target:
            guarded = _GuardedFile(target, os.path.join(self.run_logdir, rel + REPAIRED_SUFFIX))
            self._files[rel] = guarded
        return guarded

    def _forget_files_not_in(self, rels):
        for rel in list(self._files):
            if rel not in rels:
                self._files.pop(rel).remove_repaired()


class _GuardedFile:
    """One event file: how far it was checked, and its repaired copy."""

    def __init__(self, target, repaired_path):
        self.target = target
        self.repaired_path = repaired_path
        self._reader = records.RecordReader(target)
        self.damaged = False
        self._repaired_reader = None

    def read_new_records(self):
        try:
            size = os.stat(self.target).st_size
        except OSError:
            return
        if size == self._offset():
            return
        if self.damaged:
            self._extend_repaired()
            return
        for _ in self._reader.read_records():
            pass
        if self._reader.damaged:
            self.damaged = True
            self._write_repaired()

    def _offset(self):
        reader = self._repaired_reader if self.damaged else self._reader
        return reader.offset

    def _write_repaired(self):
        log.info(
            "%s is damaged: TensorBoard reads its good records from %s",
            self.target, self.repaired_path,
        )
        self._repaired_reader = records.RecordReader(self.target)
        good = list(self._repaired_reader.read_records())
        os.makedirs(os.path.dirname(self.repaired_path), exist_ok=True)
        event_files.write_records_file(self.repaired_path, good)

    def _extend_repaired(self):
        good = list(self._repaired_reader.read_records())
        if not good:
            return
        with open(self.repaired_path, "ab") as f:
            writer = records.RecordWriter(f)
            for data in good:
                writer.write(data)

    def remove_repaired(self):
        if self.damaged:
            try:
                os.unlink(self.repaired_path)
            except OSError:
                pass


def _unlink_link(path):
    if os.path.islink(path):
        try:
            os.unlink(path)
        except OSError:
            pass
