"""A version of what placement reads, per cluster, and the log of its changes.

`clusters.demand_version` is bumped in the same transaction as every write that changes a
cluster's demand; `demand_changes` says what changed, so that a process keeping a standing
placement catches up with a change instead of placing the whole cluster again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("clusters") as batch_op:
        batch_op.add_column(
            sa.Column("demand_version", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "demand_changes",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_demand_changes_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", "version", name=op.f("pk_demand_changes")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("demand_changes")
    with op.batch_alter_table("clusters") as batch_op:
        batch_op.drop_column("demand_version")
