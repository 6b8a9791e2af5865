"""The schema comes only from migrations: they match the models and run both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app import ROOT
from models import Base
from models.session import make_engine
from tests.conftest import new_postgres_database, new_sqlite_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield new_sqlite_database(tmp_path)
    else:
        url, drop = new_postgres_database("berth_mig")
        yield url
        drop()


def _alembic(url: str, action: str, target: str) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, target)
    engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return names


def test_models_and_migrations_agree(empty_database: str) -> None:
    _alembic(empty_database, "upgrade", "head")
    engine = make_engine(empty_database)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models differ from migrations; add a migration: {diff}"


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    _alembic(empty_database, "upgrade", "head")
    assert _tables(empty_database) == set(Base.metadata.tables)
    _alembic(empty_database, "downgrade", "base")
    assert _tables(empty_database) == set()
    _alembic(empty_database, "upgrade", "head")
    assert _tables(empty_database) == set(Base.metadata.tables)
