"""Test helpers for the operation runner's tests: project files written from
dedented text."""

import os
import textwrap


def write(root, rel, text):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text).lstrip())
    return path
