"""Usage sampled from the Mesos agents, stored per allocation, and the recommendations.

A round (`UsageSampler.sample`) reads the cluster's latest snapshot for its active agents
(their address from the `pid` they advertise, never their hostname) and the task → app →
allocation map; reads every agent's `/monitor/statistics` in parallel (bounded threads, a
timeout per agent and one for the round), with no database transaction open meanwhile;
turns counters into per-instance rates against the previous round (allocator/usage.py);
and stores one point per allocation per minute. An agent that does not answer, or
advertises no address, is skipped and counted (logged, in `usage_sampling`, on /metrics):
its tasks simply have no point this round, which is a gap, not a zero.

Storage is bounded per allocation: minute points for `minute_retention` (2 days: at most
2,880 rows), hourly aggregates for `hour_retention` (60 days: at most 1,440 rows), rolled up
once an hour is over and pruned as rounds go.

The sampler keeps the previous readings in memory: after a restart of its process the
first round gives memory but no CPU rates.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from allocator.right_sizing import JavaHeap, ObservedUsage, recommend
from allocator.usage import (
    ExecutorReading,
    InstanceSample,
    MinutePoint,
    cpu_rate,
    hour_aggregate,
    minute_point,
)
from ledger.allocations import find_allocation
from ledger.capacity import app_id
from ledger.clusters import find_cluster
from ledger.context import Context, UsageSettings, in_transaction
from ledger.environments import find_environment
from ledger.errors import InvalidError, LedgerError
from ledger.snapshots import latest_snapshot_row
from marathon.errors import ClusterError
from marathon.http import Credentials
from marathon.mesos import agent_base_url, agent_statistics, statistics_session
from marathon.render import DEFAULT_HEAP_SHARE
from models import (
    Allocation,
    Cluster,
    Environment,
    Service,
    UsageHour,
    UsageMinute,
    UsageSampling,
    WatchLease,
)
from models.base import utcnow

log = logging.getLogger("berth.usage")

MIB = 1024 * 1024
ROLLUP_LOOKBACK = timedelta(hours=6)  # hours a (re)started sampler still rolls up


# -- what a round reads ------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    agent_id: str
    url: str | None  # None: the agent advertises no address berth can use


@dataclass(frozen=True)
class _Plan:
    cluster_id: int
    agents: list[_Target]
    tasks: dict[str, int]  # Marathon task id → allocation id (tasks in the snapshot)
    apps: dict[str, int]  # Marathon app id → allocation id
    credentials_env: str | None


def _plan(ctx: Context, name: str) -> _Plan | None:
    def work(session: Session) -> _Plan | None:
        cluster = find_cluster(session, name)
        snap = latest_snapshot_row(session, cluster.id)
        if snap is None:
            return None
        apps = {
            app_id(a.environment, a.service.name): a.id
            for a in session.scalars(
                select(Allocation)
                .join(Environment)
                .where(Environment.cluster_id == cluster.id)
                .options(contains_eager(Allocation.environment), joinedload(Allocation.service))
            )
        }
        tasks = {
            str(t["id"]): apps[app["id"]]
            for app in snap.apps
            if app["id"] in apps
            for t in app.get("tasks") or []
        }
        agents = [
            _Target(str(a["id"]), agent_base_url(str(a.get("pid") or "")))
            for a in snap.agents
            if a.get("active", True)
        ]
        return _Plan(cluster.id, agents, tasks, apps, cluster.credentials_env)

    return in_transaction(ctx, work)


def task_app_id(task_id: str) -> str | None:
    """Marathon's task id `prod_orders.4a1b…` (or `prod_orders.instance-….._app.1`) → the
    app id `/prod/orders`: for tasks started after the snapshot was taken."""
    head, dot, _ = task_id.partition(".")
    if not dot or not head:
        return None
    return "/" + head.replace("_", "/")


def parse_statistics(agent_id: str, entries: Iterable[dict[str, Any]]) -> list[ExecutorReading]:
    """The agent's entries as readings; an entry without the counters is left out."""
    readings = []
    for entry in entries:
        stats = entry["statistics"]
        task_id = entry.get("executor_id") or entry.get("source")
        try:
            timestamp = float(stats["timestamp"])
            cpu = float(stats.get("cpus_user_time_secs", 0)) + float(
                stats.get("cpus_system_time_secs", 0)
            )
            rss = stats.get("mem_rss_bytes")
            limit = stats.get("cpus_limit")
            readings.append(
                ExecutorReading(
                    agent_id=agent_id,
                    task_id=str(task_id),
                    timestamp=timestamp,
                    cpu_seconds=cpu,
                    rss_bytes=None if rss is None else int(rss),
                    cpus_limit=None if limit is None else float(limit),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return readings


# -- one round ---------------------------------------------------------------------------


@dataclass
class RoundResult:
    cluster: str
    sampled_at: datetime
    agents: int = 0
    agents_unreachable: int = 0
    executors: int = 0
    executors_unattributed: int = 0
    rates: int = 0
    allocations: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class UsageSampler:
    """Samples one cluster's agents, round after round; keeps the previous readings."""

    def __init__(self, ctx: Context, cluster: str, settings: UsageSettings | None = None) -> None:
        self.ctx = ctx
        self.cluster = cluster
        self.settings = settings or ctx.settings.usage
        self._last: dict[tuple[str, str], ExecutorReading] = {}
        self._session = statistics_session(max(1, self.settings.concurrency))
        self._rolled_up: datetime | None = None  # the hour the last roll-up reached
        self._lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    def forget(self) -> None:
        """Drop the previous readings (while another process samples): a rate over a long
        pause would blur its peaks into one mean."""
        self._last.clear()

    def _read(
        self, targets: list[_Target], credentials: Credentials | None
    ) -> tuple[list[ExecutorReading], int]:
        """Every agent's readings, and how many agents gave none."""
        reachable = [t for t in targets if t.url is not None]
        missing = len(targets) - len(reachable)
        if not reachable:
            return [], missing
        s = self.settings
        deadline = max(s.agent_timeout[0] + s.agent_timeout[1] + 1.0, 0.9 * s.interval_seconds)

        def read(target: _Target) -> list[ExecutorReading]:
            assert target.url is not None
            entries = agent_statistics(
                target.url,
                session=self._session,
                timeout=s.agent_timeout,
                credentials=credentials,
            )
            return parse_statistics(target.agent_id, entries)

        readings: list[ExecutorReading] = []
        pool = ThreadPoolExecutor(
            max_workers=min(max(1, s.concurrency), len(reachable)), thread_name_prefix="usage"
        )
        try:
            futures = {pool.submit(read, t): t for t in reachable}
            done, late = wait(futures, timeout=deadline)
            for future in done:
                try:
                    readings += future.result()
                except (ClusterError, requests.RequestException, ValueError) as exc:
                    missing += 1
                    log.info(
                        "%s: agent %s skipped: %s", self.cluster, futures[future].agent_id, exc
                    )
            missing += len(late)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return readings, missing

    def sample(self, now: datetime | None = None) -> RoundResult | None:
        """One round; None when the cluster has no snapshot yet. `now` (tests) dates it."""
        with self._lock:
            started = time.monotonic()
            plan = _plan(self.ctx, self.cluster)
            if plan is None:
                return None
            now = now or utcnow()
            readings, missing = self._read(plan.agents, Credentials.from_env(plan.credentials_env))
            result = RoundResult(self.cluster, now, agents=len(plan.agents))
            result.agents_unreachable = missing
            per_allocation: dict[int, list[InstanceSample]] = defaultdict(list)
            seen: dict[tuple[str, str], ExecutorReading] = {}
            for r in readings:
                result.executors += 1
                rate = cpu_rate(self._last.get(r.key), r)
                seen[r.key] = r
                alloc = plan.tasks.get(r.task_id)
                if alloc is None:
                    app = task_app_id(r.task_id)
                    alloc = plan.apps.get(app) if app else None
                if alloc is None:
                    result.executors_unattributed += 1
                    continue
                result.rates += rate is not None
                per_allocation[alloc].append(InstanceSample(r.task_id, rate, r.rss_bytes))
            # tasks of an agent skipped this round keep their last reading: the next
            # answer still gives them a rate over the longer interval
            answered = {r.agent_id for r in readings}
            self._last = {k: v for k, v in self._last.items() if k[0] not in answered}
            self._last.update(seen)
            points = {a: p for a, s in per_allocation.items() if (p := minute_point(s))}
            result.allocations = len(points)
            hour = now.replace(minute=0, second=0, microsecond=0)
            roll_up = self._rolled_up is None or self._rolled_up < hour
            result.seconds = round(time.monotonic() - started, 3)
            store_round(self.ctx, plan.cluster_id, points, result, now, roll_up=roll_up)
            if roll_up:
                self._rolled_up = hour
            if result.agents_unreachable:
                log.warning(
                    "%s: %d of %d agents gave no usage this round",
                    self.cluster,
                    result.agents_unreachable,
                    result.agents,
                )
            return result


# -- storing -----------------------------------------------------------------------------


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _as_point(row: UsageMinute) -> MinutePoint:
    return MinutePoint(
        instances=row.instances,
        cpu_instances=row.cpu_instances,
        cpu_mean=row.cpu_mean,
        cpu_max=row.cpu_max,
        mem_mean_bytes=float(row.mem_mean),
        mem_max_bytes=row.mem_max,
    )


def _write(row: UsageMinute, p: MinutePoint) -> None:
    row.instances, row.cpu_instances = p.instances, p.cpu_instances
    row.cpu_mean, row.cpu_max = p.cpu_mean, p.cpu_max
    row.mem_mean, row.mem_max = int(round(p.mem_mean_bytes)), int(p.mem_max_bytes)


def store_round(
    ctx: Context,
    cluster_id: int,
    points: dict[int, MinutePoint],
    result: RoundResult,
    now: datetime,
    *,
    roll_up: bool = True,
) -> None:
    """Store a round's points (merged into the minute's row when a round came before in the
    same minute), roll finished hours up, prune what is past retention, note the round."""
    s = ctx.settings.usage

    def work(session: Session) -> None:
        minute = _minute(now)
        ids = set(points)
        alive = (
            set(session.scalars(select(Allocation.id).where(Allocation.id.in_(ids))))
            if ids
            else set()
        )
        existing = {
            r.allocation_id: r
            for r in session.scalars(
                select(UsageMinute).where(
                    UsageMinute.minute == minute, UsageMinute.allocation_id.in_(alive)
                )
            )
        }
        for alloc_id in sorted(alive):
            p = points[alloc_id]
            row = existing.get(alloc_id)
            if row is None:
                row = UsageMinute(allocation_id=alloc_id, minute=minute)
                session.add(row)
            else:
                p = _as_point(row).merged(p)
            _write(row, p)
        session.flush()
        if roll_up:
            _roll_up(session, now)
        session.execute(delete(UsageMinute).where(UsageMinute.minute < now - s.minute_retention))
        session.execute(delete(UsageHour).where(UsageHour.hour < now - s.hour_retention))
        state = session.get(UsageSampling, cluster_id)
        if state is None:
            state = UsageSampling(cluster_id=cluster_id)
            session.add(state)
        state.sampled_at = now
        state.agents, state.agents_unreachable = result.agents, result.agents_unreachable
        state.executors = result.executors
        state.executors_unattributed = result.executors_unattributed
        state.rates, state.seconds = result.rates, result.seconds

    in_transaction(ctx, work)


def _roll_up(session: Session, now: datetime) -> None:
    """Aggregate the finished hours (of the last few) that have minutes and no aggregate."""
    current = _hour(now)
    since = current - ROLLUP_LOOKBACK
    done = set(
        session.execute(
            select(UsageHour.allocation_id, UsageHour.hour).where(
                UsageHour.hour >= since, UsageHour.hour < current
            )
        )
    )
    groups: dict[tuple[int, datetime], list[MinutePoint]] = defaultdict(list)
    for row in session.scalars(
        select(UsageMinute).where(UsageMinute.minute >= since, UsageMinute.minute < current)
    ):
        groups[(row.allocation_id, _hour(row.minute))].append(_as_point(row))
    for (alloc_id, hour), group in sorted(groups.items()):
        if (alloc_id, hour) in done:
            continue
        agg = hour_aggregate(group)
        if agg is None:
            continue
        session.add(
            UsageHour(
                allocation_id=alloc_id,
                hour=hour,
                samples=agg.samples,
                tasks=agg.tasks,
                cpu_p50=agg.cpu_p50,
                cpu_p90=agg.cpu_p90,
                cpu_p99=agg.cpu_p99,
                cpu_max=agg.cpu_max,
                mem_p99=agg.mem_p99_bytes,
                mem_max=agg.mem_max_bytes,
            )
        )


# -- reading -----------------------------------------------------------------------------

STEPS = ("minute", "hour")
DEFAULT_SPAN = {"minute": timedelta(hours=6), "hour": timedelta(days=7)}


def _minute_view(r: UsageMinute) -> dict[str, Any]:
    return {
        "at": r.minute,
        "instances": r.instances,
        "cpu_instances": r.cpu_instances,
        "cpus_mean": round(r.cpu_mean, 5) if r.cpu_instances else None,
        "cpus_max": round(r.cpu_max, 5) if r.cpu_instances else None,
        "mem_mean_mib": round(r.mem_mean / MIB, 2),
        "mem_max_mib": round(r.mem_max / MIB, 2),
    }


def _hour_view(h: UsageHour) -> dict[str, Any]:
    return {
        "at": h.hour,
        "samples": h.samples,
        "tasks": h.tasks,
        "cpus_p50": round(h.cpu_p50, 5),
        "cpus_p90": round(h.cpu_p90, 5),
        "cpus_p99": round(h.cpu_p99, 5),
        "cpus_max": round(h.cpu_max, 5),
        "mem_p99_mib": round(h.mem_p99 / MIB, 2),
        "mem_max_mib": round(h.mem_max / MIB, 2),
    }


def allocation_usage(
    ctx: Context,
    env_name: str,
    service_name: str,
    *,
    since: datetime | None = None,
    step: str = "minute",
    now: datetime | None = None,
) -> dict[str, Any]:
    """An allocation's usage per instance since `since`: minute points or hourly aggregates."""
    if step not in STEPS:
        raise InvalidError(f"step must be one of {', '.join(STEPS)}")
    now = now or utcnow()
    since = since or now - DEFAULT_SPAN[step]

    def work(session: Session) -> dict[str, Any]:
        alloc = find_allocation(session, env_name, service_name)
        base = {
            "environment": env_name,
            "service": service_name,
            "step": step,
            "since": since,
            "allocated": {"cpus": alloc.cpus, "mem": alloc.mem, "instances": alloc.instances},
        }
        model, at = (
            (UsageMinute, UsageMinute.minute) if step == "minute" else (UsageHour, UsageHour.hour)
        )
        view = _minute_view if step == "minute" else _hour_view
        rows = session.scalars(
            select(model).where(model.allocation_id == alloc.id, at >= since).order_by(at)
        )
        points = [view(r) for r in rows]
        return {**base, "points": points}

    return in_transaction(ctx, work)


_XMX = re.compile(r"-Xmx(\d+)([kKmMgG]?)\b")
_UNIT_MIB = {"": 1 / MIB, "k": 1 / 1024, "m": 1.0, "g": 1024.0}


def java_heap(alloc: Allocation, env: Environment) -> JavaHeap | None:
    """How berth renders this allocation's heap (marathon/render.py), None if not Java:
    -Xmx = share × mem, unless the overrides' JAVA_OPTS (or the environment's, which the
    JVM reads after berth's flags) set an -Xmx of their own."""
    if alloc.service.runtime != "java":
        return None
    defaults = env.defaults or {}
    share = float(defaults.get("java_heap_share", DEFAULT_HEAP_SHARE))
    texts = [
        str(((alloc.overrides or {}).get("env") or {}).get("JAVA_OPTS") or ""),
        str((defaults.get("env") or {}).get("JAVA_OPTS") or ""),
    ]
    for text in texts:
        found = _XMX.findall(text)
        if found:
            value, unit = found[-1]
            return JavaHeap(share=share, fixed_xmx_mib=int(value) * _UNIT_MIB[unit.lower()])
    return JavaHeap(share=share)


def _observed(
    session: Session, ids: list[int], s: UsageSettings, now: datetime
) -> dict[int, ObservedUsage]:
    cpu: dict[int, list[tuple[float, float]]] = defaultdict(list)
    seen: dict[int, list[datetime]] = defaultdict(list)
    peaks: dict[int, float] = {}
    mem_since = now - s.memory_window
    cpu_since = now - s.cpu_window
    for alloc_id, at, mean, n, mem_max in session.execute(
        select(
            UsageMinute.allocation_id,
            UsageMinute.minute,
            UsageMinute.cpu_mean,
            UsageMinute.cpu_instances,
            UsageMinute.mem_max,
        ).where(
            UsageMinute.allocation_id.in_(ids),
            UsageMinute.minute >= min(mem_since, cpu_since),
            UsageMinute.minute <= now,
        )
    ):
        if at >= cpu_since and n:
            cpu[alloc_id].append((mean, float(n)))
            seen[alloc_id].append(at)
        if at >= mem_since:
            peaks[alloc_id] = max(peaks.get(alloc_id, 0.0), mem_max / MIB)
    for alloc_id, mem_max in session.execute(
        select(UsageHour.allocation_id, func.max(UsageHour.mem_max))
        .where(UsageHour.allocation_id.in_(ids), UsageHour.hour >= mem_since)
        .group_by(UsageHour.allocation_id)
    ):
        if mem_max is not None:
            peaks[alloc_id] = max(peaks.get(alloc_id, 0.0), mem_max / MIB)
    return {i: ObservedUsage(cpu[i], peaks.get(i), _hours_covered(seen[i], s)) for i in ids}


def _hours_covered(points: list[datetime], s: UsageSettings) -> float:
    """The time the points stand for: each reaches back to the one before it, but never
    over a gap longer than two sampling intervals or five minutes (a longer gap is time
    not seen, not quiet time), and the first stands for one interval. Counting points as
    minutes would say that sampling every 5 minutes saw a fifth of the time it did."""
    if not points:
        return 0.0
    step = max(60.0, s.interval_seconds)
    reach = max(2 * step, 300.0)
    times = sorted(points)
    covered = step
    for before, after in zip(times, times[1:], strict=False):
        covered += min((after - before).total_seconds(), reach)
    return covered / 3600.0


def environment_recommendations(
    ctx: Context, env_name: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Per allocation: current cpus and mem against the recommendation, the saving (whole
    allocation: per instance × instances; negative when it asks too little), the confidence."""
    now = now or utcnow()
    s = ctx.settings.usage

    def work(session: Session) -> dict[str, Any]:
        env = find_environment(session, env_name)
        allocs = list(
            session.scalars(
                select(Allocation)
                .join(Service)
                .where(Allocation.environment_id == env.id)
                .order_by(Service.name)
            )
        )
        observed = _observed(session, [a.id for a in allocs], s, now)
        out, total_cpus, total_mem = [], 0.0, 0.0
        for a in allocs:
            usage = observed[a.id]
            rec = recommend(usage, s.right_sizing, java_heap(a, env))
            item: dict[str, Any] = {
                "service": a.service.name,
                "team": a.service.team,
                "runtime": a.service.runtime,
                "instances": a.instances,
                "current": {"cpus": a.cpus, "mem": a.mem},
                "hours_observed": round(usage.hours_observed, 2),
                "confidence": 0.0 if rec is None else rec.confidence,
                "recommended": None,
                "saving": None,
                "observed": None,
                "bound_by": None,
                "reason": None,
            }
            if rec is None:
                item["reason"] = (
                    f"not enough data: {usage.hours_observed:.2f} h observed, "
                    f"{s.right_sizing.min_hours:g} h needed"
                )
            else:
                saving_cpus = round((a.cpus - rec.cpus) * a.instances, 3)
                saving_mem = (a.mem - rec.mem_mib) * a.instances
                total_cpus += saving_cpus
                total_mem += saving_mem
                item.update(
                    recommended={"cpus": rec.cpus, "mem": rec.mem_mib},
                    saving={"cpus": saving_cpus, "mem": saving_mem},
                    observed={
                        "cpus_p90": rec.cpu_percentile_value,
                        "mem_peak_mib": rec.mem_peak_mib,
                    },
                    bound_by={"cpus": rec.cpu_bound_by, "mem": rec.mem_bound_by},
                )
            out.append(item)
        rs = s.right_sizing
        return {
            "environment": env.name,
            "cluster": env.cluster.name,
            "at": now,
            "method": {
                "cpu_percentile": rs.cpu_percentile,
                "margin": rs.margin,
                "cpu_floor": rs.cpu_floor,
                "mem_floor_mib": rs.mem_floor_mib,
                "min_hours": rs.min_hours,
                "full_confidence_hours": rs.full_confidence_hours,
                "cpu_window_hours": s.cpu_window.total_seconds() / 3600,
                "memory_window_hours": s.memory_window.total_seconds() / 3600,
                "jvm_overhead_mib": rs.jvm_overhead_mib,
            },
            "saving": {"cpus": round(total_cpus, 3), "mem": int(total_mem)},
            "allocations": out,
        }

    return in_transaction(ctx, work)


# -- /metrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageFigures:
    """An environment's usage now (its allocations' latest minutes) and the waste."""

    cluster: str
    environment: str
    cpus_used: float
    mem_used_bytes: float
    cpus_wasted: float
    mem_wasted_bytes: float
    allocations_measured: int


@dataclass(frozen=True)
class SamplingFigures:
    cluster: str
    age_seconds: float
    agents: int
    agents_unreachable: int
    executors_unattributed: int
    seconds: float


def usage_figures(
    ctx: Context, now: datetime | None = None
) -> tuple[list[UsageFigures], list[SamplingFigures]]:
    """Usage gauges per environment from minutes no older than three rounds; the clusters'
    last rounds."""
    now = now or utcnow()
    recent = now - timedelta(seconds=max(180.0, 3 * ctx.settings.usage.interval_seconds))

    def work(session: Session) -> tuple[list[UsageFigures], list[SamplingFigures]]:
        latest: dict[int, UsageMinute] = {}
        for row in session.scalars(
            select(UsageMinute).where(UsageMinute.minute >= recent).order_by(UsageMinute.minute)
        ):
            latest[row.allocation_id] = row
        allocations: dict[int, list[Allocation]] = defaultdict(list)
        for a in session.scalars(select(Allocation)):
            allocations[a.environment_id].append(a)
        figures = []
        for env, cluster_name in session.execute(
            select(Environment, Cluster.name)
            .join(Cluster, Cluster.id == Environment.cluster_id)
            .order_by(Environment.name)
        ):
            used_c = used_m = waste_c = waste_m = 0.0
            measured = 0
            for a in allocations[env.id]:
                row = latest.get(a.id)
                if row is None:
                    continue
                measured += 1
                cpus = row.cpu_mean * row.cpu_instances
                mem = float(row.mem_mean) * row.instances
                used_c += cpus
                used_m += mem
                waste_c += max(0.0, a.cpus * row.cpu_instances - cpus)
                waste_m += max(0.0, a.mem * MIB * row.instances - mem)
            figures.append(
                UsageFigures(cluster_name, env.name, used_c, used_m, waste_c, waste_m, measured)
            )
        rounds = [
            SamplingFigures(
                name,
                max(0.0, (now - r.sampled_at).total_seconds()),
                r.agents,
                r.agents_unreachable,
                r.executors_unattributed,
                r.seconds,
            )
            for r, name in session.execute(
                select(UsageSampling, Cluster.name)
                .join(Cluster, Cluster.id == UsageSampling.cluster_id)
                .order_by(Cluster.name)
            )
        ]
        return figures, rounds

    return in_transaction(ctx, work)


# -- running -----------------------------------------------------------------------------


def watched(ctx: Context, name: str) -> bool:
    """A watcher holds the cluster now: it samples, so `sync --every` leaves it alone."""

    def work(session: Session) -> bool:
        cluster = find_cluster(session, name)
        lease = session.get(WatchLease, cluster.id)
        return bool(
            lease is not None
            and lease.holder
            and lease.expires_at is not None
            and lease.expires_at > utcnow()
        )

    return in_transaction(ctx, work)


def run_sampling(
    sampler: UsageSampler,
    stop: threading.Event,
    *,
    active: threading.Event | None = None,
    unless_watched: bool = False,
) -> None:
    """Sample every `interval_seconds` until `stop`: only while `active` is set (the watcher
    holds the cluster), or, for `sync --every`, only while no watcher holds it. A failed
    round is logged and the next one comes at its time."""
    interval = max(1.0, sampler.settings.interval_seconds)
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                if (active is None or active.is_set()) and not (
                    unless_watched and watched(sampler.ctx, sampler.cluster)
                ):
                    sampler.sample()
                else:
                    sampler.forget()
            except LedgerError as exc:
                log.warning("%s: usage round failed: %s", sampler.cluster, exc.detail)
            except Exception:  # noqa: BLE001 - a long-running sampler must survive a round
                log.exception("%s: usage round failed", sampler.cluster)
            stop.wait(max(0.5, interval - (time.monotonic() - started)))
    finally:
        sampler.close()


def start_sampling(
    ctx: Context,
    names: list[str],
    stop: threading.Event,
    *,
    active: dict[str, threading.Event] | None = None,
    unless_watched: bool = False,
) -> list[UsageSampler]:
    """One sampling thread per cluster (see run_sampling)."""
    samplers = [UsageSampler(ctx, name) for name in names]
    for s in samplers:
        threading.Thread(
            target=run_sampling,
            args=(s, stop),
            kwargs={
                "active": (active or {}).get(s.cluster),
                "unless_watched": unless_watched,
            },
            name=f"usage-{s.cluster}",
            daemon=True,
        ).start()
    return samplers
