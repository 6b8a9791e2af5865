"""What Mesos and Marathon reported about a cluster, and who may sync it right now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Snapshot(Base):
    """One distinct reading of a cluster; identical readings only move `confirmed_at`.

    Syncing every 30 s would otherwise store the same 100s of KiB thousands of times a day.
    """

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_cluster_id_confirmed_at", "cluster_id", "confirmed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime]  # first read with this content
    confirmed_at: Mapped[datetime]  # last read with this content
    content_hash: Mapped[str] = mapped_column(String(64))
    mesos_version: Mapped[str] = mapped_column(String(64), default="")
    marathon_version: Mapped[str] = mapped_column(String(64), default="")
    agents: Mapped[list[Any]]
    apps: Mapped[list[Any]]


class SyncLease(Base):
    """Who syncs a cluster now; a lease that expires, so a crashed syncer does not block forever."""

    __tablename__ = "sync_leases"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    holder: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class ImportConflict(Base):
    """Something an import from Marathon could not take as it was (a port twice, out of range)."""

    __tablename__ = "import_conflicts"
    __table_args__ = (UniqueConstraint("environment", "app_id", "kind", "detail"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(63))
    app_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500))
    recorded_at: Mapped[datetime]
