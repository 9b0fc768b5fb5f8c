"""Environment tests: this package installed from a wheel into fresh
virtual environments (from the package registry), next to other packages.

They take minutes, so the main suite leaves them out; CI runs them as a
step of their own (`.ci/run`):

    GUILD_TENSORBOARD_ENV_TESTS=1 pytest tests/environments
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if not os.environ.get("GUILD_TENSORBOARD_ENV_TESTS"):
    collect_ignore_glob = ["test_*.py"]
