"""The runs of a Guild home or runs directory: listing, selecting, filtering.

`RunsLister` lists a runs directory newest first. It is called on every
monitor pass, so a pass costs one `scandir` of the runs directory: what
never changes is kept per run id (the `Run` object, its `started` attr,
whether it is a batch run, a final status), and a steady pass reads no
attrs of runs it has seen before.

`RunsSource` is the monitor's `list_runs_cb`: the runs of a directory,
filtered (`RunFilter`: operation, label, status, batch runs), and restricted
to the runs that selectors named when it was created (`select_runs`: a full
id, an id prefix, a 1-based index in newest-first order, or a range of
indexes `START:END`).
"""

import datetime
import fnmatch
import logging
import os
import re

from guild_tensorboard.runs import filter_expr, filter_values, time_range
from guild_tensorboard.runs import run as runlib
from guild_tensorboard.runs import run_names
from guild_tensorboard.events.regular_files import open_regular

log = logging.getLogger("guild")

STATUSES = ("running", "completed", "error", "terminated", "pending", "staged")
FINAL_STATUSES = ("completed", "error", "terminated")

# Digits alone are an index; from this many on, the start of a run id (a
# short id, 8 hex digits, can be all decimal digits).
MIN_ID_PREFIX_DIGITS = 8
MAX_INFILE_BYTES = 16 << 20  # of a --runs-infile file


class RunsDirError(Exception):
    pass


class SelectError(Exception):
    pass


def default_guild_home():
    """`$GUILD_HOME`, else `~/.guild`."""
    return os.environ.get("GUILD_HOME") or os.path.join(os.path.expanduser("~"), ".guild")


def runs_dir_for(path=None):
    """The runs directory of a Guild home (its `runs/`) or a runs directory.

    `path` defaults to `default_guild_home()`. Raises `RunsDirError` when
    it is not a directory.
    """
    if path is None:
        path = default_guild_home()
    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(path):
        raise RunsDirError("%s does not exist: no Guild home or runs directory there" % path)
    if not os.path.isdir(path):
        raise RunsDirError("%s is not a directory: expected a Guild home or runs directory" % path)
    runs_dir = os.path.join(path, "runs")
    return runs_dir if os.path.isdir(runs_dir) else path


def no_runs_hint(runs_dir):
    """None when `runs_dir` holds a run (a folder with `.guild/opref`);
    else one line saying so, and what was probably meant."""
    try:
        with os.scandir(runs_dir) as it:
            for entry in it:
                if os.path.isfile(os.path.join(entry.path, ".guild", "opref")):
                    return None
    except OSError:
        return None
    project_home = os.path.join(runs_dir, ".guild")
    if os.path.isdir(os.path.join(project_home, "runs")):
        meant = "; its Guild home is %s (a project's .guild)" % project_home
    elif os.path.basename(runs_dir) != "runs":
        meant = "; a Guild home holds runs/, the default is $GUILD_HOME, else ~/.guild"
    else:
        meant = ""
    return "no runs in %s%s" % (runs_dir, meant)


class RunInfo:
    """What the lister knows of one run; the parts that never change are
    read once."""

    __slots__ = ("run", "started", "initialized", "batch", "final_status", "_op_desc", "_memo")

    def __init__(self, run):
        self.run = run
        self.started = None
        self.initialized = None
        self.batch = False
        self.final_status = None
        self._op_desc = None
        self._memo = {}  # key -> (signature, value)
        self.read_start_attrs()

    def read_start_attrs(self):
        """Reads `started` (else `initialized`, a staged run's time) and
        the batch marker; all are set once a run starts, so they are read
        again only while `started` is missing."""
        self.started = read_started(self.run)
        if self.started is None:
            self.initialized = read_started(self.run, "initialized")
        self.batch = os.path.exists(self.run.guild_path("proto"))

    def sort_key(self):
        started = self.started if self.started is not None else self.initialized
        if started is None:
            try:
                started = os.stat(self.run.dir).st_mtime_ns // 1000
            except OSError:
                started = 0
        return started, self.run.id

    def op_desc(self):
        """`[model:]op` (`train+` for a batch run); neither the opref nor a
        batch prototype changes, so it is read once."""
        if self._op_desc is None:
            self._op_desc = run_names.run_op_desc(self.run)
        return self._op_desc

    def status(self):
        """The run's status; kept once it is final (an exit status is
        recorded), read afresh while it is not."""
        if self.final_status:
            return self.final_status
        status = runlib.run_status(self.run)
        if status in FINAL_STATUSES and os.path.exists(
            self.run.guild_path("attrs", "exit_status")
        ):
            self.final_status = status
        return status

    def label(self):
        """The run's label, `""` when it has none."""
        label = self.attr("label")
        return "" if label is None else str(label)

    def attr(self, name):
        """The run's attr `name` (None when missing or unreadable); read
        again only when its file changed (a label, tags, a mark change
        while the run is listed), so a pass costs a `stat` a filter."""
        path = self.run.guild_path("attrs", name)
        try:
            st = os.stat(path)
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            sig = None
        return self.memo(("attr", name), sig, lambda: _read_attr(self.run, name) if sig else None)

    def memo(self, key, sig, compute):
        """`compute()`, kept under `key` while `sig` (a signature of what it
        reads) is unchanged."""
        cached = self._memo.get(key)
        if cached is not None and cached[0] == sig:
            return cached[1]
        val = compute()
        self._memo[key] = (sig, val)
        return val


