"""Drive headless Chromium over the DevTools protocol (--remote-debugging-pipe), stdlib only.

open_page(url) loads a page, and returns what the browser saw: console errors, uncaught
exceptions, failed network loads, the state of every <img>, and a full-page PNG screenshot.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
         "--remote-debugging-pipe"]

IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
  src: i.src.slice(0, 60), alt: i.alt, complete: i.complete,
  width: i.naturalWidth, height: i.naturalHeight})))"""


def find_chromium():
    for path in (os.environ.get("PRIMBENCH_CHROMIUM"),) + CANDIDATES:
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


class BrowserError(Exception):
    pass


class Pipe:
    """Messages are JSON, NUL-terminated: we write to the browser's fd 3, read its fd 4."""

    def __init__(self, to_browser: int, from_browser: int, timeout: float):
        self.w, self.r, self.timeout = to_browser, from_browser, timeout
        self.buf = b""
        self.next_id = 0
        self.events: list = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read_one(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("timed out waiting for the browser")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise BrowserError("browser closed the DevTools pipe")
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None):
        want = self.send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read_one(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method, deadline):
        for i, ev in enumerate(self.events):
            if ev["method"] == method:
                return self.events.pop(i)
        while True:
            msg = self._read_one(deadline)
            if msg.get("method") == method:
                return msg
            if "method" in msg:
                self.events.append(msg)


def _high_fd(fd):
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new


def open_page(url: str, width: int = 1400, height: int = 900, timeout: float = 60.0,
              chromium: str | None = None) -> dict:
    chromium = chromium or find_chromium()
    if not chromium:
        raise BrowserError("chromium not found")
    profile = tempfile.mkdtemp(prefix="primbench-chromium-")
    to_r, to_w = map(_high_fd, os.pipe())       # we write, browser reads on fd 3
    from_r, from_w = map(_high_fd, os.pipe())   # browser writes on fd 4, we read

    def child_fds():
        os.dup2(to_r, 3)
        os.dup2(from_w, 4)

    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
         "about:blank"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=child_fds,
        close_fds=False)
    os.close(to_r)
    os.close(from_w)
    pipe = Pipe(to_w, from_r, timeout)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session=sid)
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=sid)
        nav = pipe.call("Page.navigate", {"url": url}, session=sid)
        if nav.get("errorText"):
            raise BrowserError(f"navigation failed: {nav['errorText']}")
        pipe.wait_event("Page.loadEventFired", time.monotonic() + timeout)
        images = json.loads(pipe.call("Runtime.evaluate",
                                      {"expression": IMAGES_JS, "returnByValue": True},
                                      session=sid)["result"]["value"])
        title = pipe.call("Runtime.evaluate", {"expression": "document.title",
                                               "returnByValue": True},
                          session=sid)["result"]["value"]
        shot = pipe.call("Page.captureScreenshot",
                         {"format": "png", "captureBeyondViewport": True}, session=sid)
        # collect anything already queued (late console messages) without waiting long
        try:
            pipe.call("Runtime.evaluate", {"expression": "1"}, session=sid)
        except BrowserError:
            pass
        problems = []
        for ev in pipe.events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                problems.append("console." + p["type"] + ": " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                problems.append("exception: " + str(d.get("text")) + " " + str(
                    d.get("exception", {}).get("description", "")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                e = p["entry"]
                problems.append(f"log: {e.get('text')} {e.get('url', '')}".strip())
            elif m == "Network.loadingFailed":
                problems.append(f"network: {p.get('errorText')} ({p.get('type')})")
        try:
            pipe.call("Browser.close")
        except BrowserError:
            pass
        return {"title": title, "images": images, "errors": problems,
                "screenshot": base64.b64decode(shot["data"])}
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_w)
        os.close(from_r)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
