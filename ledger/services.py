"""Use cases for services: their named ports follow them into every environment."""

from __future__ import annotations

from typing import Any

import networkx as nx
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from allocator import dependencies
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import (
    AlreadyExistsError,
    ConflictError,
    InUseError,
    InvalidError,
    NotFoundError,
)
from ledger.host_ports import (
    assign_ports,
    lock_cluster,
    purge_quarantine,
    release_ports,
)
from ledger.views import allocation_view, reservation_view, service_view
from models import (
    Allocation,
    Cluster,
    Environment,
    Reservation,
    Service,
    ServiceDependency,
    ServicePort,
)
from models.base import utcnow


def find_service(session: Session, name: str) -> Service:
    service = session.scalar(select(Service).where(Service.name == name))
    if service is None:
        raise NotFoundError(f"there is no service named '{name}'")
    return service


def _check_health_port(ports: list[dict[str, Any]], health: dict[str, Any] | None) -> None:
    if not health or health.get("protocol") == "COMMAND":
        return
    names = [p["name"] for p in ports]
    if health.get("port") not in names:
        raise InvalidError(
            {
                "health_check": {
                    "port": [f"'{health.get('port')}' is not one of the service's ports {names}"]
                }
            }
        )


def _set_ports(service: Service, ports: list[dict[str, Any]]) -> None:
    """Update ports in place by name, so unchanged ports keep their rows."""
    by_name = {p.name: p for p in service.ports}
    kept: list[ServicePort] = []
    for position, spec in enumerate(ports):
        row = by_name.get(spec["name"]) or ServicePort(name=spec["name"])
        row.protocol = spec.get("protocol", "tcp")
        row.container_port = spec.get("container_port")
        row.position = position
        kept.append(row)
    service.ports = kept


def _set_calls(
    session: Session, service: Service, calls: list[dict[str, Any]], *, new: bool = False
) -> None:
    names = [c["service"] for c in calls]
    if service.name in names:
        raise InvalidError({"calls": [f"service '{service.name}' cannot call itself"]})
    found = {s.name: s for s in session.scalars(select(Service).where(Service.name.in_(names)))}
    unknown = sorted(set(names) - set(found))
    if unknown:
        raise InvalidError(
            {"calls": [f"unknown services: {', '.join(unknown)}; create them first"]}
        )
    if calls and not new:
        # a new service has no callers yet, so its calls cannot close a cycle; the check
        # reads the whole call graph (0.1 s at 5,000 services)
        _refuse_cycles(session, service.name, calls)
    service.calls = [
        ServiceDependency(
            callee=found[c["service"]],
            fan_out=c.get("fan_out", 1.0),
            allow_cycle=c.get("allow_cycle", False),
        )
        for c in calls
    ]


class DependencyCycleError(ConflictError):
    title = "Dependency cycle"


def call_graph(session: Session) -> nx.DiGraph:
    """Every service and every call edge, read in two queries."""
    callee = aliased(Service)
    edges = session.execute(
        select(
            Service.name,
            callee.name,
            ServiceDependency.fan_out,
            ServiceDependency.allow_cycle,
        )
        .join(ServiceDependency, ServiceDependency.caller_id == Service.id)
        .join(callee, ServiceDependency.callee_id == callee.id)
    ).all()
    return dependencies.graph(
        session.scalars(select(Service.name)),
        (dependencies.Edge(a, b, f, bool(allowed)) for a, b, f, allowed in edges),
    )


def _refuse_cycles(session: Session, name: str, calls: list[dict[str, Any]]) -> None:
    """409 naming the cycle when the service's new calls close one (unless allowed)."""
    edges = [
        dependencies.Edge(name, c["service"], c.get("fan_out", 1.0), c.get("allow_cycle", False))
        for c in calls
    ]
    try:
        dependencies.check_calls(call_graph(session), name, edges)
    except dependencies.CycleError as exc:
        raise DependencyCycleError(str(exc), cycle=exc.cycle) from exc


def _sync_allocation_ports(
    ctx: Context, session: Session, service: Service, old: list[str], new: list[str]
) -> None:
    """A port added to a service gets a host port in every environment; a removed one is freed."""
    added = [n for n in new if n not in old]
    removed = set(old) - set(new)
    if not added and not removed:
        return
    allocs = session.scalars(
        select(Allocation)
        .join(Environment)
        .where(Allocation.service_id == service.id)
        .order_by(Environment.cluster_id, Allocation.id)
    ).all()
    now = utcnow()
    for cluster_id in sorted({a.environment.cluster_id for a in allocs}):
        purge_quarantine(ctx, session, cluster_id, now)  # locked by the caller

    for alloc in allocs:
        before = allocation_view(alloc)
        release_ports(session, [p for p in alloc.ports if p.port_name in removed], now)
        assign_ports(ctx, session, alloc.environment.cluster, alloc, added, {})
        alloc.version += 1
        alloc.updated_by = ctx.actor
        session.flush()
        session.expire(alloc, ["ports"])
        ctx.audit(
            session,
            "update",
            "allocation",
            f"{alloc.environment.name}/{service.name}",
            before,
            allocation_view(alloc),
        )


