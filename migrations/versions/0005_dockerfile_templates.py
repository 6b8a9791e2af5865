"""A Dockerfile template of its own per service.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 06:53:41.074491

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dockerfile_template", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("dockerfile_template")
