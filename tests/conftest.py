"""Fixtures: real SQLite files and a real PostgreSQL database, built by `alembic upgrade head`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, upgrade_database
from ledger.context import Context
from ledger.tokens import create_token
from models import Base
from tests.zookeeper import zookeeper  # noqa: F401 - the session's real ZooKeeper, for every test

POSTGRES_URL = os.environ.get(
    "BERTH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROLES = ("viewer", "pipeline", "ops", "admin")


def _admin_engine(url: str) -> Any:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def new_postgres_database(prefix: str = "berth_t") -> tuple[str, Any]:
    """A fresh database on the PostgreSQL server; returns its URL and a function dropping it."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _admin_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} cannot be reached ({exc}); "
            "run the tests with 'make test', which starts it"
        )
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def new_sqlite_database(tmp: Path) -> str:
    return f"sqlite:///{tmp / f'berth-{uuid.uuid4().hex[:6]}.db'}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of each kind, shared by the tests of one session."""
    if request.param == "sqlite":
        url = new_sqlite_database(tmp_path_factory.mktemp("sqlite"))
        upgrade_database(url)
        yield url
    else:
        url, drop = new_postgres_database()
        upgrade_database(url)
        yield url
        drop()


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    application = create_app({"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"})
    yield application
    application.extensions["berth"].engine.dispose()


@pytest.fixture(scope="session")
def tokens(app: Flask) -> dict[str, str]:
    """One token per role; the api_tokens table survives the cleaning between tests."""
    ctx: Context = app.extensions["berth"].context()
    return {role: create_token(ctx, f"test-{role}", role) for role in ROLES}


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table but the tokens after each test that used the database."""
    yield
    if "app" not in request.fixturenames:
        return
    application: Flask = request.getfixturevalue("app")
    engine = application.extensions["berth"].engine
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "api_tokens"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


class Api:
    """A test client that speaks as one role: `api.put(url, json=...)`."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        base = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**base, **(headers or {})}

    def __getattr__(self, method: str) -> Any:
        if method not in ("get", "post", "put", "patch", "delete"):
            raise AttributeError(method)

        def call(url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
            return getattr(self.client, method)(url, headers=self._headers(headers), **kwargs)

        return call


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin(client: FlaskClient, tokens: dict[str, str]) -> Api:
    return Api(client, tokens["admin"])


@pytest.fixture
def ops(client: FlaskClient, tokens: dict[str, str]) -> Api:
    return Api(client, tokens["ops"])


@pytest.fixture
def viewer(client: FlaskClient, tokens: dict[str, str]) -> Api:
    return Api(client, tokens["viewer"])


@pytest.fixture
def anonymous(client: FlaskClient) -> Api:
    return Api(client, None)
