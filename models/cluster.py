"""A Mesos cluster with its Marathon, and the host port ranges berth may hand out there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    mesos_masters: Mapped[list[Any]]
    marathon_url: Mapped[str] = mapped_column(String(2048))
    # [[lo, hi], ...] inclusive, sorted, non-overlapping
    port_ranges: Mapped[list[Any]]
    description: Mapped[str] = mapped_column(String(1024), default="")
    # name of an environment variable holding "user:password" or a token header value;
    # the secret itself never enters the database
    credentials_env: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
