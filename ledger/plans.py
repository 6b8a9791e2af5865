"""Use cases for what-if plans: scale services for a window, ask how many agents it takes,
and hold the plan's extra capacity as reservations.

A plan counts what the capacity check counts: the allocations of every environment on
the cluster, the deploy surge, the executor overhead, the headroom, and the reservations
whose windows overlap the plan's window (each distinct set of them that is active at
once is checked). Only the allocations of the plan's environment are scaled.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allocator import dependencies
from allocator.machine_mix import Mix, PricedShape, cheapest_mix
from allocator.model import AgentShape, Demand, Placement, Unplaced
from allocator.plans import PlanAnswer, plan
from allocator.windows import Window, distinct_sets, intervals_from
from ledger.capacity import (
    RESOURCES,
    DoesNotFitError,
    NotSyncedError,
    Picture,
    _surge,
    picture,
    slots_used,
    surge_summary,
    unplaced_view,
    usable_constraint,
)
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import ConflictError, InvalidError, NotFoundError
from ledger.reservations import add_reservations
from ledger.right_sizing import observed_peak, sized
from ledger.services import call_graph
from ledger.sync import refresh_if_stale
from models import Allocation, Plan, Reservation, Service
from models.base import utcnow

SHOWN_UNPLACED = 100  # unplaced instances kept in a plan's answer; the count is complete
# instances one plan may place in all: beyond this a plan would run for minutes, and no
# cluster berth knows is that big
MAX_PLANNED_INSTANCES = 200_000


class PlanReservedError(ConflictError):
    title = "Plan reserved already"


@dataclass(frozen=True)
class _Scaled:
    """What the surge computation reads of an allocation, with the scaled instance count."""

    instances: int
    minimum_health_capacity: float
    maximum_over_capacity: float


def _instances(n: int, factor: float) -> int:
    """ceil(n × factor), without float noise turning 10 × 1.1 into 12."""
    return max(0, math.ceil(round(n * factor, 9)))


def _factors(
    session: Session,
    env_services: dict[str, Service],
    scale: dict[str, float],
    propagate: bool,
    load: dict[str, int] | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """Factor per service of the environment and where it came from ("explicit", "team:x",
    "tag:y", "propagated"). A service's own entry beats a tag, a tag beats a team; among
    several tags or teams that match, the largest factor counts."""
    errors: dict[str, list[str]] = {}
    # names, teams and tags only: whole rows of 5,000 services took half a second
    all_services = {
        s.name: s for s in session.execute(select(Service.name, Service.team, Service.tags))
    }
    by_rank: dict[str, tuple[int, float, str]] = {}  # name → (rank, factor, source)

    def offer(name: str, rank: int, factor: float, source: str) -> None:
        held = by_rank.get(name)
        if held is None or (rank, factor) > (held[0], held[1]):
            by_rank[name] = (rank, factor, source)

    for key, factor in scale.items():
        kind, _, value = key.partition(":") if ":" in key else ("service", "", key)
        if kind == "team":
            members = [s for s in all_services.values() if s.team == value]
            rank = 0
        elif kind == "tag":
            members = [s for s in all_services.values() if value in (s.tags or [])]
            rank = 1
        elif kind == "service":
            members = [all_services[value]] if value in all_services else []
            rank = 2
        else:
            errors[key] = ["use a service name, 'team:<team>' or 'tag:<tag>'"]
            continue
        if not members:
            errors[key] = [f"there is no {kind} '{value}'"]
            continue
        placed = [s for s in members if s.name in env_services]
        if not placed:
            errors[key] = [f"'{value}' has no allocation in this environment"]
            continue
        for s in placed:
            offer(s.name, rank, factor, "explicit" if kind == "service" else key)
    if errors:
        raise InvalidError({"scale": errors})
    explicit = {name: f for name, (_, f, _) in by_rank.items()}
    source = {name: src for name, (_, _, src) in by_rank.items()}
    if propagate:
        carried = dependencies.load_factors(
            call_graph(session), explicit, {n: float(i) for n, i in (load or {}).items()}
        )
        for name, f in carried.items():
            if name in env_services and f > explicit.get(name, 1.0) + 1e-12:
                explicit[name] = f
                source[name] = "propagated"
    return {n: f for n, f in explicit.items() if n in env_services}, source


def _default_shape(pic: Picture) -> AgentShape:
    """The cluster's most common active agent (by total size), its ports and attributes."""
    assert pic.snapshot is not None
    active = sorted((a for a in pic.snapshot.agents if a["active"]), key=lambda a: a["id"])
    if not active:
        raise NotSyncedError(
            f"cluster '{pic.cluster.name}' has no active agent in its latest snapshot; "
            "give agent_shape {cpus, mem, disk}"
        )

    def size(a: dict[str, Any]) -> tuple[float, float, float]:
        return tuple(float(a["resources"][r]) for r in RESOURCES)  # type: ignore[return-value]

    counts = Counter(size(a) for a in active)
    common = max(counts, key=lambda s: (counts[s], s))
    template = next(a for a in active if size(a) == common)
    attributes = {k: str(v) for k, v in template["attributes"].items()}
    spread = {
        name: tuple(sorted({str(a["attributes"][name]) for a in active if name in a["attributes"]}))
        for name in attributes
    }
    return AgentShape(
        cpus=common[0],
        mem=common[1],
        disk=common[2],
        ports=tuple(tuple(r) for r in template["resources"]["ports"]),  # type: ignore[misc]
        attributes=attributes,
        spread={k: v for k, v in spread.items() if len(v) > 1},
    )


