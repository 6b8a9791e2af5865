"""Usage measured per allocation: minute points, hourly aggregates, and each cluster's last
sampling round. Figures are per instance (see allocator/usage.py): cpus, bytes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class UsageMinute(Base):
    """One allocation's minute; kept for BERTH_USAGE_MINUTE_RETENTION_HOURS (2 days)."""

    __tablename__ = "usage_minutes"
    __table_args__ = (Index("ix_usage_minutes_minute", "minute"),)

    allocation_id: Mapped[int] = mapped_column(
        ForeignKey("allocations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    instances: Mapped[int] = mapped_column(SmallInteger)  # tasks with a memory figure
    cpu_instances: Mapped[int] = mapped_column(SmallInteger)  # samples with a CPU rate
    cpu_mean: Mapped[float]
    cpu_max: Mapped[float]
    mem_mean: Mapped[int] = mapped_column(BigInteger)  # bytes
    mem_max: Mapped[int] = mapped_column(BigInteger)


class UsageHour(Base):
    """One allocation's hour, rolled up from its minutes once the hour is over; kept for
    BERTH_USAGE_HOUR_RETENTION_DAYS (60 days)."""

    __tablename__ = "usage_hours"
    __table_args__ = (Index("ix_usage_hours_hour", "hour"),)

    allocation_id: Mapped[int] = mapped_column(
        ForeignKey("allocations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    samples: Mapped[int]  # instance-minutes with a CPU rate
    tasks: Mapped[int] = mapped_column(SmallInteger)  # most instances seen in one minute
    cpu_p50: Mapped[float]
    cpu_p90: Mapped[float]
    cpu_p99: Mapped[float]
    cpu_max: Mapped[float]
    mem_p99: Mapped[int] = mapped_column(BigInteger)
    mem_max: Mapped[int] = mapped_column(BigInteger)


class UsageSampling(Base):
    """A cluster's last sampling round, for /metrics (the sampler runs in another process)."""

    __tablename__ = "usage_sampling"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    sampled_at: Mapped[datetime]
    agents: Mapped[int]
    agents_unreachable: Mapped[int]  # no answer, an error, or no address advertised
    executors: Mapped[int]
    executors_unattributed: Mapped[int]  # tasks of no allocation (other frameworks, unmanaged)
    rates: Mapped[int]  # executors that gave a CPU rate this round
    seconds: Mapped[float]  # wall time of the round