def read_started(run, name="started"):
    """The run's `started` attr (or `name`), an int, or None. Guild writes it as a YAML
    integer (`1700000000000000`, then `...` from PyYAML), read here without
    a YAML parser (the first pass reads it for every run); anything else
    goes through the attr reader."""
    try:
        with open_regular(run.guild_path("attrs", name)) as f:
            parts = f.read(64).split()
    except OSError:
        return None
    if len(parts) in (1, 2) and parts[0].isdigit() and parts[1:] in ([], [b"..."]):
        return int(parts[0])
    started = run.get(name)
    if isinstance(started, int) and not isinstance(started, bool):
        return started
    return None


class RunsLister:
    """Lists the runs of `runs_dir`, newest first, one `scandir` a call.

    While the runs directory's mtime is unchanged (no run added or removed)
    and every run's start is known, a call returns the last list without
    listing the directory.
    """

    def __init__(self, runs_dir):
        self.runs_dir = runs_dir
        self._infos = {}  # run id -> RunInfo
        self._sorted = None  # the last list, while it is current
        self._dir_sig = None
        self._unsettled = False

    def __call__(self):
        return [info.run for info in self.infos()]

    def infos(self):
        """`RunInfo` of every run in the directory now, newest first."""
        try:
            st = os.stat(self.runs_dir)
            dir_sig = (st.st_mtime_ns, st.st_ino)
        except OSError:
            dir_sig = None
        if dir_sig is not None and dir_sig == self._dir_sig and self._sorted is not None:
            return self._sorted
        self._unsettled = False
        try:
            with os.scandir(self.runs_dir) as entries:
                infos = {}
                for entry in entries:
                    info = self._info(entry)
                    if info is not None:
                        infos[entry.name] = info
        except FileNotFoundError:
            infos = {}
        except OSError as e:
            log.error("cannot list runs in %s: %s", self.runs_dir, e)
            return sorted(self._infos.values(), key=RunInfo.sort_key, reverse=True)
        self._infos = infos
        ordered = sorted(infos.values(), key=RunInfo.sort_key, reverse=True)
        settled = not self._unsettled and all(info.started is not None for info in ordered)
        self._sorted = ordered if settled else None
        self._dir_sig = dir_sig
        return ordered

    def _info(self, entry):
        info = self._infos.get(entry.name)
        if info is not None:
            if info.started is None:
                info.read_start_attrs()
            return info
        if entry.name.startswith(".") or not _is_dir(entry):
            return None
        if not os.path.isdir(os.path.join(entry.path, ".guild")):
            self._unsettled = True  # a run being created: look again next call
            return None
        return RunInfo(runlib.Run(entry.name, entry.path))


def _is_dir(entry):
    try:
        return entry.is_dir()
    except OSError:
        return False


