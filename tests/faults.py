"""Hostile inputs for the fault tests, and the invariants every case checks."""

import os
import struct
import time
import zlib

from PIL import Image

from guild_tensorboard.monitor.own_files import OwnFiles
from guild_tensorboard.events.records import encode_record, masked_crc32c
from guild_tensorboard.monitor.runs_monitor import RunsMonitor

from run_snapshot import snapshot


class World:
    """A runs folder and a log directory under `root`, with before-snapshots
    of everything outside the log directory."""

    def __init__(self, root):
        self.root = str(root)
        self.runs_dir = os.path.join(self.root, "home", "runs")
        self.logdir = os.path.join(self.root, "logdir")
        os.makedirs(self.runs_dir, exist_ok=True)

    def freeze(self):
        self._before = self._outside_logdir()

    def _outside_logdir(self):
        logdir = os.path.relpath(self.logdir, self.root)
        return {
            path: entry
            for path, entry in snapshot(self.root).items()
            if path != logdir and not path.startswith(logdir + os.sep)
        }

    def check(self, monitor=None, good_runs=()):
        """The invariants: runs unchanged, nothing created outside the log
        directory, every run folder a direct child of it, good runs complete,
        and a started polling thread still alive."""
        assert self._outside_logdir() == self._before
        for name in os.listdir(self.logdir) if os.path.isdir(self.logdir) else ():
            assert os.path.isdir(os.path.join(self.logdir, name))
            assert os.path.dirname(os.path.join(self.logdir, name)) == self.logdir
        for run in good_runs:
            assert_complete(self.logdir, run)
        if monitor is not None and monitor._thread is not None:
            assert monitor.is_alive()


TOKEN = "0123456789abcdef"


def own_files(logdir):
    """The monitor's file writer for `logdir`, for tests of the parts below
    the monitor (which the monitor gives its log directory's token)."""
    return OwnFiles(str(logdir), TOKEN)


def monitor_for(world, runs, **kw):
    return RunsMonitor(world.logdir, lambda: list(runs), interval=0.05, **kw)


def exercise(monitor):
    """One pass by hand (nothing may raise out of it), then a few passes of
    the polling thread, which must stay alive."""
    monitor.run_once()
    monitor.start()
    try:
        time.sleep(0.3)
        assert monitor.is_alive()
    finally:
        monitor.stop()


def run_folders(logdir):
    """The names in a log directory but the monitor's marker folder."""
    return sorted(n for n in os.listdir(logdir) if not n.startswith(".guild-tensorboard-"))


def run_folder(logdir, run):
    [name] = [n for n in run_folders(logdir) if n.startswith(run.short_id)]
    return os.path.join(logdir, name)


def assert_complete(logdir, run):
    """A good run's folder: session ended, every file of the run (but its
    `.guild/` and source code) shown through a link, images summarized."""
    folder = run_folder(logdir, run)
    with open(os.path.join(folder, ".guild", "hparams")) as f:
        assert f.read().split()[0] == "end"
    for dirpath, _dirs, files in os.walk(run.dir):
        rel_dir = os.path.relpath(dirpath, run.dir)
        if rel_dir.split(os.sep)[0] == ".guild":
            continue
        for name in files:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            shown = os.path.join(folder, rel)  # a link, or in a folder linked whole
            assert os.path.realpath(shown) == os.path.realpath(os.path.join(run.dir, rel)), rel
    images = [n for n in os.listdir(run.dir) if n.endswith(".png")]
    if images:
        assert len(os.listdir(os.path.join(folder, ".images"))) == len(images)


def good_png(path, mode="RGB", size=(8, 6)):
    color = {"RGB": (0, 128, 255), "RGBA": (0, 128, 255, 100), "L": 90, "P": 3, "I;16": 40000, "CMYK": (10, 20, 30, 40)}[mode]
    img = Image.new(mode, size, color)
    img.save(path)


# Event files


def random_bytes_events(seed=1, size=4096):
    import random

    return random.Random(seed).randbytes(size)


def truncated_events(records):
    data = b"".join(encode_record(r) for r in records)
    return data[: len(data) - 7]


def huge_length_events(before, after):
    length = struct.pack("<Q", 2**62)
    header = length + struct.pack("<I", masked_crc32c(length))
    return b"".join(encode_record(r) for r in before) + header + b"junk" + b"".join(
        encode_record(r) for r in after
    )


def bad_crc_events(before, bad, after):
    record = bytearray(encode_record(bad))
    record[14] ^= 0xFF  # a byte of the data: its CRC no longer matches
    return b"".join(encode_record(r) for r in before) + bytes(record) + b"".join(
        encode_record(r) for r in after
    )


# Images


def png_header_only(width, height):
    """A PNG that claims `width` x `height` pixels: a decompression bomb."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
