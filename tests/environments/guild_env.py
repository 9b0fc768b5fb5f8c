"""A virtual environment with Guild AI installed from the registry, a
Guild home with real runs of a small project, and this checkout built
into a wheel."""

import hashlib
import os
import re
import subprocess
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUILD_VERSION = os.environ.get("GUILD_TENSORBOARD_GUILD_VERSION", "0.9.0")

# Guild's own doctests (`guild check -nt NAME`) that pass with Guild 0.9.0
# alone (0.8.2 alone fails `labels`, `tags` and `tensorboard`).
GUILD_DOCTESTS = [
    "runs-1", "runs-2", "compare", "labels", "tags", "filter-runs", "run-files",
    "run-status", "select-runs", "api-runs", "var", "tfevents", "summary",
    "scalars", "tensorboard",
]

TRAIN_PY = textwrap.dedent(
    """
    import os

    from PIL import Image

    from guild import summary

    x = 1.0
    lr = 0.1
    optimizer = "adam"

    print("loss: %f" % (x * lr))
    print("acc: %f" % (1 - x * lr))
    writer = summary.SummaryWriter("eval")
    writer.add_scalar("val_loss", 2 * x * lr, 1)
    writer.close()
    Image.new("RGB", (8, 8), (int(x * 80), 0, 0)).save("sample.png")
    """
)


class GuildEnv:
    def __init__(self, root):
        self.root = str(root)
        self.venv = os.path.join(self.root, "venv")
        self.home = os.path.join(self.root, "guild-home")
        self.check_home = os.path.join(self.root, "check-home")
        self.project = os.path.join(self.root, "project")
        self.python = os.path.join(self.venv, "bin", "python")

    def create(self):
        subprocess.run([sys.executable, "-m", "venv", self.venv], check=True)
        # Guild 0.8 does not run with pydantic 2 (which it does not pin):
        # its users have pydantic 1.
        extra = ["pydantic<2"] if GUILD_VERSION.startswith("0.8") else []
        self.pip("install", "-q", "guildai==%s" % GUILD_VERSION, *extra)
        for path in (self.home, self.check_home, self.project):
            os.makedirs(path)
        with open(os.path.join(self.project, "train.py"), "w") as f:
            f.write(TRAIN_PY)
        for x in (1, 2, 3):
            self.guild("run", "-y", "train.py", "x=%d" % x, "lr=0.0%d" % x)

    def pip(self, *args):
        return _run([self.python, "-m", "pip"] + list(args), cwd=self.root)

    def guild(self, *args, home=None, check=True):
        return _run(self._guild_cmd(args), env=self._guild_env(home), cwd=self.project, check=check)

    def guild_process(self, *args):
        """`guild ARGS` running; its standard output and error go to the
        file `proc.out_path`."""
        out_path = os.path.join(self.root, "guild-%s.out" % args[0])
        with open(out_path, "w") as out:
            proc = subprocess.Popen(
                self._guild_cmd(args), env=self._guild_env(None), cwd=self.project,
                stdout=out, stderr=subprocess.STDOUT,
            )
        proc.out_path = out_path
        return proc

    def _guild_cmd(self, args):
        return [os.path.join(self.venv, "bin", "guild")] + list(args)

    def _guild_env(self, home):
        env = dict(os.environ, GUILD_HOME=home or self.home, NO_VCS_COMMIT="1", PYTHONUNBUFFERED="1")
        env.pop("GUILD_TENSORBOARD_ENV_TESTS", None)
        return env

    def py(self, code):
        return _run([self.python, "-c", code], cwd=self.root).stdout.strip()

    @property
    def site_packages(self):
        return self.py("import sysconfig; print(sysconfig.get_paths()['purelib'])")

    def guild_files(self):
        """`{path: sha256}` of Guild's installed package (compiled files
        aside: Python writes those for any import)."""
        top = os.path.join(self.site_packages, "guild")
        digests = {}
        for dirpath, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    digests[os.path.relpath(path, top)] = hashlib.sha256(f.read()).hexdigest()
        return digests

    def doctest_results(self):
        """`{name: "ok" | "FAILED"}` from `guild check -nt NAME ...`
        (which prints `  NAME: ok`, or `  NAME: ` and the failures)."""
        args = ["check"]
        for name in GUILD_DOCTESTS:
            args += ["-nt", name]
        out = self.guild(*args, home=self.check_home, check=False).stdout
        said = re.findall(r"^  ([\w-]+):[ \t]+(\S+)", out, re.MULTILINE)
        results = {name: "ok" if word == "ok" else "FAILED" for name, word in said}
        assert set(results) == set(GUILD_DOCTESTS), out[-3000:]
        return results


def line_starting(proc, prefix, timeout=120):
    """The first line of `proc`'s output starting with `prefix`, once
    written."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(proc.out_path) as f:
            for line in f:
                if line.startswith(prefix) and line.endswith("\n"):
                    return line.rstrip("\n")
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    with open(proc.out_path) as f:
        raise AssertionError("no line %r in:\n%s" % (prefix, f.read()[-4000:]))


def stop(proc):
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def build_wheel(dest):
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), ROOT])
    [name] = [n for n in os.listdir(dest) if n.endswith(".whl")]
    return os.path.join(str(dest), name)


def _run(cmd, env=None, cwd=None, check=True):
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError("%s exited %s:\n%s" % (cmd, proc.returncode, proc.stdout[-4000:]))
    return proc
