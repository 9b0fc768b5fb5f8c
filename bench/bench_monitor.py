"""The runs monitor at scale: ours against Guild 0.9.0's, on the same homes.

    python bench/bench_monitor.py [--sizes 100,1000,5000] [--with-50k]
                                  [--guild-sizes 100,1000] [--no-guild]

For each size N it builds (or reuses) a synthetic Guild home with
make_guild_home.py (K steps, F files, I images a run; defaults 100, 10, 1)
under `--homes` (default /tmp/bench-homes), then measures each monitor in a
fresh process (monitor_worker.py), so peak RSS (VmHWM) is that measurement's:

  first    the first pass, on an empty log directory
  steady   a pass with nothing changed: median of `--steady` passes
  1%       the pass after 1% of the runs gain a file in a nested folder,
           one of them also a root file and a new image, and one run's image
           is touched; "picked up" says which of these that one pass showed
           (the home is restored afterwards)
  RSS      peak resident set size of the whole measurement, MiB

Guild 0.9.0 runs from its own virtual environment (`--guild-venv`, default
/tmp/guild09-venv, created when missing with guildai==0.9.0 and the
tensorboard/protobuf pair it imports with), listing runs as `guild
tensorboard` does (`guild.var.runs(sort=["-timestamp"])`, GUILD_HOME set to
the home). It is slow: by default only the sizes in `--guild-sizes` run it.

Prints a Markdown table with ours, Guild's and the ratio ours / Guild per
column, and the issue's targets for ours.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import machine  # noqa: E402
import make_guild_home  # noqa: E402

GUILD09_REQUIREMENTS = ("guildai==0.9.0", "tensorboard==2.20.0", "protobuf==4.25.9")

# Issue 4/5 targets for ours, in seconds and MiB, by size.
TARGETS = {
    5000: {"first": 9.0, "steady": 0.25, "change": 0.5, "rss": 100.0},
    50000: {"steady": 1.0},
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="100,1000,5000", help="run counts N")
    p.add_argument("--with-50k", action="store_true", help="add N=50,000")
    p.add_argument("--homes", default="/tmp/bench-homes", help="where homes are kept")
    p.add_argument("--steps", type=int, default=100, help="K")
    p.add_argument("--files", type=int, default=10, help="F")
    p.add_argument("--images", type=int, default=1, help="I")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steady", type=int, default=5, help="steady passes (median)")
    p.add_argument("--lister", default="auto", choices=("auto", "runs_dir", "test"))
    p.add_argument("--no-guild", action="store_true", help="measure ours only")
    p.add_argument("--guild-sizes", default="100,1000",
                   help="sizes at which Guild 0.9.0 is measured too")
    p.add_argument("--guild-steady", type=int, default=None,
                   help="steady passes for Guild (default: --steady)")
    p.add_argument("--guild-venv", default="/tmp/guild09-venv")
    p.add_argument("--only", choices=("ours", "guild09"), help="measure one side only")
    p.add_argument("--logdir-root", default=None,
                   help="where the log directories are made (default: "
                   "HOMES/logdirs; /dev/shm puts them on tmpfs)")
    p.add_argument("--timeout", type=float, default=3600, help="per measurement, seconds")
    p.add_argument("--json", help="append results as JSON lines to this file")
    p.add_argument("--profile-dir", help="also profile ours (cProfile) at each size, "
                   "in a separate measurement, into this folder")
    return p.parse_args(argv)


def _sizes(s):
    return [int(x.replace("_", "")) for x in s.split(",") if x.strip()]


def ensure_home(args, n):
    dest = os.path.join(
        args.homes, "home-n%d-k%d-f%d-i%d-s%d" % (n, args.steps, args.files, args.images, args.seed)
    )
    want = make_guild_home.home_params(n, args.steps, args.files, args.images, args.seed)
    if make_guild_home.read_params(dest) == want:
        return dest, None
    t0 = time.perf_counter()
    make_guild_home.make_home(
        dest, runs=n, steps=args.steps, files=args.files, images=args.images,
        seed=args.seed, force=True,
    )
    return dest, time.perf_counter() - t0


def ensure_guild_venv(path):
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        print("creating %s with %s" % (path, " ".join(GUILD09_REQUIREMENTS)), flush=True)
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", *GUILD09_REQUIREMENTS], check=True
        )
    check = subprocess.run(
        [python, "-c", "import guild, guild.tensorboard; print(guild.__version__)"],
        capture_output=True, text=True, cwd="/",
    )
    if check.returncode != 0:
        raise SystemExit("Guild 0.9.0 does not import in %s:\n%s" % (path, check.stderr))
    return python, check.stdout.strip()


def measure(python, impl, home, args, steady, profile=None):
    cmd = [
        python, os.path.join(HERE, "monitor_worker.py"), home,
        "--impl", impl, "--steady", str(steady), "--lister", args.lister,
        "--logdir-root", args.logdir_root or os.path.join(args.homes, "logdirs"),
    ]
    if profile:
        cmd += ["--profile", profile]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("GUILD_HOME", None)
    env["PYTHONHASHSEED"] = "0"
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd="/", timeout=args.timeout
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit("%s measurement on %s failed" % (impl, home))
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["stderr_lines"] = len(warnings)
    result["stderr_sample"] = warnings[:3]
    return result


def fmt_secs(s):
    if s is None:
        return "–"
    if s < 1:
        return "%.3f s" % s
    if s < 10:
        return "%.2f s" % s
    return "%.1f s" % s


def fmt_mib(kib):
    return "–" if kib is None else "%.0f MiB" % (kib / 1024)


def ratio(a, b):
    if a is None or b is None or not b:
        return "–"
    r = a / b
    return "%.3f" % r if r < 0.1 else "%.2f" % r


def target_mark(n, key, value):
    t = TARGETS.get(n, {}).get(key)
    if t is None or value is None:
        return ""
    return " ✓" if value <= t else " ✗ (target %s)" % (
        "%g MiB" % t if key == "rss" else "%g s" % t
    )


PICKED_KEYS = (
    ("new_files_linked", "nested files"),
    ("root_file", "root file"),
    ("image_resummarized", "touched image"),
    ("new_image", "new image"),
)


def picked_text(ok, passes=None):
    """`all` or the kinds of change the pass did not show, and how many
    passes it took to show everything."""
    missed = [label for key, label in PICKED_KEYS if key in ok and not ok[key]]
    if not missed:
        return "all"
    return "missed: %s (all after %s passes)" % (", ".join(missed), passes or "> max")


def table(rows):
    out = [
        "| runs | monitor | first pass | steady pass (median) | after 1% change | peak RSS | picked up |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for n, ours, guild in rows:
        if ours:
            picked = picked_text(ours.get("picked_up", {}), ours.get("passes_to_pick_up"))
            out.append(
                "| %s | ours | %s%s | %s%s | %s%s | %s%s | %s |"
                % (
                    format(n, ","),
                    fmt_secs(ours["first"]), target_mark(n, "first", ours["first"]),
                    fmt_secs(ours["steady"]), target_mark(n, "steady", ours["steady"]),
                    fmt_secs(ours["change"]), target_mark(n, "change", ours["change"]),
                    fmt_mib(ours["peak_rss_kib"]),
                    target_mark(n, "rss", ours["peak_rss_kib"] / 1024),
                    picked,
                )
            )
        if guild:
            picked = picked_text(guild.get("picked_up", {}), guild.get("passes_to_pick_up"))
            out.append(
                "| %s | Guild 0.9.0 | %s | %s | %s | %s | %s |"
                % (
                    format(n, ","), fmt_secs(guild["first"]), fmt_secs(guild["steady"]),
                    fmt_secs(guild["change"]), fmt_mib(guild["peak_rss_kib"]), picked,
                )
            )
        if ours and guild:
            out.append(
                "| %s | **ours / Guild** | %s | %s | %s | %s | |"
                % (
                    format(n, ","),
                    ratio(ours["first"], guild["first"]),
                    ratio(ours["steady"], guild["steady"]),
                    ratio(ours["change"], guild["change"]),
                    ratio(ours["peak_rss_kib"], guild["peak_rss_kib"]),
                )
            )
    return "\n".join(out)


def git_state():
    """`<commit>[+dirty <md5 of the diff>]` of the repo, or None."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        diff = subprocess.run(["git", "-C", REPO, "diff", "HEAD", "--", "guild"],
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    if diff:
        import hashlib

        return "%s+dirty(guild/ diff %s)" % (head, hashlib.md5(diff).hexdigest()[:8])
    return head


