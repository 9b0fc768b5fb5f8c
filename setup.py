"""guild-tensorboard: Guild AI's TensorBoard support, without Guild.

The Guild-named modules (`guild/` in a checkout) are installed as
`guild_tensorboard/_guild/`, never as `guild/` (Guild AI's own package: a
file there would overwrite Guild's, and uninstalling would delete it), and
made importable as `guild` by `guild_tensorboard._import_hook`, which
`guild-tensorboard.pth` installs at interpreter start. An editable install
(`pip install -e .`) maps `guild` to the checkout's `guild/` instead
(setuptools' own finder, consulted after Guild's package, if any), since
setuptools leaves .pth files out of editable wheels. The sample projects
(`samples/`) are installed as `guild_tensorboard/samples/`.
"""

import os
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PTH = "guild-tensorboard.pth"
EDITABLE = "editable_wheel" in sys.argv


class build_py_with_pth(build_py):
    """Adds the import hook's .pth file to the root of the wheel, and the
    sample projects to the package (an editable install reads both from
    the checkout)."""

    def run(self):
        super().run()
        if not EDITABLE:
            for src, dest in self._extras():
                self.mkpath(os.path.dirname(dest))
                self.copy_file(src, dest)

    def get_outputs(self, include_bytecode=1):
        outputs = super().get_outputs(include_bytecode)
        return outputs if EDITABLE else outputs + [dest for _src, dest in self._extras()]

    def _extras(self):
        yield PTH, os.path.join(self.build_lib, PTH)
        for dirpath, _dirs, files in os.walk("samples"):
            for name in files:
                src = os.path.join(dirpath, name)
                yield src, os.path.join(self.build_lib, "guild_tensorboard", src)


PACKAGES = find_packages(include=["guild_tensorboard", "guild_tensorboard.*"])
PACKAGES.append("guild_tensorboard._guild")
if EDITABLE:
    PACKAGES.append("guild")

setup(
    name="guild-tensorboard",
    version="0.2.0",
    description="Guild AI's TensorBoard runs monitor, without Guild",
    packages=PACKAGES,
    package_dir={"guild_tensorboard._guild": "guild"},
    python_requires=">=3.9",
    install_requires=[
        "tensorboard>=2.16",
        "protobuf>=4.25",
        "Pillow>=9.5",
        "PyYAML>=5",
        "google-crc32c>=1.5",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "hypothesis>=6",
            "websocket-client>=1.6",
            "nbclient>=0.9",
            "nbformat>=5.9",
            "ipykernel>=6.25",
        ],
        "notebook": ["ipython>=8"],
    },
    entry_points={
        "console_scripts": ["guild-tensorboard = guild_tensorboard.serving.command:main"],
    },
    cmdclass={"build_py": build_py_with_pth},
)
