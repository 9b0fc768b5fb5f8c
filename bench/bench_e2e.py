"""End to end, as a user sees it: from starting the command to TensorBoard's
dashboards being complete. Ours (`guild-tensorboard`) against Guild 0.9.0's
`guild tensorboard`, on the same homes, in one run, under the same
open-files soft limit (default 1,024, the usual one on Linux).

    python bench/bench_e2e.py [--sizes 1000,5000] [--guild-sizes 1000,5000]
                              [--soft-limit 1024] [--with-50k]

For each size N it builds (or reuses) a synthetic home with
make_guild_home.py (K=100 steps, F=10 files, I=1 image a run), starts each
command in a process of its own with the soft limit set (the hard limit is
the machine's), and polls TensorBoard's HTTP API:

  serving     the first answer from `/data/environment`
  first       the first time `/data/plugin/hparams/session_groups` counts a
              session
  HParams     the first time it counts N sessions
  Images      the first time `/data/plugin/images/tags` lists the image of
              every run
  groups s    a full `session_groups` request (every group, with metrics)
              once complete: the median of 3
  exp s       the same for `/data/plugin/hparams/experiment`
  RSS         peak resident memory (VmHWM) of the command's process, and
              the sum of its child processes' (TensorBoard's data servers)

Before each command the bench reads every file of the home, so both start
with it in the page cache (else the first to run pays for the disk and the
second finds it warm).

Polling is kept light so as not to slow what it measures: `/data/runs`
each `--poll` seconds; the hparams and images requests (which TensorBoard
computes over every run) at most every 4 seconds, and only cheap forms of
them (one group, no metrics); each waits at least 4 times as long as its
last request took (TensorBoard answers in the command's process, and at
50,000 runs even the cheap session_groups takes seconds), so a completion
time may be late by up to that interval (`poll` in the JSON). Guild 0.9.0 runs from its own virtual
environment (`--guild-venv`, as bench_monitor.py makes it), with
TensorBoard 2.20 and its Python loader, which it always uses.

The 50,000-run home (`--with-50k`, about 10 GB) runs ours only (Guild
takes hours). Both commands run with their defaults: ours puts its
temporary log directory in memory (/dev/shm) when there is room, Guild
in TMPDIR.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import bench_monitor  # noqa: E402
import machine  # noqa: E402

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
EXPENSIVE_EVERY = 4.0
# A poll waits this many times its own request's time: TensorBoard answers
# in the command's process, so a poll busier than that would slow what it
# measures (at 50,000 runs a cheap session_groups takes seconds).
BACKOFF = 4.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,5000")
    p.add_argument("--guild-sizes", default="1000,5000")
    p.add_argument("--with-50k", action="store_true")
    p.add_argument("--soft-limit", type=int, default=1024)
    p.add_argument("--homes", default="/tmp/bench-homes")
    p.add_argument("--guild-venv", default="/tmp/guild09-venv")
    p.add_argument("--poll", type=float, default=0.5)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--json", help="also write the results as JSON here")
    for name, default in (("steps", 100), ("files", 10), ("images", 1), ("seed", 0)):
        p.add_argument("--" + name, type=int, default=default)
    args = p.parse_args(argv)
    args.lister = "runs_dir"
    return args


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(impl, home, port, args, tmp):
    if impl == "ours":
        cmd = [sys.executable, "-m", "guild.tensorboard", home, "-n", "--port", str(port)]
        env = dict(os.environ, PYTHONPATH=REPO)
        env.pop("TMPDIR", None)  # its defaults: the temporary log directory in memory
        return cmd, env
    guild = os.path.join(args.guild_venv, "bin", "guild")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TMPDIR=tmp, GUILD_HOME=home)
    return [guild, "tensorboard", "--no-open", "--host", "127.0.0.1", "--port", str(port)], env


class Api:
    def __init__(self, port):
        self.url = "http://127.0.0.1:%d" % port

    def get(self, path, timeout=600):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def post(self, path, body, timeout=600):
        req = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def sessions(self, full=False):
        body = {
            "startIndex": 0, "sliceSize": 1000000 if full else 1,
            "includeMetrics": full, "allowedStatuses": STATUSES,
        }
        return int(self.post("/data/plugin/hparams/session_groups", body).get("totalSize", 0))

    def experiment(self):
        return self.post("/data/plugin/hparams/experiment", {"experimentName": "", "includeMetrics": True})

    def image_runs(self):
        return sum(1 for tags in self.get("/data/plugin/images/tags").values() if tags)

    def run_folders(self):
        return {run.split("/", 1)[0] for run in self.get("/data/runs")}


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid):
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(name))
    return kids + [grand for kid in kids for grand in descendants(kid)]


class Memory(threading.Thread):
    """Tracks the peak memory of a process and of its descendants (each
    child's own peak, summed over the children alive together)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.main = 0
        self.children = 0
        self._peaks = {}
        self._stop = threading.Event()

    def run(self):
        while not self._stop.wait(1.0):
            self.sample()

    def sample(self):
        self.main = max(self.main, vm_hwm_kib(self.pid))
        for kid in descendants(self.pid):
            self._peaks[kid] = max(self._peaks.get(kid, 0), vm_hwm_kib(kid))
        self.children = max(self.children, sum(self._peaks.values()))

    def stop(self):
        self.sample()
        self._stop.set()


def measure(impl, home, args):
    n = args.n
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="bench-e2e-%s-" % impl)
    cmd, env = command(impl, home, port, args, tmp)
    soft = args.soft_limit

    def limit():
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard), hard))

    log_path = os.path.join(tmp, "output.log")
    out = open(log_path, "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=limit, cwd="/")
    memory = Memory(proc.pid)
    memory.start()
    api = Api(port)
    result = {"impl": impl, "runs": n, "soft_limit": soft}
    marks = {}
    last_expensive = 0.0
    expensive_every = EXPENSIVE_EVERY
    cheap_every = args.poll
    try:
        while time.monotonic() - t0 < args.timeout:
            if proc.poll() is not None:
                raise RuntimeError("%s exited with %s" % (impl, proc.returncode))
            now = time.monotonic() - t0
            try:
                if "serving" not in marks:
                    api.get("/data/environment", timeout=5)
                    marks["serving"] = now
                started = time.monotonic()
                folders = len(api.run_folders())
                cheap_every = max(args.poll, BACKOFF * (time.monotonic() - started))
                cheap_first = "first" not in marks
                if cheap_first or now - last_expensive >= expensive_every:
                    last_expensive = now
                    started = time.monotonic()
                    sessions = api.sessions()
                    expensive_every = max(EXPENSIVE_EVERY, BACKOFF * (time.monotonic() - started))
                    result["poll_s"] = expensive_every
                    if sessions and "first" not in marks:
                        marks["first"] = time.monotonic() - t0
                    if sessions >= n and "hparams" not in marks:
                        marks["hparams"] = time.monotonic() - t0
                    if "images" not in marks and (folders >= n or sessions >= n):
                        if api.image_runs() >= n:
                            marks["images"] = time.monotonic() - t0
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            if "hparams" in marks and "images" in marks:
                break
            time.sleep(0.1 if "first" not in marks else cheap_every)
        result.update(marks)
        if "hparams" in marks:
            result["groups_s"] = _median_time(lambda: api.sessions(full=True))
            result["experiment_s"] = _median_time(api.experiment)
    finally:
        memory.stop()
        result["rss_main_mib"] = memory.main / 1024
        result["rss_children_mib"] = memory.children / 1024
        result["data_servers"] = len(memory._peaks)
        _stop(proc)
        out.close()
        with open(log_path) as f:
            lines = f.read().splitlines()
        result["emfile_lines"] = sum(1 for line in lines if "Too many open files" in line)
        result["output_tail"] = lines[-3:]
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _median_time(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.monotonic()
        fn()
        times.append(time.monotonic() - t)
    return statistics.median(times)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fmt(val, unit="s"):
    if val is None:
        return "—"
    if unit == "s":
        return "%.1f s" % val if val >= 10 else "%.2f s" % val
    return "%.0f MiB" % val


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else ""


COLUMNS = [
    ("serving", "serving", "s"),
    ("first", "first session", "s"),
    ("hparams", "HParams complete", "s"),
    ("images", "Images complete", "s"),
    ("groups_s", "session_groups", "s"),
    ("experiment_s", "experiment", "s"),
    ("rss_main_mib", "RSS command", "MiB"),
    ("rss_children_mib", "RSS data servers", "MiB"),
]


def table(rows):
    head = "| runs | command | " + " | ".join(title for _k, title, _u in COLUMNS) + " |"
    lines = [head, "|---:|---|" + "---:|" * len(COLUMNS)]
    by_size = {}
    for row in rows:
        by_size.setdefault(row["runs"], {})[row["impl"]] = row
    for n in sorted(by_size):
        impls = by_size[n]
        for impl in ("ours", "guild"):
            row = impls.get(impl)
            if row:
                name = "ours" if impl == "ours" else "Guild 0.9.0"
                if impl == "ours" and row.get("data_servers"):
                    name += " (%d data server%s)" % (row["data_servers"], "" if row["data_servers"] == 1 else "s")
                cells = [fmt(row.get(key), unit) for key, _t, unit in COLUMNS]
                lines.append("| {:,} | {} | {} |".format(n, name, " | ".join(cells)))
        if "ours" in impls and "guild" in impls:
            cells = [ratio(impls["ours"].get(key), impls["guild"].get(key)) for key, _t, _u in COLUMNS]
            lines.append("| {:,} | **ours / Guild** | {} |".format(n, " | ".join(cells)))
    return "\n".join(lines)


def warm_cache(home):
    """Reads every file of the home, so that each command starts with it in
    the page cache (whichever runs first would otherwise pay for the disk,
    and the second find it warm). Returns `(files, seconds)`."""
    t0 = time.monotonic()
    files = 0
    for dir, _dirs, names in os.walk(home):
        for name in names:
            try:
                with open(os.path.join(dir, name), "rb") as f:
                    while f.read(1 << 20):
                        pass
                files += 1
            except OSError:
                pass
    return files, time.monotonic() - t0


def main(argv=None):
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.with_50k and 50000 not in sizes:
        sizes.append(50000)
    guild_sizes = {int(s) for s in args.guild_sizes.split(",") if s}
    if guild_sizes & set(sizes):
        bench_monitor.ensure_guild_venv(args.guild_venv)
    rows = []
    for n in sizes:
        args.n = n
        home, built = bench_monitor.ensure_home(args, n)
        print("N={:,}: home {} ({})".format(n, home, "built in %.0f s" % built if built else "reused"), flush=True)
        for impl in ("ours", "guild"):
            if impl == "guild" and n not in guild_sizes:
                continue
            warmed = warm_cache(home)
            print("  page cache warmed: {} files read in {:.1f} s".format(*warmed), flush=True)
            row = measure(impl, home, args)
            row["warm_s"] = warmed[1]
            rows.append(row)
            print("  %s: %s" % (impl, json.dumps({k: v for k, v in row.items() if k != "output_tail"})), flush=True)
    print()
    info = machine.machine_info()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(
        "End to end, K=%d F=%d I=%d; open-files soft limit %d (hard %s) for each command; "
        "%s cores, %s, Python %s, %s" % (
            args.steps, args.files, args.images, args.soft_limit, hard,
            info["nproc"], info["cpu"], info["python"], info["date"],
        )
    )
    print()
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
