"""What the HParams dashboard's own requests cost, by layout form.

    python bench/bench_hparams_requests.py [--sizes 1000,5000] [--with-50k]

For each size N it mirrors a synthetic home (make_guild_home.py, K=100,
F=10, I=1) into two log directories on tmpfs, one per form of the layout:

  keyword   `RunsMonitor(log_hparams=True)`, the command's: no experiment
            summary; TensorBoard computes the experiment from the sessions,
            every scalar tag of a run (and of its subfolders) a metric
  logspec   `RunsMonitor(logspec=["hparams", "images", "time"])`, Guild's
            older form: an experiment summary lists the metrics (a run's
            compare spec, else its root scalars, and `time`)

serves each with `guild.tensorboard.create_app` (TensorBoard's application
over its Rust data servers, in this process), waits until every session
shows, and times TensorBoard's answers, the median of 3:

  groups     `session_groups` as the dashboard asks it: every group, metrics
  json       of that, TensorBoard's own JSON encoding of the response
             (`plugin_util.proto_to_json`), timed alone
  exp        `experiment`, with metrics
  metrics    how many metric columns the experiment has
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
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import bench_monitor  # noqa: E402
import machine  # noqa: E402

from werkzeug.test import Client  # noqa: E402

from guild_tensorboard.serving import app as tensorboard_server  # noqa: E402
from guild_tensorboard.runs.runs_dir import RunsSource  # noqa: E402
from guild_tensorboard.monitor.runs_monitor import RunsMonitor  # noqa: E402

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
FORMS = {"keyword": {}, "logspec": {"logspec": ["hparams", "images", "time"]}}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,5000")
    p.add_argument("--with-50k", action="store_true")
    p.add_argument("--homes", default="/tmp/bench-homes")
    p.add_argument("--logdir-root", default="/dev/shm")
    for name, default in (("steps", 100), ("files", 10), ("images", 1), ("seed", 0)):
        p.add_argument("--" + name, type=int, default=default)
    return p.parse_args(argv)


def median_time(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.monotonic()
        result = fn()
        times.append(time.monotonic() - t)
    return statistics.median(times), result


def measure(home, n, form, args):
    logdir = tempfile.mkdtemp(prefix="bench-hparams-%s-" % form, dir=args.logdir_root)
    os.rmdir(logdir)
    monitor = RunsMonitor(logdir, RunsSource(os.path.join(home, "runs")), **FORMS[form])
    t = time.monotonic()
    monitor.run_once()
    mirrored = time.monotonic() - t
    app = tensorboard_server.create_app(logdir=logdir, reload_interval=5, monitor=monitor)
    client = Client(app)

    def post(path, body):
        resp = client.post(path, data=json.dumps(body), content_type="application/json")
        return json.loads(resp.get_data())

    groups_body = {"startIndex": 0, "sliceSize": 1000000, "includeMetrics": True, "allowedStatuses": STATUSES}
    try:
        t = time.monotonic()
        while len(post("/data/plugin/hparams/session_groups", dict(groups_body, includeMetrics=False)).get("sessionGroups", [])) < n:
            time.sleep(1)
        loaded = time.monotonic() - t
        groups_s, groups = median_time(lambda: post("/data/plugin/hparams/session_groups", groups_body))
        exp_s, experiment = median_time(
            lambda: post("/data/plugin/hparams/experiment", {"experimentName": "", "includeMetrics": True})
        )
        json_s = _json_encoding_time(groups)
        return {
            "runs": n, "form": form, "mirror_s": mirrored, "load_s": loaded,
            "groups_s": groups_s, "json_s": json_s, "experiment_s": exp_s,
            "metrics": len(experiment.get("metricInfos", [])),
            "bytes": len(json.dumps(groups)),
        }
    finally:
        tensorboard_server.stop_app(app)
        monitor.stop()
        monitor.remove_logdir()
        shutil.rmtree(logdir, ignore_errors=True)


def _json_encoding_time(groups):
    """TensorBoard's own encoding of a response like `groups`."""
    from google.protobuf import json_format
    from tensorboard import plugin_util
    from tensorboard.plugins.hparams import api_pb2

    proto = json_format.ParseDict(groups, api_pb2.ListSessionGroupsResponse())
    return median_time(lambda: plugin_util.proto_to_json(proto))[0]


def main(argv=None):
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.with_50k and 50000 not in sizes:
        sizes.append(50000)
    rows = []
    for n in sizes:
        home, _ = bench_monitor.ensure_home(args, n)
        for form in FORMS:
            row = measure(home, n, form, args)
            rows.append(row)
            print(json.dumps(row), flush=True)
    info = machine.machine_info()
    print()
    print("HParams requests, K=%d F=%d I=%d; %s cores, %s, %s" % (
        args.steps, args.files, args.images, info["nproc"], info["cpu"], info["date"]))
    print()
    print("| runs | form | metrics | session_groups | of it, JSON encoding | response | experiment |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| {:,} | {} | {} | {:.2f} s | {:.2f} s | {:.1f} MB | {:.2f} s |".format(
            row["runs"], row["form"], row["metrics"], row["groups_s"], row["json_s"],
            row["bytes"] / 1e6, row["experiment_s"],
        ))


if __name__ == "__main__":
    main()
