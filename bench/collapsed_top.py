"""Summarize py-spy's collapsed stacks (`--format raw`): where time goes.

    python bench/collapsed_top.py PROFILE.txt [--top 30] [--match guild/]

Prints, as shares of all samples: self time by function (the leaf frame),
and inclusive time by function for frames whose file matches `--match`.
Idle samples (threads waiting on locks or the pool's queue) are counted
apart, so the shares are of time spent working.
"""

import argparse
import collections
import re

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_IDLE = ("acquire", "wait", "_worker", "select", "poll", "sleep", "_wait_for_tstate_lock")


def parse(path):
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            count = int(count)
        except ValueError:
            continue
        yield stack.split(";"), count


def short(frame):
    m = _FRAME.match(frame)
    if not m:
        return frame
    f = m.group("file")
    for cut in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if cut in f:
            f = f.split(cut, 1)[1]
    return "%s (%s)" % (m.group("func"), f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--match", default="guild/")
    args = p.parse_args()
    self_t = collections.Counter()
    incl = collections.Counter()
    total = idle = 0
    for frames, count in parse(args.profile):
        frames = [f for f in frames if not f.startswith(("thread ", "process "))]
        if not frames:
            continue
        leaf = frames[-1]
        if any(leaf.startswith(name + " ") for name in _IDLE):
            idle += count
            continue
        total += count
        self_t[short(leaf)] += count
        seen = set()
        for f in frames:
            s = short(f)
            if args.match in f and s not in seen:
                seen.add(s)
                incl[s] += count
    print("%d working samples, %d idle" % (total, idle))
    print("\nself time (leaf frame):")
    for name, c in self_t.most_common(args.top):
        print("  %5.1f%%  %s" % (100 * c / total, name))
    print("\ninclusive, frames matching %r:" % args.match)
    for name, c in incl.most_common(args.top):
        print("  %5.1f%%  %s" % (100 * c / total, name))


if __name__ == "__main__":
    main()
