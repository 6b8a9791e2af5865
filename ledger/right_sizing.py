"""The cluster-wide view of right-sizing: how many agents the allocations need as they ask
and as their usage recommends, both placed by the fit engine, and the waste per
environment and team. Also what plans read when they scale on observed peaks.

Why the packer and not a sum: a saving of 40 cpus spread thinly over 200 services may
free no agent at all (memory, ports or constraints still hold every agent), while a few
big services shrunk may free several. Only placing both sets tells. Both placements are
heuristics (the fast effort), so each comes with its lower bound, and the true optimum
of either set lies in [lower bound, agents used]. The optimal saving therefore lies in
[lower_alloc − used_rec, used_alloc − lower_rec]: the answer's `freed_bounds`.

Only the allocations are placed (no deploy surge, no reservations): the question is what
the services need, not whether the next deploy fits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from allocator.placement import place
from allocator.right_sizing import ObservedUsage, Recommendation, recommend
from allocator.usage import weighted_percentile
from ledger.capacity import NotSyncedError, picture
from ledger.clusters import find_cluster
from ledger.context import Context, UsageSettings, in_transaction
from ledger.usage import _observed, java_heap
from models import Allocation
from models.base import utcnow

PEAK_CPU_PERCENTILE = 0.99  # a plan's "observed peak" of CPU: one busy minute is not a peak


@dataclass(frozen=True)
class Sized:
    """One allocation's observed figures and recommendation (per instance)."""

    observed: ObservedUsage
    recommendation: Recommendation | None

    @property
    def usable(self) -> bool:
        """A recommendation to act on: there is one, with some confidence."""
        return self.recommendation is not None and self.recommendation.confidence > 0


def sized(
    session: Session, allocs: Sequence[Allocation], s: UsageSettings, now: datetime
) -> dict[int, Sized]:
    """Observed usage and recommendation of each allocation, by id (ledger/usage.py's
    method, so the cluster view and the environment's recommendations never disagree)."""
    observed = _observed(session, [a.id for a in allocs], s, now)
    return {
        a.id: Sized(
            observed[a.id],
            recommend(observed[a.id], s.right_sizing, java_heap(a, a.environment)),
        )
        for a in allocs
    }


def observed_peak(item: Sized) -> tuple[float, float] | None:
    """Per-instance (cpus, mem MiB) at the busiest: the p99 of the minutes' CPU and the peak
    resident memory, never below the recommendation; None without a usable recommendation
    (then a plan keeps the allocated size)."""
    rec = item.recommendation
    if rec is None or rec.confidence <= 0 or item.observed.mem_peak_mib is None:
        return None
    cpu = weighted_percentile(item.observed.cpu_samples, PEAK_CPU_PERCENTILE)
    return max(cpu, rec.cpus), max(item.observed.mem_peak_mib, float(rec.mem_mib))


def _waste_rows(groups: dict[str, dict[str, float]], key: str) -> list[dict[str, Any]]:
    return [
        {
            key: name,
            "allocations": int(g["allocations"]),
            "measured": int(g["measured"]),
            "cpus_allocated": round(g["cpus_allocated"], 3),
            "cpus_recommended": round(g["cpus_recommended"], 3),
            "cpus_wasted": round(g["cpus_allocated"] - g["cpus_recommended"], 3),
            "mem_allocated": int(g["mem_allocated"]),
            "mem_recommended": int(g["mem_recommended"]),
            "mem_wasted": int(g["mem_allocated"] - g["mem_recommended"]),
        }
        for name, g in sorted(groups.items())
    ]


def waste(
    allocs: Sequence[Allocation], sizes: dict[int, Sized]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per environment and per team: allocated and recommended cpus and mem (MiB, whole
    allocations) over the measured allocations, and the waste (allocated − recommended;
    negative: they ask too little). Unmeasured allocations are counted, not guessed."""
    by_env: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_team: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for a in allocs:
        item = sizes[a.id]
        for g in (by_env[a.environment.name], by_team[a.service.team]):
            g["allocations"] += 1
            if not item.usable:
                continue
            rec = item.recommendation
            assert rec is not None
            g["measured"] += 1
            g["cpus_allocated"] += a.cpus * a.instances
            g["cpus_recommended"] += rec.cpus * a.instances
            g["mem_allocated"] += a.mem * a.instances
            g["mem_recommended"] += rec.mem_mib * a.instances
    return _waste_rows(by_env, "environment"), _waste_rows(by_team, "team")


def cluster_right_sizing(ctx: Context, name: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The agents used as allocated and as recommended (fast placement, with lower bounds),
    the agents freed and what brackets the optimal saving, and the waste per environment
    and team."""
    now = now or utcnow()
    s = ctx.settings.usage

    def work(session: Session) -> dict[str, Any]:
        cluster = find_cluster(session, name)
        pic = picture(session, cluster, now)
        if pic.snapshot is None:
            raise NotSyncedError(
                f"cluster '{name}' has no snapshot yet: sync it "
                f"(POST /api/v1/clusters/{name}/sync) first"
            )
        allocs = [a for a, _ in pic.allocations]
        sizes = sized(session, allocs, s, now)
        recommended = []
        rows = []
        for a, d in pic.allocations:
            item = sizes[a.id]
            rec = item.recommendation if item.usable else None
            if rec is not None:
                d = replace(
                    d, cpus=rec.cpus + cluster.executor_cpus, mem=rec.mem_mib + cluster.executor_mem
                )
            recommended.append(d)
            rows.append(
                {
                    "environment": a.environment.name,
                    "service": a.service.name,
                    "team": a.service.team,
                    "instances": a.instances,
                    "allocated": {"cpus": a.cpus, "mem": a.mem},
                    "recommended": None if rec is None else {"cpus": rec.cpus, "mem": rec.mem_mib},
                    "confidence": 0.0 if rec is None else rec.confidence,
                }
            )
        as_allocated = place(pic.agents, [d for _, d in pic.allocations], effort="fast")
        as_recommended = place(pic.agents, recommended, effort="fast")
        used_a, low_a = as_allocated.agents_used, as_allocated.lower_bound
        used_r, low_r = as_recommended.agents_used, as_recommended.lower_bound
        by_env, by_team = waste(allocs, sizes)
        return {
            "cluster": cluster.name,
            "at": now,
            "agents": len(pic.agents),
            "allocations": len(allocs),
            "measured": sum(1 for a in allocs if sizes[a.id].usable),
            "as_allocated": _placed_view(as_allocated),
            "as_recommended": _placed_view(as_recommended),
            "agents_freed": used_a - used_r,
            "freed_bounds": {"at_least": low_a - used_r, "at_most": used_a - low_r},
            "counts": "the allocations alone: no deploy surge, no reservations",
            "waste_by_environment": by_env,
            "waste_by_team": by_team,
            "by_allocation": rows,
        }

    return in_transaction(ctx, work)


def _placed_view(p: Any) -> dict[str, Any]:
    return {
        "agents_used": p.agents_used,
        "lower_bound": p.lower_bound,
        "unplaced": len(p.unplaced),
        "strategy": p.strategy,
    }
