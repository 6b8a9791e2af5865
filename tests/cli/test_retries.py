"""The client's retries: a flapping 503 does not end a build, a POST is sent again only
when berth cannot have acted on it, and what keeps failing exits 3."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.cli.conftest import Berth, ok


class Flapping(BaseHTTPRequestHandler):
    """Answers each request with the next of `script` (status, headers), then 200s."""

    script: list[tuple[int, dict[str, str]]] = []
    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(self.command)
        if self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))
        status, headers = self.script.pop(0) if self.script else (200, {})
        body = {"title": "Service Unavailable", "detail": "busy"} if status >= 400 else []
        if status < 400 and self.command == "POST":
            body = {"id": 7, "status": "deploying", "app_id": "/test/a", "image": "r/a:1"}
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def flapping() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flapping)
    Flapping.script, Flapping.seen = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_reads_ride_out_503s_and_retry_after(flapping: str) -> None:
    Flapping.script = [(503, {"Retry-After": "0"}), (502, {})]
    ok(Berth(flapping, "t")("reservations"))
    assert Flapping.seen == ["GET", "GET", "GET"]


def test_a_post_is_repeated_only_when_berth_says_nothing_was_saved(flapping: str) -> None:
    Flapping.script = [(503, {"Retry-After": "0"})]  # berth gave up waiting for a lock
    ok(Berth(flapping, "t")("deploy", "a", "test", "r/a:1"))
    assert Flapping.seen == ["POST", "POST"]
    Flapping.seen.clear()
    Flapping.script = [(502, {})]  # Marathon failed: the release may exist; not sent again
    failed = ok(Berth(flapping, "t")("deploy", "a", "test", "r/a:1"), 3)
    assert Flapping.seen == ["POST"] and "answered 502" in failed.stderr


def test_what_keeps_failing_exits_3(flapping: str) -> None:
    Flapping.script = [(503, {})] * 5
    failed = ok(Berth(flapping, "t")("ports", "--cluster", "east"), 3)
    assert Flapping.seen == ["GET", "GET", "GET"]  # --retries 2
    assert "berth answered 503 after the retries: busy" in failed.stderr
