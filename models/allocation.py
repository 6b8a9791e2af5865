"""What one service gets in one environment; versioned for optimistic concurrency."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.environment import Environment
from models.port import PortAssignment
from models.service import Service


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (
        UniqueConstraint("environment_id", "service_id"),
        CheckConstraint("cpus > 0", name="cpus_positive"),
        CheckConstraint("mem >= 32", name="mem_minimum"),
        CheckConstraint("disk >= 0", name="disk_nonnegative"),
        CheckConstraint("instances >= 0", name="instances_nonnegative"),
        CheckConstraint("network IN ('host', 'bridge')", name="network_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    cpus: Mapped[float]
    mem: Mapped[int]  # MiB
    disk: Mapped[int] = mapped_column(default=0)  # MiB
    instances: Mapped[int] = mapped_column(default=1)
    network: Mapped[str] = mapped_column(String(8), default="host")
    # Marathon constraints: [[field, operator, value?], ...]
    constraints: Mapped[list[Any]]
    # Marathon upgradeStrategy; Marathon's defaults are 1 and 1
    minimum_health_capacity: Mapped[float] = mapped_column(default=1.0)
    maximum_over_capacity: Mapped[float] = mapped_column(default=1.0)
    # JSON merge patch applied to the rendered Marathon app definition
    overrides: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(255), default="")
    # set when an admin saved it although the cluster did not fit; cleared by a fitting save
    forced_at: Mapped[datetime | None]

    environment: Mapped[Environment] = relationship(lazy="joined")
    service: Mapped[Service] = relationship(lazy="joined")
    ports: Mapped[list[PortAssignment]] = relationship(
        lazy="selectin", order_by="PortAssignment.port", passive_deletes=True
    )