def _scenarios(
    pic: Picture, demands: list[Demand], starts_at: datetime, ends_at: datetime
) -> tuple[list[list[Demand]], list[int]]:
    """One demand list per distinct set of reservations active at once in the window."""
    start = max(starts_at, pic.now)
    windows = [
        Window(r.id, r.starts_at, r.ends_at)
        for r, _ in pic.reservations
        if r.starts_at < ends_at and r.ends_at > start
    ]
    intervals = [i for i in intervals_from(start, windows) if i.start < ends_at]
    sets = distinct_sets(intervals) or [frozenset()]
    slots = {r.id: d for r, d in pic.reservations}
    scenarios = [[*demands, *(slots[i] for i in sorted(s))] for s in sets]
    return scenarios, sorted({i for s in sets for i in s})


def _shape_view(shape: AgentShape) -> dict[str, Any]:
    return {
        "cpus": shape.cpus,
        "mem": shape.mem,
        "disk": shape.disk,
        "ports": [list(r) for r in shape.ports],
        "attributes": dict(shape.attributes),
        "spread_over": {k: list(v) for k, v in shape.spread.items()},
    }


def _unplaced(items: tuple[Unplaced, ...]) -> list[dict[str, Any]]:
    return [unplaced_view(u) for u in items[:SHOWN_UNPLACED]]


def _answer_view(answer: PlanAnswer, shape: AgentShape) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for c in answer.checks:
        entry = {
            "extra_agents": c.extra_agents,
            "fits": c.fits,
            "proven": c.proven,
            "by": c.by,
            "agents_used": c.agents_used,
            "unplaced": c.unplaced,
        }
        checked["fits" if c.fits else "does_not_fit"] = entry
    k = answer.extra_agents
    if answer.fits_now:
        advice = "it fits as it is"
    elif k is None:
        advice = f"no number of agents of this shape makes it fit: {answer.why_not}"
    else:
        advice = (
            f"add {k} agent{'s' if k != 1 else ''} of {shape.cpus:g} cpus, "
            f"{shape.mem:g} MiB and {shape.disk:g} MiB of disk"
        )
    return {
        "fits": answer.fits_now,
        "extra_agents": k,
        "advice": advice,
        "checked": checked,
        "bottleneck": {
            "resource": answer.bottleneck,
            "need": round(answer.need[answer.bottleneck], 3),
            "capacity": round(answer.capacity[answer.bottleneck], 3),
            "volume_bound": answer.volume_bound,
            "rule": answer.rule or None,
            "rule_bound": answer.rule_bound,
        },
        "need": {r: round(v, 3) for r, v in answer.need.items()},
        "capacity": {r: round(v, 3) for r, v in answer.capacity.items()},
        "lower_bound": answer.lower_bound,
        # extra_agents is the fewest: k − 1 proven not to fit (by a bound or the exact
        # search); false when neither settled it within BERTH_PLAN_BUDGET_SECONDS
        "proven": answer.proven,
        "agents_used": answer.now.agents_used,
        "agents_used_with_extra": answer.final.agents_used if answer.final else None,
        "unplaced_count": len(answer.unplaced),
        "unplaced": _unplaced(answer.unplaced),
        "placements_tried": answer.tries,
        "exact_search_seconds": answer.exact_seconds,
    }


