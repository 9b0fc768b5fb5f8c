"""One monitor measurement, in a process of its own (so peak RSS is its own).

Run by bench_monitor.py; prints one JSON object on its last line of stdout.

    python bench/monitor_worker.py --impl ours    HOME [options]
    /tmp/guild09-venv/bin/python bench/monitor_worker.py --impl guild09 HOME [options]

`--impl ours` imports this repo's `guild` package; `--impl guild09` imports
Guild 0.9.0's, from the interpreter's own site-packages (this file puts
nothing on sys.path for it, and uses only the standard library itself).

The measurement, on a fresh log directory:
  first     one `run_once()` on the empty log directory
  steady    `--steady` more passes with nothing changed (median, min, max)
  change    1% of the runs (at least one) gain a file in a nested folder
            (`data/a/bench-new-<n>.txt`), one of them also a file at its root
            and a new image in `data/a/`, and one run's image gets a new
            mtime; then one pass. `picked_up` says what that pass showed: the
            nested files visible in the run folders, the root file linked,
            the new image and the touched one summarized
The home is put back afterwards: new files removed, image mtime restored.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_py_spy_exe = None
REPO = os.path.dirname(HERE)


def parse_args(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("home", help="Guild home made by make_guild_home.py")
    p.add_argument("--impl", choices=("ours", "guild09"), required=True)
    p.add_argument("--lister", default="auto", choices=("auto", "runs_dir", "test"),
                   help="ours: list_runs_cb (auto: guild.runs_dir when present)")
    p.add_argument("--steady", type=int, default=5, help="steady passes")
    p.add_argument("--change-fraction", type=float, default=0.01)
    p.add_argument("--max-catch-up", type=int, default=30,
                   help="passes to run after a change pass that missed something")
    p.add_argument("--logdir-root", default=None)
    p.add_argument("--keep-logdir", action="store_true")
    p.add_argument("--profile", metavar="PREFIX",
                   help="write cProfile stats of the first, a steady and the "
                   "change pass to PREFIX-{first,steady,change}.prof")
    p.add_argument("--py-spy", metavar="EXE",
                   help="with --profile: sample all threads with this py-spy "
                   "instead of cProfile (which sees only the main thread), "
                   "writing collapsed stacks to PREFIX-{first,steady,change}.txt; "
                   "the steady profile covers --steady passes")
    p.add_argument("--tracemalloc", type=int, metavar="N", default=0,
                   help="trace allocations; report the N largest sites live "
                   "after the first and a steady pass (slows the passes)")
    return p.parse_args(argv)


def vm_hwm_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def vm_rss_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def tree_id(package_dir):
    """An id of the code measured: md5 of the package's .py files."""
    import hashlib

    md5 = hashlib.md5()
    for name in sorted(os.listdir(package_dir)):
        if name.endswith(".py"):
            with open(os.path.join(package_dir, name), "rb") as f:
                md5.update(name.encode() + b"\0" + f.read())
    return md5.hexdigest()[:12]


def make_monitor(impl, home, logdir, lister):
    runs_dir = os.path.join(home, "runs")
    if impl == "ours":
        sys.path.insert(0, REPO)
        from guild_tensorboard.monitor import runs_monitor as tensorboard

        cb, lister_name = _our_lister(runs_dir, lister)
        return tensorboard.RunsMonitor(logdir, cb), lister_name, tensorboard.__file__
    os.environ["GUILD_HOME"] = home
    from guild_tensorboard.monitor import runs_monitor as tensorboard
    from guild import var

    def list_runs():
        # What `guild tensorboard` lists with no filters (runs_impl.filtered_runs).
        return var.runs(runs_dir, sort=["-timestamp"])

    return (
        tensorboard.RunsMonitor(logdir, list_runs),
        "guild.var.runs(sort=-timestamp)",
        tensorboard.__file__,
    )


def _our_lister(runs_dir, lister):
    if lister in ("auto", "runs_dir"):
        try:
            from guild_tensorboard.runs import runs_dir as runs_dir_lib
        except ImportError:
            if lister == "runs_dir":
                raise
        else:
            return runs_dir_lib.RunsSource(runs_dir), "guild.runs_dir.RunsSource"
    from guild_tensorboard.runner import harness as _test

    return (lambda: _test.list_runs(runs_dir)), "guild_tensorboard.runner.harness.list_runs"


