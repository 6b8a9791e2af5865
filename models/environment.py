"""An environment (test, production, ...): a Marathon group on one cluster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.cluster import Cluster


class Environment(Base):
    __tablename__ = "environments"
    __table_args__ = (CheckConstraint("headroom >= 0 AND headroom < 1", name="headroom_share"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    marathon_group: Mapped[str] = mapped_column(String(255))
    # share of every agent's cpus, mem and disk kept free in this environment
    headroom: Mapped[float] = mapped_column(default=0.0)
    # defaults for rendered Marathon configs (env vars, labels, ...)
    defaults: Mapped[dict[str, Any]]
    description: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cluster: Mapped[Cluster] = relationship(lazy="joined")
