"""One release: what was sent to Marathon for which build, by whom, and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

STATES = ("pending", "deploying", "succeeded", "failed")


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'deploying', 'succeeded', 'failed')", name="status_known"
        ),
        Index("ix_deployments_environment_service_id", "environment", "service", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    # names, not keys: the release history outlives the allocation it deployed
    environment: Mapped[str] = mapped_column(String(63))
    service: Mapped[str] = mapped_column(String(63))
    app_id: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(String(512))
    build_url: Mapped[str | None] = mapped_column(String(2048))
    git_sha: Mapped[str | None] = mapped_column(String(64))
    allocation_version: Mapped[int]
    config: Mapped[dict[str, Any]]  # exactly what was PUT to Marathon
    config_hash: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    marathon_deployment_id: Mapped[str | None] = mapped_column(String(64))
    marathon_version: Mapped[str | None] = mapped_column(String(64))
    forced: Mapped[bool] = mapped_column(default=False)
    rollback_of: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