class PySpy:
    """py-spy sampling this process while a `with` block runs."""

    def __init__(self, exe, out):
        self.exe = exe
        self.out = out

    def __enter__(self):
        import subprocess

        self.proc = subprocess.Popen(
            [self.exe, "record", "--pid", str(os.getpid()), "--rate", "200",
             "--format", "raw", "--threads", "--nonblocking", "-o", self.out],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        time.sleep(1.5)  # let it attach
        return self

    def __exit__(self, *exc):
        import signal

        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)


def timed_pass(monitor, profile_path=None):
    if profile_path and profile_path.endswith(".txt"):
        with PySpy(_py_spy_exe, profile_path):
            t0 = time.perf_counter()
            monitor.run_once(exit_on_error=True)
            return time.perf_counter() - t0
    if profile_path:
        import cProfile

        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        monitor.run_once(exit_on_error=True)
        prof.disable()
        secs = time.perf_counter() - t0
        prof.dump_stats(profile_path)
        return secs
    t0 = time.perf_counter()
    monitor.run_once(exit_on_error=True)
    return time.perf_counter() - t0


def change_runs(home, fraction):
    """Adds a file to `fraction` of the runs and touches one image; returns
    what to check and undo."""
    runs_dir = os.path.join(home, "runs")
    ids = sorted(name for name in os.listdir(runs_dir) if len(name) == 32)
    count = max(1, int(round(len(ids) * fraction)))
    step = max(1, len(ids) // count)
    chosen = ids[::step][:count]
    stamp = "%d-%d" % (os.getpid(), time.time_ns())
    new_files = []
    for rid in chosen:
        rel = os.path.join("data", "a", "bench-new-%s.txt" % stamp)
        path = os.path.join(runs_dir, rid, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("new file for the change pass\n")
        new_files.append((rid, rel, path))
    # One run also gains a file at its root, and another a new image in a
    # nested folder: both need the monitor itself (a link, an image summary).
    extra = []
    if chosen:
        rid = chosen[len(chosen) // 2]
        root_rel = "bench-new-%s.txt" % stamp
        with open(os.path.join(runs_dir, rid, root_rel), "w") as f:
            f.write("new root file for the change pass\n")
        extra.append(("root_file", rid, root_rel, os.path.join(runs_dir, rid, root_rel)))
        # In another run where there is one, so that nothing else changes
        # at the top of the run that gets the new image.
        rid = chosen[(len(chosen) // 2 + 1) % len(chosen)]
        image_src = _any_image(runs_dir, chosen)
        if image_src:
            image_rel = os.path.join("data", "a", "bench-new-%s.png" % stamp)
            shutil.copyfile(image_src, os.path.join(runs_dir, rid, image_rel))
            extra.append(("new_image", rid, image_rel, os.path.join(runs_dir, rid, image_rel)))
    touched = None
    for rid in chosen:
        images_dir = os.path.join(runs_dir, rid, "images")
        try:
            names = sorted(os.listdir(images_dir))
        except OSError:
            continue
        if names:
            path = os.path.join(images_dir, names[0])
            st = os.stat(path)
            now = time.time_ns()
            os.utime(path, ns=(now, now))
            touched = (rid, os.path.join("images", names[0]), path, st)
            break
    return {"new_files": new_files, "touched": touched, "extra": extra}


def _any_image(runs_dir, ids):
    for rid in ids:
        images_dir = os.path.join(runs_dir, rid, "images")
        try:
            names = sorted(os.listdir(images_dir))
        except OSError:
            continue
        if names:
            return os.path.join(images_dir, names[0])
    return None


def undo_change(change):
    for _kind, _rid, _rel, path in change["extra"]:
        try:
            os.unlink(path)
        except OSError:
            pass
    for _rid, _rel, path in change["new_files"]:
        try:
            os.unlink(path)
        except OSError:
            pass
    if change["touched"]:
        _rid, _rel, path, st = change["touched"]
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def run_folders(logdir):
    """short id -> run folder path (folder names start with the short id)."""
    folders = {}
    for name in os.listdir(logdir):
        folders.setdefault(name[:8], os.path.join(logdir, name))
    return folders


def count_image_summaries(folder):
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        total += sum(1 for name in files if "tfevents" in name and ".image." in name)
    return total


def _all_picked(picked):
    return all(v for k, v in picked.items() if k != "missing")


def image_summary_digests(folder):
    """md5 digests named by the image summaries in a run folder."""
    digests = set()
    for _dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if "tfevents" in name and ".image." in name:
                digests.add(name.rsplit(".", 1)[-1])
    return digests


def picked_up(logdir, change, images_before):
    """What the change pass showed: every nested new file visible in the
    run folder, the touched image re-summarized, and (one run) a new root
    file linked and a new nested image summarized."""
    import hashlib

    folders = run_folders(logdir)
    extra = {}
    for kind, rid, rel, _path in change["extra"]:
        folder = folders.get(rid[:8])
        if kind == "root_file":
            extra[kind] = bool(folder) and os.path.lexists(os.path.join(folder, rel))
        else:
            digest = hashlib.md5(rel.encode()).hexdigest()
            extra[kind] = bool(folder) and digest in image_summary_digests(folder)
    missing = []
    for rid, rel, _path in change["new_files"]:
        folder = folders.get(rid[:8])
        if not folder or not os.path.lexists(os.path.join(folder, rel)):
            missing.append(rid[:8])
    image_ok = True
    if change["touched"]:
        folder = folders.get(change["touched"][0][:8])
        image_ok = bool(folder) and count_image_summaries(folder) > images_before
    result = {"new_files_linked": not missing, "missing": missing[:5],
              "image_resummarized": image_ok}
    result.update(extra)
    return result


def tracemalloc_top(n):
    """The `n` source lines holding the most memory now, and the total."""
    import gc
    import tracemalloc

    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__),)
    )
    stats = snap.statistics("lineno")
    return {
        "total_kib": sum(s.size for s in stats) / 1024,
        "top": [
            {"where": "%s:%d" % (s.traceback[0].filename, s.traceback[0].lineno),
             "kib": s.size / 1024, "count": s.count}
            for s in stats[:n]
        ],
    }


def main(argv=None):
    args = parse_args(argv)
    home = os.path.abspath(args.home)
    rss_start = vm_rss_kib()
    t0 = time.perf_counter()
    logdir_root = args.logdir_root or os.path.join(os.path.dirname(home), "logdirs")
    os.makedirs(logdir_root, exist_ok=True)
    logdir = tempfile.mkdtemp(prefix="%s-%s-" % (os.path.basename(home), args.impl),
                              dir=logdir_root)
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    monitor, lister_name, module_file = make_monitor(args.impl, home, logdir, args.lister)
    import_secs = time.perf_counter() - t0
    rss_imported = vm_rss_kib()
    prof = args.profile
    global _py_spy_exe
    _py_spy_exe = args.py_spy
    ext = ".txt" if args.py_spy else ".prof"
    result = {
        "impl": args.impl,
        "home": home,
        "lister": lister_name,
        "module": module_file,
        "tree": tree_id(os.path.dirname(module_file)),
        "logdir_root": logdir_root,
        "import_secs": import_secs,
        "rss_after_import_kib": rss_imported,
        "rss_start_kib": rss_start,
    }
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(1)
    try:
        result["first"] = timed_pass(monitor, prof and prof + "-first" + ext)
        result["rss_after_first_kib"] = vm_rss_kib()
        steady = []
        if prof and args.py_spy:
            with PySpy(args.py_spy, prof + "-steady.txt"):
                for i in range(args.steady):
                    steady.append(timed_pass(monitor))
        else:
            for i in range(args.steady):
                steady.append(timed_pass(monitor, prof and i == 0 and prof + "-steady.prof"))
        if args.tracemalloc:
            result["tracemalloc"] = tracemalloc_top(args.tracemalloc)
        result["steady_runs"] = steady
        result["steady"] = statistics.median(steady) if steady else None
        touched = None
        change = change_runs(home, args.change_fraction)
        try:
            if change["touched"]:
                folder = run_folders(logdir).get(change["touched"][0][:8])
                touched = count_image_summaries(folder) if folder else 0
            result["change"] = timed_pass(monitor, prof and prof + "-change" + ext)
            result["changed_runs"] = len(change["new_files"])
            result["picked_up"] = picked = picked_up(logdir, change, touched or 0)
            # When that pass missed something, how many passes it takes.
            passes = 1
            while not _all_picked(picked) and passes < args.max_catch_up:
                monitor.run_once(exit_on_error=True)
                passes += 1
                picked = picked_up(logdir, change, touched or 0)
            result["passes_to_pick_up"] = passes if _all_picked(picked) else None
        finally:
            undo_change(change)
        result["runs_listed"] = len(os.listdir(logdir))
        result["peak_rss_kib"] = vm_hwm_kib()
        import resource

        result["ru_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        if not args.keep_logdir:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            result["logdir"] = logdir
    print(json.dumps(result))


if __name__ == "__main__":
    main()
