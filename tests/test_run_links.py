import os

from guild_tensorboard.monitor import run_links

import faults
from guild_runs import make_run, write_file


def _links(run_logdir):
    found = {}
    for dirpath, dirnames, filenames in os.walk(run_logdir):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                found[os.path.relpath(path, run_logdir)] = os.readlink(path)
    return found


def _files(tmp_path):
    os.makedirs(tmp_path / "logdir" / "run", exist_ok=True)
    return faults.own_files(tmp_path / "logdir")


def _run_with_files(tmp_path):
    run = make_run(
        str(tmp_path / "home" / "runs"),
        files={"model.ckpt": b"w", "train/log.txt": b"l", "a/b/c.txt": b"c", "pkg/notes.txt": b"n"},
        scalars={".guild": {"loss": [(1, 1.0)]}, "train": {"acc": [(1, 1.0)]}},
        sources=["train.py", "pkg/util.py"],
    )
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "x.csv").write_text("1")
    os.symlink(str(data), os.path.join(run.dir, "data"))
    os.symlink(str(tmp_path / "gone"), os.path.join(run.dir, "dangling"))
    return run


def test_links_show_the_run(tmp_path):
    run = _run_with_files(tmp_path)
    run_logdir = str(tmp_path / "logdir" / "run")
    links = run_links.RunLinks(run.dir, run_logdir, _files(tmp_path), (".images",))
    run_files = links.refresh()
    [guild_event] = [name for name in os.listdir(os.path.join(run.dir, ".guild")) if "tfevents" in name]
    [train_event] = [name for name in os.listdir(os.path.join(run.dir, "train")) if "tfevents" in name]
    # Subfolders with nothing to hide are linked whole; `pkg` holds source
    # code, so it is mirrored and the source left out.
    assert _links(run_logdir) == {
        "model.ckpt": os.path.join(run.dir, "model.ckpt"),
        "a": os.path.join(run.dir, "a"),
        "train": os.path.join(run.dir, "train"),
        "data": os.path.join(run.dir, "data"),
        "pkg/notes.txt": os.path.join(run.dir, "pkg", "notes.txt"),
        run_links.guild_event_link_name(guild_event): os.path.join(run.dir, ".guild", guild_event),
    }
    assert not os.path.islink(os.path.join(run_logdir, "pkg"))
    assert run_links.guild_event_link_name(guild_event).startswith(guild_event + ".")
    assert run_files == sorted(
        ["model.ckpt", "a/b/c.txt", "train/log.txt", "train/" + train_event, "pkg/notes.txt"]
    )
    assert links.refresh() is None  # nothing changed


def test_links_follow_changes(tmp_path):
    run = _run_with_files(tmp_path)
    run_logdir = str(tmp_path / "logdir" / "run")
    links = run_links.RunLinks(run.dir, run_logdir, _files(tmp_path))
    links.refresh()
    write_file(run.dir, "a/b/new.txt", b"n")
    assert os.path.exists(os.path.join(run_logdir, "a", "b", "new.txt"))  # through the link
    os.unlink(os.path.join(run.dir, "model.ckpt"))
    write_file(run.dir, "new-top.txt", b"t")
    run_files = links.refresh()
    found = _links(run_logdir)
    assert "model.ckpt" not in found
    assert found["new-top.txt"] == os.path.join(run.dir, "new-top.txt")
    assert "a/b/new.txt" in run_files

    # A loop appears in `a/b`: `a` and `a/b` are mirrored to leave it out.
    os.symlink("..", os.path.join(run.dir, "a", "b", "loop"))
    links.refresh()
    found = _links(run_logdir)
    assert "a" not in found and "a/b" not in found
    assert set(found) >= {"a/b/c.txt", "a/b/new.txt"}
    # And gone again: `a` is linked whole again.
    os.unlink(os.path.join(run.dir, "a", "b", "loop"))
    links.refresh()
    found = _links(run_logdir)
    assert found["a"] == os.path.join(run.dir, "a")
    assert not any(rel.startswith("a/") for rel in found)


def test_orphaned_links_are_removed_by_a_new_monitor(tmp_path):
    run = _run_with_files(tmp_path)
    run_logdir = str(tmp_path / "logdir" / "run")
    run_links.RunLinks(run.dir, run_logdir, _files(tmp_path)).refresh()
    os.unlink(os.path.join(run.dir, "model.ckpt"))
    run_links.RunLinks(run.dir, run_logdir, _files(tmp_path)).refresh()
    assert not os.path.lexists(os.path.join(run_logdir, "model.ckpt"))


def test_source_code_paths_from_the_manifest(tmp_path):
    run = make_run(str(tmp_path), sources=["train.py", "pkg/util.py"])
    with open(os.path.join(run.dir, ".guild", "manifest"), "a") as f:
        f.write("d data/x.csv abc data/x.csv\n'unbalanced\n")
    assert run_links.source_code_paths(run.dir) == {"train.py", os.path.join("pkg", "util.py")}
