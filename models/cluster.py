"""A Mesos cluster with its Marathon, and the host port ranges berth may hand out there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    # master URLs, or a single `zk://host:port[,host:port]/path` where the masters register
    mesos_masters: Mapped[list[Any]]
    # always the first of `marathon_urls`, kept for readers of one URL (the API's marathon_url)
    marathon_url: Mapped[str] = mapped_column(String(2048))
    # every Marathon instance; calls go to the one `GET /v2/leader` names (migration 0012)
    marathon_urls: Mapped[list[Any]] = mapped_column(server_default="[]")
    # [[lo, hi], ...] inclusive, sorted, non-overlapping
    port_ranges: Mapped[list[Any]]
    description: Mapped[str] = mapped_column(String(1024), default="")
    # name of an environment variable holding "user:password" or a token header value;
    # the secret itself never enters the database
    credentials_env: Mapped[str | None] = mapped_column(String(255))
    # the Mesos role berth's tasks run as; resources reserved for other roles are not ours
    mesos_role: Mapped[str] = mapped_column(String(255), default="*")
    # what the command and Docker executors add to every task (Mesos: 0.1 cpus, 32 MiB)
    executor_cpus: Mapped[float] = mapped_column(default=0.1)
    executor_mem: Mapped[int] = mapped_column(default=32)
    # how many rolling upgrades may run at once; the largest ones' surge is kept free
    concurrent_deploys: Mapped[int] = mapped_column(default=1)
    # bumped in the same transaction as every write that changes what placement reads
    # (allocations, their ports, reservations, environments, cluster settings): a process
    # that keeps a standing placement knows from this one column whether it is current
    demand_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DemandChange(Base):
    """What one bump of `Cluster.demand_version` changed, for processes that catch up.

    `body`: the changed allocations' demands and where the writer placed them, or
    `{"reload": true}` when anything else changed (they then place the cluster afresh).
    Old rows are pruned; a process further behind than what is kept reloads.
    """

    __tablename__ = "demand_changes"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
