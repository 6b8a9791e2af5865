"""The ledger: clusters, environments, services, allocations, host ports, tokens, audit.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 05:39:08.859060

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('viewer', 'pipeline', 'ops', 'admin')",
            name=op.f("ck_api_tokens_role_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=160), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor", ["actor"], unique=False)
        batch_op.create_index("ix_audit_events_at", ["at"], unique=False)
        batch_op.create_index(
            "ix_audit_events_entity_type_entity",
            ["entity_type", "entity"],
            unique=False,
        )

    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("mesos_masters", sa.JSON(), nullable=False),
        sa.Column("marathon_url", sa.String(length=2048), nullable=False),
        sa.Column("port_ranges", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("runtime", sa.String(length=16), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("health_check", sa.JSON(), nullable=True),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "runtime IN ('java', 'node', 'python', 'dotnet', 'other')",
            name=op.f("ck_services_runtime_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("name", name=op.f("uq_services_name")),
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_services_team"), ["team"], unique=False)

    op.create_table(
        "environments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("marathon_group", sa.String(length=255), nullable=False),
        sa.Column("headroom", sa.Double(), nullable=False),
        sa.Column("defaults", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "headroom >= 0 AND headroom < 1",
            name=op.f("ck_environments_headroom_share"),
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_environments_cluster_id_clusters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
        sa.UniqueConstraint("name", name=op.f("uq_environments_name")),
    )
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_environments_cluster_id"), ["cluster_id"], unique=False
        )

    op.create_table(
        "port_blocks",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("block", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_port_blocks_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", "block", name=op.f("pk_port_blocks")),
    )
    op.create_table(
        "service_dependencies",
        sa.Column("caller_id", sa.Integer(), nullable=False),
        sa.Column("callee_id", sa.Integer(), nullable=False),
        sa.Column("fan_out", sa.Double(), nullable=False),
        sa.CheckConstraint("fan_out > 0", name=op.f("ck_service_dependencies_fan_out_positive")),
        sa.ForeignKeyConstraint(
            ["callee_id"],
            ["services.id"],
            name=op.f("fk_service_dependencies_callee_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["caller_id"],
            ["services.id"],
            name=op.f("fk_service_dependencies_caller_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("caller_id", "callee_id", name=op.f("pk_service_dependencies")),
    )
    with op.batch_alter_table("service_dependencies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_dependencies_callee_id"), ["callee_id"], unique=False
        )

    op.create_table(
        "service_ports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("container_port", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "protocol IN ('tcp', 'udp')", name=op.f("ck_service_ports_protocol_known")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_ports_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_ports")),
        sa.UniqueConstraint("service_id", "name", name=op.f("uq_service_ports_service_id_name")),
    )
    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("cpus", sa.Double(), nullable=False),
        sa.Column("mem", sa.Integer(), nullable=False),
        sa.Column("disk", sa.Integer(), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=8), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.Column("minimum_health_capacity", sa.Double(), nullable=False),
        sa.Column("maximum_over_capacity", sa.Double(), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.CheckConstraint(
            "network IN ('host', 'bridge')", name=op.f("ck_allocations_network_known")
        ),
        sa.CheckConstraint("cpus > 0", name=op.f("ck_allocations_cpus_positive")),
        sa.CheckConstraint("disk >= 0", name=op.f("ck_allocations_disk_nonnegative")),
        sa.CheckConstraint("instances >= 0", name=op.f("ck_allocations_instances_nonnegative")),
        sa.CheckConstraint("mem >= 32", name=op.f("ck_allocations_mem_minimum")),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_allocations_environment_id_environments"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_allocations_service_id_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
        sa.UniqueConstraint(
            "environment_id",
            "service_id",
            name=op.f("uq_allocations_environment_id_service_id"),
        ),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocations_service_id"), ["service_id"], unique=False)

    op.create_table(
        "port_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=True),
        sa.Column("port_name", sa.String(length=63), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("service", sa.String(length=63), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(allocation_id IS NULL) = (released_at IS NOT NULL)",
            name=op.f("ck_port_assignments_held_or_released"),
        ),
        sa.CheckConstraint("port BETWEEN 1 AND 65535", name=op.f("ck_port_assignments_port_valid")),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocations.id"],
            name=op.f("fk_port_assignments_allocation_id_allocations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_port_assignments_cluster_id_clusters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_port_assignments")),
        sa.UniqueConstraint("cluster_id", "port", name=op.f("uq_port_assignments_cluster_id_port")),
    )
    with op.batch_alter_table("port_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_port_assignments_allocation_id"),
            ["allocation_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_port_assignments_cluster_id_released_at",
            ["cluster_id", "released_at"],
            unique=False,
        )


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("port_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_port_assignments_cluster_id_released_at")
        batch_op.drop_index(batch_op.f("ix_port_assignments_allocation_id"))

    op.drop_table("port_assignments")
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocations_service_id"))

    op.drop_table("allocations")
    op.drop_table("service_ports")
    with op.batch_alter_table("service_dependencies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_dependencies_callee_id"))

    op.drop_table("service_dependencies")
    op.drop_table("port_blocks")
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_environments_cluster_id"))

    op.drop_table("environments")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_team"))

    op.drop_table("services")
    op.drop_table("clusters")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_entity_type_entity")
        batch_op.drop_index("ix_audit_events_at")
        batch_op.drop_index("ix_audit_events_actor")

    op.drop_table("audit_events")
    op.drop_table("api_tokens")
