"""Does the cluster fit? The ledger's allocations, reservations and deploy surge, placed on
the agents of the latest snapshot; and the capacity answers built from that placement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer, joinedload, lazyload, selectinload

from allocator.model import Agent, Demand, Placement, usable_constraints
from allocator.ports import subtract_ports
from allocator.surge import largest_surges, mean_agent, surge_instances
from allocator.windows import Interval, Window, intervals_from
from ledger.errors import ConflictError
from ledger.snapshots import latest_snapshot_row
from models import (
    Allocation,
    Cluster,
    Environment,
    PortAssignment,
    Reservation,
    Service,
    Snapshot,
)
from models.base import utcnow

RESOURCES = ("cpus", "mem", "disk")


class DoesNotFitError(ConflictError):
    title = "Does not fit"


class NotSyncedError(ConflictError):
    """The cluster's picture lacks what the question needs: a snapshot, an active agent."""

    title = "Cluster not synced"


@dataclass(frozen=True)
class Picture:
    """Everything a verdict on one cluster needs, read inside one transaction."""

    cluster: Cluster
    snapshot: Snapshot | None
    agents: tuple[Agent, ...]
    inactive_agents: tuple[dict[str, Any], ...]
    allocations: tuple[tuple[Allocation, Demand], ...]
    surge: tuple[Demand, ...]
    reservations: tuple[tuple[Reservation, Demand], ...]
    intervals: tuple[Interval, ...]
    now: datetime
    used: dict[str, dict[str, float]] = field(default_factory=dict)  # agent id → Mesos used
    # the cluster's demand version, read before anything else: what is read after may be
    # newer than it, never older (ledger/standing.py)
    version: int = 0


@dataclass(frozen=True)
class Verdict:
    checked: bool
    fits: bool
    placement: Placement | None  # now
    failing: Placement | None  # the first interval that does not fit, if any
    failing_interval: Interval | None
    picture: Picture
    # fits, fits_after_moves, does_not_fit or not_proven (allocator.verdict)
    level: str = "fits"
    moves: tuple[dict[str, Any], ...] = ()
    proof: str = ""
    steps: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        snap = self.picture.snapshot
        out: dict[str, Any] = {"checked": self.checked, "fits": self.fits}
        if not self.checked:
            name = self.picture.cluster.name
            out["why"] = (
                f"cluster '{name}' has no snapshot yet: sync it "
                f"(POST /api/v1/clusters/{name}/sync) to have every change checked"
            )
            return out
        worst = self.failing or self.placement
        assert snap is not None and worst is not None
        out.update(
            {
                "snapshot_age_seconds": round(
                    (self.picture.now - snap.confirmed_at).total_seconds(), 3
                ),
                "agents_used": worst.agents_used,
                "lower_bound": worst.lower_bound,
                "surge": surge_summary(self.picture),
                "unplaced": [unplaced_view(u) for u in worst.unplaced],
                "level": self.level,
                "moves": list(self.moves),
                "proof": self.proof,
                "steps": list(self.steps),
            }
        )
        if self.failing_interval is not None:
            out["when"] = interval_view(self.failing_interval)
        return out


def unplaced_view(u: Any) -> dict[str, Any]:
    return {
        "demand": u.key,
        "instance": u.index,
        "reason": u.reason,
        "shortfall": dict(u.shortfall),
    }


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 as marshmallow writes every other time of the API: these views sit inside
    free-form dicts, where Flask's JSON provider would write RFC 1123 instead."""
    return moment.isoformat() if moment is not None else None


def interval_view(i: Interval) -> dict[str, Any]:
    return {"from": iso(i.start), "until": iso(i.end), "reservations": sorted(i.active)}


def app_id(env: Environment, service: str) -> str:
    return env.marathon_group.rstrip("/") + "/" + service


