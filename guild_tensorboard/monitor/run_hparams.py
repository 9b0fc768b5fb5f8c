"""HParams sessions: the event files TensorBoard's HParams dashboard reads.

For each run the monitor writes, at the root of the run's folder:

- `events.out.tfevents.9999999998.hparams`: the session start (the run's
  flags and source digest as hparams, group `<short_id> <operation>`),
  preceded by the experiment in the legacy `logspec` form, and followed,
  when the run had already stopped, by the session end and the `time`
  metric (seconds from start to stop);
- `events.out.tfevents.9999999998.hparams.end`: the session end and the
  `time` metric, written once a run first seen running has stopped
  (TensorBoard keeps the first metadata of a tag in a run, so the end is
  written exactly once, final).

One file a run, two for a run first seen running: TensorBoard's data
server holds every event file open, so each file a run costs counts
against the open-files limit. The names sort after the run's own event
files. `.guild/hparams` records
what was written, so a monitor restarted on the same log directory carries
on where the last one stopped. What is recorded was written: a write that
fails (a full disk) raises, and the next pass writes it again.
"""

import functools
import logging
import os

from guild_tensorboard.runs import run_names
from guild_tensorboard.monitor import run_compare
from guild_tensorboard.events import summary

log = logging.getLogger("guild")

SESSION_FILE = "events.out.tfevents.9999999998.hparams"
SESSION_END_FILE = SESSION_FILE + ".end"
MARKER = os.path.join(".guild", "hparams")

ROOT_FILES = (SESSION_FILE, SESSION_END_FILE)

NOT_STOPPED = ("running", "pending", "staged")


class RunSession:
    """What has been written for one run's hparams session; `files` (a
    `guild_tensorboard.monitor.own_files.OwnFiles`) writes and reads the monitor's files."""

    __slots__ = ("run_logdir", "log_time", "files", "written")

    def __init__(self, run_logdir, log_time, files):
        self.run_logdir = run_logdir
        self.log_time = log_time
        self.files = files
        marker = files.read_marker(os.path.join(run_logdir, MARKER))
        self.written = marker if marker in ("start", "end") else ""

    def done(self):
        return self.written == "end"

    def event_files(self):
        """How many event files the session has now."""
        return {"": 0, "start": 1}.get(self.written, 1 + self._end_file_written())

    def _end_file_written(self):
        return os.path.lexists(os.path.join(self.run_logdir, SESSION_END_FILE))

    def refresh(self, run, status=None, experiment_cb=None):
        """Writes what is due for `run`, whose status (read when not given)
        is `status`."""
        if self.done():
            return
        if status is None:
            status = run.status
        stopped = status not in NOT_STOPPED
        times = _RunTimes(run)
        if not self.written:
            self._write_session(run, status, stopped, times, experiment_cb)
        elif self.written == "start" and stopped:
            self._write_session_end(status, times)

    def _write_session(self, run, status, stopped, times, experiment_cb):
        values = []
        if experiment_cb:
            values.append(summary.hparams_experiment_value(*experiment_cb()))
        values.append(
            summary.session_start_value(
                session_group_name(run), run_hparams(run), _secs(times.started)
            )
        )
        if stopped:
            values.extend(self._end_values(status, times))
        self._write(SESSION_FILE, values)
        self._mark("end" if stopped else "start")

    def _write_session_end(self, status, times):
        self._write(SESSION_END_FILE, self._end_values(status, times))
        self._mark("end")

    def _end_values(self, status, times):
        values = [summary.session_end_value(status, _secs(times.stopped))]
        started, stopped = times.started, times.stopped
        if self.log_time and _is_number(started) and _is_number(stopped):
            seconds = max(0.0, (stopped - started) / 1000000)
            values.append(summary.scalar_value("time", seconds))
        return values

    def _write(self, name, values):
        self.files.write_events(os.path.join(self.run_logdir, name), values)

    def _mark(self, written):
        marker = os.path.join(self.run_logdir, MARKER)
        self.files.make_dir(os.path.dirname(marker))
        self.files.write_marker(marker, written)
        self.written = written


class _RunTimes:
    """A run's `started` and `stopped` attrs, each read at most once."""

    def __init__(self, run):
        self._run = run

    @functools.cached_property
    def started(self):
        return self._run.get("started")

    @functools.cached_property
    def stopped(self):
        return self._run.get("stopped")


def session_group_name(run):
    return "%s %s" % (run_names.display_name(run.short_id), run_names.run_op_desc(run))


def run_hparams(run):
    """The run's flags plus `sourcecode` (the first 8 of its digest)."""
    flags = run.get("flags")
    if flags is None:
        flags = {}
    elif not isinstance(flags, dict):
        log.warning("run %s: flags are not a mapping; logging none", run.id)
        flags = {}
    hparams = {str(name): hparam_value(val) for name, val in flags.items()}
    digest = run.get("sourcecode_digest")
    if digest:
        hparams["sourcecode"] = str(digest)[:8]
    return hparams


def hparam_value(val):
    if isinstance(val, (str, bool, int, float)):
        return val
    return str(val)


def experiment_for_runs(runs, log_time):
    """`(hparams, metrics)` for Guild's experiment summary over `runs`:
    every value seen of every hparam, and the runs' metrics (see
    `guild_tensorboard.monitor.run_compare`), plus `time` when logged."""
    hparams = {}
    metrics = set()
    for run in runs:
        try:
            for name, val in run_hparams(run).items():
                hparams.setdefault(name, []).append(val)
            metrics.update(run_compare.run_metrics(run))
        except Exception as e:
            log.error("run %s: cannot read hparams or metrics: %s", run.id, e)
    if log_time:
        metrics.add(("", "time"))
    return hparams, sorted(metrics)


def _secs(usecs):
    return usecs / 1000000 if _is_number(usecs) else None


def _is_number(val):
    return isinstance(val, (int, float)) and not isinstance(val, bool)
