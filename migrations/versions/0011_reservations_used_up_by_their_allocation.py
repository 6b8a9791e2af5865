"""A reservation of a service's allocation is used up as that allocation grows.

`reservations.base_instances`: the allocation's instances the slots were reserved on top
of; the allocation's instances beyond it take the slots (at most `count`), so a scale-up
is not counted twice. Existing reservations of an allocation that exists now get its
instances now as their base: what they held stays held, and growth from here on uses
them up. The others (plain slots, or an allocation deleted since) keep NULL: their slots
are never used up. On SQLite the table is rebuilt, keeping AUTOINCREMENT and its counter
(see 0008 and 0009).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a rebuilt SQLite table keeps AUTOINCREMENT only when told; PostgreSQL ignores the option
_KEEP_AUTOINCREMENT = {"sqlite_autoincrement": True}


def _last_id() -> int | None:
    """The largest reservation id SQLite ever handed out; None elsewhere or if none was."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    query = "SELECT seq FROM sqlite_sequence WHERE name = 'reservations'"
    return bind.execute(sa.text(query)).scalar()


def _keep_counting_from(last: int | None) -> None:
    if last is None:
        return
    bind = op.get_bind()
    now = bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'reservations'"))
    seq = max(last, now.scalar() or 0)
    bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'reservations'"))
    bind.execute(
        sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('reservations', :seq)"),
        {"seq": seq},
    )


def upgrade() -> None:
    """Upgrade schema."""
    last = _last_id()
    with op.batch_alter_table("reservations", table_kwargs=_KEEP_AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("base_instances", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_reservations_base_nonnegative"),
            "base_instances IS NULL OR base_instances >= 0",
        )
    _keep_counting_from(last)
    # nothing is used up at the upgrade: the base is what the allocation has now
    op.execute(
        sa.text(
            "UPDATE reservations SET base_instances = ("
            "SELECT allocations.instances FROM allocations "
            "WHERE allocations.environment_id = reservations.environment_id "
            "AND allocations.service_id = reservations.service_id) "
            "WHERE service_id IS NOT NULL"
        )
    )


def downgrade() -> None:
    """Downgrade schema."""
    last = _last_id()
    with op.batch_alter_table("reservations", table_kwargs=_KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint(op.f("ck_reservations_base_nonnegative"), type_="check")
        batch_op.drop_column("base_instances")
    _keep_counting_from(last)
