"""Security: tokens never logged nor stored, constant-time checks, admin-only cluster URLs,
request size limits and the security headers of every answer."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import String, Text, select

from ledger.context import Context
from ledger.tokens import authenticate, create_token
from models import Base
from simulator import Simulator, serve
from tests import factories as f
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
URL = f.allocation_url("production", "order-service")
SECRET = "ops-robot:" + secrets.token_hex(16)


def _sim_world(admin: Api, url: str, **cluster: Any) -> None:
    body = {"name": "east", "mesos_masters": [url], "marathon_url": url, **cluster}
    assert admin.post("/api/v1/clusters", json=body).status_code == 201
    f.environment(admin, "production", "east")
    f.service(admin, "order-service")


def test_tokens_never_reach_the_logs(
    app: Flask, client: Any, admin: Api, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # SQL and its parameters
    try:
        f.world(admin)
        unknown = "berth_" + secrets.token_urlsafe(32)
        for token in [*tokens.values(), unknown, "not-even-a-berth-token"]:
            api = Api(client, token)
            api.get("/api/v1/clusters")
            api.put(URL, json={"cpus": 0.5, "mem": 256})  # 2xx, 401 or 403
            api.put(URL, json={"cpus": "x"})
            client.get("/api/v1/clusters", headers={"Authorization": f"Basic {token}"})
        # a token sent where none belongs must not be echoed either
        client.get("/api/v1/services/" + unknown, headers={"Authorization": f"Bearer {unknown}"})
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert caplog.records, "nothing was logged: the test would see nothing"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for token in [*tokens.values(), unknown]:
        assert token not in logged
        assert token.removeprefix("berth_") not in logged


def test_tokens_are_compared_in_constant_time(
    app: Flask, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    ctx: Context = app.extensions["berth"].context()
    assert authenticate(ctx, tokens["ops"]) is not None
    assert compared, "the token was accepted without a constant-time comparison"
    assert all(tokens["ops"] not in (a, b) for a, b in compared)  # hashes, not the token


def test_no_secret_is_stored_in_the_database(
    app: Flask, admin: Api, ops: Api, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A demo-like load, a sync with credentials and a deploy; then every text cell is read."""
    from simulator.demo import populate

    monkeypatch.setenv("BERTH_CREDENTIALS_EAST", SECRET)
    ctx: Context = app.extensions["berth"].context()
    extra = create_token(ctx, "scanner", "admin")
    sim = Simulator(agents=8, seed=2)
    populate(sim, ["/production"], seed=2)
    with serve(sim) as server:
        _sim_world(admin, server.url, credentials_env="BERTH_CREDENTIALS_EAST")
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        from ledger.importer import import_marathon

        import_marathon(ctx, "east", "production", "/production")
        deploy = Api(admin.client, extra).post(
            "/api/v1/deployments",
            json={"service": "order-service", "environment": "production", "image": "r/o:1"},
        )
        assert deploy.status_code in (202, 409), deploy.get_json()
    secrets_ = [*tokens.values(), extra, SECRET, SECRET.split(":", 1)[1]]
    engine = app.extensions["berth"].engine
    cells = 0
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in zip(table.columns, row, strict=True):
                    if value is None or not isinstance(column.type, String | Text):
                        text = json.dumps(value, default=str)
                    else:
                        text = str(value)
                    cells += 1
                    for secret in secrets_:
                        assert secret not in text, f"{table.name}.{column.name} holds a secret"
    assert cells > 1000  # the scan saw the loaded data


def test_a_credentials_variable_must_be_berths_own(admin: Api) -> None:
    response = admin.post(
        "/api/v1/clusters",
        json={
            "name": "east",
            "mesos_masters": ["http://m:5050"],
            "marathon_url": "http://m:8080",
            "credentials_env": "BERTH_DATABASE_URL",
        },
    )
    assert response.status_code == 422 and "credentials_env" in response.get_json()["errors"]


