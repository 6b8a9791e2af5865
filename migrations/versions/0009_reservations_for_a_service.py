"""A reservation may belong to a service's allocation in its environment.

Such a reservation's slots are placed like more instances of that allocation: its host
ports, its constraints counted together with its instances. The column is nullable
(every existing reservation stays plain slots) and set to NULL when the service is
deleted. On SQLite the table is rebuilt, keeping AUTOINCREMENT and its counter (see 0008):
a rebuilt table would count on from its largest id left, handing a deleted reservation's
id, that a plan may still name, to the next one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
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
        batch_op.add_column(sa.Column("service_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_reservations_service_id_services"),
            "services",
            ["service_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint(
            op.f("ck_reservations_service_in_environment"),
            "service_id IS NULL OR environment_id IS NOT NULL",
        )
    _keep_counting_from(last)


def downgrade() -> None:
    """Downgrade schema."""
    last = _last_id()
    with op.batch_alter_table("reservations", table_kwargs=_KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint(op.f("ck_reservations_service_in_environment"), type_="check")
        batch_op.drop_constraint(op.f("fk_reservations_service_id_services"), type_="foreignkey")
        batch_op.drop_column("service_id")
    _keep_counting_from(last)