def _agents(
    cluster: Cluster, snapshot: Snapshot, managed: dict[str, Allocation]
) -> tuple[list[Agent], list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Agents as berth may use them: less other roles' reservations and unmanaged tasks."""
    overhead = (cluster.executor_cpus, float(cluster.executor_mem), 0.0)
    managed_use: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    managed_ports: dict[str, set[int]] = defaultdict(set)
    for app in snapshot.apps:
        alloc = managed.get(app["id"])
        if alloc is None:
            continue
        definition = app["definition"]
        size = (
            float(definition.get("cpus", 0)) + overhead[0],
            float(definition.get("mem", 0)) + overhead[1],
            float(definition.get("disk", 0)),
        )
        for task in app["tasks"]:
            use = managed_use[task["agent_id"]]
            for r in range(3):
                use[r] += size[r]
            managed_ports[task["agent_id"]].update(task["ports"])
    agents, inactive, used = [], [], {}
    for a in snapshot.agents:
        used[a["id"]] = {r: float(a["used"][r]) for r in RESOURCES}
        if not a["active"]:
            inactive.append(a)
            continue
        other = [
            res for role, res in a["reserved"].items() if role not in ("*", cluster.mesos_role)
        ]
        capacity = []
        for k, r in enumerate(RESOURCES):
            reserved = sum(float(res[r]) for res in other)
            unmanaged = max(0.0, float(a["used"][r]) - managed_use[a["id"]][k])
            # tasks of other roles run inside their reservations first
            outside = max(0.0, unmanaged - reserved)
            capacity.append(max(0.0, float(a["resources"][r]) - reserved - outside))
        taken = {p for lo, hi in a["used"]["ports"] for p in range(lo, hi + 1)} - managed_ports[
            a["id"]
        ]
        for res in other:
            taken.update(p for lo, hi in res["ports"] for p in range(lo, hi + 1))
        agents.append(
            Agent(
                id=a["id"],
                hostname=a["hostname"],
                cpus=capacity[0],
                mem=capacity[1],
                disk=capacity[2],
                ports=subtract_ports([tuple(r) for r in a["resources"]["ports"]], taken),
                attributes={k: str(v) for k, v in a["attributes"].items()},
                total_cpus=float(a["resources"]["cpus"]),
                total_mem=float(a["resources"]["mem"]),
                total_disk=float(a["resources"]["disk"]),
            )
        )
    return agents, inactive, used


def usable_constraint(c: Iterable[Any]) -> bool:
    """Constraints the API refuses can still sit in old rows; the packer must not trip on
    them (an invalid regex, a GROUP_BY count of 0)."""
    return bool(usable_constraints([list(c)]))


def allocation_demand(cluster: Cluster, alloc: Allocation, ports: Sequence[int]) -> Demand:
    env, service = alloc.environment.name, alloc.service.name
    return Demand(
        key=f"{env}/{service}",
        count=alloc.instances,
        cpus=alloc.cpus + cluster.executor_cpus,
        mem=alloc.mem + cluster.executor_mem,
        disk=alloc.disk,
        ports=tuple(ports),
        constraints=usable_constraints(alloc.constraints),
        headroom=alloc.environment.headroom,
        label=f"{service} ({env})",
    )


def _surge(
    cluster: Cluster, allocations: Sequence[tuple[Allocation, Demand]], agents: Sequence[Agent]
) -> list[Demand]:
    """The extra instances of the N most expensive rolling upgrades running at once."""
    if not agents:
        return []
    return largest_surges(
        ((demand, surge_of(alloc)) for alloc, demand in allocations),
        mean_agent(agents),
        cluster.concurrent_deploys,
    )


def surge_of(alloc: Allocation) -> int:
    """The extra instances a deploy of the allocation starts (its upgradeStrategy)."""
    return surge_instances(
        alloc.instances, alloc.minimum_health_capacity, alloc.maximum_over_capacity
    )


def plain_slots(cluster: Cluster, r: Reservation) -> Demand:
    """A reservation's slots with its own sizes and constraints, as if it had no service."""
    return Demand(
        key=f"reservation:{r.id}",
        count=r.count,
        cpus=r.cpus + cluster.executor_cpus,
        mem=r.mem + cluster.executor_mem,
        disk=r.disk,
        constraints=usable_constraints(r.constraints),
        headroom=r.environment.headroom if r.environment else 0.0,
        label=f"reservation {r.id} ({r.reason[:60]})",
    )


def slots_used(count: int, base: int | None, instances: int | None) -> int:
    """How many of a reservation's `count` slots its allocation has used up: the instances
    it has now (`instances`; None when there is no allocation) beyond those it had when
    the slots were reserved (`base`), at most `count`. Computed from the allocation as it
    is, so a scale-back gives the slots back; none without a base (plain slots, and rows
    older than migration 0011 whose allocation did not exist then)."""
    if base is None or instances is None:
        return 0
    return min(count, max(0, instances - base))


def link_slots(
    slots: Demand, allocation: Demand | None, reason: str, base: int | None = None
) -> Demand:
    """A reservation's slots (`plain_slots`) as the allocation they belong to needs them,
    if that allocation exists now.

    The allocation's instances beyond `base` (those it had when the slots were reserved)
    are the slots taken into use: only the others are still held (`slots_used`), so a
    scale-up inside or before the window is not counted twice.

    Slots of an allocation are placed like more of its instances: each needs the
    allocation's host ports free on its agent (so slots and instances never share an agent
    when it has ports), and they count under the allocation's constraints together with
    its instances and its deploy surge (one constraint group). Their sizes stay the
    reservation's. When the allocation is gone (deleted after the reservation was made),
    the reservation falls back to its own sizes and constraints, counted among its own
    slots, without ports; it is made an allocation's again if the service is allocated
    there again.
    """
    if allocation is None:
        return slots
    rid = slots.key.removeprefix("reservation:")
    return replace(
        slots,
        count=slots.count - slots_used(slots.count, base, allocation.count),
        ports=allocation.ports,
        constraints=allocation.constraints,
        headroom=allocation.headroom,
        group=allocation.constraint_group,
        label=f"reservation {rid} for {allocation.name} ({reason[:60]})",
    )


def picture(session: Session, cluster: Cluster, now: datetime | None = None) -> Picture:
    now = now or utcnow()
    session.flush()  # the request's own changes count
    version = session.scalar(select(Cluster.demand_version).where(Cluster.id == cluster.id)) or 0
    snapshot = latest_snapshot_row(session, cluster.id)
    allocs = session.scalars(
        select(Allocation)
        .join(Environment)
        .where(Environment.cluster_id == cluster.id)
        .order_by(Allocation.id)
        # what placement and its readers use, and no more: on 5,000 services, loading
        # what only a render reads (JSON columns, port objects, the environment again on
        # every row) took most of a second
        .options(
            defer(Allocation.overrides),
            lazyload(Allocation.ports),
            selectinload(Allocation.environment),
            joinedload(Allocation.service).options(
                lazyload(Service.ports),
                defer(Service.health_check),
                defer(Service.consistency_exceptions),
                defer(Service.description),
                defer(Service.dockerfile_template),
            ),
        )
    ).all()
    held: dict[int, list[int]] = defaultdict(list)
    for alloc_id, port in session.execute(
        select(PortAssignment.allocation_id, PortAssignment.port)
        .where(PortAssignment.cluster_id == cluster.id, PortAssignment.allocation_id.is_not(None))
        .order_by(PortAssignment.port)
    ):
        held[alloc_id].append(port)
    allocations = tuple((a, allocation_demand(cluster, a, held[a.id])) for a in allocs)
    # a reservation belongs to the allocation of its service in its environment
    by_service = {(a.environment_id, a.service_id): d for a, d in allocations}
    reservations = tuple(
        (
            r,
            link_slots(
                plain_slots(cluster, r),
                by_service.get((r.environment_id, r.service_id)),
                r.reason,
                r.base_instances,
            ),
        )
        for r in session.scalars(
            select(Reservation)
            .where(Reservation.cluster_id == cluster.id, Reservation.ends_at > now)
            .order_by(Reservation.id)
        )
    )
    intervals = tuple(
        intervals_from(now, [Window(r.id, r.starts_at, r.ends_at) for r, _ in reservations])
    )
    if snapshot is None:
        return Picture(
            cluster, None, (), (), allocations, (), reservations, intervals, now, version=version
        )
    managed = {app_id(a.environment, a.service.name): a for a in allocs}
    agents, inactive, used = _agents(cluster, snapshot, managed)
    surge = tuple(_surge(cluster, allocations, agents))
    return Picture(
        cluster,
        snapshot,
        tuple(agents),
        tuple(inactive),
        allocations,
        surge,
        reservations,
        intervals,
        now,
        used,
        version,
    )


def surge_summary(pic: Picture) -> dict[str, Any]:
    return {
        "concurrent_deploys": pic.cluster.concurrent_deploys,
        "deploys": [d.key.removeprefix("surge:") for d in pic.surge],
        "instances": sum(d.count for d in pic.surge),
        **{r: round(sum(getattr(d, r) * d.count for d in pic.surge), 3) for r in RESOURCES},
    }


def stale_after(pic: Picture, max_age: timedelta) -> bool:
    return pic.snapshot is not None and pic.now - pic.snapshot.confirmed_at > max_age
