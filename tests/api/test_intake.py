"""What every request must be before anyone reads it: within berth's limits (its own
problem+json 413, 414 and 431), text that is valid Unicode (422 naming the field), and a
bounded wait for a busy cluster's lock (503 with Retry-After, nothing saved)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from app import create_app
from tests import factories as f
from tests.conftest import Api

SURROGATE = "\ud800"


def test_text_that_is_not_valid_unicode_is_422_naming_the_field(admin: Any, ops: Any) -> None:
    f.world(admin)
    refused = admin.post(
        "/api/v1/services",
        json={"name": "x", "runtime": "java", "team": "t", "description": f"a{SURROGATE}b"},
    )
    assert refused.status_code == 422, refused.get_json()
    assert "description" in refused.get_json()["errors"]
    nested = f.allocate(ops, overrides={"env": {"A": f"x{SURROGATE}"}})
    assert nested.status_code == 422 and "overrides.env.A" in nested.get_json()["errors"]
    key = admin.patch(
        "/api/v1/environments/production", json={"defaults": {"env": {SURROGATE: "x"}}}
    )
    assert key.status_code == 422
    assert admin.get("/api/v1/services/x").status_code == 404


def test_a_request_line_over_the_limit_is_berths_own_414(viewer: Any) -> None:
    answer = viewer.get("/api/v1/services?team=" + "a" * 5000)
    assert answer.status_code == 414
    assert answer.mimetype == "application/problem+json"
    assert "4094" in answer.get_json()["detail"]


def test_a_header_field_over_the_limit_is_berths_own_431(viewer: Any) -> None:
    answer = viewer.get("/api/v1/services", headers={"X-Big": "b" * 9000})
    assert answer.status_code == 431 and answer.mimetype == "application/problem+json"
    many = {f"X-{i}": "v" for i in range(120)}
    assert viewer.get("/api/v1/services", headers=many).status_code == 431


def _chunked(api: Api, body: bytes) -> Any:
    """A body without a length, as a chunked request reaches the app from gunicorn."""
    return api.post(
        "/api/v1/services",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_the_limit_is_413_not_cut_short(admin: Any) -> None:
    big = b'{"name": "big", "runtime": "java", "team": "t", "description": "'
    answer = _chunked(admin, big + b"a" * 1_100_000 + b'"}')
    assert answer.status_code == 413, answer.get_json()
    assert answer.mimetype == "application/problem+json"
    small = _chunked(admin, b'{"name": "small", "runtime": "java", "team": "t"}')
    assert small.status_code == 201, small.get_json()


@pytest.fixture
def impatient(database_url: str) -> Iterator[Flask]:
    """berth on the same database, waiting at most half a second for a lock."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no lock_timeout: its writers queue on busy_timeout")
    application = create_app(
        {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "DB_LOCK_TIMEOUT_SECONDS": 0.5}
    )
    yield application
    application.extensions["berth"].engine.dispose()


def test_a_write_that_cannot_get_the_clusters_lock_in_time_is_503(
    impatient: Flask, database_url: str, admin: Any, tokens: dict
) -> None:
    f.world(admin)
    ops = Api(impatient.test_client(), tokens["ops"])
    holder = create_engine(database_url)
    with holder.connect() as conn:
        conn.execute(text("SELECT id FROM clusters WHERE name = 'east' FOR UPDATE"))
        answer = f.allocate(ops)
        conn.rollback()
    holder.dispose()
    assert answer.status_code == 503, answer.get_json()
    assert answer.headers["Retry-After"] and answer.mimetype == "application/problem+json"
    assert "nothing was saved" in answer.get_json()["detail"]
    assert ops.get(f.allocation_url("production", "order-service")).status_code == 404
    assert f.allocate(ops).status_code == 201  # the lock gone, the same write goes through
