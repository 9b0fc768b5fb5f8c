"""Serving TensorBoard's application (`guild_tensorboard.serving.app`):
the functions Guild's own command calls, as Guild calls them."""

import json
import re
import socket
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from guild_tensorboard.serving import app as tensorboard_server


def _environment(url):
    with urllib.request.urlopen(url + "data/environment", timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def tb_app(tmp_path):
    app = tensorboard_server.create_app(logdir=str(tmp_path), reload_interval=1)
    yield app
    tensorboard_server.stop_app(app)


def test_make_simple_server_returns_the_server_and_its_url(tb_app):
    server, url = tensorboard_server.make_simple_server(tb_app, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        assert url == "http://127.0.0.1:%d/" % port
        tensorboard_server.serve_in_thread(server)
        assert "data_location" in _environment(url)
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_on_every_interface_is_named_by_the_host_name(tb_app):
    server, url = tensorboard_server.make_simple_server(tb_app, "0.0.0.0", 0)
    try:
        port = server.server_address[1]
        assert "0.0.0.0" not in url
        assert url == "http://%s:%d/" % (tensorboard_server.reachable_host("0.0.0.0"), port)
        tensorboard_server.serve_in_thread(server)
        assert "data_location" in _environment(url)
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_in_use_is_one_plain_sentence(tb_app):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(tensorboard_server.TensorboardError) as e:
            tensorboard_server.make_simple_server(tb_app, "127.0.0.1", port)
    message = str(e.value)
    assert message.startswith("cannot serve on 127.0.0.1:%d: Address already in use. " % port), message
    assert "Errno" not in message and re.search(r"[a-z] [A-Z]", message) is None, message


def test_serve_forever_says_where_it_serves_as_guild_does(tmp_path):
    code = textwrap.dedent(
        """
        import logging, sys
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        from guild import tensorboard
        tensorboard.serve_forever(logdir=sys.argv[1], host="127.0.0.1", port=0, reload_interval=1)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code, str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = next(line for line in proc.stdout if line.startswith("Running"))
        version = tensorboard_server.tensorboard_version()
        m = re.fullmatch(r"Running TensorBoard %s at (\S+) \(Type Ctrl\+C to quit\)\n" % re.escape(version), line)
        assert m, line
        assert "data_location" in _environment(m.group(1))
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stdout.close()
