"""Keeping corrupt event files away from TensorBoard.

TensorBoard's loaders stop reading an event file at its first corrupt
record, and a record whose length field claims an absurd size under a
valid CRC makes both of them (the Python loader and the Rust data server)
try to allocate it and die. So the monitor checks every run event file it
shows, incrementally (only the bytes added since it last looked), in two
steps:

- the record lengths, when the file is first seen or grows: cheap (one
  header a record), and it catches what would kill TensorBoard;
- the CRCs of every record's data, in a time budget each pass (`verify`),
  which finds the damage that would hide the rest of a file.

Both steps stop at a deadline and go on at the next pass, inside a file
too, so no file, whatever its size or content, holds a pass up for long.

A damaged file is kept out of view: in its place the run folder gets
`<name>.repaired`, the file's good records after the monitor's own first
event, which the monitor appends to as the file grows (a slice a pass).
Nothing is written to the run.
"""

import logging
import os
import time

from guild_tensorboard.events import records

log = logging.getLogger("guild")

REPAIRED_SUFFIX = ".repaired"

# Time one look at a run's event files may take; what is left is checked in
# the monitor's background budget, at the next passes.
SCAN_SECONDS = 0.05

# Bytes of good records copied to a repaired copy in one write.
_COPY_BATCH_BYTES = 4 * 1024 * 1024


def is_event_file_name(name):
    return "tfevents" in name


def is_repaired_name(name):
    return "tfevents" in name and name.endswith(REPAIRED_SUFFIX)


class EventFileGuard:
    """Checks the event files shown in one run folder; `files` (a
    `guild_tensorboard.monitor.own_files.OwnFiles`) writes the repaired copies."""

    __slots__ = ("run_logdir", "files", "_files")

    def __init__(self, run_logdir, files):
        self.run_logdir = run_logdir
        self.files = files
        self._files = {}  # relpath in run_logdir -> _GuardedFile

    def check(self, event_files):
        """Scans what each of `{relpath: target}` gained since the last look
        (for `SCAN_SECONDS` in all; what is left is scanned by `verify`);
        forgets files no longer there (and removes their repaired copies)."""
        deadline = _deadline()
        for rel, target in event_files.items():
            guarded = self._files.get(rel)
            if guarded is None or guarded.target != target:
                guarded = self._files[rel] = _GuardedFile(target)
            guarded.scan(deadline)
        for rel in list(self._files):
            if rel not in event_files:
                self._files.pop(rel)
                self._remove_repaired(rel)

    def check_growth(self):
        """Scans what the files gained (for `SCAN_SECONDS` in all); True
        when one was newly found damaged."""
        deadline = _deadline()
        return self._newly_damaged(lambda guarded: guarded.scan(deadline))

    def verify(self, deadline):
        """Scans and verifies the records not yet checked, until `deadline`
        (a `time.monotonic()` value); True when a file was newly found
        damaged."""
        return self._newly_damaged(
            lambda guarded: guarded.verify(deadline) if time.monotonic() < deadline else None
        )

    def unverified(self):
        """True while a file has records not yet checked, or a repaired
        copy not yet caught up."""
        return any(guarded.pending() for guarded in self._files.values())

    def _newly_damaged(self, check):
        newly = False
        for guarded in self._files.values():
            was_damaged = guarded.damaged
            check(guarded)
            newly = newly or (guarded.damaged and not was_damaged)
        return newly

    def damaged(self):
        return {rel for rel, guarded in self._files.items() if guarded.damaged}

    def write_repaired_copies(self, deadline=None):
        """Writes or extends (until `deadline`, else a slice) the repaired
        copy of each damaged file; returns how many it could not write.
        Call it once the folders that hold them are real folders, not links."""
        failures = 0
        deadline = deadline or _deadline()
        for rel, guarded in self._files.items():
            if guarded.damaged:
                path = os.path.join(self.run_logdir, rel + REPAIRED_SUFFIX)
                try:
                    guarded.update_repaired(path, self.files, deadline)
                except OSError as e:
                    log.error("cannot write %s: %s", path, e)
                    failures += 1
        return failures

    def _remove_repaired(self, rel):
        path = os.path.join(self.run_logdir, rel + REPAIRED_SUFFIX)
        if self.files.is_own_file(path):
            try:
                os.unlink(path)
            except OSError:
                pass


def _deadline():
    return time.monotonic() + SCAN_SECONDS


class _GuardedFile:
    """One event file: how far it was scanned and verified, and what its
    repaired copy holds."""

    __slots__ = (
        "target", "scanned", "scan_paused", "damaged", "_verifier", "_repaired_reader",
    )

    def __init__(self, target):
        self.target = target
        self.scanned = 0
        self.scan_paused = False
        self.damaged = False
        self._verifier = records.RecordReader(target)
        self._repaired_reader = None  # reads good records for the copy

    def scan(self, deadline):
        if self.damaged:
            return
        try:
            size = os.stat(self.target).st_size
        except OSError:
            return
        if size < self.scanned:  # rewritten: start again
            self.scanned = 0
            self._verifier = records.RecordReader(self.target)
        if size > self.scanned or self.scan_paused:
            if time.monotonic() >= deadline:
                self.scan_paused = True  # no time left this look
                return
            self.scanned, result = records.scan_lengths(self.target, self.scanned, deadline)
            self.scan_paused = result == records.SCAN_PAUSED
            if result == records.SCAN_DAMAGED:
                log.info(
                    "%s has a record header TensorBoard cannot read (at offset %i)",
                    self.target, self.scanned,
                )
                self.damaged = True

    def unverified(self):
        return not self.damaged and (self.scan_paused or self._verifier.offset < self.scanned)

    def pending(self):
        if self.damaged:
            reader = self._repaired_reader
            return reader is None or not reader.at_end
        return self.unverified()

    def verify(self, deadline):
        if self.scan_paused:
            self.scan(deadline)
        if self.unverified():
            self._verifier.skim(deadline)
            self.damaged = self._verifier.damaged

    def update_repaired(self, path, files, deadline):
        if self._repaired_reader is None or not os.path.lexists(path):
            log.info("%s is damaged: TensorBoard reads its good records from %s", self.target, path)
            self._repaired_reader = records.RecordReader(self.target)
            batch = _next_batch(self._repaired_reader, deadline)
            files.write_events(path, datas=batch)
        for batch in _batches(self._repaired_reader, deadline):
            files.append_records(path, batch)


def _batches(reader, deadline):
    while time.monotonic() < deadline:
        batch = _next_batch(reader, deadline)
        if not batch:
            return
        yield batch


def _next_batch(reader, deadline):
    """Good records from where `reader` is, up to `_COPY_BATCH_BYTES`."""
    batch = []
    size = 0
    it = reader.read_records(deadline)
    try:
        for data in it:
            batch.append(data)
            size += len(data)
            if size >= _COPY_BATCH_BYTES:
                break
    finally:
        it.close()
    return batch
