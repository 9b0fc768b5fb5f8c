"""Project-level promises: the specs are the shared ones, CI runs the
README's test command."""

import filecmp
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_SPEC = os.path.join(ROOT, "..", "shared", "spec")


@pytest.mark.skipif(not os.path.isdir(SHARED_SPEC), reason="no ../shared/spec beside the checkout")
@pytest.mark.parametrize("name", ["hparam-summaries.md", "image-summaries.md"])
def test_specs_are_the_shared_ones_byte_for_byte(name):
    assert filecmp.cmp(
        os.path.join(SHARED_SPEC, name), os.path.join(ROOT, "tests", name), shallow=False
    )


def _quick_start_commands():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^    (\S.*)$", section, re.M)


def test_readme_quick_start_is_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    assert _quick_start_commands()[1] in ci.splitlines()
