"""/healthz and /readyz: no token, no /api/v1; /readyz compares the database's migration
with the scripts' head and answers 503 problem+json naming what is wrong."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from flask.testing import FlaskClient

from app import ROOT, create_app
from ledger.readiness import script_head
from models.session import make_engine
from tests.conftest import new_sqlite_database


def test_healthz_answers_without_a_token(anonymous) -> None:  # type: ignore[no-untyped-def]
    response = anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["X-Request-Id"]


def test_readyz_is_ready_on_a_migrated_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready" and body["revision"] == body["head"] == script_head()
    assert body == {
        "status": "ready",
        "database": "reachable",
        "revision": body["head"],
        "head": script_head(),
    }  # as the README shows it


def test_health_routes_stay_out_of_the_api_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert not {"/healthz", "/readyz"} & set(paths)


def _migrated_to(url: str, revision: str) -> None:
    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_readyz_is_503_when_the_database_is_behind_head(tmp_path: Path) -> None:
    url = new_sqlite_database(tmp_path)
    _migrated_to(url, "0012")
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "READY_CACHE_SECONDS": 0})
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.headers["Retry-After"]
        body = response.get_json()
        assert body["revision"] == "0012" and body["head"] == script_head()
        assert "0012" in body["detail"] and "migrate" in body["detail"]
        assert app.test_client().get("/healthz").status_code == 200  # alive all the same

        _migrated_to(url, "head")
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        app.extensions["berth"].engine.dispose()


def test_readyz_is_503_on_an_empty_database(tmp_path: Path) -> None:
    app = create_app(
        {
            "DATABASE_URL": new_sqlite_database(tmp_path),
            "LOG_LEVEL": "WARNING",
            "READY_CACHE_SECONDS": 0,
        }
    )
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert "no schema" in response.get_json()["detail"]
    finally:
        app.extensions["berth"].engine.dispose()
