"""Capacity held for a time window, in a cluster or one environment, as slots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.cluster import Cluster
from models.environment import Environment
from models.service import Service


class Reservation(Base):
    """`count` slots of cpus/mem/disk held over the half-open window [starts_at, ends_at)."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_not_empty"),
        CheckConstraint("count >= 1", name="count_positive"),
        CheckConstraint("cpus > 0 AND mem >= 0 AND disk >= 0", name="sizes_valid"),
        CheckConstraint(
            "service_id IS NULL OR environment_id IS NOT NULL", name="service_in_environment"
        ),
        CheckConstraint("base_instances IS NULL OR base_instances >= 0", name="base_nonnegative"),
        Index("ix_reservations_cluster_id_ends_at", "cluster_id", "ends_at"),
        # plans refer to their reservations by id: SQLite must not hand a deleted one's
        # id to the next (PostgreSQL's sequences never do)
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id"))
    # the service whose allocation in `environment` the slots are more instances of: they
    # take its host ports and count under its constraints while that allocation exists.
    # A service can be deleted only once it has no allocation; its reservations then stay,
    # as plain slots.
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"))
    # the allocation's instances the slots were reserved on top of: its instances beyond
    # these use the slots up (ledger.capacity.slots_used), so a scale-up is not counted
    # twice. NULL for plain slots, and for rows older than migration 0011 whose service
    # had no allocation then: their slots are never used up.
    base_instances: Mapped[int | None]
    count: Mapped[int]
    cpus: Mapped[float]
    mem: Mapped[int]
    disk: Mapped[int] = mapped_column(default=0)
    constraints: Mapped[list[Any]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(1024))
    owner: Mapped[str] = mapped_column(String(255))
    forced: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cluster: Mapped[Cluster] = relationship(lazy="joined")
    environment: Mapped[Environment | None] = relationship(lazy="joined")
    service: Mapped[Service | None] = relationship(lazy="joined")
