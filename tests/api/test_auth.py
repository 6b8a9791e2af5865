"""Every write route, present and future, refuses callers without a token or with a viewer's."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.conftest import Api

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# /metrics: open unless BERTH_METRICS_TOKEN is set (tests/api/test_metrics.py checks that);
# /healthz and /readyz: for health checkers, which hold no token (tests/api/test_health.py)
PUBLIC = {
    "/api/v1/openapi.json",
    "/static/<path:filename>",
    "/metrics",
    "/healthz",
    "/readyz",
}


def _routes(app: Flask) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule in PUBLIC or rule.endpoint.startswith("web."):
            continue  # the pages log in by session: tests/web/test_pages.py walks them
        url = re.sub(r"<int(?:\([^)]*\))?:[^>]+>", "1", rule.rule)
        url = re.sub(r"<(?:[^:>]+:)?[^>]+>", "x", url)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_the_url_map_has_write_routes(app: Flask) -> None:
    writes = [r for r in _routes(app) if r[0] in WRITES]
    assert len(writes) >= 10  # the walk below must really see the routes


def test_every_write_route_needs_a_token_and_more_than_viewer(app: Flask, tokens: dict) -> None:
    client = app.test_client()
    anonymous, viewer = Api(client, None), Api(client, tokens["viewer"])
    for method, url in _routes(app):
        if method not in WRITES:
            continue
        call = getattr(anonymous, method.lower())
        no_token = call(url, json={})
        assert no_token.status_code == 401, (method, url)
        assert no_token.content_type == "application/problem+json"
        assert "Bearer" in no_token.headers["WWW-Authenticate"]
        assert getattr(viewer, method.lower())(url, json={}).status_code == 403, (method, url)


def test_every_read_route_needs_a_token(app: Flask) -> None:
    client = app.test_client()
    for method, url in _routes(app):
        if method == "GET":
            assert client.get(url).status_code == 401, url


def test_a_wrong_or_revoked_token_is_401(app: Flask, tokens: dict) -> None:
    from ledger.tokens import create_token, revoke_token

    client = app.test_client()
    assert Api(client, "berth_not-a-token").get("/api/v1/clusters").status_code == 401
    ctx = app.extensions["berth"].context()
    token = create_token(ctx, "short-lived", "viewer")
    assert Api(client, token).get("/api/v1/clusters").status_code == 200
    revoke_token(ctx, "short-lived")
    assert Api(client, token).get("/api/v1/clusters").status_code == 401


@pytest.mark.parametrize(
    "role, allowed",
    [("viewer", False), ("pipeline", False), ("ops", True), ("admin", True)],
)
def test_roles_are_ordered(app: Flask, tokens: dict, role: str, allowed: bool) -> None:
    api = Api(app.test_client(), tokens[role])
    response = api.post("/api/v1/services", json={"name": "a", "runtime": "node", "team": "t"})
    assert (response.status_code == 201) is allowed, response.get_json()
    cluster = api.post(
        "/api/v1/clusters",
        json={"name": "c", "mesos_masters": ["http://m:5050"], "marathon_url": "http://m:8080"},
    )
    assert (cluster.status_code == 201) is (role == "admin")


def test_openapi_document_is_public_and_generated(app: Flask) -> None:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    put = doc["paths"]["/api/v1/environments/{env}/allocations/{service}"]["put"]
    schema_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    allocation_in = doc["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert allocation_in["properties"]["mem"]["minimum"] == 32
    assert "cpus" in allocation_in["required"]


def test_tokens_are_stored_only_as_hashes(app: Flask, tokens: dict) -> None:
    from sqlalchemy import text

    engine = app.extensions["berth"].engine
    with engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM api_tokens"))]
    assert stored and not any(t in stored for t in tokens.values())
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in stored)
