"""Output scalars: operation output lines like `loss: 0.1` logged as scalars.

Lines are matched as Guild matches them by default; `step: N` (or a
trailing `(step N)`) sets the step of the scalars that follow. The scalars
go to an event file written with `guild.summary.SummaryWriter`.
"""

import re

__all__ = ["OUTPUT_SCALAR", "OUTPUT_STEP", "OutputScalars", "output_scalars"]

# Guild's default output scalar patterns (`\key`, `\value`, `\step`), the
# value widened to a leading `+` and nan/inf.
_KEY = r"[^ \t]+"
_VALUE = r"(?:\+?[0-9.e\-]+|[-+]?(?i:nan|inf|infinity))"
OUTPUT_SCALAR = re.compile(r"^(%s):\s+(%s)(?:\s+\(.*\))?$" % (_KEY, _VALUE))
OUTPUT_STEP = re.compile(r"%s: +%s\s+\((?:step\s+)?([0-9]+)\)$" % (_KEY, _VALUE))


class OutputScalars:
    """Logs `key: value` output lines to an event file, created lazily."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.step = None
        self._writer = None

    def log_line(self, line):
        parsed = output_scalars(line)
        step = parsed.pop("step", None)
        if step is not None and step == step and abs(step) != float("inf"):
            self.step = int(step)
        for key, val in sorted(parsed.items()):
            self._ensure_writer().add_scalar(key, val, self.step)
            self._writer.flush()

    def _ensure_writer(self):
        if self._writer is None:
            from guild_tensorboard.events.summary import SummaryWriter

            self._writer = SummaryWriter(self.logdir)
        return self._writer

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def output_scalars(line):
    """The `{key: float}` scalars of an output line, as Guild matches them.

    `loss: 0.1` gives `{"loss": 0.1}`; `step: 2` gives `{"step": 2.0}`;
    `loss: 0.1 (step 2)` gives both.
    """
    line = line.rstrip()
    vals = {}
    m = OUTPUT_STEP.search(line)
    if m:
        vals["step"] = float(m.group(1))
    m = OUTPUT_SCALAR.match(line)
    if m:
        try:
            vals[m.group(1)] = float(m.group(2))
        except ValueError:
            pass
    return vals