def _mix_view(mix: Mix, priced: list[PricedShape]) -> dict[str, Any]:
    shapes = [
        {
            "name": p.name,
            "cpus": p.shape.cpus,
            "mem": p.shape.mem,
            "disk": p.shape.disk,
            "cost": p.cost,
            "count": mix.counts[p.name],
        }
        for p in priced
    ]
    if mix.cost is None:
        advice = f"no mix of these shapes makes it fit: {mix.why_not}"
    elif mix.agents == 0:
        advice = "it fits as it is"
    else:
        bought = ", ".join(
            f"{s['count']} × {s['name']} ({s['cpus']:g} cpus, {s['mem']:g} MiB)"
            for s in shapes
            if s["count"]
        )
        advice = f"add {bought}: cost {mix.cost:g}"
    return {
        "shapes": shapes,
        "agents": mix.agents,
        "cost": mix.cost,
        "lower_bound": {"cost": round(mix.lower_bound, 6), "by": mix.bound_by},
        "gap": round(mix.gap, 4),
        "proven": mix.proven,
        "binds": mix.binds,
        "share": mix.share,
        "advice": advice,
        "placements_tried": mix.tries,
        "seconds": mix.seconds,
    }


def _known(
    answer: PlanAnswer, shape: AgentShape, priced: list[PricedShape]
) -> tuple[list[int], Placement] | None:
    """The plan's own answer as a mix, when its shape is one of those that can be bought."""
    if answer.extra_agents is None or answer.final is None:
        return None
    for t, p in enumerate(priced):
        if p.shape == shape:
            return [answer.extra_agents if i == t else 0 for i in range(len(priced))], answer.final
    return None


def _priced(data: dict[str, Any], base: AgentShape) -> list[PricedShape]:
    """The shapes a mix may buy: their ports are the cluster's common agent's, and so are
    their attributes unless given."""
    return [
        PricedShape(
            s["name"],
            AgentShape(
                cpus=float(s["cpus"]),
                mem=float(s["mem"]),
                disk=float(s.get("disk", 0)),
                ports=base.ports,
                attributes=s.get("attributes", base.attributes),
                spread={} if "attributes" in s else base.spread,
            ),
            float(s["cost"]),
        )
        for s in data.get("agent_shapes") or []
    ]


def _observed_peaks(
    ctx: Context, session: Session, allocs: list[Allocation], now: datetime
) -> dict[str, tuple[float, float]]:
    """Per service with enough usage data, the per-instance (cpus, mem MiB) planned on:
    its observed peak, never below its recommendation (ledger/right_sizing.py)."""
    sizes = sized(session, allocs, ctx.settings.usage, now)
    out = {}
    for a in allocs:
        peak = observed_peak(sizes[a.id])
        if peak is not None:
            out[a.service.name] = (round(peak[0], 4), float(math.ceil(peak[1] - 1e-9)))
    return out


def _basis_view(basis: str, peak: tuple[float, float] | None) -> dict[str, Any]:
    """What one scaled service was planned on: its size per instance and where it came from
    (a service without enough usage data falls back to its allocation)."""
    if basis == "allocated":
        return {}  # as before basis existed
    if peak is None:
        return {"basis": "allocated", "basis_reason": "not enough usage data"}
    return {"basis": "observed_peak", "planned_cpus": peak[0], "planned_mem": int(peak[1])}


