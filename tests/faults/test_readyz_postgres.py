"""/readyz follows the database: 503 while PostgreSQL is stopped, 200 once it is back,
and /healthz answers throughout (a replica is not restarted for its database's sake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app import create_app, upgrade_database
from tests.faults.private_postgres import PrivatePostgres


@pytest.fixture
def app_on_private_postgres() -> Iterator[tuple[PrivatePostgres, Flask]]:
    pg = PrivatePostgres()
    app = None
    try:
        pg.start()
        upgrade_database(pg.url)
        app = create_app({"DATABASE_URL": pg.url, "LOG_LEVEL": "ERROR", "READY_CACHE_SECONDS": 0})
        yield pg, app
    finally:
        if app is not None:
            app.extensions["berth"].engine.dispose()
        pg.stop()


def test_readyz_is_503_while_postgres_is_stopped_and_200_after_it_restarts(
    app_on_private_postgres: tuple[PrivatePostgres, Flask],
) -> None:
    pg, app = app_on_private_postgres
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    pg._ctl("stop", "-m", "fast")
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.headers["Content-Type"] == "application/problem+json"
    assert down.headers["Retry-After"]
    assert down.get_json()["database"] == "unreachable"
    assert "unreachable" in down.get_json()["detail"]
    assert client.get("/healthz").status_code == 200

    pg._ctl("start")
    pg.wait()
    back = client.get("/readyz")
    assert back.status_code == 200, back.get_json()
    assert back.get_json()["status"] == "ready"
