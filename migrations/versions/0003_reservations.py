"""Reservations, forced allocations, executor overhead and deploy concurrency per cluster.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 06:14:55.108381

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("cpus", sa.Double(), nullable=False),
        sa.Column("mem", sa.Integer(), nullable=False),
        sa.Column("disk", sa.Integer(), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("count >= 1", name=op.f("ck_reservations_count_positive")),
        sa.CheckConstraint(
            "cpus > 0 AND mem >= 0 AND disk >= 0", name=op.f("ck_reservations_sizes_valid")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_reservations_window_not_empty")),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_reservations_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_reservations_environment_id_environments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reservations_cluster_id_ends_at", ["cluster_id", "ends_at"], unique=False
        )

    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forced_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mesos_role", sa.String(length=255), nullable=False, server_default="*")
        )
        batch_op.add_column(
            sa.Column("executor_cpus", sa.Double(), nullable=False, server_default="0.1")
        )
        batch_op.add_column(
            sa.Column("executor_mem", sa.Integer(), nullable=False, server_default="32")
        )
        batch_op.add_column(
            sa.Column("concurrent_deploys", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_column("concurrent_deploys")
        batch_op.drop_column("executor_mem")
        batch_op.drop_column("executor_cpus")
        batch_op.drop_column("mesos_role")

    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_column("forced_at")

    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_cluster_id_ends_at")

    op.drop_table("reservations")