def _request_view(data: dict[str, Any], starts_at: datetime, ends_at: datetime) -> dict[str, Any]:
    return {
        "environment": data["environment"],
        "scale": dict(data["scale"]),
        "propagate": data.get("propagate", False),
        **({"basis": data["basis"]} if data.get("basis", "allocated") != "allocated" else {}),
        "window": {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()},
        "agent_shape": data.get("agent_shape"),
        **({"agent_shapes": data["agent_shapes"]} if data.get("agent_shapes") else {}),
    }


def plan_view(p: Plan) -> dict[str, Any]:
    return {
        "id": p.id,
        "environment": p.environment.name,
        "cluster": p.environment.cluster.name,
        "starts_at": p.starts_at,
        "ends_at": p.ends_at,
        "created_by": p.created_by,
        "created_at": p.created_at,
        "request": p.request,
        "reservations": list(p.reservation_ids),
        **p.result,
    }


def create_plan(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """Scale, place, and find the fewest extra agents; the plan is stored with its answer."""
    refresh_if_stale(ctx, environment=data["environment"])

    def work(session: Session) -> dict[str, Any]:
        try:
            env = find_environment(session, data["environment"])
        except NotFoundError as exc:
            raise InvalidError({"environment": [exc.detail]}) from exc
        starts_at, ends_at = data["starts_at"], data["ends_at"]
        now = utcnow()
        if ends_at <= now:
            raise InvalidError({"window": ["the window is over already"]})
        cluster = env.cluster
        pic = picture(session, cluster, now)
        if pic.snapshot is None:
            raise NotSyncedError(
                f"cluster '{cluster.name}' has no snapshot yet: sync it "
                f"(POST /api/v1/clusters/{cluster.name}/sync) before planning"
            )
        mine = {a.service.name: (a, d) for a, d in pic.allocations if a.environment_id == env.id}
        factors, source = _factors(
            session,
            {n: a.service for n, (a, _) in mine.items()},
            data["scale"],
            data.get("propagate", False),
            {n: a.instances for n, (a, _) in mine.items()},
        )
        basis = data.get("basis", "allocated")
        peaks = (
            _observed_peaks(ctx, session, [mine[n][0] for n in factors], now)
            if basis == "observed_peak"
            else {}
        )
        scaled: dict[str, int] = {}
        demands: list[Demand] = []
        for alloc, demand in pic.allocations:
            name = alloc.service.name
            if alloc.environment_id == env.id and name in factors:
                scaled[name] = _instances(alloc.instances, factors[name])
                demand = replace(demand, count=scaled[name])
                peak = peaks.get(name)
                if peak is not None:
                    demand = replace(
                        demand,
                        cpus=peak[0] + cluster.executor_cpus,
                        mem=peak[1] + cluster.executor_mem,
                    )
            demands.append(demand)
        total = sum(d.count for d in demands)
        if total > MAX_PLANNED_INSTANCES:
            raise InvalidError(
                {
                    "scale": [
                        f"the plan would place {total} instances on cluster '{cluster.name}', "
                        f"more than {MAX_PLANNED_INSTANCES}; use smaller factors"
                        + (" or plan without propagate" if data.get("propagate") else "")
                    ]
                }
            )
        surge_input = [
            (
                _Scaled(
                    scaled.get(a.service.name, a.instances)
                    if a.environment_id == env.id
                    else a.instances,
                    a.minimum_health_capacity,
                    a.maximum_over_capacity,
                ),
                d,
            )
            for (a, _), d in zip(pic.allocations, demands, strict=True)
        ]
        surge = _surge(cluster, cast(Any, surge_input), pic.agents)
        # a reservation of a scaled allocation is used up by the plan's instances as it
        # would be by the scale-up itself: neither is counted twice
        grown = {mine[name][0].service_id: n for name, n in scaled.items() if name in mine}
        held = tuple(
            (
                r,
                replace(
                    d, count=r.count - slots_used(r.count, r.base_instances, grown[r.service_id])
                ),
            )
            if r.environment_id == env.id and r.service_id in grown
            else (r, d)
            for r, d in pic.reservations
        )
        with_surge = replace(pic, surge=tuple(surge), reservations=held)
        scenarios, counted = _scenarios(with_surge, [*demands, *surge], starts_at, ends_at)
        shape = _default_shape(pic)
        given = data.get("agent_shape")
        if given:
            shape = AgentShape(
                cpus=float(given["cpus"]),
                mem=float(given["mem"]),
                disk=float(given.get("disk", 0)),
                ports=shape.ports,
                attributes=given.get("attributes", shape.attributes),
                spread={} if "attributes" in given else shape.spread,
            )
        answer = plan(pic.agents, scenarios, shape, seconds=ctx.settings.plan_budget)
        priced = _priced(data, _default_shape(pic))
        mix = (
            cheapest_mix(
                pic.agents,
                scenarios,
                priced,
                seconds=ctx.settings.plan_budget,
                fits_now=answer.fits_now,
                order=answer.lead,
                known=_known(answer, shape, priced),
            )
            if priced
            else None
        )
        assert pic.snapshot is not None
        services = [
            {
                "service": name,
                "factor": round(factors[name], 6),
                "source": source.get(name, "explicit"),
                "instances_before": mine[name][0].instances,
                "instances_after": scaled[name],
                "added": scaled[name] - mine[name][0].instances,
                "cpus": mine[name][0].cpus,
                "mem": mine[name][0].mem,
                "disk": mine[name][0].disk,
                **_basis_view(basis, peaks.get(name)),
                "constraints": [c for c in mine[name][0].constraints if usable_constraint(c)],
            }
            for name in sorted(scaled)
        ]
        result = {
            **_answer_view(answer, shape),
            "agent_shape": _shape_view(shape),
            **({"mix": _mix_view(mix, priced)} if mix is not None else {}),
            "services": services,
            "instances_before": sum(s["instances_before"] for s in services),
            "instances_after": sum(s["instances_after"] for s in services),
            "reservations_counted": counted,
            "basis": basis,
            "basis_fallback": sorted(n for n in scaled if basis != "allocated" and n not in peaks),
            "surge": surge_summary(with_surge),
            "snapshot_age_seconds": round((now - pic.snapshot.confirmed_at).total_seconds(), 3),
        }
        row = Plan(
            environment=env,
            request=_request_view(data, starts_at, ends_at),
            result=result,
            fits=answer.fits_now,
            extra_agents=answer.extra_agents,
            starts_at=starts_at,
            ends_at=ends_at,
            reservation_ids=[],
            created_by=ctx.actor,
        )
        session.add(row)
        session.flush()
        view = plan_view(row)
        ctx.audit(session, "create", "plan", str(row.id), None, _audit_view(view))
        return view

    return in_transaction(ctx, work)


def _audit_view(view: dict[str, Any]) -> dict[str, Any]:
    """The plan as the audit log keeps it: the question and the verdict, not every detail."""
    keep = ("id", "environment", "request", "fits", "extra_agents", "advice", "reservations")
    return {k: view[k] for k in keep if k in view}


def _find(session: Session, plan_id: int) -> Plan:
    p = session.get(Plan, plan_id)
    if p is None:
        raise NotFoundError(f"there is no plan {plan_id}")
    return p


def get_plan(ctx: Context, plan_id: int) -> dict[str, Any]:
    return in_transaction(ctx, lambda session: plan_view(_find(session, plan_id)))


def list_plans(
    ctx: Context, *, environment: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Plans newest first, and how many match in all."""

    def work(session: Session) -> tuple[list[dict[str, Any]], int]:
        query = select(Plan)
        if environment is not None:
            query = query.where(Plan.environment_id == find_environment(session, environment).id)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Plan.id.desc()).limit(limit).offset(offset))
        return [plan_view(p) for p in rows], total

    return in_transaction(ctx, work)


def reserve_plan(ctx: Context, plan_id: int, *, force: bool = False) -> dict[str, Any]:
    """Hold the plan's added instances for its window: one reservation per service that
    grows, with the service's sizes and constraints, all fit-checked together.

    Each reservation belongs to its service's allocation in the plan's environment, so its
    slots are placed like more instances of it: they need its host ports and count under
    its constraints together with its instances (UNIQUE hostname keeps them off the agents
    that run it), so the verdict promises no room that the scale-up would not find there
    (its deploy surge aside). Should the allocation be deleted, its reservation stays as
    plain slots of the plan's sizes and constraints, without ports.
    """
    env_name = in_transaction(ctx, lambda session: _find(session, plan_id).environment.name)
    refresh_if_stale(ctx, environment=env_name)

    def work(session: Session) -> dict[str, Any]:
        # the plan's row locked (PostgreSQL; SQLite writes one at a time): two reserves of
        # one plan at once make one set of reservations, and the other is told so
        session.execute(select(Plan.id).where(Plan.id == plan_id).with_for_update())
        p = session.get(Plan, plan_id, populate_existing=True)
        if p is None:
            raise NotFoundError(f"there is no plan {plan_id}")
        now = utcnow()
        if p.ends_at <= now:
            raise ConflictError(f"plan {plan_id}'s window ended at {p.ends_at.isoformat()}")
        held = session.scalars(
            select(Reservation.id).where(
                Reservation.id.in_(list(p.reservation_ids)), Reservation.ends_at > now
            )
        ).all()
        if held:
            raise PlanReservedError(
                f"plan {plan_id} is reserved already as reservation"
                f"{'s' if len(held) > 1 else ''} {', '.join(map(str, sorted(held)))}; "
                "delete them to reserve it again"
            )
        grown = [s for s in p.result.get("services", []) if s["added"] > 0]
        if not grown:
            raise ConflictError(f"plan {plan_id} adds no instances: there is nothing to reserve")
        names = [s["service"] for s in grown]
        services = {
            svc.name: svc for svc in session.scalars(select(Service).where(Service.name.in_(names)))
        }
        slots = [
            {
                # None if the service was deleted since: plain slots then
                "service": services.get(s["service"]),
                # growth since the plan was made already uses the slots up (slots_used)
                "base_instances": s.get("instances_before"),
                "count": s["added"],
                "cpus": s["cpus"],
                "mem": s["mem"],
                "disk": s["disk"],
                "constraints": s["constraints"],
                "starts_at": max(p.starts_at, now),
                "ends_at": p.ends_at,
                "reason": f"plan {p.id}: {s['service']} +{s['added']} instances "
                f"(x{s['factor']:g}) for {p.environment.name}"[:1024],
            }
            for s in grown
        ]
        try:
            views, fit = add_reservations(
                ctx,
                session,
                p.environment.cluster,
                p.environment,
                slots,
                force=force,
                now=now,
                what=f"the capacity of plan {p.id}",
            )
        except DoesNotFitError as exc:
            raise DoesNotFitError(f"{exc.detail}. {_advice(p)}", **exc.extra) from exc
        before = _audit_view(plan_view(p))
        p.reservation_ids = [v["id"] for v in views]
        session.flush()
        after = plan_view(p)
        ctx.audit(session, "reserve", "plan", str(p.id), before, _audit_view(after))
        return {"plan": p.id, "reservations": views, "fit": fit}

    return in_transaction(ctx, work)


def _advice(p: Plan) -> str:
    shape = p.result.get("agent_shape", {})
    k = p.result.get("extra_agents")
    size = (
        f"{shape.get('cpus', 0):g} cpus, {shape.get('mem', 0):g} MiB and "
        f"{shape.get('disk', 0):g} MiB of disk"
    )
    if k:
        return f"The plan says to add {k} agent{'s' if k != 1 else ''} of {size} first"
    if k == 0:
        return "The plan found it fitting when it was made: the cluster has changed since"
    return f"The plan found that no number of agents of {size} makes it fit"
