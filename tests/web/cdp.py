"""Headless Chromium driven over the DevTools protocol (CDP): just enough to type into a
form, click, wait for a page, run a check in the page and take a screenshot.

Debian's chromium speaks CDP on its own; no driver binary or download is needed.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import websocket

ROOT = Path(__file__).resolve().parents[2]


def ensure_chromium() -> str:
    """The browser's path; scripts/ensure-chromium installs Debian's package when missing."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "ensure-chromium")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/ensure-chromium failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


class Browser:
    """One headless Chromium with one page; close() ends the process."""

    def __init__(self, binary: str, width: int = 1400, height: int = 1000) -> None:
        # Chromium's helper processes may still write to the profile for a moment after the
        # browser exits: close() retries, and a leftover file does not fail the test
        self._profile = tempfile.TemporaryDirectory(
            prefix="berth-chromium-", ignore_cleanup_errors=True
        )
        self.process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",  # the tests run as root in CI
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        try:
            port = self._devtools_port()
            pages = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            target = next(p for p in pages if p["type"] == "page")
            self.ws = websocket.create_connection(
                target["webSocketDebuggerUrl"], timeout=20, suppress_origin=True
            )
        except BaseException:
            self.close()
            raise
        self.send("Page.enable")
        self.send("Runtime.enable")

    def _devtools_port(self) -> int:
        marker = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            text = marker.read_text() if marker.exists() else ""
            if text.strip():
                return int(text.splitlines()[0])
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port within 20 s")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a CDP method and wait for its answer (events in between are dropped)."""
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll a JavaScript expression until it is truthy and the document has loaded."""
        deadline = time.monotonic() + timeout
        check = f"document.readyState === 'complete' && !!({expression})"
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(check)
            except RuntimeError:
                value = None  # the page is navigating: its context is being replaced
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression!r} on {self.location()}")

    def location(self) -> str:
        return str(self.evaluate("location.href"))

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("location.href !== 'about:blank' && location.href.length > 0")

    def type_into(self, selector: str, text: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element, as a person would."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
            )

    def screenshot(self, path: Path) -> bytes:
        """The whole page, not only the window, as PNG."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        data = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        )["data"]
        png = base64.b64decode(data)
        path.write_bytes(png)
        return png

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for _ in range(20):
            try:
                shutil.rmtree(self._profile.name)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
        self._profile.cleanup()
