"""Use cases for allocations: what one service gets in one environment, with its host ports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ledger.capacity import DoesNotFitError, allocation_demand, app_id, surge_of
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import InvalidError, NotFoundError, PreconditionFailedError
from ledger.host_ports import assign_ports, lock_cluster, purge_quarantine, release_ports
from ledger.renders import check_allocation_definition
from ledger.services import find_service
from ledger.standing import Kept, judge_allocation, record_deletion, refusal, standing_for
from ledger.sync import refresh_if_stale
from ledger.views import allocation_view
from models import Allocation, Environment, Service
from models.base import utcnow

# fields of an allocation a PUT sets; anything left out takes its default
_DEFAULTS: dict[str, Any] = {
    "disk": 0,
    "instances": 1,
    "network": "host",
    "constraints": [],
    "upgrade_strategy": {"minimum_health_capacity": 1.0, "maximum_over_capacity": 1.0},
    "overrides": {},
}


@dataclass(frozen=True)
class AllocationResult:
    allocation: dict[str, Any]
    created: bool
    changed: bool
    dry_run: bool
    fit: dict[str, Any] | None = None


def etag(view: dict[str, Any]) -> str:
    """A strong entity tag: the version, and the creation time so that a deleted and
    re-created allocation's v1 differs from the old v1 (SQLite reuses row ids)."""
    created = view["created_at"].isoformat() if view.get("created_at") else ""
    identity = hashlib.sha256(f"{view['id']}|{created}".encode()).hexdigest()[:12]
    return f'"{identity}.v{view["version"]}"'


def _check_if_match(if_match: str | None, current: str | None) -> None:
    """Refuse a write based on a stale read (RFC 9110 If-Match; `*` means "exists")."""
    if if_match is None or not if_match.strip():
        return
    tags = [t.strip() for t in if_match.split(",")]
    if current is not None and ("*" in tags or current in tags):
        return
    raise PreconditionFailedError(
        f"If-Match {if_match} does not match the allocation's current ETag "
        f"{current or '(none: it does not exist)'}; GET it again and retry",
        current_etag=current,
    )


def _find(session: Session, env: Environment, service: Service) -> Allocation | None:
    return session.scalar(
        select(Allocation).where(
            Allocation.environment_id == env.id, Allocation.service_id == service.id
        )
    )


def find_allocation(session: Session, env_name: str, service_name: str) -> Allocation:
    found = (
        session.execute(
            select(Allocation)
            .join(Environment, Allocation.environment_id == Environment.id)
            .join(Service, Allocation.service_id == Service.id)
            .where(Environment.name == env_name, Service.name == service_name)
            # one round trip: the pipeline's render path reads exactly this
            .options(joinedload(Allocation.ports), joinedload(Allocation.service, Service.ports))
        )
        .unique()
        .scalar_one_or_none()
    )
    if found is not None:
        return found
    # say which of the three is missing
    env = find_environment(session, env_name)
    service = find_service(session, service_name)
    alloc = _find(session, env, service)
    if alloc is None:
        raise NotFoundError(
            f"service '{service_name}' has no allocation in environment '{env_name}'"
        )
    return alloc


def _apply(alloc: Allocation, data: dict[str, Any]) -> None:
    fields = {**_DEFAULTS, **data}
    strategy = {**_DEFAULTS["upgrade_strategy"], **fields.pop("upgrade_strategy")}
    alloc.minimum_health_capacity = strategy["minimum_health_capacity"]
    alloc.maximum_over_capacity = strategy["maximum_over_capacity"]
    for key in ("cpus", "mem", "disk", "instances", "network", "constraints", "overrides"):
        setattr(alloc, key, fields[key])


