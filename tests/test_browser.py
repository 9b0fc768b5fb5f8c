"""End to end: `guild-tensorboard demo` in a subprocess, its HParams and
Images dashboards in headless Chromium.

Screenshots go to `test-artifacts/`. Without Chromium the tests fail under
CI (which installs Debian's `chromium`) and are skipped elsewhere.
"""

import os
import re
import time

import pytest

from guild_tensorboard.runner import demo

from chromium import Chromium, chromium_path, page_contents
from command_process import CommandProcess
from tensorboard_client import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(ROOT, "test-artifacts")
X_FLAGS = [flags["x_flag"] for flags in demo.SAMPLE_FLAGS]
IMAGE_TAGS = ["favicon-copy.png", "heart-copy.jpg"]
IMAGE_SIZES = {(180, 180), (50, 50)}  # the sample favicon.png and heart.jpg


def _require_chromium():
    if chromium_path():
        return
    message = "headless Chromium is needed: apt-get install chromium"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI installs it in .ci/run)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def command(tmp_path_factory):
    _require_chromium()
    tmp = tmp_path_factory.mktemp("browser-tmp")
    with CommandProcess(["demo", "-n", "-p", "0", "--refresh-interval", "1"], tmp) as cmd:
        # TensorBoard's data server loads the log directory in the
        # background: wait for every run folder (and the images folder).
        wait_for(lambda: len(cmd.get_json("data/runs")) == 5, timeout=60)
        yield cmd
        assert cmd.interrupt() == 0, cmd.stderr()


@pytest.fixture(scope="module")
def browser(command, tmp_path_factory):
    with Chromium() as browser:
        yield browser


def dashboard(browser, url, tab, ready, timeout=60):
    """Opens TensorBoard at `tab` and waits until `ready(contents)`, where
    `contents` holds the texts and images of the tab's dashboard."""
    browser.navigate(url + "#" + tab)
    deadline = time.time() + timeout
    reload_at = time.time() + 15
    contents = None
    while time.time() < deadline:
        if time.time() > reload_at:  # a dashboard loads its data once
            browser.reload()
            reload_at = time.time() + 15
        contents = page_contents(browser, dashboard_tag(tab))
        if contents and ready(contents):
            time.sleep(0.5)  # let the last images paint before the screenshot
            return page_contents(browser, dashboard_tag(tab))
        time.sleep(0.5)
    screenshot(browser, tab + "-timeout")
    raise AssertionError("%s dashboard not ready in %ss: %r" % (tab, timeout, contents))


def dashboard_tag(tab):
    return {"hparams": "tf-hparams-dashboard", "images": "tf-image-dashboard"}[tab]


def screenshot(browser, name):
    return browser.screenshot(os.path.join(ARTIFACTS, "browser-%s.png" % name))


def tensorboard_number(x):
    """A number as the HParams table shows it (JavaScript's toPrecision(5))."""
    return "%#.5g" % x


def test_hparams_dashboard_shows_a_row_per_echo_run(command, browser):
    values = [tensorboard_number(x) for x in X_FLAGS]

    def ready(contents):
        texts = contents["texts"]
        return all(value in texts for value in values) and (
            "Number of matching session groups: 4" in texts
        )

    contents = dashboard(browser, command.url, "hparams", ready)
    path = screenshot(browser, "hparams")
    texts = contents["texts"]
    rows = [text for text in texts if re.match(r"^[0-9a-f]{8} echo\.py$", text)]
    assert len(set(rows)) == len(X_FLAGS), texts
    assert [text for text in texts if re.match(r"^[0-9a-f]{8} copy-images$", text)]
    for value in values:
        # Each x_flag value shows twice in its row: as the flag and as
        # the x_metric that echo.py logged.
        assert texts.count(value) >= 2, (value, texts)
    assert "Number of matching session groups: 4" in texts
    assert os.path.getsize(path) > 10000


def test_images_dashboard_shows_the_copy_images_images(command, browser):
    def ready(contents):
        loaded = [img for img in contents["images"] if img["complete"] and img["naturalWidth"]]
        return len(loaded) >= len(IMAGE_TAGS)

    contents = dashboard(browser, command.url, "images", ready)
    path = screenshot(browser, "images")
    for tag in IMAGE_TAGS:
        assert tag in contents["texts"]
    images = [img for img in contents["images"] if "/data/plugin/images/individualImage" in img["src"]]
    assert {(img["naturalWidth"], img["naturalHeight"]) for img in images} == IMAGE_SIZES
    assert all(img["width"] > 0 and img["height"] > 0 for img in images)
    runs = [text for text in contents["texts"] if re.match(r"^[0-9a-f]{8} copy-images .*/\.images$", text)]
    assert runs, contents["texts"]
    assert os.path.getsize(path) > 10000


def _themed(browser):
    """Whether TensorBoard's app has set the page's theme (its component
    that toggles the body's `dark-mode` class is there)."""
    return browser.evaluate("!!document.querySelector('dark-mode-supporter')")


def _dark(browser):
    return browser.evaluate("document.body.classList.contains('dark-mode')")


def test_tensorboard_is_light_without_dark_mode(command, browser):
    browser.navigate(command.url + "#scalars")
    wait_for(lambda: _themed(browser), timeout=30)
    assert not _dark(browser)


def test_dark_mode_opens_tensorboard_dark_every_way_in(browser, tmp_path):
    with CommandProcess(["demo", "-n", "-p", "0", "--dark-mode", "--tab", "hparams"], str(tmp_path)) as cmd:
        assert re.match(r"http://127\.0\.0\.1:\d+/\?darkMode=true#hparams$", cmd.url), cmd.url
        base = cmd.url.split("?", 1)[0]
        browser.navigate(base + "#images")  # a bookmark without the flag
        wait_for(lambda: _themed(browser), timeout=30)
        assert _dark(browser)
        assert browser.evaluate("location.search + location.hash") == "?darkMode=true#images"
        screenshot(browser, "dark-mode")
        browser.navigate(base + "?darkMode=false")  # the flag, given, is TensorBoard's to read
        wait_for(lambda: _themed(browser), timeout=30)
        assert not _dark(browser)
        assert cmd.interrupt() == 0, cmd.stderr()
