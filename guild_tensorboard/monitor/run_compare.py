"""The metrics of a run, as Guild's experiment summary lists them.

A run's compare spec (its `compare` attr, else the `compare` of its
operation in the `guild.yml` its opref names, when that file still exists)
gives the metric columns: each scalar column names a key, `prefix#tag` for
a scalar logged in the run's `prefix/` subfolder. Without a compare spec,
the metrics are every scalar tag without a `/` (which leaves out `sys/*`
and other namespaced tags): at the run root as they are, in subfolders with
the subfolder as their group, as TensorBoard's HParams plugin groups them.
"""

import logging
import os
import shlex

import yaml

from guild_tensorboard.events import tfevent
from guild_tensorboard.events.regular_files import read_regular

log = logging.getLogger("guild")

_QUALIFIERS = {"min", "max", "first", "last", "avg", "total", "count"}
_GUILD_DIR = ".guild"
_GUILDFILE_LIMIT = 16 * 1024 * 1024


def run_metrics(run):
    """`[(group, tag)]` for the run's metrics."""
    compare = run_compare_spec(run)
    if compare is not None:
        return compare_spec_metrics(compare)
    return sorted(run_scalar_metrics(run))


def run_compare_spec(run):
    compare = run.get("compare")
    if compare is None:
        compare = _guildfile_compare(run)
    if compare is None:
        return None
    if not isinstance(compare, list):
        log.warning("run %s: compare spec is not a list; ignoring it", run.id)
        return None
    return compare


def compare_spec_metrics(compare):
    """The scalar columns of a compare spec as `[(group, tag)]`."""
    metrics = []
    for col in compare:
        metric = _scalar_column_metric(col)
        if metric and metric not in metrics:
            metrics.append(metric)
    return metrics


def _scalar_column_metric(col):
    if not isinstance(col, str):
        return None
    try:
        parts = shlex.split(col)
    except ValueError:
        parts = col.split()
    if parts and parts[0] in _QUALIFIERS and len(parts) > 1:
        parts = parts[1:]
    if not parts or parts[0][:1] in ("=", "."):
        return None  # a flag or attribute column
    group, sep, tag = parts[0].rpartition("#")
    return (group, tag) if tag else None


def run_scalar_metrics(run):
    """Tags without `/` of every scalar in the run, `(group, tag)`."""
    metrics = set()
    for dir, _digest, reader in tfevent.scalar_readers(run.dir):
        group = _scalar_group(run.dir, dir)
        if group is None:
            continue
        metrics.update((group, tag) for tag, _val, _step in reader if "/" not in tag)
    return metrics


def _scalar_group(run_dir, dir):
    rel = os.path.relpath(dir, run_dir)
    if rel in (".", _GUILD_DIR):
        return ""
    if rel.split(os.sep)[0] == _GUILD_DIR:
        return None
    return rel.replace(os.sep, "/")


def _guildfile_compare(run):
    try:
        opref = run.opref
    except Exception:
        return None
    if opref is None or opref.pkg_type != "guildfile":
        return None
    path = opref.pkg_name
    if os.path.isdir(path):
        path = os.path.join(path, "guild.yml")
    try:
        data = yaml.safe_load(read_regular(path, _GUILDFILE_LIMIT).decode("utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return None
    opdef = _find_opdef(data, opref.model_name or "", opref.op_name)
    return opdef.get("compare") if isinstance(opdef, dict) else None


def _find_opdef(data, model_name, op_name):
    """The definition of `model_name:op_name` in a loaded `guild.yml`:
    the operation-only form (a mapping of operations) or a list of models."""
    if isinstance(data, dict):
        return data.get(op_name) if not model_name else None
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and (item.get("model") or "") == model_name:
                ops = item.get("operations")
                if isinstance(ops, dict):
                    return ops.get(op_name)
    return None
