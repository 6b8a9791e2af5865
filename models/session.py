"""Engine and session factory; SQLite is tuned so several processes can share one file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(
    url: str,
    *,
    lock_timeout: float | None = None,
    statement_timeout: float | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine for `url`; on SQLite every transaction takes the write lock up front.

    SQLite's default deferred BEGIN lets two writers read, then both fail to upgrade
    their lock ("database is locked") with no chance of a wait; BEGIN IMMEDIATE makes
    the second writer wait on busy_timeout instead, which serialises writers cleanly.
    On PostgreSQL, `lock_timeout` and `statement_timeout` (seconds) bound every wait for
    a lock and every statement of the engine's connections.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    options = []
    if lock_timeout:
        options.append(f"-c lock_timeout={int(lock_timeout * 1000)}")
    if statement_timeout:
        options.append(f"-c statement_timeout={int(statement_timeout * 1000)}")
    if options and url.startswith("postgresql"):
        kwargs.setdefault("connect_args", {})["options"] = " ".join(options)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def database_url_from_env() -> str:
    """BERTH_DATABASE_URL, or the embedded default: a SQLite file under var/ in the checkout."""
    url = os.environ.get("BERTH_DATABASE_URL")
    if url:
        return url
    var = Path(__file__).resolve().parent.parent / "var"
    var.mkdir(exist_ok=True)
    return f"sqlite:///{var / 'berth.db'}"
