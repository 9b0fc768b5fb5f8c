"""Keeping corrupt event files away from TensorBoard.

TensorBoard's loaders stop reading an event file at its first corrupt
record, and a record whose length field claims an absurd size under a
valid CRC makes both of them (the Python loader and the Rust data server)
try to allocate it and die. So the monitor checks every run event file it
shows, incrementally (only the bytes added since it last looked), in two
steps:

- the record lengths, when the file is first seen or grows: cheap (one
  header a record), and it catches what would kill TensorBoard;
- the CRCs of every record, a time budget each pass (`verify`), which
  finds the damage that would hide the rest of a file.

A damaged file is kept out of view: in its place the run folder gets
`<name>.repaired`, the file's good records, which the monitor appends to as
the file grows. Nothing is written to the run.
"""

import logging
import os
import time

from guild import event_files
from guild import records

log = logging.getLogger("guild")

REPAIRED_SUFFIX = ".repaired"


def is_event_file_name(name):
    return "tfevents" in name and not name.endswith(REPAIRED_SUFFIX)


def is_repaired_name(name):
    return "tfevents" in name and name.endswith(REPAIRED_SUFFIX)


class EventFileGuard:
    """Checks the event files shown in one run folder."""

    __slots__ = ("run_logdir", "_files")

    def __init__(self, run_logdir):
        self.run_logdir = run_logdir
        self._files = {}  # relpath in run_logdir -> _GuardedFile

    def check(self, event_files):
        """Scans what each of `{relpath: target}` gained since the last look;
        forgets files no longer there (and removes their repaired copies)."""
        for rel, target in event_files.items():
            guarded = self._files.get(rel)
            if guarded is None or guarded.target != target:
                guarded = self._files[rel] = _GuardedFile(target)
            guarded.scan()
        for rel in list(self._files):
            if rel not in event_files:
                self._files.pop(rel)
                self._remove_repaired(rel)

    def check_growth(self):
        """Scans what the files gained; True when one was newly found damaged."""
        return self._newly_damaged(lambda guarded: guarded.scan())

    def verify(self, deadline):
        """Verifies the CRCs of unverified records until `deadline` (a
        `time.monotonic()` value); True when a file was newly found damaged."""
        return self._newly_damaged(
            lambda guarded: guarded.verify() if time.monotonic() < deadline else None
        )

    def unverified(self):
        return any(guarded.unverified() for guarded in self._files.values())

    def _newly_damaged(self, check):
        newly = False
        for guarded in self._files.values():
            was_damaged = guarded.damaged
            check(guarded)
            newly = newly or (guarded.damaged and not was_damaged)
        return newly

    def damaged(self):
        return {rel for rel, guarded in self._files.items() if guarded.damaged}

    def write_repaired_copies(self):
        """Writes or extends the repaired copy of each damaged file. Call it
        once the folders that hold them are real folders, not links."""
        root = os.path.realpath(self.run_logdir)
        for rel, guarded in self._files.items():
            if not guarded.damaged:
                continue
            path = os.path.join(self.run_logdir, rel + REPAIRED_SUFFIX)
            expected_dir = os.path.join(root, os.path.dirname(rel)).rstrip(os.sep)
            if os.path.realpath(os.path.dirname(path)) != expected_dir:
                log.error("not writing %s: its folder is not the monitor's", path)
                continue
            guarded.update_repaired(path)

    def _remove_repaired(self, rel):
        try:
            os.unlink(os.path.join(self.run_logdir, rel + REPAIRED_SUFFIX))
        except OSError:
            pass


class _GuardedFile:
    """One event file: how far it was scanned and verified, and what its
    repaired copy holds."""

    __slots__ = ("target", "scanned", "damaged", "_verifier", "_repaired_reader")

    def __init__(self, target):
        self.target = target
        self.scanned = 0
        self.damaged = False
        self._verifier = records.RecordReader(target)
        self._repaired_reader = None  # reads good records for the copy

    def scan(self):
        if self.damaged:
            return
        try:
            size = os.stat(self.target).st_size
        except OSError:
            return
        if size < self.scanned:  # rewritten: start again
            self.scanned = 0
            self._verifier = records.RecordReader(self.target)
        if size > self.scanned:
            self.scanned, absurd = records.scan_lengths(self.target, self.scanned)
            if absurd:
                log.info(
                    "%s has a record length TensorBoard cannot read (at offset %i)",
                    self.target, self.scanned,
                )
                self.damaged = True

    def unverified(self):
        return not self.damaged and self._verifier.offset < self.scanned

    def verify(self):
        if self.unverified():
            self._verifier.skim()
            self.damaged = self._verifier.damaged

    def update_repaired(self, path):
        if self._repaired_reader is None or not os.path.exists(path):
            log.info("%s is damaged: TensorBoard reads its good records from %s", self.target, path)
            self._repaired_reader = records.RecordReader(self.target)
            event_files.write_records_file(path, list(self._repaired_reader.read_records()))
            return
        good = list(self._repaired_reader.read_records())
        if good:
            with open(path, "ab") as f:
                writer = records.RecordWriter(f)
                for data in good:
                    writer.write(data)
