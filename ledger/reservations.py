"""Use cases for reservations: capacity held for a window, refused when it does not fit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.capacity import picture, usable_constraint
from ledger.clusters import find_cluster
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import InvalidError, NotFoundError
from ledger.host_ports import lock_cluster
from ledger.services import find_service
from ledger.standing import require_fit
from ledger.sync import refresh_if_stale
from ledger.views import reservation_view
from models import Allocation, Cluster, Environment, Reservation, Service
from models.base import utcnow


def _scope(session: Session, data: dict[str, Any]) -> tuple[Cluster, Environment | None]:
    env_name, cluster_name = data.get("environment"), data.get("cluster")
    if not env_name and not cluster_name:
        raise InvalidError({"cluster": ["give a cluster or an environment"]})
    env = None
    if env_name:
        try:
            env = find_environment(session, env_name)
        except NotFoundError as exc:
            raise InvalidError({"environment": [exc.detail]}) from exc
    if cluster_name:
        try:
            cluster = find_cluster(session, cluster_name)
        except NotFoundError as exc:
            raise InvalidError({"cluster": [exc.detail]}) from exc
        if env is not None and env.cluster_id != cluster.id:
            raise InvalidError(
                {"environment": [f"'{env.name}' is on cluster '{env.cluster.name}'"]}
            )
        return cluster, env
    assert env is not None
    return env.cluster, env


def _allocated_service(
    session: Session, env: Environment | None, data: dict[str, Any]
) -> tuple[Service, list[Any]] | None:
    """The service whose allocation in `env` the reservation's slots add to, and the
    constraints to keep with them (the allocation's now: what the slots fall back to
    should the allocation be deleted). None for plain slots."""
    name = data.get("service")
    if name is None:
        return None
    if env is None:
        raise InvalidError({"service": ["give the environment the service is allocated in"]})
    try:
        service = find_service(session, name)
    except NotFoundError as exc:
        raise InvalidError({"service": [exc.detail]}) from exc
    alloc = session.scalar(
        select(Allocation).where(
            Allocation.environment_id == env.id, Allocation.service_id == service.id
        )
    )
    if alloc is None:
        raise InvalidError({"service": [f"'{name}' has no allocation in environment '{env.name}'"]})
    if data.get("constraints"):
        raise InvalidError(
            {
                "constraints": [
                    f"the slots of a service's reservation obey the constraints of its "
                    f"allocation ({env.name}/{name}); leave constraints out"
                ]
            }
        )
    return service, [c for c in alloc.constraints if usable_constraint(c)]


def _instances(session: Session, env: Environment | None, service: Service | None) -> int | None:
    """The instances of `service`'s allocation in `env` now (None: it has none there)."""
    if env is None or service is None:
        return None
    return session.scalar(
        select(Allocation.instances).where(
            Allocation.environment_id == env.id, Allocation.service_id == service.id
        )
    )


def _base(session: Session, env: Environment | None, slot: dict[str, Any]) -> int | None:
    """The allocation's instances a slot of a service is reserved on top of: the slot's
    `base_instances` (a plan's instances before), else the allocation's instances now."""
    service = slot.get("service")
    if service is None:
        return None
    if slot.get("base_instances") is not None:
        return int(slot["base_instances"])
    return _instances(session, env, service)


def reservation_views(
    session: Session, rows: Sequence[Reservation], now: datetime
) -> list[dict[str, Any]]:
    """The reservations' views, each with the slots its allocation has used up now (one
    read for the allocations of all of them)."""
    wanted = {(r.environment_id, r.service_id) for r in rows if r.service_id is not None}
    instances: dict[tuple[int | None, int | None], int] = {}
    if wanted:
        found = session.execute(
            select(Allocation.environment_id, Allocation.service_id, Allocation.instances).where(
                Allocation.service_id.in_({s for _, s in wanted}),
                Allocation.environment_id.in_({e for e, _ in wanted if e is not None}),
            )
        )
        instances = {(e, s): n for e, s, n in found}
    return [reservation_view(r, now, instances.get((r.environment_id, r.service_id))) for r in rows]


