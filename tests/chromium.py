"""Headless Chromium driven over the Chrome DevTools protocol.

`Chromium` starts Debian's `chromium` headless with a fresh profile and no
background networking, and talks to one page over a WebSocket
(websocket-client): navigate, evaluate JavaScript, take screenshots.
`page_contents` collects a page's text and `<img>` elements through every
shadow root (TensorBoard's dashboards are Polymer and Angular components).
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


class Chromium:
    def __init__(self, path=None, window_size=(1400, 1400), timeout=30):
        self.path = path or chromium_path()
        self.profile = tempfile.mkdtemp(prefix="guild-chromium-")
        self._log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [self.path]
            + list(CHROMIUM_FLAGS)
            + [
                "--user-data-dir=%s" % self.profile,
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--window-size=%i,%i" % window_size,
                "about:blank",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, TMPDIR=self.profile),
        )
        self._next_id = 0
        self.ws = None
        try:
            port = self._devtools_port(timeout)
            self.ws = websocket.create_connection(
                self._page_ws_url(port, timeout), timeout=timeout, suppress_origin=True
            )
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout):
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("chromium exited %s: %s" % (self.proc.returncode, self.log()))
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first:
                    return int(first)
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError("chromium did not open DevTools in %ss: %s" % (timeout, self.log()))

    def _page_ws_url(self, port, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with urllib.request.urlopen("http://127.0.0.1:%i/json/list" % port, timeout=10) as resp:
                targets = json.loads(resp.read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise AssertionError("chromium has no page")

    def log(self):
        try:
            self._log.flush()
            with open(self._log.name, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def call(self, method, **params):
        """Sends a DevTools command; returns its result (events are skipped)."""
        self._next_id += 1
        msg_id = self._next_id
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") != msg_id:
                continue
            if "error" in msg:
                raise AssertionError("%s failed: %s" % (method, msg["error"]))
            return msg.get("result", {})

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def reload(self):
        self.call("Page.reload", ignoreCache=True)

    def evaluate(self, expression):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise AssertionError("script failed: %s" % result["exceptionDetails"])
        return result.get("result", {}).get("value")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
            self.ws = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


PAGE_CONTENTS_JS = r"""
((rootTag) => {
  const find = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName.toLowerCase() === rootTag) return el;
      if (el.shadowRoot) {
        const found = find(el.shadowRoot);
        if (found) return found;
      }
    }
    return null;
  };
  const start = rootTag ? find(document) : document;
  if (!start) return null;
  const texts = [];
  const images = [];
  const seen = new Set();
  const visit = (node) => {
    if (seen.has(node)) return;
    seen.add(node);
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.nodeValue.trim();
      if (text) texts.push(text);
      return;
    }
    if (node.nodeType === Node.ELEMENT_NODE) {
      if (node.tagName === 'STYLE' || node.tagName === 'SCRIPT') return;
      if (node.tagName === 'IMG') {
        const rect = node.getBoundingClientRect();
        images.push({
          src: node.currentSrc || node.src || '',
          naturalWidth: node.naturalWidth,
          naturalHeight: node.naturalHeight,
          complete: node.complete,
          width: rect.width,
          height: rect.height,
        });
      }
      if (node.tagName === 'INPUT' && node.value) texts.push(node.value);
      if (node.shadowRoot) visit(node.shadowRoot);
    }
    for (const child of node.childNodes) visit(child);
  };
  visit(start);
  return {texts, images, title: document.title, url: location.href};
})(%s)
"""


def page_contents(browser, root_tag=None):
    """`{"texts": [...], "images": [...], "title", "url"}` of the page, or
    of its first `root_tag` element, shadow roots included; None when there
    is no such element yet."""
    return browser.evaluate(PAGE_CONTENTS_JS % json.dumps(root_tag.lower() if root_tag else None))
