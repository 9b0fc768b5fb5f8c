"""A one-line progress bar for a long first monitor pass.

Drawn only on a terminal, and only once the work has taken `delay`
seconds, so a quick pass prints nothing. Redrawn at most every
`min_redraw` seconds; thread-safe.
"""

import threading
import time


class ProgressBar:
    def __init__(self, stream, label="", delay=1.0, width=30, min_redraw=0.1):
        self.stream = stream
        self.label = label
        self.delay = delay
        self.width = width
        self.min_redraw = min_redraw
        self.total = 0
        self.done = 0
        self._started = None
        self._drawn = None
        self._lock = threading.Lock()

    def start(self, total):
        with self._lock:
            self.total = total
            self.done = 0
            self._started = time.monotonic()

    def tick(self, n=1):
        with self._lock:
            self.done += n
            self._maybe_draw()

    def finish(self):
        """Draws the full bar and ends its line, when one was drawn."""
        with self._lock:
            if self._drawn is not None:
                self.done = self.total
                self._draw()
                self._write("\n")
            self._drawn = None

    def _maybe_draw(self):
        if self._started is None or not _is_tty(self.stream):
            return
        now = time.monotonic()
        if now - self._started < self.delay:
            return
        if self._drawn is not None and now - self._drawn < self.min_redraw:
            return
        self._drawn = now
        self._draw()

    def _draw(self):
        self._write("\r" + format_bar(self.label, self.done, self.total, self.width))

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass


def format_bar(label, done, total, width=30):
    """`label [#########.........]  300/1000 runs`"""
    done = min(done, total) if total else done
    filled = int(width * done / total) if total else 0
    bar = "#" * filled + "." * (width - filled)
    count = "%*i/%i runs" % (len(str(total)), done, total)
    return ("%s [%s] %s" % (label, bar, count)).lstrip()


def _is_tty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
