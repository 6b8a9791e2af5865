"""A deployable unit, its named ports and the services it calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

RUNTIMES = ("java", "node", "python", "dotnet", "other")
PROTOCOLS = ("tcp", "udp")


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint(
            "runtime IN ('java', 'node', 'python', 'dotnet', 'other')", name="runtime_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    runtime: Mapped[str] = mapped_column(String(16))
    team: Mapped[str] = mapped_column(String(63), index=True)
    tags: Mapped[list[Any]]
    # {"port": "http", "path": "/health", "protocol": "HTTP", ...} or None
    health_check: Mapped[dict[str, Any] | None]
    description: Mapped[str] = mapped_column(String(1024), default="")
    # the service's own Dockerfile template (string.Template with berth's $names)
    dockerfile_template: Mapped[str | None] = mapped_column(Text)
    # differences between environments allowed on purpose: "base_image", "runtime_version",
    # "health_path", "health_protocol", "env:NAME" or "env:PREFIX*"
    consistency_exceptions: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    ports: Mapped[list[ServicePort]] = relationship(
        back_populates="service",
        cascade="all, delete-orphan",
        order_by="ServicePort.position",
        lazy="selectin",
    )
    calls: Mapped[list[ServiceDependency]] = relationship(
        foreign_keys="ServiceDependency.caller_id",
        cascade="all, delete-orphan",
        lazy="select",  # loaded when asked for: most reads of a service never look
    )


class ServicePort(Base):
    __tablename__ = "service_ports"
    __table_args__ = (
        UniqueConstraint("service_id", "name"),
        CheckConstraint("protocol IN ('tcp', 'udp')", name="protocol_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    protocol: Mapped[str] = mapped_column(String(8), default="tcp")
    # port inside the container in bridge mode; None means "same as the host port"
    container_port: Mapped[int | None]
    position: Mapped[int] = mapped_column(default=0)

    service: Mapped[Service] = relationship(back_populates="ports")


class ServiceDependency(Base):
    """An edge caller → callee; fan_out is downstream requests per upstream request."""

    __tablename__ = "service_dependencies"
    __table_args__ = (CheckConstraint("fan_out > 0", name="fan_out_positive"),)

    caller_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    callee_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    fan_out: Mapped[float] = mapped_column(default=1.0)
    # an edge that may close a cycle (e.g. a callback); ignored for deploy order and load
    allow_cycle: Mapped[bool] = mapped_column(default=False, server_default=false())

    callee: Mapped[Service] = relationship(foreign_keys=[callee_id], lazy="joined")
