import hashlib
import logging
import os

from guild_tensorboard.runner import op_sourcecode
from guild_tensorboard.runner.harness import findl
from op_projects import write


def write_bytes(root, rel, data):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_source_code_is_the_projects_text_files(tmp_path):
    project = str(tmp_path / "project")
    write(project, "train.py", "x = 1\n")
    write(project, "pkg/data.txt", "data\n")
    # A multi-byte character cut at the end of the 1 KiB sample is text.
    write_bytes(project, "cut.txt", b"a" * 1023 + "\u00e9".encode("utf-8"))
    write_bytes(project, "image.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    write_bytes(project, "latin1.txt", b"caf\xe9 au lait\n")
    write_bytes(project, "big.txt", b"a" * (op_sourcecode.MAX_SOURCE_FILE_SIZE + 1))
    write(project, "train.pyc", "compiled\n")
    write(project, ".hidden.txt", "hidden\n")
    write(project, ".git/config", "git\n")
    write(project, "__pycache__/x.txt", "cache\n")
    write(project, "node_modules/x.js", "x\n")
    write(project, "pkg.egg-info/PKG-INFO", "x\n")
    write(project, "venv/pyvenv.cfg", "home = /usr\n")
    write(project, "env/bin/activate", "x\n")
    write(project, "nocopy/.guild-nocopy", "")
    write(project, "nocopy/x.txt", "x\n")
    write(project, "run/.guild/opref", "x\n")
    write(project, "run/x.txt", "x\n")
    os.symlink(os.path.join(project, "train.py"), os.path.join(project, "link.py"))
    os.symlink(os.path.join(project, "pkg"), os.path.join(project, "linkdir"))
    dest = str(tmp_path / "dest")

    paths = op_sourcecode.copy_source_code(project, dest)
    assert paths == ["cut.txt", "pkg/data.txt", "train.py"]
    assert findl(dest) == paths
    with open(os.path.join(dest, "pkg", "data.txt")) as f:
        assert f.read() == "data\n"


def test_main_module_is_always_copied(tmp_path):
    project = str(tmp_path / "project")
    write(project, "a.txt", "a\n")
    main = write(project, ".tools/main.py", "print(1)\n")
    dest = str(tmp_path / "dest")
    paths = op_sourcecode.copy_source_code(project, dest, main)
    assert paths == [".tools/main.py", "a.txt"]
    assert findl(dest) == paths


def test_excluded_folders_are_skipped(tmp_path):
    project = str(tmp_path / "project")
    write(project, "a.txt", "a\n")
    write(project, "home/runs.txt", "x\n")
    paths = op_sourcecode.source_code_paths(project, exclude=[os.path.join(project, "home")])
    assert paths == ["a.txt"]


def test_at_most_100_source_files(tmp_path, caplog):
    project = str(tmp_path / "project")
    for i in range(op_sourcecode.MAX_SOURCE_FILES + 1):
        write(project, "f%03i.txt" % i, "x\n")
    with caplog.at_level(logging.WARNING, logger="guild"):
        paths = op_sourcecode.source_code_paths(project)
    assert paths == ["f%03i.txt" % i for i in range(100)]
    assert "more than 100 source files" in caplog.text


def test_source_code_digest(tmp_path):
    write(tmp_path, "src/a.txt", "hello")
    write(tmp_path, "src/sub/b.txt", "b")
    expected = hashlib.md5(b"a.txt\x00hello\x00sub/b.txt\x00b\x00").hexdigest()
    assert op_sourcecode.source_code_digest(str(tmp_path / "src")) == expected
    os.rename(str(tmp_path / "src/a.txt"), str(tmp_path / "src/c.txt"))
    assert op_sourcecode.source_code_digest(str(tmp_path / "src")) != expected


def test_file_digest(tmp_path):
    path = write(tmp_path, "guild.yml", "op: {}\n")
    assert op_sourcecode.file_digest(path) == hashlib.md5(b"op: {}\n").hexdigest()