def test_only_admins_change_where_a_cluster_lives(admin: Api, ops: Api, viewer: Api) -> None:
    f.cluster(admin)
    before = viewer.get("/api/v1/clusters/east").get_json()
    evil = {"marathon_url": "http://attacker.example:8080", "mesos_masters": ["http://a:5050"]}
    for api in (ops, viewer):
        refused = api.patch("/api/v1/clusters/east", json=evil)
        assert refused.status_code == 403, refused.get_json()
        assert refused.content_type == "application/problem+json"
        assert api.post("/api/v1/clusters", json={**evil, "name": "west"}).status_code == 403
    assert viewer.get("/api/v1/clusters/east").get_json() == before
    assert admin.patch("/api/v1/clusters/east", json=evil).status_code == 200


def test_oversized_requests_are_refused_as_problems(admin: Api, ops: Api) -> None:
    f.world(admin)
    big = '{"cpus": 1, "mem": 512, "overrides": {"x": "' + "a" * (2 * 1024 * 1024) + '"}}'
    for response, status in [
        (ops.put(URL, data=big, content_type="application/json"), 413),
        (ops.get("/api/v1/audit?entity=" + "a" * 20000), 414),
        (ops.get("/api/v1/clusters", headers={"X-Padding": "a" * 40000}), 431),
    ]:
        assert response.status_code == status
        assert response.content_type == "application/problem+json"
        assert response.get_json()["status"] == status
    assert ops.get(URL).status_code == 404  # nothing written


def test_huge_requests_to_a_real_server_get_a_4xx(app: Flask) -> None:
    """Over real HTTP a request line or header too big for the server is refused, not a 500."""
    import requests
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        line = requests.get(f"{base}/api/v1/audit?q=" + "a" * 100_000, timeout=10)
        header = requests.get(f"{base}/api/v1/audit", headers={"X-A": "a" * 100_000}, timeout=10)
        assert 400 <= line.status_code < 500 and 400 <= header.status_code < 500
    finally:
        server.shutdown()


def _get_routes(app: Flask) -> list[str]:
    """Every GET route without a path parameter: the API's lists and the web pages."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith("/static")
    )


def test_every_answer_carries_the_security_headers(app: Flask, admin: Api, client: Any) -> None:
    f.world(admin)
    answers = [admin.get(path) for path in _get_routes(app)]
    answers += [
        client.get("/api/v1/clusters"),  # 401
        admin.get("/api/v1/clusters/nowhere"),  # 404
        admin.put("/api/v1/clusters", json={}),  # 405
        admin.put(URL, data="{", content_type="application/json"),  # 400
        admin.get("/no/such/page"),
    ]
    assert len(answers) > 10
    for response in answers:
        where = f"{response.request.method} {response.request.path} -> {response.status_code}"
        h = response.headers
        assert h.get("X-Content-Type-Options") == "nosniff", where
        assert h.get("X-Frame-Options") == "DENY", where
        assert h.get("Referrer-Policy") == "no-referrer", where
        csp = h.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "script-src 'none'" in csp, where
        assert "unsafe-inline" not in csp, where
        assert "no-store" in h.get("Cache-Control", ""), where
        assert response.status_code < 500, where


def test_pip_audit_finds_no_vulnerable_pin() -> None:
    """Needs the PyPI vulnerability service; skipped, saying so, only when it cannot be reached."""
    audit = Path(sys.executable).with_name("pip-audit")
    run = subprocess.run(
        [
            str(audit),
            "-r",
            str(ROOT / "requirements.txt"),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        report = json.loads(run.stdout)
    except ValueError:
        if "ConnectionError" in run.stderr or "NameResolution" in run.stderr:
            pytest.skip("pip-audit: the vulnerability service cannot be reached from here")
        raise AssertionError(f"pip-audit failed: {run.stderr[-2000:]}") from None
    deps = report["dependencies"]
    vulnerable = {d["name"]: [v["id"] for v in d["vulns"]] for d in deps if d.get("vulns")}
    assert not vulnerable, f"upgrade these pins in requirements.txt: {vulnerable}"
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        pytest.skip(
            "pip-audit: the vulnerability service answered for none of the "
            f"{len(deps)} pins (e.g. {deps[0]['skip_reason']!r}); run 'make audit' with "
            "access to pypi.org"
        )
