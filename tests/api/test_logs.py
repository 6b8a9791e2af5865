"""The log lines: one JSON object a line per request (request_id, actor, route template,
method, status, duration_ms), one per write and refusal, and never a token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.logs import RequestIdFilter, configure_logging, formatter, log_format
from ledger.tokens import create_token


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """berth's lines at INFO, formatted as in production, into a string."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("json"))
    handler.addFilter(RequestIdFilter())
    berth = logging.getLogger("berth")
    level = berth.level
    berth.addHandler(handler)
    berth.setLevel(logging.INFO)
    yield out
    berth.removeHandler(handler)
    berth.setLevel(level)


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_requests_writes_and_refusals_are_logged_without_the_token(
    app: Flask, client: FlaskClient, captured: io.StringIO
) -> None:
    token = create_token(app.extensions["berth"].context(), "log-writer", "admin")
    auth = {"Authorization": f"Bearer {token}"}
    cluster = {
        "name": "east",
        "mesos_masters": ["http://m:5050"],
        "marathon_url": "http://m:8080",
        "port_ranges": ["31000-31999"],
    }
    made = client.post(
        "/api/v1/clusters", json=cluster, headers={**auth, "X-Request-Id": "build-42.step:1"}
    )
    assert made.status_code == 201, made.get_json()
    assert made.headers["X-Request-Id"] == "build-42.step:1"
    missing = client.get("/api/v1/environments/nowhere", headers=auth)
    assert missing.status_code == 404
    strange = client.get(
        "/api/v1/clusters/east", headers={**auth, "X-Request-Id": "no spaces; allowed\x7f"}
    )
    assert strange.status_code == 200 and len(strange.headers["X-Request-Id"]) == 32
    wrong = client.get("/api/v1/clusters", headers={"Authorization": f"Bearer {token}x"})
    assert wrong.status_code == 401
    client.get(f"/api/v1/clusters?token={token}", headers=auth)

    text = captured.getvalue()
    assert token not in text and token[:20] not in text
    assert "Authorization" not in text and "Bearer" not in text
    lines = _lines(captured)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)

    requests = [line for line in lines if line.get("event") == "request"]
    post = next(r for r in requests if r["method"] == "POST")
    assert post["request_id"] == "build-42.step:1"
    assert post["actor"] == "log-writer"
    assert post["route"] == "/api/v1/clusters"
    assert post["status"] == 201 and isinstance(post["duration_ms"], float)
    get = next(r for r in requests if r["status"] == 404)
    assert get["route"] == "/api/v1/environments/<name>"
    assert get["request_id"] == missing.headers["X-Request-Id"]
    assert any(r["status"] == 401 and r["actor"] == "anonymous" for r in requests)

    write = next(
        line for line in lines if line.get("event") == "write" and line["entity_type"] == "cluster"
    )
    assert write["action"] == "create"
    assert write["entity"] == "east" and write["actor"] == "log-writer"
    assert write["request_id"] == "build-42.step:1"

    refusals = {line["status"]: line for line in lines if line.get("event") == "refusal"}
    assert refusals[404]["title"] == "Not found" and "nowhere" in refusals[404]["detail"]
    assert refusals[401]["title"] == "Unauthorized"


def test_a_dry_run_logs_no_write(admin: Any, ops: Any, captured: io.StringIO) -> None:
    admin.post(
        "/api/v1/clusters",
        json={
            "name": "east",
            "mesos_masters": ["http://m:5050"],
            "marathon_url": "http://m:8080",
            "port_ranges": ["31000-31999"],
        },
    )
    admin.post(
        "/api/v1/environments", json={"name": "test", "cluster": "east", "marathon_group": "/t"}
    )
    ops.post("/api/v1/services", json={"name": "shop", "runtime": "java", "team": "t"})
    captured.truncate(0)
    captured.seek(0)
    answer = ops.put(
        "/api/v1/environments/test/allocations/shop?dry_run=true", json={"cpus": 0.1, "mem": 64}
    )
    assert answer.status_code in (200, 201), answer.get_json()
    assert not [line for line in _lines(captured) if line.get("event") == "write"]
    # the capture works: the dry run's request line is there, only no write
    assert [line["status"] for line in _lines(captured) if line.get("event") == "request"] == [
        answer.status_code
    ]
    ops.put("/api/v1/environments/test/allocations/shop", json={"cpus": 0.1, "mem": 64})
    writes = [line for line in _lines(captured) if line.get("event") == "write"]
    assert [w["entity"] for w in writes] == ["test/shop"]


def test_the_format_is_json_off_a_terminal_and_text_on_one() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert log_format("auto", io.StringIO()) == "json"
    assert log_format("auto", Terminal()) == "text"
    assert log_format("TEXT", io.StringIO()) == "text"
    with pytest.raises(ValueError):
        log_format("yaml")

    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging("INFO", "text", out)
        configure_logging("INFO", "text", out)  # made again: still one line per record
        logging.getLogger("berth.test").info("plain %s", "words")
        assert out.getvalue().count("plain words") == 1
        assert out.getvalue().rstrip().endswith("INFO berth.test: plain words")
    finally:
        configure_logging(logging.getLevelName(level), "auto")
