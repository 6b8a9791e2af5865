"""Reservation ids are never handed out twice (SQLite): plans refer to theirs by id.

SQLite gives a new row the largest id in use plus one, so deleting the newest reservation
freed its id for the next one, and a plan that had made it then took that stranger's
reservation for its own ("reserved already"). AUTOINCREMENT keeps ids rising; PostgreSQL's
sequences do so already, so there the table is left as it is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 12:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "reservations", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    """Upgrade schema."""
    _rebuild(True)


def downgrade() -> None:
    """Downgrade schema."""
    _rebuild(False)
