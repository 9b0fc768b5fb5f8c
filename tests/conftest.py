import pytest

from guild import _test


@pytest.fixture(autouse=True)
def _guild_test_globals(doctest_namespace):
    """The Markdown specs' globals (see `guild._test`)."""
    doctest_namespace.update(_test.test_globals())