def write_allocation(
    ctx: Context,
    session: Session,
    env_name: str,
    service_name: str,
    data: dict[str, Any],
    *,
    if_match: str | None = None,
    force: bool = False,
    check_fit: bool = True,
) -> AllocationResult:
    """Create or replace an allocation inside the caller's transaction.

    The cluster must still fit afterwards, at every moment from now on; an admin's
    `force` saves an over-commit anyway, marked on the allocation and in the audit log.
    """
    env = find_environment(session, env_name)
    # lock before reading the service: a concurrent change of its ports must be seen whole
    version = lock_cluster(ctx, session, env.cluster_id)
    # the standing placement as it is before this write (caught up under the lock)
    kept = standing_for(session, env.cluster, version) if check_fit else None
    service = find_service(session, service_name)
    fields = dict(data)
    requested: dict[str, int] = fields.pop("ports", None) or {}
    names = [p.name for p in service.ports]
    unknown = sorted(set(requested) - set(names))
    if unknown:
        raise InvalidError(
            {
                "ports": {
                    n: [f"service '{service_name}' has no port named '{n}'; it has {names}"]
                    for n in unknown
                }
            }
        )
    now = utcnow()
    purge_quarantine(ctx, session, env.cluster_id, now)
    alloc = _find(session, env, service)
    _check_if_match(if_match, etag(allocation_view(alloc)) if alloc else None)
    if alloc is None:
        alloc = Allocation(environment=env, service=service, version=1, updated_by=ctx.actor)
        _apply(alloc, fields)
        session.add(alloc)
        session.flush()
        assign_ports(ctx, session, env.cluster, alloc, names, requested)
        session.flush()
        session.expire(alloc, ["ports"])
        _check_definition(session, alloc)
        fit = _verdict(ctx, session, kept, alloc, force, check_fit)
        view = allocation_view(alloc)
        action = "create-forced" if alloc.forced_at else "create"
        ctx.audit(
            session, action, "allocation", f"{env.name}/{service.name}", None, _noted(view, fit)
        )
        return AllocationResult(view, created=True, changed=True, dry_run=False, fit=fit)

    before = allocation_view(alloc)
    _apply(alloc, fields)
    held = {p.port_name: p for p in alloc.ports}
    moved = {n: p for n, p in requested.items() if n in held and held[n].port != p}
    missing = [n for n in names if n not in held]
    if moved:
        release_ports(session, [held[n] for n in moved], now)
    assign_ports(
        ctx,
        session,
        env.cluster,
        alloc,
        [n for n in names if n in moved or n in missing],
        {n: p for n, p in requested.items() if n in moved or n in missing},
    )
    session.flush()
    session.expire(alloc, ["ports"])
    changed = _comparable(allocation_view(alloc)) != _comparable(before)
    if changed:
        _check_definition(session, alloc)
    # a change that only takes less can never make things worse: it is never refused
    shrinks = _only_shrinks(before, allocation_view(alloc))
    fit = (
        _verdict(ctx, session, kept, alloc, force or shrinks, check_fit)
        if changed or force
        else None
    )
    if changed:
        alloc.version += 1
        alloc.updated_by = ctx.actor
        session.flush()
        after = allocation_view(alloc)
        action = "update-forced" if alloc.forced_at else "update"
        ctx.audit(
            session, action, "allocation", f"{env.name}/{service.name}", before, _noted(after, fit)
        )
    else:
        after = allocation_view(alloc)
    return AllocationResult(after, created=False, changed=changed, dry_run=False, fit=fit)


def _check_definition(session: Session, alloc: Allocation) -> None:
    """422 for an override (or a default with it) that makes a definition Marathon refuses;
    an allocation without overrides renders what the environment's defaults were checked
    to give."""
    if alloc.overrides or (alloc.environment.defaults or {}).get("patch"):
        check_allocation_definition(session, alloc)


def _noted(view: dict[str, Any], fit: dict[str, Any] | None) -> dict[str, Any]:
    """What the audit log keeps of a write: the allocation, and when the verdict holds only
    once running tasks move, which ones (Marathon will not move them by itself)."""
    if not fit or fit.get("level") != "fits_after_moves":
        return view
    note = "Marathon places the new instances only after these running tasks move: " + "; ".join(
        f"{m['demand']} #{m['instance']} from {m['from']['hostname']} to {m['to']['hostname']}"
        for m in fit.get("moves", ())
    )
    return {**view, "fit": {"level": fit["level"], "moves": fit.get("moves", []), "note": note}}


