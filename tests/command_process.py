"""`guild-tensorboard` in a subprocess, as a user starts it.

`CommandProcess(args, tmpdir)` runs `python -m guild.tensorboard ARGS`
with `TMPDIR` set to `tmpdir` (so its temporary log directory lands
there), waits for the "Running TensorBoard ... at URL" line, and answers
HTTP requests to it. `interrupt()` sends SIGINT (Ctrl+C) and waits.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

URL_LINE_PREFIX = "Running TensorBoard "


class CommandProcess:
    def __init__(self, args, tmpdir, env=None, timeout=90, preexec_fn=None):
        self.tmpdir = str(tmpdir)
        full_env = dict(os.environ, TMPDIR=self.tmpdir, PYTHONUNBUFFERED="1")
        full_env.pop("DISPLAY", None)
        full_env.pop("BROWSER", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guild.tensorboard"] + list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=full_env,
            text=True,
            preexec_fn=preexec_fn,
        )
        self.stdout_lines = []
        self.stderr_lines = []
        self._url_ready = threading.Event()
        self.url = None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for t in self._readers:
            t.start()
        try:
            self._wait_for_url(timeout)
        except BaseException:
            self.kill()
            raise

    def _read(self, stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))
            if line.startswith(URL_LINE_PREFIX) and " at " in line:
                self.url = line.split(" at ", 1)[1].split(" ", 1)[0]
                self._url_ready.set()

    def _wait_for_url(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._url_ready.wait(0.2):
                return
            if self.proc.poll() is not None:
                break
        raise AssertionError(
            "no URL from guild-tensorboard (exit %s)\nstdout:\n%s\nstderr:\n%s"
            % (self.proc.poll(), self.stdout(), self.stderr())
        )

    def stdout(self):
        return "\n".join(self.stdout_lines)

    def stderr(self):
        return "\n".join(self.stderr_lines)

    def get_bytes(self, path):
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as resp:
            return resp.read()

    def get_json(self, path):
        return json.loads(self.get_bytes(path))

    def post_json(self, path, body):
        req = urllib.request.Request(
            self.url + path.lstrip("/"), data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())

    def children(self):
        """Pids of the processes whose parent is the command."""
        return child_pids(self.proc.pid)

    def interrupt(self, timeout=30):
        """Ctrl+C: SIGINT, then waits for the exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout=30):
        status = self.proc.wait(timeout)
        for t in self._readers:
            t.join(5)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def child_pids(pid):
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rpartition(b")")[2].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            pids.append(int(name))
    return pids


def pid_is_running(pid):
    """True while `pid` is a live process (not a zombie)."""
    try:
        with open("/proc/%i/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rpartition(b")")[2][1:2] != b"Z"
