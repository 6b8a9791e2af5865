"""Migration 0011: a reservation of an allocation that exists gets its instances then as
its base (nothing is used up by the upgrade); the others keep NULL (never used up)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, select

from models import Base
from models.session import make_engine
from tests.migrations.test_migrations import _alembic, empty_database  # noqa: F401

NOW = datetime.now(UTC)


def _insert(conn: Any, table: str, **values: Any) -> int:
    """A row through the models' table (their Python defaults fill the rest): only the
    columns given or defaulted are written, so it works on an older schema too."""
    t = Base.metadata.tables[table]
    return int(conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one())


def test_existing_reservations_take_their_allocations_instances_as_base(
    empty_database: str,  # noqa: F811
) -> None:
    _alembic(empty_database, "upgrade", "0010")
    engine = make_engine(empty_database)
    window = {"starts_at": NOW, "ends_at": NOW + timedelta(days=1)}
    slot = {"count": 3, "cpus": 1.0, "mem": 512, "constraints": [], "reason": "r", "owner": "o"}
    with engine.begin() as conn:
        cluster = _insert(
            conn,
            "clusters",
            name="east",
            mesos_masters=["http://m"],
            marathon_url="http://m",
            port_ranges=[[31000, 32000]],
        )
        envs = [
            _insert(
                conn,
                "environments",
                name=n,
                cluster_id=cluster,
                marathon_group=f"/{n}",
                defaults={},
            )
            for n in ("production", "test")
        ]
        cart = _insert(conn, "services", name="cart", runtime="java", team="t", tags=[])
        _insert(
            conn,
            "allocations",
            environment_id=envs[0],
            service_id=cart,
            cpus=1.0,
            mem=512,
            instances=4,
            constraints=[],
            overrides={},
        )
        mine = _insert(
            conn,
            "reservations",
            cluster_id=cluster,
            environment_id=envs[0],
            service_id=cart,
            **slot,
            **window,
        )
        # cart has no allocation in test (deleted since), and plain slots have no service
        gone = _insert(
            conn,
            "reservations",
            cluster_id=cluster,
            environment_id=envs[1],
            service_id=cart,
            **slot,
            **window,
        )
        plain = _insert(conn, "reservations", cluster_id=cluster, **slot, **window)
    engine.dispose()

    _alembic(empty_database, "upgrade", "head")
    engine = make_engine(empty_database)
    t = Base.metadata.tables["reservations"]
    with engine.connect() as conn:
        base = dict(conn.execute(select(t.c.id, t.c.base_instances)).all())
    engine.dispose()
    assert base == {mine: 4, gone: None, plain: None}

    _alembic(empty_database, "downgrade", "0010")
    engine = make_engine(empty_database)
    columns = {c["name"] for c in inspect(engine).get_columns("reservations")}
    with engine.connect() as conn:
        left = set(conn.execute(select(t.c.id)).scalars())
    engine.dispose()
    assert "base_instances" not in columns and left == {mine, gone, plain}