def _verdict(
    ctx: Context,
    session: Session,
    kept: Kept | None,
    alloc: Allocation,
    force: bool,
    check_fit: bool,
) -> dict[str, Any] | None:
    """The verdict on the allocation as it now stands (409 unless it fits, or is forced)."""
    if not check_fit:
        return None
    env, service = alloc.environment, alloc.service
    cluster = env.cluster
    if kept is None:
        # never synced: the verdict is "not checked" whatever the cluster holds
        alloc.forced_at = None
        return {
            "checked": False,
            "fits": True,
            "why": (
                f"cluster '{cluster.name}' has no snapshot yet: sync it "
                f"(POST /api/v1/clusters/{cluster.name}/sync) to have every change checked"
            ),
        }
    ports = sorted(p.port for p in alloc.ports)
    verdict = judge_allocation(
        session,
        kept,
        f"{env.name}/{service.name}",
        allocation_demand(cluster, alloc, ports),
        surge_of(alloc),
        app_id(env, service.name),
        seconds=ctx.settings.fit_budget,
        force=force,
    )
    if verdict.fits:
        alloc.forced_at = None
    elif force:
        alloc.forced_at = utcnow()  # an admin's decision, shown in every capacity answer
    else:
        raise DoesNotFitError(
            refusal(
                cluster.name,
                f"{service.name} in {env.name}",
                None,
                None,
                utcnow(),
                verdict.proof,
                reasons=verdict.reasons,
                when=verdict.when,
            ),
            fit=verdict.view,
        )
    session.flush()
    return verdict.view


def put_allocation(
    ctx: Context,
    env_name: str,
    service_name: str,
    data: dict[str, Any],
    *,
    if_match: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> AllocationResult:
    """Create or replace an allocation; its host ports never move unless asked to."""
    refresh_if_stale(ctx, environment=env_name)

    def work(session: Session) -> AllocationResult:
        result = write_allocation(
            ctx, session, env_name, service_name, data, if_match=if_match, force=force
        )
        return replace(result, dry_run=dry_run)

    return in_transaction(ctx, work, dry_run=dry_run)


def _only_shrinks(before: dict[str, Any], after: dict[str, Any]) -> bool:
    same = ("network", "constraints", "ports", "upgrade_strategy", "overrides")
    return all(before[k] == after[k] for k in same) and all(
        after[k] <= before[k] for k in ("cpus", "mem", "disk", "instances")
    )


def _comparable(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in ("updated_at", "updated_by", "version")}


def get_allocation(ctx: Context, env_name: str, service_name: str) -> dict[str, Any]:
    return in_transaction(
        ctx, lambda session: allocation_view(find_allocation(session, env_name, service_name))
    )


def list_allocations(ctx: Context, env_name: str) -> list[dict[str, Any]]:
    def work(session: Session) -> list[dict[str, Any]]:
        env = find_environment(session, env_name)
        allocs = session.scalars(
            select(Allocation)
            .join(Service)
            .where(Allocation.environment_id == env.id)
            .order_by(Service.name)
        )
        return [allocation_view(a) for a in allocs]

    return in_transaction(ctx, work)


def delete_allocation(
    ctx: Context,
    env_name: str,
    service_name: str,
    *,
    if_match: str | None = None,
    dry_run: bool = False,
) -> None:
    """Delete an allocation; its host ports go into quarantine, not straight back to the pool."""

    def work(session: Session) -> None:
        # lock first: what If-Match is checked against must be what gets deleted
        env = find_environment(session, env_name)
        version = lock_cluster(ctx, session, env.cluster_id)
        kept = standing_for(session, env.cluster, version)
        alloc = find_allocation(session, env_name, service_name)
        before = allocation_view(alloc)
        _check_if_match(if_match, etag(before))
        if kept is not None:
            record_deletion(session, kept, f"{env_name}/{service_name}", app_id(env, service_name))
        release_ports(session, alloc.ports, utcnow())
        session.delete(alloc)
        ctx.audit(session, "delete", "allocation", f"{env_name}/{service_name}", before, None)

    in_transaction(ctx, work, dry_run=dry_run)
