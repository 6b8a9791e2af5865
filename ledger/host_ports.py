"""Handing out, moving and releasing host ports inside a transaction that holds the cluster lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from allocator.ports import (
    BLOCK_SIZE,
    PortRange,
    block_of,
    candidate_blocks,
    capacity,
    format_ranges,
    in_ranges,
    lowest_free_in_block,
    parse_ranges,
)
from ledger.context import Context
from ledger.errors import PortOutsideRangesError, PortsExhaustedError, PortTakenError
from models import Allocation, Cluster, PortAssignment, PortBlock
from models.base import utcnow


def lock_cluster(ctx: Context, session: Session, cluster_id: int) -> int:
    """Serialise writers of one cluster's port space and demand (other clusters go on in
    parallel); returns the cluster's demand version as the lock holder sees it.

    PostgreSQL: a row lock on the cluster (NO KEY UPDATE, so inserts that merely
    reference the cluster are not blocked). SQLite: every write transaction already
    holds the database's write lock (BEGIN IMMEDIATE), so nothing more is needed.
    """
    query = select(Cluster.demand_version).where(Cluster.id == cluster_id)
    if ctx.settings.cluster_lock:
        query = query.with_for_update(key_share=True)
    return session.scalar(query) or 0


def ranges_of(cluster: Cluster) -> tuple[PortRange, ...]:
    return tuple(PortRange(lo, hi) for lo, hi in cluster.port_ranges)


def _bump_blocks(session: Session, cluster_id: int, ports: Iterable[int], sign: int) -> None:
    for block, n in Counter(block_of(p) for p in ports).items():
        changed = session.execute(
            update(PortBlock)
            .where(PortBlock.cluster_id == cluster_id, PortBlock.block == block)
            .values(used=PortBlock.used + sign * n)
        ).rowcount
        if not changed and sign > 0:
            session.add(PortBlock(cluster_id=cluster_id, block=block, used=n))
            session.flush()


def purge_quarantine(ctx: Context, session: Session, cluster_id: int, now: datetime) -> None:
    """Forget released ports whose quarantine is over, so they can be handed out again."""
    cutoff = now - ctx.settings.port_quarantine
    freed = session.scalars(
        delete(PortAssignment)
        .where(
            PortAssignment.cluster_id == cluster_id,
            PortAssignment.released_at.is_not(None),
            PortAssignment.released_at <= cutoff,
        )
        .returning(PortAssignment.port)
    ).all()
    _bump_blocks(session, cluster_id, freed, -1)


def _describe_holder(row: PortAssignment, ctx: Context) -> str:
    if row.released_at is None:
        return (
            f"service '{row.service}' in environment '{row.environment}' (port '{row.port_name}')"
        )
    until = row.released_at + ctx.settings.port_quarantine
    return (
        f"quarantine until {until.isoformat(timespec='seconds')} after its release by "
        f"service '{row.service}' in environment '{row.environment}'"
    )


def _claim_requested(
    ctx: Context, session: Session, cluster: Cluster, alloc: Allocation, name: str, port: int
) -> None:
    ranges = ranges_of(cluster)
    if not in_ranges(ranges, port):
        raise PortOutsideRangesError(
            f"port {name}={port} lies outside the ranges of cluster '{cluster.name}' "
            f"({format_ranges(ranges)}); ask for a port inside them or let berth choose",
            port=port,
        )
    row = session.scalar(
        select(PortAssignment).where(
            PortAssignment.cluster_id == cluster.id, PortAssignment.port == port
        )
    )
    if row is not None:
        own_quarantine = (
            row.released_at is not None
            and row.service == alloc.service.name
            and row.environment == alloc.environment.name
        )
        if not own_quarantine:
            raise PortTakenError(
                f"port {port} of cluster '{cluster.name}' is held by {_describe_holder(row, ctx)}",
                port=port,
                holder={
                    "service": row.service,
                    "environment": row.environment,
                    "port_name": row.port_name,
                    "quarantined": row.released_at is not None,
                },
            )
        # the old tasks on that port are this service's own: it may take its port back
        session.delete(row)
        session.flush()
        _bump_blocks(session, cluster.id, [port], -1)
    _insert(session, cluster.id, alloc, name, port)


def _insert(session: Session, cluster_id: int, alloc: Allocation, name: str, port: int) -> None:
    session.add(
        PortAssignment(
            cluster_id=cluster_id,
            port=port,
            allocation_id=alloc.id,
            port_name=name,
            environment=alloc.environment.name,
            service=alloc.service.name,
            assigned_at=utcnow(),
        )
    )


def _claim_lowest(session: Session, cluster: Cluster, alloc: Allocation, names: list[str]) -> None:
    if not names:
        return
    ranges = ranges_of(cluster)
    used = dict(
        session.execute(
            select(PortBlock.block, PortBlock.used).where(PortBlock.cluster_id == cluster.id)
        ).all()
    )
    chosen: list[int] = []
    pending = list(names)
    for block in candidate_blocks(ranges, used):
        lo, hi = block * BLOCK_SIZE, block * BLOCK_SIZE + BLOCK_SIZE - 1
        taken = set(
            session.scalars(
                select(PortAssignment.port).where(
                    PortAssignment.cluster_id == cluster.id,
                    PortAssignment.port.between(lo, hi),
                )
            ).all()
        )
        taken.update(chosen)
        while pending:
            port = lowest_free_in_block(ranges, block, taken)
            if port is None:
                break
            taken.add(port)
            chosen.append(port)
            _insert(session, cluster.id, alloc, pending.pop(0), port)
        if not pending:
            break
    if pending:
        raise PortsExhaustedError(
            f"no free host port left in cluster '{cluster.name}': all {capacity(ranges)} "
            f"ports of {format_ranges(ranges)} are held or in quarantine; widen the "
            f"cluster's port_ranges or delete unused allocations",
            needed=len(names),
        )
    session.flush()
    _bump_blocks(session, cluster.id, chosen, +1)


def assign_ports(
    ctx: Context,
    session: Session,
    cluster: Cluster,
    alloc: Allocation,
    names: list[str],
    requested: Mapping[str, int],
) -> None:
    """Give `alloc` a host port for each of `names`: the requested one or the lowest free."""
    for name in names:
        if name in requested:
            _claim_requested(ctx, session, cluster, alloc, name, requested[name])
    session.flush()
    _bump_blocks(session, cluster.id, [requested[n] for n in names if n in requested], +1)
    _claim_lowest(session, cluster, alloc, [n for n in names if n not in requested])


def release_ports(session: Session, rows: Iterable[PortAssignment], now: datetime) -> None:
    """Put ports in quarantine: old tasks may still listen on them for a while."""
    for row in rows:
        row.allocation_id = None
        row.released_at = now
    session.flush()


def check_ranges_cover(session: Session, cluster: Cluster, texts: list[str]) -> tuple[str, ...]:
    """Ports held or quarantined that would fall outside new ranges (empty when none)."""
    ranges = parse_ranges(texts)
    rows = session.execute(
        select(PortAssignment.port, PortAssignment.service, PortAssignment.environment).where(
            PortAssignment.cluster_id == cluster.id
        )
    ).all()
    return tuple(
        f"{port} ({service} in {env})" for port, service, env in rows if not in_ranges(ranges, port)
    )
