"""Raising the soft open-files limit as far as the hard limit allows, in a
process of its own (limits are per process)."""

import subprocess
import sys

from guild_tensorboard.serving import open_files

_PROBE = """
import resource
from guild_tensorboard.serving import open_files
resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d))
raised = open_files.raise_soft_limit()
print(raised, resource.getrlimit(resource.RLIMIT_NOFILE)[0], open_files.data_server_files(raised))
"""


def _probe(soft, hard):
    out = subprocess.run([sys.executable, "-c", _PROBE % (soft, hard)], capture_output=True, text=True, check=True)
    return [int(field) for field in out.stdout.split()]


def test_the_soft_limit_is_raised_to_the_hard_limit():
    assert _probe(256, 4096) == [4096, 4096, 4096 - open_files.DATA_SERVER_RESERVE]


def test_a_hard_limit_cannot_be_passed():
    assert _probe(300, 300) == [300, 300, 300 - open_files.DATA_SERVER_RESERVE]


def test_a_data_server_gets_at_least_a_few_files():
    assert open_files.data_server_files(10) == open_files.MIN_DATA_SERVER_FILES
