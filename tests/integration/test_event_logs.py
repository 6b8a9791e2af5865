"""A sync and a deploy through the API each leave one event line with the request's id."""

from __future__ import annotations

import io
import json
from typing import Any

from flask import Flask

from tests.api.test_logs import captured  # noqa: F401 - the log capture fixture
from tests.conftest import Api
from tests.integration.test_deployments import deploy, ready  # noqa: F401


def test_sync_and_deploy_are_logged_as_events(
    app: Flask,
    tokens: dict,
    ops: Any,
    ready: Any,  # noqa: F811
    captured: io.StringIO,  # noqa: F811
) -> None:
    synced = ops.post("/api/v1/clusters/east/sync", headers={"X-Request-Id": "sync-1"})
    assert synced.status_code == 200
    pipeline = Api(app.test_client(), tokens["pipeline"])
    released = deploy(pipeline, query="", image="registry.local/shop/order-service:2.0")
    assert released.status_code == 202, released.get_json()
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    sync = next(line for line in lines if line.get("event") == "sync")
    assert sync["cluster"] == "east" and sync["request_id"] == "sync-1"
    assert sync["actor"] == "test-ops" and isinstance(sync["agents"], int)
    release = next(line for line in lines if line.get("event") == "deploy")
    assert release["app_id"] == "/production/order-service"
    assert release["release"] == released.get_json()["id"]
    assert release["request_id"] == released.headers["X-Request-Id"]
    assert release["actor"] == "test-pipeline"
    assert tokens["pipeline"] not in captured.getvalue()