def machine_info():
    return dict(machine.machine_info(), git=git_state())


def main(argv=None):
    args = parse_args(argv)
    sizes = _sizes(args.sizes)
    if args.with_50k and 50000 not in sizes:
        sizes.append(50000)
    guild_sizes = set() if args.no_guild or args.only == "ours" else set(_sizes(args.guild_sizes))
    if args.only == "guild09":
        guild_sizes = set(sizes)
    guild_python = guild_version = None
    if guild_sizes & set(sizes):
        guild_python, guild_version = ensure_guild_venv(args.guild_venv)
    info = machine_info()
    print(
        "machine: %s cores, %s; Python %s; %s; load %s"
        % (info["nproc"], info["cpu"], info["python"], info["date"], info["loadavg_at_start"]),
        flush=True,
    )
    rows = []
    for n in sizes:
        home, gen_secs = ensure_home(args, n)
        print(
            "N=%s: home %s (%s)"
            % (format(n, ","), home, "generated in %.1f s" % gen_secs if gen_secs else "reused"),
            flush=True,
        )
        ours = guild = None
        if args.only != "guild09":
            ours = measure(sys.executable, "ours", home, args, args.steady)
            print("  ours:  first %s, steady %s, 1%% %s, RSS %s (lister %s)" % (
                fmt_secs(ours["first"]), fmt_secs(ours["steady"]), fmt_secs(ours["change"]),
                fmt_mib(ours["peak_rss_kib"]), ours["lister"]), flush=True)
            if args.profile_dir:
                os.makedirs(args.profile_dir, exist_ok=True)
                prefix = os.path.join(os.path.abspath(args.profile_dir), "ours-n%d" % n)
                measure(sys.executable, "ours", home, args, 1, profile=prefix)
                print("  profiles: %s-{first,steady,change}.prof" % prefix, flush=True)
        if n in guild_sizes:
            steady = args.guild_steady or args.steady
            guild = measure(guild_python, "guild09", home, args, steady)
            print("  guild: first %s, steady %s, 1%% %s, RSS %s" % (
                fmt_secs(guild["first"]), fmt_secs(guild["steady"]), fmt_secs(guild["change"]),
                fmt_mib(guild["peak_rss_kib"])), flush=True)
        rows.append((n, ours, guild))
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"n": n, "machine": info, "ours": ours, "guild09": guild,
                                    "params": {"steps": args.steps, "files": args.files,
                                               "images": args.images}}) + "\n")
    print()
    print(
        "Monitor passes, K=%d steps, F=%d files, I=%d images a run; %d steady passes "
        "(median); ours lists runs with %s; Guild %s."
        % (args.steps, args.files, args.images, args.steady,
           next((o["lister"] for _n, o, _g in rows if o), "–"),
           guild_version or "not measured")
    )
    print()
    print(table(rows))
    print()
    print(
        "machine: %s cores, %s, Python %s, %s; log directories in %s; code %s (guild/*.py %s)"
        % (info["nproc"], info["cpu"], info["python"], info["date"],
           args.logdir_root or os.path.join(args.homes, "logdirs"), info["git"],
           next((o["tree"] for _n, o, _g in rows if o), "–"))
    )


if __name__ == "__main__":
    main()