class RunFilter:
    """Which runs to show, with the semantics of Guild 0.9.0's run filters
    (`guild runs`); each kind given must match, and within a kind any of
    its values:

    `operations`: runs whose `[model:]op` matches any of them as an
    operation spec or a regular expression (`operation_matches`);
    `labels`: runs whose label contains any of them (`-`: no label);
    `unlabeled`: runs without a label (either matches when both are given);
    `tags`: runs with any of these tags; `comments`: runs with a comment
    whose user, host or text contains any of them, case aside (`-`: no
    comments); `marked`: True for marked runs, False for unmarked ones;
    `digest`: runs whose source code digest starts with it; `statuses`:
    runs with any of these statuses; `not_statuses`: runs with none of
    them; `started`: runs started in a time range (`time_range`, relative
    to the time of each call); `expr`: runs that pass a filter expression
    (`filter_expr`); batch runs (a `.guild/proto` folder) only with
    `include_batch`. A bad range or expression raises ValueError.
    """

    def __init__(
        self, operations=(), labels=(), unlabeled=False, statuses=(), include_batch=False,
        not_statuses=(), tags=(), comments=(), marked=None, digest=None, started=None,
        expr=None,
    ):
        self.operations = tuple(operations or ())
        self.labels = tuple(labels or ())
        self.unlabeled = unlabeled
        self.statuses = frozenset(statuses or ())
        self.not_statuses = frozenset(not_statuses or ())
        self.tags = tuple(tags or ())
        self.comments = tuple(comment.lower() for comment in comments or ())
        self.marked = marked
        self.digest = digest
        self.include_batch = include_batch
        unknown = (self.statuses | self.not_statuses).difference(STATUSES)
        if unknown:
            raise ValueError("unknown run status %s" % ", ".join(sorted(unknown)))
        self.started_range = time_range.parse(started) if started else None
        self.expr = filter_expr.parse(expr) if expr else None

    def __call__(self, infos):
        started = self.started_range(datetime.datetime.now()) if self.started_range else None
        return [info for info in infos if self.matches(info, started)]

    def matches(self, info, started=None):
        """Whether `info` passes; `started`, the `(start, end)` of the
        time range now."""
        if info.batch and not self.include_batch:
            return False
        if self.operations and not _matches_operation(info, self.operations):
            return False
        if (self.labels or self.unlabeled) and not _matches_label(
            info, self.labels, self.unlabeled
        ):
            return False
        if (self.statuses or self.not_statuses) and not self._matches_status(info.status()):
            return False
        if self.tags and not _matches_tags(info, self.tags):
            return False
        if self.comments and not _matches_comments(info, self.comments):
            return False
        if self.marked is not None and bool(info.attr("marked")) != self.marked:
            return False
        if self.digest and not str(info.attr("sourcecode_digest") or "").startswith(self.digest):
            return False
        if started and not _started_in(info, *started):
            return False
        if self.expr and not self.expr(filter_values.RunValues(info)):
            return False
        return True

    def _matches_status(self, status):
        if self.statuses and status not in self.statuses:
            return False
        return status not in self.not_statuses


