"""Starting one of TensorBoard's Rust data servers over a folder.

As TensorBoard starts its own (`tensorboard.data.server_ingester`), with
the same flags, but waiting for the server's port by polling its port
file every 10 ms rather than every half second: a shard's first runs show
that much sooner. The server exits when its standard input closes
(`--die-after-stdin`), so it never outlives this process.
"""

import logging
import os
import subprocess
import tempfile
import time

log = logging.getLogger("guild")

START_TIMEOUT = 10.0
_POLL = 0.01


class DataServerError(Exception):
    pass


class DataServer:
    """A running data server: `provider` answers TensorBoard's requests;
    `stop()` ends the process."""

    def __init__(self, binary, logdir, reload_interval, samples_per_plugin, extra_flags, channel_creds_type):
        from tensorboard.data import grpc_provider

        self._tmp = tempfile.TemporaryDirectory(prefix="guild-tensorboard-data-server-")
        port_file = os.path.join(self._tmp.name, "port")
        error_file = os.path.join(self._tmp.name, "error")
        args = [
            binary.path,
            "--logdir=%s" % logdir,
            "--reload=%d" % max(1, int(round(reload_interval))),
            "--samples-per-plugin=%s" % _samples(samples_per_plugin),
            "--port=0",
            "--port-file=%s" % port_file,
            "--die-after-stdin",
        ]
        if binary.at_least_version("0.5.0a0"):
            args.append("--error-file=%s" % error_file)
        args.extend(extra_flags)
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE)
        try:
            port = _wait_for_port(self.process, port_file, error_file)
            address = "localhost:%d" % port
            creds, options = channel_creds_type.channel_config()
            options.append(("grpc.max_receive_message_length", 256 * 1024 * 1024))
            import grpc

            channel = grpc.secure_channel(address, creds, options=options)
            self.provider = grpc_provider.GrpcDataProvider(address, grpc_provider.make_stub(channel))
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.process.stdin:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._tmp.cleanup()


def _wait_for_port(process, port_file, error_file):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DataServerError(
                (_read(error_file) or "").strip() or "exited with %d" % process.returncode
            )
        contents = _read(port_file) or ""
        if contents.endswith("\n"):
            return int(contents)
        time.sleep(_POLL)
    raise DataServerError("did not start in %ss" % START_TIMEOUT)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _samples(samples_per_plugin):
    return ",".join(
        "%s=%s" % (name, "all" if count == 0 else count)
        for name, count in (samples_per_plugin or {}).items()
    )