def add_reservations(
    ctx: Context,
    session: Session,
    cluster: Cluster,
    env: Environment | None,
    slots: list[dict[str, Any]],
    *,
    force: bool,
    now: datetime,
    what: str,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Hold several slot sizes inside the caller's transaction, fit-checked together: one
    verdict for all of them, so that either all are held or none (an admin may force).

    A slot's `service` (a Service of `env`, optional) makes its reservation one of that
    service's allocation: placed with the allocation's host ports and constraints while
    the allocation exists (ledger.capacity.link_slots). Its `base_instances` is the
    allocation's instances the slots come on top of (default: those it has now): the
    instances it grows beyond that use the slots up (ledger.capacity.slots_used).
    """
    lock_cluster(ctx, session, cluster.id)
    rows = [
        Reservation(
            cluster=cluster,
            environment=env,
            service=slot.get("service"),
            base_instances=_base(session, env, slot),
            count=slot["count"],
            cpus=slot["cpus"],
            mem=slot["mem"],
            disk=slot.get("disk", 0),
            constraints=slot.get("constraints", []),
            starts_at=slot["starts_at"],
            ends_at=slot["ends_at"],
            reason=slot["reason"],
            owner=ctx.actor,
        )
        for slot in slots
    ]
    session.add_all(rows)
    session.flush()
    verdict = require_fit(
        picture(session, cluster, now),
        force=force,
        what=what,
        key=f"reservation:{rows[0].id}" if len(rows) == 1 else None,
        seconds=ctx.settings.fit_budget,
    )
    for r in rows:
        r.forced = verdict.failing is not None  # saved only because an admin forced it
    session.flush()
    views = reservation_views(session, rows, now)
    for r, view in zip(rows, views, strict=True):
        action = "create-forced" if r.forced else "create"
        ctx.audit(session, action, "reservation", str(r.id), None, view)
    return views, verdict.as_dict()


def create_reservation(
    ctx: Context, data: dict[str, Any], *, force: bool = False, dry_run: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Hold capacity for a window; 409 with the reasons when it would not fit at some moment.

    `service` (with `environment`): the slots are more instances of the service's
    allocation there, so the check places them with its host ports and constraints.
    """
    refresh_if_stale(ctx, cluster=data.get("cluster"), environment=data.get("environment"))

    def work(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
        cluster, env = _scope(session, data)
        slot = dict(data)
        allocated = _allocated_service(session, env, data)
        if allocated is not None:
            slot["service"], slot["constraints"] = allocated
        now = utcnow()
        if data["ends_at"] <= now:
            raise InvalidError({"ends_at": ["the window is over already"]})
        views, fit = add_reservations(
            ctx,
            session,
            cluster,
            env,
            [slot],
            force=force,
            now=now,
            what=f"reservation '{data['reason']}'",
        )
        return views[0], fit

    return in_transaction(ctx, work, dry_run=dry_run)


def list_reservations(
    ctx: Context,
    *,
    cluster: str | None = None,
    environment: str | None = None,
    include_expired: bool = False,
) -> list[dict[str, Any]]:
    def work(session: Session) -> list[dict[str, Any]]:
        now = utcnow()
        query = select(Reservation).order_by(Reservation.starts_at, Reservation.id)
        if cluster is not None:
            query = query.where(Reservation.cluster_id == find_cluster(session, cluster).id)
        if environment is not None:
            env = find_environment(session, environment)
            query = query.where(Reservation.environment_id == env.id)
        if not include_expired:
            query = query.where(Reservation.ends_at > now)
        return reservation_views(session, session.scalars(query).all(), now)

    return in_transaction(ctx, work)


def _find(session: Session, reservation_id: int) -> Reservation:
    r = session.get(Reservation, reservation_id)
    if r is None:
        raise NotFoundError(f"there is no reservation {reservation_id}")
    return r


def get_reservation(ctx: Context, reservation_id: int) -> dict[str, Any]:
    return in_transaction(
        ctx, lambda s: reservation_views(s, [_find(s, reservation_id)], utcnow())[0]
    )


def delete_reservation(ctx: Context, reservation_id: int) -> None:
    def work(session: Session) -> None:
        r = _find(session, reservation_id)
        lock_cluster(ctx, session, r.cluster_id)
        [before] = reservation_views(session, [r], utcnow())
        session.delete(r)
        ctx.audit(session, "delete", "reservation", str(reservation_id), before, None)

    in_transaction(ctx, work)