def add_service(ctx: Context, session: Session, data: dict[str, Any]) -> Service:
    """Create a service inside the caller's transaction, audited."""
    if session.scalar(select(Service.id).where(Service.name == data["name"])):
        raise AlreadyExistsError(f"a service named '{data['name']}' already exists")
    ports = data.get("ports", [])
    _check_health_port(ports, data.get("health_check"))
    fields = {k: v for k, v in data.items() if k not in ("ports", "calls")}
    service = Service(**{"tags": [], "health_check": None, **fields})
    _set_ports(service, ports)
    _set_calls(session, service, data.get("calls", []), new=True)
    session.add(service)
    session.flush()
    ctx.audit(session, "create", "service", service.name, None, service_view(service))
    return service


def create_service(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    return in_transaction(ctx, lambda session: service_view(add_service(ctx, session, data)))


def list_services(
    ctx: Context, team: str | None = None, tag: str | None = None
) -> list[dict[str, Any]]:
    def work(session: Session) -> list[dict[str, Any]]:
        query = select(Service).order_by(Service.name)
        if team is not None:
            query = query.where(Service.team == team)
        views = [service_view(s) for s in session.scalars(query)]
        return [v for v in views if tag is None or tag in v["tags"]]

    return in_transaction(ctx, work)


def get_service(ctx: Context, name: str) -> dict[str, Any]:
    return in_transaction(ctx, lambda session: service_view(find_service(session, name)))


def update_service(ctx: Context, name: str, changes: dict[str, Any]) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        if "ports" in changes:
            # a port change reaches every environment: hold every cluster's lock before
            # reading, so an allocation created meanwhile cannot miss it
            for cluster_id in session.scalars(select(Cluster.id).order_by(Cluster.id)):
                lock_cluster(ctx, session, cluster_id)
        service = find_service(session, name)
        before = service_view(service)
        old_names = [p.name for p in service.ports]
        ports = changes.get("ports", before["ports"])
        _check_health_port(ports, changes.get("health_check", service.health_check))
        for key, value in changes.items():
            if key not in ("ports", "calls"):
                setattr(service, key, value)
        if "ports" in changes:
            _set_ports(service, ports)
        if "calls" in changes:
            _set_calls(session, service, changes["calls"])
        session.flush()
        _sync_allocation_ports(ctx, session, service, old_names, [p["name"] for p in ports])
        after = service_view(service)
        if after != before:
            service.updated_at = utcnow()
            session.flush()
            after = service_view(service)
            ctx.audit(session, "update", "service", service.name, before, after)
        return after

    return in_transaction(ctx, work)


def delete_service(ctx: Context, name: str) -> None:
    def work(session: Session) -> None:
        service = find_service(session, name)
        envs = session.scalars(
            select(Environment.name)
            .join(Allocation, Allocation.environment_id == Environment.id)
            .where(Allocation.service_id == service.id)
        ).all()
        if envs:
            raise InUseError(
                f"service '{name}' is allocated in {', '.join(sorted(envs))}; "
                "delete those allocations first"
            )
        callers = session.scalars(
            select(Service.name)
            .join(ServiceDependency, ServiceDependency.caller_id == Service.id)
            .where(ServiceDependency.callee_id == service.id)
        ).all()
        if callers:
            raise InUseError(
                f"service '{name}' is called by {', '.join(sorted(callers))}; "
                "remove it from their calls first"
            )
        # its reservations stay, as plain slots: each says so in the audit log
        now = utcnow()
        for r in session.scalars(select(Reservation).where(Reservation.service_id == service.id)):
            was = reservation_view(r, now)
            r.service = None
            ctx.audit(session, "update", "reservation", str(r.id), was, {**was, "service": None})
        before = service_view(service)
        session.delete(service)
        ctx.audit(session, "delete", "service", name, before, None)

    in_transaction(ctx, work)


def service_impact(ctx: Context, name: str) -> dict[str, Any]:
    """Who a change of the service reaches: callers upstream, callees downstream."""

    def work(session: Session) -> dict[str, Any]:
        find_service(session, name)
        found = dependencies.impact(call_graph(session), name)
        return {
            "service": name,
            "upstream": [{"service": s, "depth": d} for s, d in found.upstream.items()],
            "downstream": [{"service": s, "depth": d} for s, d in found.downstream.items()],
        }

    return in_transaction(ctx, work)


def deploy_order(ctx: Context, environment: str | None = None) -> dict[str, Any]:
    """Generations of services to deploy in, callees first; of one environment if given."""

    def work(session: Session) -> dict[str, Any]:
        only = None
        if environment is not None:
            env = find_environment(session, environment)
            only = session.scalars(
                select(Service.name)
                .join(Allocation, Allocation.service_id == Service.id)
                .where(Allocation.environment_id == env.id)
            ).all()
        generations = dependencies.deploy_order(call_graph(session), only)
        return {"environment": environment, "generations": generations}

    return in_transaction(ctx, work)
