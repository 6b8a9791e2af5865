"""Host ports handed out per cluster, and per-block counts that keep the free-port search short."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class PortAssignment(Base):
    """A host port held by an allocation, or in quarantine after release (allocation_id NULL).

    The unique constraint on (cluster_id, port) is the last line of defence against two
    allocations getting one port; the per-cluster lock only keeps retries rare.
    """

    __tablename__ = "port_assignments"
    __table_args__ = (
        UniqueConstraint("cluster_id", "port"),
        CheckConstraint("port BETWEEN 1 AND 65535", name="port_valid"),
        CheckConstraint(
            "(allocation_id IS NULL) = (released_at IS NOT NULL)", name="held_or_released"
        ),
        Index("ix_port_assignments_cluster_id_released_at", "cluster_id", "released_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    port: Mapped[int]
    allocation_id: Mapped[int | None] = mapped_column(
        ForeignKey("allocations.id", ondelete="SET NULL"), index=True
    )
    port_name: Mapped[str] = mapped_column(String(63))
    # who holds it (or held it, through the quarantine); names never change once created
    environment: Mapped[str] = mapped_column(String(63))
    service: Mapped[str] = mapped_column(String(63))
    assigned_at: Mapped[datetime]
    released_at: Mapped[datetime | None]


class PortBlock(Base):
    """How many port rows fall in one block of BLOCK_SIZE ports of a cluster.

    A hint for the search, not a source of truth: it lets the search skip full blocks
    instead of scanning every port held in the cluster.
    """

    __tablename__ = "port_blocks"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True
    )
    block: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    used: Mapped[int] = mapped_column(default=0)
