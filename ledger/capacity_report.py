"""The capacity answers: totals, allocated, reserved, used, free, per agent, unplaceable."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from allocator.model import Agent, Demand, Placement
from ledger.capacity import (
    RESOURCES,
    Picture,
    Verdict,
    interval_view,
    iso,
    picture,
    surge_summary,
    unplaced_view,
)
from ledger.clusters import find_cluster
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.snapshots import live_view
from ledger.standing import verdict_of
from ledger.sync import fresh_snapshot
from models.base import utcnow

HORIZON = timedelta(days=30)


def _sum(demands: list[Demand]) -> dict[str, float]:
    return {r: round(sum(getattr(d, r) * d.count for d in demands), 3) for r in RESOURCES}


def _minus(a: dict[str, float], *others: dict[str, float]) -> dict[str, float]:
    return {r: round(a[r] - sum(o[r] for o in others), 3) for r in RESOURCES}


def _reserved(pic: Picture, keep: set[str]) -> dict[str, Any]:
    by_id = {r.id: d for r, d in pic.reservations if d.key in keep}
    now = set(pic.intervals[0].active) if pic.intervals else set()
    horizon = pic.now + HORIZON
    peak = {r: 0.0 for r in RESOURCES}
    for interval in pic.intervals:
        if interval.start >= horizon:
            break
        load = _sum([by_id[i] for i in interval.active if i in by_id])
        peak = {r: max(peak[r], load[r]) for r in RESOURCES}
    return {
        "now": _sum([by_id[i] for i in now if i in by_id]),
        "peak": peak,
        "window": {"from": iso(pic.now), "until": iso(horizon)},
    }


def _sizes(pic: Picture) -> dict[str, Demand]:
    sizes = {d.key: d for _, d in pic.allocations}
    sizes.update({d.key: d for d in pic.surge})
    sizes.update({d.key: d for _, d in pic.reservations})
    return sizes


def _kept(agent: Agent, here: dict[str, int], sizes: dict[str, Demand]) -> dict[str, float]:
    """What headroom keeps free on an agent: the largest share asked by what it holds, of
    its whole size, so that "free" is what another instance could really still use."""
    share = max((sizes[k].headroom for k, n in here.items() if n > 0), default=0.0)
    total = dict(zip(RESOURCES, agent.totals, strict=True))
    return {r: round(share * total[r], 3) for r in RESOURCES}


def natural(text: str) -> list[Any]:
    """Sort key that reads the numbers in a name as numbers: agent-2 before agent-10."""
    return [int(part) if k % 2 else part for k, part in enumerate(re.split(r"(\d+)", text))]


def agent_order(view: dict[str, Any]) -> tuple[Any, ...]:
    """Active agents first, then by hostname as people read it, ties by id. Only the views
    use it: placement keeps the snapshot's order by id, which makes it deterministic."""
    return (not view["active"], natural(view["hostname"] or ""), view["id"])


def _agents_view(pic: Picture, placement: Placement | None, keep: set[str]) -> list[dict]:
    sizes = _sizes(pic)
    placed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if placement is not None:
        for key, agent_ids in placement.assignments.items():
            for agent_id in agent_ids:
                placed[agent_id][key] += 1
    out = []
    for agent in pic.agents:
        here = placed[agent.id]
        allocated = {
            r: round(sum(getattr(sizes[k], r) * n for k, n in here.items()), 3) for r in RESOURCES
        }
        capacity = {"cpus": agent.cpus, "mem": agent.mem, "disk": agent.disk}
        kept = _kept(agent, here, sizes)
        out.append(
            {
                "id": agent.id,
                "hostname": agent.hostname,
                "active": True,
                "attributes": dict(agent.attributes),
                "capacity": capacity,
                "placed": allocated,
                "used": pic.used.get(agent.id, {}),
                "headroom_kept": kept,
                "free": _minus(capacity, allocated, kept),
                "instances": {k: n for k, n in sorted(here.items()) if k in keep},
            }
        )
    for a in pic.inactive_agents:
        out.append(
            {
                "id": a["id"],
                "hostname": a["hostname"],
                "active": False,
                "attributes": a["attributes"],
                "instances": {},
            }
        )
    return sorted(out, key=agent_order)


