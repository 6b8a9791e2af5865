"""Usage sampled from the Mesos agents: minute points, hourly aggregates, sampling rounds.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-11 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "usage_minutes",
        sa.Column("allocation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("instances", sa.SmallInteger(), nullable=False),
        sa.Column("cpu_instances", sa.SmallInteger(), nullable=False),
        sa.Column("cpu_mean", sa.Double(), nullable=False),
        sa.Column("cpu_max", sa.Double(), nullable=False),
        sa.Column("mem_mean", sa.BigInteger(), nullable=False),
        sa.Column("mem_max", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocations.id"],
            name=op.f("fk_usage_minutes_allocation_id_allocations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("allocation_id", "minute", name=op.f("pk_usage_minutes")),
    )
    op.create_index("ix_usage_minutes_minute", "usage_minutes", ["minute"])
    op.create_table(
        "usage_hours",
        sa.Column("allocation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.SmallInteger(), nullable=False),
        sa.Column("cpu_p50", sa.Double(), nullable=False),
        sa.Column("cpu_p90", sa.Double(), nullable=False),
        sa.Column("cpu_p99", sa.Double(), nullable=False),
        sa.Column("cpu_max", sa.Double(), nullable=False),
        sa.Column("mem_p99", sa.BigInteger(), nullable=False),
        sa.Column("mem_max", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocations.id"],
            name=op.f("fk_usage_hours_allocation_id_allocations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("allocation_id", "hour", name=op.f("pk_usage_hours")),
    )
    op.create_index("ix_usage_hours_hour", "usage_hours", ["hour"])
    op.create_table(
        "usage_sampling",
        sa.Column("cluster_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agents", sa.Integer(), nullable=False),
        sa.Column("agents_unreachable", sa.Integer(), nullable=False),
        sa.Column("executors", sa.Integer(), nullable=False),
        sa.Column("executors_unattributed", sa.Integer(), nullable=False),
        sa.Column("rates", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_usage_sampling_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_usage_sampling")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("usage_sampling")
    op.drop_index("ix_usage_hours_hour", table_name="usage_hours")
    op.drop_table("usage_hours")
    op.drop_index("ix_usage_minutes_minute", table_name="usage_minutes")
    op.drop_table("usage_minutes")
