"""`guild` for this package's faces, installed at interpreter start.

An installed guild-tensorboard ships no file in `guild/` (Guild AI's own
package: a file there would overwrite Guild's, and uninstalling would
delete it). Its Guild-named modules are in `guild_tensorboard/_guild/`,
and `guild-tensorboard.pth` (in site-packages) imports this module, which
puts one finder first on `sys.meta_path`:

- `guild`: when no `guild` package is found on `sys.path` (Guild is not
  installed), the faces folder is the `guild` package; otherwise the
  finder steps aside and Python imports Guild's, untouched;
- `guild.tensorboard` under Guild's package: this package's face, in place
  of Guild's module (the one module it is meant to replace; Guild's own
  `guild tensorboard` and `guild view` import it);
- another face under Guild's package (`guild.notebook`, `guild.demo`): this
  package's only when Guild has no module of that name, so Guild's own
  modules (`guild.run`, `guild.summary`, ...) are always Guild's;
- anything else: not its business.

To see which is which: `python -c "import guild, guild.tensorboard as t;
print(guild.__file__, t.__file__)"`. Nothing else is imported at start.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

FACES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_guild")


class GuildFaces(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "guild":
            if importlib.machinery.PathFinder.find_spec("guild") is not None:
                return None
            return importlib.util.spec_from_file_location(
                "guild", os.path.join(FACES, "__init__.py"), submodule_search_locations=[FACES]
            )
        parent_name, _, name = fullname.partition(".")
        if parent_name != "guild" or "." in name:
            return None
        face = os.path.join(FACES, name + ".py")
        parent = sys.modules.get("guild")
        if parent is None or is_faces(parent) or not os.path.isfile(face):
            return None
        if name != "tensorboard" and importlib.machinery.PathFinder.find_spec(fullname, parent.__path__):
            return None  # Guild's own
        return importlib.util.spec_from_file_location(fullname, face)


def is_faces(module):
    """True for this package's `guild` (not Guild's)."""
    path = getattr(module, "__file__", None) or ""
    return os.path.dirname(os.path.abspath(path)) == FACES


def install():
    if not any(isinstance(finder, GuildFaces) for finder in sys.meta_path):
        sys.meta_path.insert(0, GuildFaces())


if os.path.isdir(FACES):  # an installed wheel (a checkout has `guild/` instead)
    install()