def capacity_answer(pic: Picture, verdict: Verdict, env: str | None) -> dict[str, Any]:
    """The capacity answer of a cluster (env None) or an environment, from a verdict that
    the caller may have cached: the endpoints, the reports and /metrics all use it."""

    def mine(key: str) -> bool:
        if env is None:
            return True
        return key.removeprefix("surge:").startswith(f"{env}/")

    keep_alloc = [d for _, d in pic.allocations if mine(d.key)]
    keep_res = {
        d.key
        for r, d in pic.reservations
        if env is None or (r.environment is not None and r.environment.name == env)
    }
    keep = {d.key for d in keep_alloc} | keep_res | {d.key for d in pic.surge if mine(d.key)}
    totals = {r: round(sum(getattr(a, r) for a in pic.agents), 3) for r in RESOURCES}
    allocated = _sum(keep_alloc)
    reserved = _reserved(pic, keep_res)
    # free is the cluster's room, whatever the scope: another environment's instances and
    # reservations take room from this one as much as its own
    everyone = _sum([d for _, d in pic.allocations])
    reserved_all = _reserved(pic, {d.key for _, d in pic.reservations})["now"]
    surge = surge_summary(pic)
    surge_cost = {r: surge[r] for r in RESOURCES}
    used = {r: round(sum(u[r] for u in pic.used.values()), 3) for r in RESOURCES}
    placement = verdict.placement
    worst = verdict.failing or placement
    agents = _agents_view(pic, placement, keep)
    kept = {
        r: round(sum(a["headroom_kept"][r] for a in agents if a["active"]), 3) for r in RESOURCES
    }
    unplaceable = [unplaced_view(u) for u in (worst.unplaced if worst else ()) if u.key in keep]
    snap = pic.snapshot
    assert snap is not None
    headroom: dict[str, Any] = {
        e: h
        for e, h in sorted(
            {a.environment.name: a.environment.headroom for a, _ in pic.allocations}.items()
        )
    }
    return {
        "cluster": pic.cluster.name,
        "environment": env,
        "snapshot": {
            "id": snap.id,
            "taken_at": iso(snap.taken_at),
            "confirmed_at": iso(snap.confirmed_at),
            "age_seconds": round((pic.now - snap.confirmed_at).total_seconds(), 3),
        },
        "agents_active": len(pic.agents),
        "agents_inactive": len(pic.inactive_agents),
        "totals": totals,
        "allocated": allocated,
        "reserved": reserved,
        "surge": surge,
        "used": used,
        "free": _minus(totals, everyone, reserved_all, surge_cost, kept),
        "headroom": headroom,
        "headroom_kept": kept,
        "fits": verdict.fits,
        "level": verdict.level,
        "moves": list(verdict.moves),
        "proof": verdict.proof,
        "when_it_stops_fitting": interval_view(verdict.failing_interval)
        if verdict.failing_interval is not None and not verdict.fits
        else None,
        "agents_used": worst.agents_used if worst else 0,
        "lower_bound": worst.lower_bound if worst else 0,
        "unplaceable": unplaceable,
        "shortfall": {
            r: round(sum(u["shortfall"].get(r, 0.0) for u in unplaceable), 3) for r in RESOURCES
        },
        "forced": sorted(
            f"{a.environment.name}/{a.service.name}"
            for a, d in pic.allocations
            if a.forced_at is not None and d.key in keep
        ),
        "agents": agents,
    }


def cluster_capacity(ctx: Context, name: str) -> dict[str, Any]:
    fresh_snapshot(ctx, name, full=False)

    def work(session: Session) -> dict[str, Any]:
        pic = picture(session, find_cluster(session, name))
        answer = capacity_answer(pic, verdict_of(session, pic, ctx.settings.fit_budget), None)
        return _with_live(session, pic.cluster.id, answer)

    return in_transaction(ctx, work)


def environment_capacity(ctx: Context, env_name: str) -> dict[str, Any]:
    cluster = in_transaction(ctx, lambda s: find_environment(s, env_name).cluster.name)
    fresh_snapshot(ctx, cluster, full=False)

    def work(session: Session) -> dict[str, Any]:
        env = find_environment(session, env_name)
        pic = picture(session, env.cluster)
        answer = capacity_answer(pic, verdict_of(session, pic, ctx.settings.fit_budget), env.name)
        return _with_live(session, pic.cluster.id, answer)

    return in_transaction(ctx, work)


def _with_live(session: Session, cluster_id: int, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with how live its snapshot is (a watcher's last event and reconciliation),
    added here rather than in the cached picture, which outlives a single request."""
    live = live_view(session, cluster_id, utcnow())
    live = {k: iso(v) if isinstance(v, datetime) else v for k, v in live.items()}
    return {**answer, "snapshot": {**answer["snapshot"], "live": live}}
