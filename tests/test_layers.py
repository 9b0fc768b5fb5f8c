"""The code's layers: each folder of `guild_tensorboard` imports only from
itself and the layers below it, nothing imports the Guild-named faces
(`guild/`, which are Guild's own modules when Guild is installed), and the
faces only re-export."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "guild_tensorboard")

# What each layer may import from.
ALLOWED = {
    "events": {"events"},
    "runs": {"events", "runs"},
    "runner": {"events", "runs", "runner"},
    "monitor": {"events", "runs", "monitor"},
    "serving": {"events", "runs", "runner", "monitor", "serving"},
}


def _modules(folder):
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def _imports(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            for alias in node.names:
                yield "%s.%s" % (node.module, alias.name)


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "guild_tensorboard" else None


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below(layer):
    for path in _modules(os.path.join(PACKAGE, layer)):
        for module in _imports(path):
            assert module.split(".")[0] != "guild", (path, module)
            imported = _layer(module)
            if imported in ALLOWED:
                assert imported in ALLOWED[layer], "%s imports %s" % (os.path.relpath(path, ROOT), module)


def test_the_faces_only_re_export():
    faces = os.path.join(ROOT, "guild")
    names = sorted(os.listdir(faces))
    assert "tensorboard.py" in names and "_test.py" in names
    for path in _modules(faces):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        assert defined == [], (path, defined)
        for module in _imports(path):
            assert module.split(".")[0] != "guild", (path, module)


def test_the_public_api_is_there():
    import guild.tensorboard
    import guild.summary
    import guild.tfevent
    import guild.run

    for name in (
        "RunsMonitor", "TensorboardError", "DEFAULT_RELOAD_INTERVAL", "create_app",
        "serve_forever", "setup_logging", "make_simple_server", "run_simple_server",
    ):
        assert hasattr(guild.tensorboard, name), name
    for name in ("EventReader", "ScalarReader", "scalar_readers"):
        assert hasattr(guild.tfevent, name), name
    assert hasattr(guild.summary, "SummaryWriter")
    assert hasattr(guild.run, "Run") and hasattr(guild.run, "for_dir")
