"""Capacity reports for a cluster, an environment or a team: per agent, per team, per day
over the next 30 days, and allocated against used per service with what right-sizing saves.

The figures come from the same placement as the capacity answers
(`ledger.capacity_report`), so a report and `GET .../capacity` never disagree. Every
figure counts the executor's overhead per instance, as the placement does.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from allocator.model import Demand, Placement
from allocator.placement import place
from ledger.capacity import Picture, Verdict, app_id, picture
from ledger.capacity_report import capacity_answer
from ledger.clusters import find_cluster
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import InvalidError, NotFoundError
from ledger.right_sizing import Sized, sized, waste
from ledger.snapshots import live_view
from ledger.standing import verdict_of
from ledger.sync import fresh_snapshot
from models import Allocation, Cluster, Environment, Service
from models.base import utcnow

CHARTED = ("cpus", "mem")
DAYS = 30
SCOPES = ("cluster", "environment", "team")

# The CSV's columns, in order; documented in the README and the OpenAPI description.
# A changed list is a new API version: scripts read these by position.
CSV_COLUMNS = (
    "scope",
    "cluster",
    "line",
    "name",
    "environment",
    "team",
    "instances",
    "running",
    "cpus_capacity",
    "cpus_allocated",
    "cpus_reserved",
    "cpus_held",
    "cpus_used",
    "cpus_free",
    "mem_capacity",
    "mem_allocated",
    "mem_reserved",
    "mem_held",
    "mem_used",
    "mem_free",
    # usage from the agents (issue 12), at the end so that the columns above keep their
    # positions: per instance observed, whole allocation recommended and wasted
    "cpus_observed_p90",
    "mem_observed_peak",
    "cpus_recommended",
    "mem_recommended",
    "cpus_wasted",
    "mem_wasted",
    "confidence",
)


def _scope(cluster: str | None, environment: str | None, team: str | None) -> tuple[str, str]:
    given = [(k, v) for k, v in zip(SCOPES, (cluster, environment, team), strict=True) if v]
    if len(given) != 1:
        raise InvalidError(
            {"scope": ["give exactly one of cluster, environment or team"]},
        )
    if "\x00" in given[0][1]:
        raise InvalidError({given[0][0]: ["no name contains a NUL character"]})
    return given[0]


def _clusters_of(session: Session, kind: str, name: str) -> list[str]:
    """The clusters a scope spans; 404 for an unknown name."""
    if kind == "cluster":
        return [find_cluster(session, name).name]
    if kind == "environment":
        return [find_environment(session, name).cluster.name]
    if session.scalar(select(Service.id).where(Service.team == name).limit(1)) is None:
        raise NotFoundError(f"no service belongs to a team named '{name}'")
    return list(
        session.scalars(
            select(Cluster.name)
            .join(Environment, Environment.cluster_id == Cluster.id)
            .join(Allocation, Allocation.environment_id == Environment.id)
            .join(Service, Service.id == Allocation.service_id)
            .where(Service.team == name)
            .distinct()
            .order_by(Cluster.name)
        )
    )


def _r(value: float) -> float:
    return round(value, 3)


def _load(demands: Iterable[tuple[Demand, int]]) -> dict[str, float]:
    out = {r: 0.0 for r in CHARTED}
    for d, n in demands:
        for r in CHARTED:
            out[r] += getattr(d, r) * n
    return {r: _r(v) for r, v in out.items()}


def _in_scope(pic: Picture, kind: str, name: str) -> list[tuple[Allocation, Demand]]:
    if kind == "cluster":
        return list(pic.allocations)
    if kind == "environment":
        return [(a, d) for a, d in pic.allocations if a.environment.name == name]
    return [(a, d) for a, d in pic.allocations if a.service.team == name]


def _agents(
    pic: Picture,
    placement: Placement | None,
    cap: dict[str, Any],
    scoped: set[str],
    reserved_keys: set[str],
) -> list[dict[str, Any]]:
    """Each active agent's room split into allocated (this scope), reserved, held (everything
    else: other scopes, deploy surge, headroom kept) and free; the parts add up to capacity."""
    sizes = {d.key: d for _, d in pic.allocations}
    sizes.update({d.key: d for _, d in pic.reservations})
    here: dict[str, list[tuple[Demand, int]]] = defaultdict(list)
    reserved_here: dict[str, list[tuple[Demand, int]]] = defaultdict(list)
    if placement is not None:
        for key, agent_ids in placement.assignments.items():
            counts: dict[str, int] = defaultdict(int)
            for agent_id in agent_ids:
                counts[agent_id] += 1
            for agent_id, n in counts.items():
                if key in scoped:
                    here[agent_id].append((sizes[key], n))
                elif key in reserved_keys:
                    reserved_here[agent_id].append((sizes[key], n))
    out = []
    for view in cap["agents"]:
        if not view["active"]:
            continue
        capacity = {r: _r(view["capacity"][r]) for r in CHARTED}
        allocated = _load(here[view["id"]])
        reserved = _load(reserved_here[view["id"]])
        free = {r: _r(view["free"][r]) for r in CHARTED}
        held = {r: _r(capacity[r] - allocated[r] - reserved[r] - free[r]) for r in CHARTED}
        out.append(
            {
                "id": view["id"],
                "hostname": view["hostname"],
                "capacity": capacity,
                "allocated": allocated,
                "reserved": reserved,
                "held": held,
                "used": {r: _r(view["used"].get(r, 0.0)) for r in CHARTED},
                "free": free,
            }
        )
    return out


def _headroom_days(pic: Picture, free_now: dict[str, float]) -> list[dict[str, Any]]:
    """Free room per UTC calendar day for the next 30 days (the labels are dates: a day of
    24 hours from now would show a reservation on the day before it starts): today's free,
    plus the reservations active now, less the most the reservations of that day hold."""
    sizes = {r.id: d for r, d in pic.reservations}
    now_active = pic.intervals[0].active if pic.intervals else frozenset()
    reserved_now = _load((sizes[i], sizes[i].count) for i in now_active)
    now = pic.now.astimezone(UTC)
    midnight = datetime.combine(now.date(), time(), tzinfo=UTC)
    days = []
    for day in range(DAYS):
        # calendar days in UTC, as labelled: today from now on, then whole days
        start = now if day == 0 else midnight + timedelta(days=day)
        end = midnight + timedelta(days=day + 1)
        peak = {r: 0.0 for r in CHARTED}
        for interval in pic.intervals:
            if interval.start >= end or (interval.end is not None and interval.end <= start):
                continue
            load = _load((sizes[i], sizes[i].count) for i in interval.active)
            peak = {r: max(peak[r], load[r]) for r in CHARTED}
        days.append(
            {
                "day": start.date().isoformat(),
                "from": start,
                "until": end,
                "reserved": {r: _r(peak[r]) for r in CHARTED},
                "free": {r: _r(free_now[r] + reserved_now[r] - peak[r]) for r in CHARTED},
            }
        )
    return days


def _running(pic: Picture) -> dict[str, tuple[int, dict[str, float]]]:
    """Marathon app id → (tasks running, the running definition's size per task)."""
    out: dict[str, tuple[int, dict[str, float]]] = {}
    if pic.snapshot is None:
        return out
    overhead = {"cpus": pic.cluster.executor_cpus, "mem": float(pic.cluster.executor_mem)}
    for app in pic.snapshot.apps:
        definition = app["definition"]
        size = {r: float(definition.get(r, 0)) + overhead[r] for r in CHARTED}
        out[app["id"]] = (len(app["tasks"]), size)
    return out


def _services(
    pic: Picture, scoped: list[tuple[Allocation, Demand]]
) -> tuple[list[dict[str, Any]], list[Demand]]:
    """Allocated against used per service, and each allocation at the size it really runs
    with (never larger than allocated; unchanged when nothing runs, for lack of evidence)."""
    running = _running(pic)
    lines, right_sized = [], []
    for alloc, demand in sorted(scoped, key=lambda x: x[1].key):
        tasks, size = running.get(app_id(alloc.environment, alloc.service.name), (0, {}))
        per = {r: getattr(demand, r) for r in CHARTED}
        if tasks:
            per = {r: min(per[r], size[r]) for r in CHARTED}
        right_sized.append(replace(demand, **per))
        lines.append(
            {
                "service": alloc.service.name,
                "environment": alloc.environment.name,
                "team": alloc.service.team,
                "instances": alloc.instances,
                "running": tasks,
                "allocated": _load([(demand, demand.count)]),
                "used": {r: _r(size.get(r, 0.0) * tasks) for r in CHARTED},
                "right_sized": {r: _r(per[r] * demand.count) for r in CHARTED},
            }
        )
    return lines, right_sized


def _right_sizing(pic: Picture, allocated: list[Demand], right_sized: list[Demand]) -> dict:
    """Agents the scope's allocations need as allocated and at their used sizes."""
    if not pic.agents or not allocated:
        return dict.fromkeys(
            (
                "agents_allocated",
                "agents_right_sized",
                "agents_freed",
                "unplaced_allocated",
                "unplaced_right_sized",
                "lower_bound_allocated",
                "lower_bound_right_sized",
            ),
            0,
        )
    before = place(pic.agents, allocated)
    after = place(pic.agents, right_sized)
    return {
        "agents_allocated": before.agents_used,
        "agents_right_sized": after.agents_used,
        "agents_freed": max(0, before.agents_used - after.agents_used),
        "unplaced_allocated": len(before.unplaced),
        "unplaced_right_sized": len(after.unplaced),
        # the packing is a fast heuristic: no packing can use fewer agents than these
        "lower_bound_allocated": before.lower_bound,
        "lower_bound_right_sized": after.lower_bound,
    }


def _teams(scoped: list[tuple[Allocation, Demand]]) -> list[dict[str, Any]]:
    by_team: dict[str, list[tuple[Demand, int]]] = defaultdict(list)
    instances: dict[str, int] = defaultdict(int)
    for alloc, demand in scoped:
        by_team[alloc.service.team].append((demand, demand.count))
        instances[alloc.service.team] += demand.count
    return [
        {"team": team, "instances": instances[team], **_load(loads)}
        for team, loads in sorted(by_team.items())
    ]


def _usage_lines(
    scoped: list[tuple[Allocation, Demand]], sizes: dict[int, Sized]
) -> list[dict[str, Any]]:
    """Per allocation in scope, its recommendation against what it asks (the
    recommendations table, and the CSV's last columns); null figures without enough data."""
    out = []
    for alloc, _ in sorted(scoped, key=lambda x: x[1].key):
        item = sizes.get(alloc.id)
        rec = item.recommendation if item is not None and item.usable else None
        n = alloc.instances
        out.append(
            {
                "service": alloc.service.name,
                "environment": alloc.environment.name,
                "team": alloc.service.team,
                "instances": n,
                "cpus_allocated": _r(alloc.cpus * n),
                "mem_allocated": _r(alloc.mem * n),
                "cpus_observed_p90": None if rec is None else rec.cpu_percentile_value,
                "mem_observed_peak": None if rec is None else rec.mem_peak_mib,
                "cpus_recommended": None if rec is None else _r(rec.cpus * n),
                "mem_recommended": None if rec is None else _r(rec.mem_mib * n),
                "cpus_wasted": None if rec is None else _r((alloc.cpus - rec.cpus) * n),
                "mem_wasted": None if rec is None else _r((alloc.mem - rec.mem_mib) * n),
                "confidence": 0.0 if rec is None else rec.confidence,
            }
        )
    return out


def _section(
    pic: Picture, verdict: Verdict, kind: str, name: str, sizes: dict[int, Sized] | None = None
) -> dict[str, Any]:
    cap = capacity_answer(pic, verdict, name if kind == "environment" else None)
    scoped = _in_scope(pic, kind, name)
    reserved_keys = {
        d.key
        for r, d in pic.reservations
        if kind == "cluster"
        or (kind == "environment" and r.environment is not None and r.environment.name == name)
    }
    services, right_sized = _services(pic, scoped)
    allocated = (
        {r: cap["allocated"][r] for r in CHARTED}
        if kind != "team"
        else _load((d, d.count) for _, d in scoped)
    )
    free = {r: cap["free"][r] for r in CHARTED}
    return {
        "cluster": pic.cluster.name,
        # the capacity answer writes its times as text; this schema writes them itself
        "snapshot": {
            **cap["snapshot"],
            "taken_at": pic.snapshot.taken_at if pic.snapshot else None,
            "confirmed_at": pic.snapshot.confirmed_at if pic.snapshot else None,
        },
        "agents_active": cap["agents_active"],
        "fits": cap["fits"],
        "totals": {r: cap["totals"][r] for r in CHARTED},
        "allocated": allocated,
        "reserved": {r: cap["reserved"]["now"][r] for r in CHARTED},
        "used": {r: cap["used"][r] for r in CHARTED},
        "free": free,
        "agents": _agents(pic, verdict.placement, cap, {d.key for _, d in scoped}, reserved_keys),
        "teams": _teams(scoped),
        "headroom": _headroom_days(pic, free),
        "services": services,
        "right_sizing": _right_sizing(pic, [d for _, d in scoped], right_sized),
        "recommendations": _usage_lines(scoped, sizes or {}),
        "waste_by_team": waste([a for a, _ in scoped], sizes)[1] if sizes else [],
    }


def capacity_report(
    ctx: Context,
    *,
    cluster: str | None = None,
    environment: str | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """The report for exactly one scope; 422 for none or several, 404 for an unknown one."""
    kind, name = _scope(cluster, environment, team)
    names = in_transaction(ctx, lambda s: _clusters_of(s, kind, name))
    for cluster_name in names:  # outside any transaction: this may call the cluster
        fresh_snapshot(ctx, cluster_name, full=False)

    def work(session: Session) -> dict[str, Any]:
        now = utcnow()
        sections = []
        for cluster_name in names:
            pic = picture(session, find_cluster(session, cluster_name), now)
            if pic.snapshot is None:
                continue  # fresh_snapshot has refused a cluster that cannot be read
            verdict = verdict_of(session, pic, ctx.settings.fit_budget)
            sizes = sized(session, [a for a, _ in pic.allocations], ctx.settings.usage, now)
            sections.append(_section(pic, verdict, kind, name, sizes))
        return {
            "scope": {"kind": kind, "name": name},
            "generated_at": now,
            "days": DAYS,
            "clusters": sections,
        }

    return in_transaction(ctx, work)


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted (names come from users)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (scope, agent) and per (scope, service) line, in CSV_COLUMNS."""
    scope = f"{report['scope']['kind']}={report['scope']['name']}"
    rows: list[dict[str, Any]] = []
    for section in report["clusters"]:
        recs = {(u["environment"], u["service"]): u for u in section.get("recommendations", [])}
        for agent in section["agents"]:
            row: dict[str, Any] = {
                "scope": scope,
                "cluster": section["cluster"],
                "line": "agent",
                "name": agent["hostname"],
            }
            for r in CHARTED:
                for part in ("capacity", "allocated", "reserved", "held", "used", "free"):
                    row[f"{r}_{part}"] = agent[part][r]
            rows.append(row)
        for svc in section["services"]:
            row = {
                "scope": scope,
                "cluster": section["cluster"],
                "line": "service",
                "name": svc["service"],
                "environment": svc["environment"],
                "team": svc["team"],
                "instances": svc["instances"],
                "running": svc["running"],
            }
            for r in CHARTED:
                row[f"{r}_allocated"] = svc["allocated"][r]
                row[f"{r}_used"] = svc["used"][r]
            usage = recs.get((svc["environment"], svc["service"]))
            if usage is not None:
                for column in CSV_COLUMNS[CSV_COLUMNS.index("cpus_observed_p90") :]:
                    if usage.get(column) is not None:
                        row[column] = usage[column]
            rows.append(row)
    return rows


def report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _figures(cap: dict[str, Any]) -> dict[str, Any]:
    return {
        part: {r: cap[part][r] for r in CHARTED} for part in ("totals", "allocated", "used", "free")
    } | {"reserved": {r: cap["reserved"]["now"][r] for r in CHARTED}}


def overview(ctx: Context) -> list[dict[str, Any]]:
    """Every cluster and environment at a glance, from the snapshots as they are: a page
    that lists every cluster must not wait for (or fail on) one that cannot be read now;
    the age of each snapshot is shown instead."""

    def work(session: Session) -> list[dict[str, Any]]:
        now = utcnow()
        out = []
        for cluster in session.scalars(select(Cluster).order_by(Cluster.name)):
            envs = list(
                session.scalars(
                    select(Environment)
                    .where(Environment.cluster_id == cluster.id)
                    .order_by(Environment.name)
                )
            )
            pic = picture(session, cluster, now)
            entry: dict[str, Any] = {
                "name": cluster.name,
                "description": cluster.description,
                "synced": pic.snapshot is not None,
                "environments": [{"name": e.name, "headroom": e.headroom} for e in envs],
            }
            if pic.snapshot is not None:
                verdict = verdict_of(session, pic, ctx.settings.fit_budget)
                cap = capacity_answer(pic, verdict, None)
                entry |= {
                    "snapshot_age_seconds": cap["snapshot"]["age_seconds"],
                    "live": live_view(session, cluster.id, now),
                    "agents_active": cap["agents_active"],
                    "agents_inactive": cap["agents_inactive"],
                    "fits": cap["fits"],
                    **_figures(cap),
                }
                for view, env in zip(entry["environments"], envs, strict=True):
                    env_cap = capacity_answer(pic, verdict, env.name)
                    view |= {"fits": not env_cap["unplaceable"], **_figures(env_cap)}
                    view["allocations"] = sum(
                        1 for a, _ in pic.allocations if a.environment_id == env.id
                    )
            out.append(entry)
        return out

    return in_transaction(ctx, work)
