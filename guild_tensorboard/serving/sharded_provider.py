"""One TensorBoard data provider over several data servers.

TensorBoard's application reads everything through one `DataProvider`.
When the runs are dealt to several data servers (`guild_tensorboard.serving.data_shards`),
this provider answers for all of them: run names are disjoint across
servers (each run folder is in one), so lists are joined and mappings
merged. A request naming runs goes only to the servers holding them;
blob keys carry the index of the server that made them (`g<index>.<key>`).
Requests to several servers go out in parallel.
"""

import concurrent.futures
import logging
import threading

from tensorboard.data import provider

from guild_tensorboard.events.log_once import error_once

log = logging.getLogger("guild")


class ShardedDataProvider(provider.DataProvider):
    def __init__(self, data_location):
        self._data_location = data_location
        self._members = {}  # index -> data provider
        self._where = {}  # top-level run folder -> index
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(8, "guild-data-shards")

    # Membership (`guild_tensorboard.serving.data_shards` keeps it)

    def add_member(self, index, member):
        with self._lock:
            self._members[index] = member

    def remove_member(self, index):
        with self._lock:
            self._members.pop(index, None)

    def route(self, folder, index):
        self._where[folder] = index

    def unroute(self, folder):
        self._where.pop(folder, None)

    def members(self):
        with self._lock:
            return sorted(self._members.items())

    # DataProvider

    def experiment_metadata(self, ctx=None, *, experiment_id):
        return provider.ExperimentMetadata(data_location=self._data_location)

    def list_plugins(self, ctx=None, *, experiment_id):
        plugins = []
        for names in self._each(lambda m: m.list_plugins(ctx, experiment_id=experiment_id)):
            plugins.extend(name for name in names if name not in plugins)
        return plugins

    def list_runs(self, ctx=None, *, experiment_id):
        runs = []
        for part in self._each(lambda m: m.list_runs(ctx, experiment_id=experiment_id)):
            runs.extend(part)
        return runs

    def list_scalars(self, ctx=None, *, experiment_id, plugin_name, run_tag_filter=None):
        return self._merged(
            run_tag_filter,
            lambda m: m.list_scalars(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name,
                run_tag_filter=run_tag_filter,
            ),
        )

    def read_scalars(
        self, ctx=None, *, experiment_id, plugin_name, downsample=None, run_tag_filter=None
    ):
        return self._merged(
            run_tag_filter,
            lambda m: m.read_scalars(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name,
                downsample=downsample, run_tag_filter=run_tag_filter,
            ),
        )

    def read_last_scalars(self, ctx=None, *, experiment_id, plugin_name, run_tag_filter=None):
        return self._merged(
            run_tag_filter,
            lambda m: m.read_last_scalars(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name,
                run_tag_filter=run_tag_filter,
            ),
        )

    def list_tensors(self, ctx=None, *, experiment_id, plugin_name, run_tag_filter=None):
        return self._merged(
            run_tag_filter,
            lambda m: m.list_tensors(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name,
                run_tag_filter=run_tag_filter,
            ),
        )

    def read_tensors(
        self, ctx=None, *, experiment_id, plugin_name, downsample=None, run_tag_filter=None
    ):
        return self._merged(
            run_tag_filter,
            lambda m: m.read_tensors(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name,
                downsample=downsample, run_tag_filter=run_tag_filter,
            ),
        )

    def list_blob_sequences(self, ctx=None, *, experiment_id, plugin_name, run_tag_filter=None):
        return self._merged(
            run_tag_filter,
            lambda m: m.list_blob_sequences(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name,
                run_tag_filter=run_tag_filter,
            ),
        )

    def read_blob_sequences(
        self, ctx=None, *, experiment_id, plugin_name, downsample=None, run_tag_filter=None
    ):
        def read(index, member):
            result = member.read_blob_sequences(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name,
                downsample=downsample, run_tag_filter=run_tag_filter,
            )
            return _with_keys_of(index, result)

        return self._merged(run_tag_filter, read, with_index=True)

    def read_blob(self, ctx=None, *, blob_key):
        prefix, _, key = blob_key.partition(".")
        with self._lock:
            member = self._members.get(_index_of(prefix))
        if member is None or not key:
            from tensorboard import errors

            raise errors.NotFoundError("no blob %r" % blob_key)
        return member.read_blob(ctx, blob_key=key)

    # Fanning out

    def _targets(self, run_tag_filter):
        members = self.members()
        runs = getattr(run_tag_filter, "runs", None)
        if runs is None or len(members) < 2:
            return members
        wanted = {self._where.get(run.split("/", 1)[0]) for run in runs}
        if None in wanted:
            return members
        return [(index, member) for index, member in members if index in wanted]

    def _each(self, call, targets=None, with_index=False):
        """The results of `call(member)` (or `call(index, member)`) for each
        target, in parallel when there are several; a server that fails is
        reported (once) and left out."""
        targets = self.members() if targets is None else targets

        def one(target):
            index, member = target
            try:
                return call(index, member) if with_index else call(member)
            except Exception as e:
                error_once(("data-server", index, type(e)), "TensorBoard data server %d: %s", index, e)
                return None

        if len(targets) == 1:
            results = [one(targets[0])]
        else:
            results = list(self._pool.map(one, targets))
        return [result for result in results if result is not None]

    def _merged(self, run_tag_filter, call, with_index=False):
        merged = {}
        for part in self._each(call, self._targets(run_tag_filter), with_index):
            merged.update(part)
        return merged


def _with_keys_of(index, result):
    """`read_blob_sequences` results with each blob key prefixed by the
    server's index."""
    for tags in result.values():
        for tag, series in tags.items():
            tags[tag] = [
                provider.BlobSequenceDatum(
                    step=datum.step,
                    wall_time=datum.wall_time,
                    values=tuple(
                        provider.BlobReference(blob_key="g%d.%s" % (index, ref.blob_key), url=ref.url)
                        for ref in datum.values
                    ),
                )
                for datum in series
            ]
    return result


def _index_of(prefix):
    if prefix.startswith("g") and prefix[1:].isdigit():
        return int(prefix[1:])
    return None
