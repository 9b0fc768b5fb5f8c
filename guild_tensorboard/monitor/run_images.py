"""Image summaries: the run's images, shown by TensorBoard's Images dashboard.

Each image the run wrote (not a linked input, not source code) gets an
event file in the run folder's `.images/`:

    .images/events.out.tfevents.<NNNNNNNNNN>.image.<md5 of the image's relative path>

`NNNNNNNNNN` counts up per run, so a folder read in name order gives the
summaries in the order written. An image gets a new file when its mtime is
newer than its latest summary; each summary file's own mtime is set to the
image's mtime when written, which is what the next pass compares, also
after a restart. At most `MAX_IMAGES` distinct images a run.

With an image store (`guild_tensorboard.monitor.image_store`: the log directory is in memory),
summaries past its memory budget are written there, and `.images/` holds
links to them.

A name that is not valid UTF-8 is the tag with its undecodable bytes
escaped (`h\\xf6st.png`); the digest is of the name's bytes. An image that
cannot be read gets one error for that version; one that cannot be
written (a full disk) is tried again at the next pass (`complete` is
False until then).
"""

import hashlib
import logging
import os
import re

from guild_tensorboard.events import summary
from guild_tensorboard.runs.run_names import display_name

log = logging.getLogger("guild")

IMAGES_DIR = ".images"
MAX_IMAGES = 100
IMAGE_EXTENSIONS = frozenset(
    (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
)

_SUMMARY_NAME = re.compile(r"^events\.out\.tfevents\.(\d{10})\.image\.([0-9a-f]{32})$")


def is_image_name(path):
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def is_image_summary_name(name):
    return _SUMMARY_NAME.match(name) is not None


def image_summary_name(index, digest):
    return "events.out.tfevents.%010d.image.%s" % (index, digest)


def image_path_digest(relpath):
    return hashlib.md5(os.fsencode(relpath)).hexdigest()


class RunImages:
    """The image summaries of one run folder."""

    __slots__ = (
        "run_dir", "run_id", "images_dir", "files", "store", "complete", "_images", "_latest",
        "_next_index", "_failed", "_seen", "_warned_limit",
    )

    def __init__(self, run_dir, run_logdir, files, store=None, run_id=None):
        self.run_dir = run_dir
        self.run_id = run_id or os.path.basename(run_dir)
        self.images_dir = os.path.join(run_logdir, IMAGES_DIR)
        self.files = files
        self.store = store
        self.complete = True
        self._images = ()  # relpaths of the run's images, at most MAX_IMAGES
        self._latest, self._next_index = _read_image_summaries(self.images_dir)
        self._failed = {}  # relpath -> mtime_ns of the version that failed
        self._seen = {}  # relpath -> mtime_ns at the last refresh
        self._warned_limit = False

    def summary_files(self):
        """How many image summary files the run's `.images/` holds."""
        return self._next_index

    def folders(self):
        """Run-relative folders holding the run's images."""
        return {os.path.dirname(relpath) for relpath in self._images}

    def watched(self):
        """`(path, mtime_ns)` of each image as last summarized (or found
        bad): a different mtime means the image changed."""
        watched = [
            (os.path.join(self.run_dir, relpath), mtime)
            for relpath, mtime in self._seen.items()
        ]
        return watched

    def refresh(self, run_files=None):
        """Summarizes each image that is new or modified; `run_files`, when
        given, are the run's files now (else those of the last call)."""
        if run_files is not None:
            self._images = self._find_images(run_files)
        seen = {}
        self.complete = True
        for relpath in self._images:
            try:
                mtime = os.stat(os.path.join(self.run_dir, relpath)).st_mtime_ns
            except OSError:
                continue
            seen[relpath] = mtime
            if not self._summary_is_current(relpath, mtime):
                self._summarize(relpath, mtime)
        self._seen = seen

    def _find_images(self, run_files):
        images = [path for path in run_files if is_image_name(path)]
        if len(images) > MAX_IMAGES:
            if not self._warned_limit:
                log.warning(
                    "%s has %d images; showing the first %d",
                    self.run_dir, len(images), MAX_IMAGES,
                )
                self._warned_limit = True
            images = images[:MAX_IMAGES]
        return tuple(images)

    def _summary_is_current(self, relpath, mtime):
        if self._failed.get(relpath) == mtime:
            return True
        latest = self._latest.get(image_path_digest(relpath))
        return latest is not None and mtime <= latest

    def _summarize(self, relpath, mtime):
        try:
            value = summary.image_value(display_name(relpath), os.path.join(self.run_dir, relpath))
        except Exception as e:
            log.error("image skipped: %s", e)
            self._failed[relpath] = mtime
            return
        self._failed.pop(relpath, None)
        digest = image_path_digest(relpath)
        name = image_summary_name(self._next_index, digest)
        path = os.path.join(self.images_dir, name)
        try:
            self.files.make_dir(self.images_dir)
            if self.store is None or not self.store.takes(len(value.image.encoded_image_string)):
                self.files.write_events(path, [value], mtime_ns=mtime)
            else:
                os.symlink(self.store.write(self.run_id, name, [value], mtime), path)
        except OSError as e:
            log.error("cannot write %s (tried again next pass): %s", path, e)
            self.complete = False
            return
        self._next_index += 1
        self._latest[digest] = mtime


def _read_image_summaries(images_dir):
    """`({digest: mtime_ns of its latest summary}, next index)` on disk."""
    latest = {}
    next_index = 0
    try:
        entries = list(os.scandir(images_dir))
    except OSError:
        return latest, next_index
    for entry in sorted(entries, key=lambda e: e.name):
        m = _SUMMARY_NAME.match(entry.name)
        if not m:
            continue
        try:
            latest[m.group(2)] = entry.stat().st_mtime_ns  # of the summary a link points to
        except OSError:
            continue
        next_index = max(next_index, int(m.group(1)) + 1)
    return latest, next_index
