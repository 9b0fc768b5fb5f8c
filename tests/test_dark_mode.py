"""--dark-mode's middleware and URL, over TensorBoard's own application
(the browser's view of it is in test_browser.py)."""

import threading
import urllib.error
import urllib.request

import pytest

from guild_tensorboard.serving import app as tensorboard_server
from guild_tensorboard.serving.dark_mode import dark_mode_middleware, dark_mode_url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    app = tensorboard_server.create_app(logdir=str(tmp_path_factory.mktemp("logdir")))
    server, url = tensorboard_server.make_simple_server(dark_mode_middleware(app), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url
    server.shutdown()
    tensorboard_server.stop_app(app)


def _get(url):
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(url, timeout=30) as resp:
            return resp.status, resp.headers.get("Location"), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location"), b""


def test_the_page_redirects_to_itself_with_tensorboards_flag(url):
    assert _get(url)[:2] == (302, "?darkMode=true")
    assert _get(url + "?x=1&y")[:2] == (302, "?darkMode=true&x=1&y")
    status, _, page = _get(url + "?darkMode=true")
    assert status == 200 and b"<tb-webapp" in page
    assert _get(url + "?darkMode=false")[0] == 200  # named: the user's to choose


def test_the_rest_of_tensorboard_is_untouched(url):
    status, location, body = _get(url + "index.js")
    assert (status, location) == (200, None)
    assert b'queryParamOverride:"darkMode"' in body  # the flag TensorBoard reads
    assert _get(url + "data/environment")[0] == 200


def test_the_url_carries_the_flag_before_the_tab():
    assert dark_mode_url("http://h:1/") == "http://h:1/?darkMode=true"
    assert dark_mode_url("http://h:1/#hparams") == "http://h:1/?darkMode=true#hparams"
    assert dark_mode_url("http://h:1/?a=b") == "http://h:1/?a=b&darkMode=true"
