"""Use cases for clusters and the host ports held in them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from allocator.ports import parse_ranges
from ledger.context import Context, in_transaction
from ledger.errors import AlreadyExistsError, InUseError, InvalidError, NotFoundError
from ledger.host_ports import check_ranges_cover, lock_cluster, purge_quarantine, ranges_of
from ledger.views import cluster_view
from models import Cluster, Environment, PortAssignment, PortBlock, Reservation
from models.base import utcnow


def find_cluster(session: Session, name: str) -> Cluster:
    cluster = session.scalar(select(Cluster).where(Cluster.name == name))
    if cluster is None:
        raise NotFoundError(f"there is no cluster named '{name}'")
    return cluster


def _ranges(texts: list[str]) -> list[list[int]]:
    try:
        return [[r.lo, r.hi] for r in parse_ranges(texts)]
    except ValueError as exc:
        raise InvalidError({"port_ranges": [str(exc)]}) from exc


def _marathon(fields: dict[str, Any]) -> dict[str, Any]:
    """marathon_url and marathon_urls kept together: the one URL is the list's first.

    marathon_url given alone stands for a list of that one URL (as before several were
    possible); the API has checked that both, when given, agree.
    """
    fields = dict(fields)
    urls = fields.pop("marathon_urls", None)
    if urls:
        fields["marathon_urls"] = list(urls)
        fields["marathon_url"] = urls[0]
    elif fields.get("marathon_url") is not None:
        fields["marathon_urls"] = [fields["marathon_url"]]
    return fields


def create_cluster(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        if session.scalar(select(Cluster.id).where(Cluster.name == data["name"])):
            raise AlreadyExistsError(f"a cluster named '{data['name']}' already exists")
        fields = _marathon(data)
        cluster = Cluster(**{**fields, "port_ranges": _ranges(data["port_ranges"])})
        session.add(cluster)
        session.flush()
        view = cluster_view(cluster)
        ctx.audit(session, "create", "cluster", cluster.name, None, view)
        return view

    return in_transaction(ctx, work)


def list_clusters(ctx: Context) -> list[dict[str, Any]]:
    def work(session: Session) -> list[dict[str, Any]]:
        return [cluster_view(c) for c in session.scalars(select(Cluster).order_by(Cluster.name))]

    return in_transaction(ctx, work)


def get_cluster(ctx: Context, name: str) -> dict[str, Any]:
    return in_transaction(ctx, lambda session: cluster_view(find_cluster(session, name)))


def update_cluster(ctx: Context, name: str, changes: dict[str, Any]) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        fields = _marathon(changes)
        cluster = find_cluster(session, name)
        lock_cluster(ctx, session, cluster.id)
        purge_quarantine(ctx, session, cluster.id, utcnow())  # expired ones are free already
        before = cluster_view(cluster)
        if "port_ranges" in fields:
            new_ranges = _ranges(fields["port_ranges"])
            outside = check_ranges_cover(session, cluster, fields["port_ranges"])
            if outside:
                shown = ", ".join(outside[:10]) + (" …" if len(outside) > 10 else "")
                raise InUseError(
                    f"{len(outside)} host ports held or in quarantine would fall outside "
                    f"the new ranges: {shown}; move or delete those allocations first",
                    ports=list(outside),
                )
            fields["port_ranges"] = new_ranges
        for key, value in fields.items():
            setattr(cluster, key, value)
        session.flush()
        after = cluster_view(cluster)
        if after != before:
            ctx.audit(session, "update", "cluster", cluster.name, before, after)
        return after

    return in_transaction(ctx, work)


def delete_cluster(ctx: Context, name: str) -> None:
    def work(session: Session) -> None:
        cluster = find_cluster(session, name)
        envs = session.scalars(
            select(Environment.name).where(Environment.cluster_id == cluster.id)
        ).all()
        if envs:
            raise InUseError(
                f"cluster '{name}' still has environments: {', '.join(sorted(envs))}; "
                "delete or move them first"
            )
        held = session.scalar(
            select(func.count())
            .select_from(Reservation)
            .where(Reservation.cluster_id == cluster.id)
        )
        if held:
            raise InUseError(f"cluster '{name}' still holds {held} reservations; delete them")
        before = cluster_view(cluster)
        # only quarantined ports can be left once no environment remains
        session.execute(delete(PortAssignment).where(PortAssignment.cluster_id == cluster.id))
        session.execute(delete(PortBlock).where(PortBlock.cluster_id == cluster.id))
        session.delete(cluster)
        ctx.audit(session, "delete", "cluster", name, before, None)

    in_transaction(ctx, work)


def list_ports(ctx: Context, name: str) -> dict[str, Any]:
    """Every host port held or in quarantine in a cluster, lowest first."""

    def work(session: Session) -> dict[str, Any]:
        cluster = find_cluster(session, name)
        quarantine = ctx.settings.port_quarantine
        rows = session.scalars(
            select(PortAssignment)
            .where(
                PortAssignment.cluster_id == cluster.id,
                # ports whose quarantine is over are free, even before they are purged
                or_(
                    PortAssignment.released_at.is_(None),
                    PortAssignment.released_at > utcnow() - quarantine,
                ),
            )
            .order_by(PortAssignment.port)
        ).all()
        return {
            "cluster": cluster.name,
            "port_ranges": [str(r) for r in ranges_of(cluster)],
            "ports": [
                {
                    "port": r.port,
                    "service": r.service,
                    "environment": r.environment,
                    "port_name": r.port_name,
                    "state": "assigned" if r.released_at is None else "quarantined",
                    "assigned_at": r.assigned_at,
                    "released_at": r.released_at,
                    "reusable_at": None if r.released_at is None else r.released_at + quarantine,
                }
                for r in rows
            ],
        }

    return in_transaction(ctx, work)
