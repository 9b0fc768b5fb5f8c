import atexit
import os
import shutil
import tempfile

import pytest

from guild_tensorboard.runner import harness as _test

# The monitor's journals of log directories (`guild_tensorboard.monitor.logdir_claim`) go to a
# folder of the test session's, not to the user's state folder; commands
# run in subprocesses inherit it.
_STATE = tempfile.mkdtemp(prefix="guild-tensorboard-state-")
os.environ["GUILD_TENSORBOARD_STATE"] = _STATE
atexit.register(shutil.rmtree, _STATE, True)


@pytest.fixture(autouse=True)
def _guild_test_globals(doctest_namespace):
    """The Markdown specs' globals (see `guild_tensorboard.runner.harness`)."""
    doctest_namespace.update(_test.test_globals())