def _started_in(info, start, end):
    """Whether the run started (else was initialized) in `[start, end)`,
    to the second, local time, as Guild compares."""
    ts = info.started if info.started is not None else info.initialized
    if not ts:
        return False
    try:
        started = datetime.datetime.fromtimestamp(ts // 1000000)
    except (OverflowError, OSError, ValueError):
        return False
    return (start is None or started >= start) and (end is None or started < end)


def _matches_operation(info, operations):
    desc = info.op_desc()
    return any(operation_matches(ref, desc) for ref in operations)


def operation_matches(ref, desc):
    """Whether `-Fo REF` matches a run's `[model:]op` as in Guild 0.9.0:
    a regular expression searched when REF starts with `^` or ends with
    `$`; else an operation spec, `[[package/]model:]op`, each part given
    equal to the run's (or a glob when it holds `*`)."""
    if ref.startswith("^") or ref.endswith("$"):
        try:
            return re.search(ref, desc) is not None
        except re.error:
            return False
    return all(
        _opspec_part_matches(ref_part, part)
        for ref_part, part in zip(_opspec_parts(ref), _opspec_parts(desc))
    )


def _opspec_parts(spec):
    """`(package, model, op)` of `[[package/]model:]op`; all None when
    `spec` is not one (so it matches any run, as in Guild)."""
    if not spec:
        return None, None, None
    if "/" not in spec and ":" not in spec:
        return None, None, spec
    m = re.match(r"([^/:]*):([^/:]+)$", spec) or re.match(r"([^/:]*/[^/:?]*):([^/:]+)$", spec)
    if not m:
        m = re.match(r"([^/:]+/):?([^/:]+)$", spec)
    if not m:
        return None, None, None
    model, op = m.groups()
    if model and "/" in model:
        package, model = model.split("/", 1)
        return package, model, op
    return None, model, op


def _opspec_part_matches(ref, part):
    if not ref:
        return True
    if not part:
        return False
    if "*" in ref:
        return fnmatch.fnmatch(part, ref)
    return ref == part


def _matches_label(info, labels, unlabeled):
    label = info.label().strip()
    if unlabeled and not label:
        return True
    return any((not label) if part == "-" else part in label for part in labels)


def _read_attr(run, name):
    try:
        return run.get(name)
    except Exception as e:  # a damaged attr: the run has no such value
        log.debug("cannot read attr %s of run %s: %s", name, run.id, e)
        return None


def _matches_tags(info, tags):
    run_tags = info.attr("tags")
    if not isinstance(run_tags, (list, tuple)):
        run_tags = []
    return any(tag in run_tags for tag in tags)


def _matches_comments(info, comments):
    text = _comments_text(info.attr("comments"))
    return any((not text) if val == "-" else val in text for val in comments)


def _comments_text(comments):
    """What a comment filter searches: each comment's user, host and text,
    lower case, one per line."""
    if not isinstance(comments, list):
        return ""
    lines = []
    for comment in comments:
        if isinstance(comment, dict):
            lines.extend(str(comment.get(key) or "").lower() for key in ("user", "host", "body"))
    return "\n".join(lines)


def select_runs(infos, selectors):
    """The runs among `infos` (newest first) that `selectors` name.

    A selector is a 1-based index, a range `START:END` (either may be
    omitted; END is included), a full run id or the start of one (digits
    alone are an index when fewer than 8, else an id prefix). Raises
    `SelectError` when one names no run or a prefix names several.
    """
    infos = list(infos)
    selected = {}
    for selector in selectors:
        for info in _select(infos, str(selector).strip()):
            selected[info.run.id] = info
    return [info for info in infos if info.run.id in selected]


def _select(infos, selector):
    if not selector:
        raise SelectError("empty run selector")
    index_range = _index_range(selector)
    if index_range is not None:
        start, end = index_range
        if start < 1 or start > len(infos) or end < start:
            raise SelectError("no run at index %s (%s)" % (selector, _count_runs(infos)))
        return infos[start - 1:end]
    exact = [info for info in infos if info.run.id == selector]
    if exact:
        return exact
    matches = [info for info in infos if info.run.id.startswith(selector)]
    if not matches:
        raise SelectError("no run matches '%s'" % selector)
    if len(matches) > 1:
        raise SelectError(
            "'%s' matches %i runs; give more of the run id" % (selector, len(matches))
        )
    return matches


def _count_runs(infos):
    n = len(infos)
    return "there is 1 run" if n == 1 else "there are %i runs" % n


def _index_range(selector):
    """`(start, end)` for `N`, `N:M`, `N:`, `:M`; None when not an index."""
    if ":" in selector:
        start, _, end = selector.partition(":")
        if not all(part.isdigit() or not part for part in (start, end)):
            return None
        start = int(start) if start else 1
        end = int(end) if end else 1 << 62
        return start, end
    if selector.isdigit() and len(selector) < MIN_ID_PREFIX_DIGITS:
        n = int(selector)
        return n, n
    return None


class RunsSource:
    """A monitor's `list_runs_cb`: the filtered runs of `runs_dir`, newest
    first, limited to those `selectors` named when this was created.

    Selectors are resolved once, so an index keeps meaning the run it named
    at start; filters apply on every call (a status changes).
    """

    def __init__(self, runs_dir, selectors=(), run_filter=None):
        self.runs_dir = runs_dir
        self.lister = RunsLister(runs_dir)
        self.run_filter = run_filter or RunFilter()
        self.selected_ids = None
        if selectors:
            infos = self.run_filter(self.lister.infos())
            self.selected_ids = frozenset(info.run.id for info in select_runs(infos, selectors))

    def __call__(self):
        return [info.run for info in self.infos()]

    def most_runs(self):
        """An upper bound of the runs listed, without reading any: the
        entries of the runs directory (or the runs selected)."""
        return len(self.run_dirs())

    def run_dirs(self):
        """The folders of every run this may list, and maybe more, without
        reading any: the runs directory's entries (or the runs selected)."""
        if self.selected_ids is not None:
            return [os.path.join(self.runs_dir, run_id) for run_id in self.selected_ids]
        try:
            with os.scandir(self.runs_dir) as it:
                return [entry.path for entry in it]
        except OSError:
            return []

    def infos(self):
        infos = self.lister.infos()
        if self.selected_ids is not None:
            infos = [info for info in infos if info.run.id in self.selected_ids]
        return self.run_filter(infos)


class RunsInfile:
    """A monitor's `list_runs_cb` for Guild's `--runs-infile`: the runs
    whose ids a file lists (whitespace-separated), read again on every
    call, in its order; ids of no run (no `.guild/opref` in the runs
    directory) and a missing file list nothing."""

    def __init__(self, runs_dir, path):
        self.runs_dir = runs_dir
        self.path = path
        self._runs = {}

    def __call__(self):
        try:
            with open_regular(self.path) as f:
                ids = f.read(MAX_INFILE_BYTES).decode("utf-8", "replace").split()
        except OSError:
            return []
        runs = []
        for run_id in dict.fromkeys(ids):
            run = self._run(run_id)
            if run is not None:
                runs.append(run)
        return runs

    def most_runs(self):
        return len(self())

    def _run(self, run_id):
        path = os.path.join(self.runs_dir, run_id)
        if "/" in run_id or run_id.startswith(".") or not os.path.isfile(
            os.path.join(path, ".guild", "opref")
        ):
            return None
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = runlib.Run(run_id, path)
        return run

