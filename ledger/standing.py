"""Each cluster's standing placement, kept per process and caught up with every write.

A write places only its change into what the standing placement leaves (allocator/
standing.py). The copy lives in this process, keyed by the cluster's latest snapshot and
`clusters.demand_version`, a counter bumped in the same transaction as every write that
changes what placement reads (the session hooks below see to it, whoever writes). One
indexed read tells any worker or replica whether its copy is current; when it is behind,
`demand_changes` says what changed (the allocations, with where their writer placed
them), and the copy replays it; anything else changed, or it is too far behind, and the
copy is made again from the database. Memory another process may have changed is never
trusted: a write reads the version under the cluster lock before it judges.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import delete, event, insert, inspect, select, update
from sqlalchemy.orm import Session

from allocator.bounds import lower_bound
from allocator.model import Agent, Constraint, Demand, Placement
from allocator.placement import place
from allocator.standing import Change, Outcome, Standing
from allocator.surge import mean_agent, surge_demand, surge_rank
from allocator.verdict import Move, accepted
from allocator.windows import Interval, Window, distinct_sets, intervals_from
from ledger.capacity import (
    DoesNotFitError,
    Picture,
    Verdict,
    app_id,
    interval_view,
    link_slots,
    picture,
    plain_slots,
    surge_of,
)
from ledger.snapshots import latest_snapshot_row
from models import (
    Allocation,
    Cluster,
    DemandChange,
    Environment,
    PortAssignment,
    Reservation,
    Snapshot,
)
from models.base import utcnow

log = logging.getLogger(__name__)

# how many changes are kept per cluster for processes that catch up (a process further
# behind places the cluster afresh)
KEEP_CHANGES = 2048

# --- the version of what placement reads ---------------------------------------------------

_CLUSTERS = "berth.demand_clusters"  # session.info: clusters whose demand this session changed
_DELTAS = "berth.demand_deltas"  # session.info: cluster id → what a write says it changed


def _cluster_of(session: Session, obj: object) -> set[int]:
    """The clusters whose demand a changed row touches (empty for rows that do not)."""
    # a new row's foreign keys are set at the flush, from the objects it was given
    if isinstance(obj, PortAssignment):
        return {obj.cluster_id} if obj.cluster_id is not None else set()
    if isinstance(obj, Reservation | Environment):
        cluster_id = obj.cluster_id if obj.cluster_id is not None else obj.cluster.id
        return {cluster_id} if cluster_id is not None else set()
    if isinstance(obj, Allocation):
        env = obj.environment or session.get(Environment, obj.environment_id)
        if env is None:
            return set()
        cluster_id = env.cluster_id if env.cluster_id is not None else env.cluster.id
        return {cluster_id} if cluster_id is not None else set()
    if isinstance(obj, Cluster):
        return {obj.id} if obj.id is not None else set()
    return set()


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Remember which clusters' demand this flush changes (the commit bumps them)."""
    touched: set[int] = session.info.setdefault(_CLUSTERS, set())
    for obj in chain(session.new, session.deleted):
        if not isinstance(obj, Cluster):  # a new cluster has nothing placed yet
            touched |= _cluster_of(session, obj)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            touched |= _cluster_of(session, obj)
            if isinstance(obj, Environment):
                # an environment moved to another cluster changes the one it left too
                moved = inspect(obj).attrs.cluster_id.history.deleted or ()
                touched.update(old for old in moved if old is not None)


@event.listens_for(Session, "before_commit")
def _bump_versions(session: Session) -> None:
    """Bump the version of every cluster whose demand changed, in the same transaction, and
    log what changed: the write's own account of it, else "reload"."""
    session.flush()
    touched: set[int] = session.info.pop(_CLUSTERS, set())
    deltas: dict[int, dict[str, Any]] = session.info.pop(_DELTAS, {})
    for cluster_id in sorted(touched):
        body = deltas.get(cluster_id) or {"reload": True}
        table = Cluster.__table__
        version = session.execute(
            update(table)
            .where(table.c.id == cluster_id)
            # the cluster's own settings did not change: its updated_at stays
            .values(demand_version=table.c.demand_version + 1, updated_at=table.c.updated_at)
            .returning(table.c.demand_version)
        ).scalar_one_or_none()
        if version is None:
            continue  # deleted in this transaction
        session.execute(
            insert(DemandChange.__table__).values(
                cluster_id=cluster_id, version=version, body=body, created_at=utcnow()
            )
        )
        if version % 256 == 0:
            session.execute(
                delete(DemandChange.__table__).where(
                    DemandChange.__table__.c.cluster_id == cluster_id,
                    DemandChange.__table__.c.version <= version - KEEP_CHANGES,
                )
            )


def _record(session: Session, cluster_id: int, body: dict[str, Any]) -> None:
    """What a write changed on a cluster, for the log; a second write in the same
    transaction makes it a reload (the log holds one account per version)."""
    deltas: dict[int, dict[str, Any]] = session.info.setdefault(_DELTAS, {})
    deltas[cluster_id] = {"reload": True} if cluster_id in deltas else body
    session.info.setdefault(_CLUSTERS, set()).add(cluster_id)


# --- demands in the log --------------------------------------------------------------------


def demand_json(d: Demand) -> dict[str, Any]:
    return {
        "key": d.key,
        "count": d.count,
        "cpus": d.cpus,
        "mem": d.mem,
        "disk": d.disk,
        "ports": list(d.ports),
        "constraints": [
            [c.field, c.operator] + ([c.value] if c.value else []) for c in d.constraints
        ],
        "headroom": d.headroom,
        "group": d.group,
        "label": d.label,
    }


def demand_from(j: Mapping[str, Any]) -> Demand:
    return Demand(
        key=j["key"],
        count=int(j["count"]),
        cpus=float(j["cpus"]),
        mem=float(j["mem"]),
        disk=float(j["disk"]),
        ports=tuple(int(p) for p in j["ports"]),
        constraints=tuple(
            Constraint(c[0], c[1], c[2] if len(c) > 2 else None) for c in j["constraints"]
        ),
        headroom=float(j["headroom"]),
        group=j.get("group", ""),
        label=j.get("label", ""),
    )


# --- one cluster's standing placement --------------------------------------------------------


@dataclass
class Slots:
    """A reservation as placement needs it: its window, its own slots, whose they are."""

    window: Window
    plain: Demand
    owner: str | None  # the allocation key (environment/service) it belongs to
    reason: str
    forced: bool
    base: int | None = None  # the owner's instances it was reserved on top of (slots_used)


@dataclass
class Kept:
    """A cluster's standing placement and everything it was made from, at one version."""

    cluster_id: int
    # which snapshot, of which cluster (a deleted cluster's id and its snapshots' ids may
    # be handed out again, so the times they were made count too)
    snapshot: tuple[int, str, str, str]
    version: int
    agents: list[Agent]
    running: dict[str, tuple[str, ...]]  # allocation key → agents where its tasks run
    apps: frozenset[str]  # the app ids that run in the snapshot (managed or not)
    allocations: dict[str, Demand]
    extra: dict[str, int]  # allocation key → instances a deploy adds (surge)
    forced: set[str]
    slots: dict[int, Slots]
    concurrent: int
    sets: tuple[frozenset[int], ...]
    standing: Standing = field(init=False)
    surge: dict[str, Demand] = field(default_factory=dict)
    outcome: Outcome | None = None  # the readers' verdict at this version
    bounds: dict[frozenset[int], int] = field(default_factory=dict)  # readers' lower bounds
    confirmed_at: datetime | None = None  # when the snapshot was last read the same
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.mean = mean_agent(self.agents)
        # every deploy's surge rank, most expensive first: the surge is the first few
        self.rank: dict[str, tuple[float, str]] = {}
        self.ranked: list[tuple[float, str]] = []
        for key, d in self.allocations.items():
            if self.extra.get(key, 0) > 0:
                self.rank[key] = surge_rank(d, self.extra[key], self.mean)
        self.ranked = sorted(self.rank.values())
        self.surge = self._top(self.ranked)

    def _top(
        self,
        ranked: Sequence[tuple[float, str]],
        changed: tuple[str, Demand | None, int] | None = None,
    ) -> dict[str, Demand]:
        """The surge demands of the first `concurrent` deploys in `ranked`; `changed`: an
        allocation (key, demand, extra instances) as it will be instead of as it is."""
        out: dict[str, Demand] = {}
        for _, key in ranked[: max(0, self.concurrent)]:
            if changed is not None and key == changed[0]:
                d, extra = changed[1], changed[2]
            else:
                d, extra = self.allocations[key], self.extra[key]
            assert d is not None
            out[f"surge:{key}"] = surge_demand(d, extra)
        return out

    def _ranked_after(self, key: str, demand: Demand | None, extra: int) -> list[tuple[float, str]]:
        """The first deploys by surge rank once `key` becomes `demand` (what the surge
        needs: the first `concurrent` of them)."""
        n = max(0, self.concurrent)
        head = [r for r in self.ranked[: n + 1] if r[1] != key]
        if demand is not None and extra > 0:
            head.append(surge_rank(demand, extra, self.mean))
        return sorted(head)[:n]

    def scene(self, reservations: frozenset[int]) -> list[Demand]:
        out = [*self.allocations.values(), *self.surge.values()]
        for rid in sorted(reservations):
            sl = self.slots.get(rid)
            if sl is not None:
                owner = self.allocations.get(sl.owner) if sl.owner else None
                out.append(link_slots(sl.plain, owner, sl.reason, sl.base))
        return out

    def reservation_of(self) -> dict[str, int]:
        return {f"reservation:{rid}": rid for rid in self.slots}

    def tolerate(self, but: str | None = None) -> frozenset[str]:
        keys = set(self.forced) | {
            f"reservation:{rid}" for rid, s in self.slots.items() if s.forced
        }
        keys.discard(but or "")
        return frozenset(keys)

    def changes(
        self, key: str, demand: Demand | None, extra: int
    ) -> tuple[list[Change], dict[str, Demand]]:
        """What setting allocation `key` to `demand` changes: itself, the surge of the
        largest deploys, and the reservations that belong to it; and the surge after it.
        O(reservations + concurrent deploys), whatever the cluster holds."""
        surge = self._top(self._ranked_after(key, demand, extra), (key, demand, extra))
        out = [Change(key, demand, self.running.get(key, ()))]
        for k in sorted(self.surge.keys() | surge.keys()):
            if self.surge.get(k) != surge.get(k):
                out.append(Change(k, surge.get(k)))
        for rid, sl in sorted(self.slots.items()):
            if sl.owner == key:
                # its slots as the allocation's new instances leave them (slots_used): a
                # scale-up takes them in the same change, and a scale-back gives them back
                slots = link_slots(sl.plain, demand, sl.reason, sl.base)
                out.append(Change(f"reservation:{rid}", slots))
        return out, surge

    def adopt(
        self,
        key: str,
        demand: Demand | None,
        extra: int,
        forced: bool,
    ) -> list[Change]:
        """Take the allocation's change into what the copy was made from; the changes to
        place."""
        out, surge = self.changes(key, demand, extra)
        old = self.rank.pop(key, None)
        if old is not None:
            del self.ranked[bisect_left(self.ranked, old)]
        if demand is None:
            self.allocations.pop(key, None)
            self.extra.pop(key, None)
        else:
            self.allocations[key] = demand
            self.extra[key] = extra
            if extra > 0:
                self.rank[key] = surge_rank(demand, extra, self.mean)
                insort(self.ranked, self.rank[key])
        self.surge = surge
        if forced and demand is not None:
            self.forced.add(key)
        else:
            self.forced.discard(key)
        return out

    def now_sets(self, now: datetime) -> tuple[frozenset[int], ...]:
        windows = [sl.window for sl in self.slots.values()]
        return tuple(distinct_sets(intervals_from(now, windows))) or (frozenset(),)


def _kept_from(pic: Picture, version: int | None = None) -> Kept:
    """A cluster's standing placement made afresh from what it reads (O(cluster))."""
    assert pic.snapshot is not None
    by_app = {app_id(a.environment, a.service.name): d.key for a, d in pic.allocations}
    running: dict[str, tuple[str, ...]] = {}
    apps = []
    for app in pic.snapshot.apps:
        apps.append(app["id"])
        key = by_app.get(app["id"])
        if key is not None:
            running[key] = tuple(t["agent_id"] for t in app["tasks"])
    slots = {}
    for r, _ in pic.reservations:
        owner = None
        if r.service is not None and r.environment is not None:
            owner = f"{r.environment.name}/{r.service.name}"
        slots[r.id] = Slots(
            Window(r.id, r.starts_at, r.ends_at),
            plain_slots(pic.cluster, r),
            owner,
            r.reason,
            r.forced,
            r.base_instances,
        )
    sets = tuple(distinct_sets(pic.intervals)) or (frozenset(),)
    kept = Kept(
        cluster_id=pic.cluster.id,
        snapshot=_identity(pic.cluster, pic.snapshot),
        version=pic.version if version is None else version,
        agents=list(pic.agents),
        running=running,
        apps=frozenset(apps),
        allocations={d.key: d for _, d in pic.allocations},
        extra={d.key: surge_of(a) for a, d in pic.allocations},
        forced={d.key for a, d in pic.allocations if a.forced_at is not None},
        slots=slots,
        concurrent=pic.cluster.concurrent_deploys,
        sets=sets,
    )
    _stand(kept)
    return kept


def _stand(
    kept: Kept,
    placed: Sequence[Mapping[str, Sequence[str]] | None] | None = None,
    moves: Sequence[Move] = (),
) -> None:
    """The copy's scenes, each packed by the fast effort around the tasks that run (or as
    `placed` says, a packing another process found; with running tasks where it moved
    them, when it needs `moves`)."""
    scenes = [(s, kept.scene(s)) for s in kept.sets]
    if placed is None:
        placed = [
            place(kept.agents, demands, effort="fast", pinned=kept.running).assignments
            for _, demands in scenes
        ]
    running = {} if moves else kept.running
    kept.standing = Standing(kept.agents, scenes, running, placed)
    kept.standing.moves = tuple(moves)
    kept.outcome = None
    kept.bounds = {}


# (database, cluster id) → its standing placement in this process
_kept: dict[tuple[str, int], Kept] = {}
_kept_lock = threading.Lock()
rebuilds = 0  # how many times a standing placement was made afresh (tests read it)


def _replay(kept: Kept, body: Mapping[str, Any]) -> None:
    changes: list[Change] = []
    for entry in body["allocations"]:
        demand = demand_from(entry["demand"]) if entry["demand"] is not None else None
        changes += kept.adopt(entry["key"], demand, int(entry["extra"]), bool(entry["forced"]))
    if body.get("placed") is not None:
        by_set = {frozenset(p["reservations"]): p["where"] for p in body["placed"]}
        ids = [a.id for a in kept.agents]
        placed = [
            {k: [ids[b] if 0 <= b < len(ids) else "" for b in v] for k, v in by_set[s].items()}
            if s in by_set
            else None
            for s in kept.sets
        ]
        _stand(kept, placed, [Move(**m) for m in body.get("moves", ())])
        return
    hints = {frozenset(h["reservations"]): h["where"] for h in body.get("hints", ())}
    kept.standing.replay(changes, hints, kept.reservation_of())
    kept.outcome = None
    kept.bounds = {}


def _catch_up(session: Session, kept: Kept, version: int) -> bool:
    """Replay the logged changes since the copy's version; False when it cannot."""
    rows = session.execute(
        select(DemandChange.version, DemandChange.body)
        .where(DemandChange.cluster_id == kept.cluster_id, DemandChange.version > kept.version)
        .order_by(DemandChange.version)
    ).all()
    # every change since the copy's, up to the version asked at least (more may have been
    # committed since it was read, outside the cluster lock); else pruned, or not visible
    got = [v for v, _ in rows]
    if got != list(range(kept.version + 1, kept.version + 1 + len(got))) or (
        not got or got[-1] < version
    ):
        return False
    for v, body in rows:
        if body.get("reload"):
            return False
        try:
            _replay(kept, body)
        except Exception:  # a log it cannot read: place afresh rather than fail the request
            log.exception("replaying change %s of cluster %s", v, kept.cluster_id)
            return False
        kept.version = v
    return True


def standing_for(
    session: Session, cluster: Cluster, version: int | None = None, pic: Picture | None = None
) -> Kept | None:
    """The cluster's standing placement as the database has it now (None: never synced).

    `version`: the cluster's demand version if the caller read it (under the lock);
    `pic`: the cluster's picture if the caller has it (saves reading it again).
    """
    global rebuilds
    snap = latest_snapshot_row(session, cluster.id, content=False)
    if snap is None:
        return None
    if version is None:
        version = (
            session.scalar(select(Cluster.demand_version).where(Cluster.id == cluster.id)) or 0
        )
    now = utcnow()
    where = _database(session, cluster.id)
    with _kept_lock:
        kept = _kept.get(where)
    if kept is not None:
        with kept.lock:
            current = kept.snapshot == _identity(cluster, snap) and kept.now_sets(now) == kept.sets
            kept.confirmed_at = snap.confirmed_at
            if current and kept.version == version:
                return kept
            if current and kept.version < version and _catch_up(session, kept, version):
                return kept
    with _kept_lock:
        _kept.pop(where, None)  # a copy that could not catch up is not kept meanwhile
    if pic is None or pic.snapshot is None or pic.snapshot.id != snap.id:
        pic = picture(session, cluster, now)
    # labelled with the version read before its rows: never older than what it holds, so
    # whatever was committed after is replayed at the next catch-up
    kept = _kept_from(pic)
    kept.confirmed_at = snap.confirmed_at
    rebuilds += 1
    with _kept_lock:
        _kept[where] = kept
    return kept


def _identity(cluster: Cluster, snap: Snapshot) -> tuple[int, str, str, str]:
    return (snap.id, snap.content_hash, snap.taken_at.isoformat(), cluster.created_at.isoformat())


def _database(session: Session, cluster_id: int) -> tuple[str, int]:
    """Which copy: a process may serve more than one database (the tests do)."""
    return (session.get_bind().url.render_as_string(hide_password=True), cluster_id)


def forget() -> None:
    """Drop this process's copies."""
    with _kept_lock:
        _kept.clear()


# --- verdicts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteVerdict:
    """The verdict on one write of an allocation, and what the answer says of it."""

    level: str
    view: dict[str, Any]
    reasons: tuple[str, ...] = ()
    proof: str = ""
    when: Interval | None = None

    @property
    def fits(self) -> bool:
        return accepted(self.level)


def judge_allocation(
    session: Session,
    kept: Kept,
    key: str,
    demand: Demand | None,
    extra: int,
    app: str,
    *,
    seconds: float,
    force: bool,
) -> WriteVerdict:
    """Judge setting allocation `key` to `demand` (None: deleting it) against the standing
    placement, and record the change for the commit (the log, the version).

    The change is placed into what the standing placement leaves; only when it has no
    room there does the verdict escalate (allocator.standing). The copy itself is left as
    it was: whoever reads next replays the change from the log, where it was placed.
    """
    now = utcnow()
    with kept.lock:
        created = key not in kept.allocations and demand is not None
        deleted = key in kept.allocations and demand is None
        if app in kept.apps and (created or deleted):
            # an app that runs becomes (or stops being) the allocation's: the agents' room
            # changes with it, so the whole cluster is placed again (and again by others)
            fresh = _kept_from(
                picture(session, _cluster(session, kept.cluster_id), now), kept.version
            )
            outcome = fresh.standing.judge(
                seconds=seconds, tolerate=fresh.tolerate(but=key), explain={key}
            )
            fresh.confirmed_at = kept.confirmed_at
            view = _view(fresh, outcome, fresh.surge, now)
            body: dict[str, Any] = {"reload": True}
        else:
            changes, surge = kept.changes(key, demand, extra)
            standing = kept.standing
            standing.begin()
            try:
                outcome = standing.change(
                    changes,
                    seconds=seconds,
                    tolerate=kept.tolerate(but=key),
                    reservation_of=kept.reservation_of(),
                )
                forced = force and not accepted(outcome.level)
                body = _body(key, demand, extra, forced, outcome, standing)
                view = _view(kept, outcome, surge, now)
            finally:
                standing.undo()
        when = _when(kept, outcome, now)
    _record(session, kept.cluster_id, body)
    if when is not None:
        view["when"] = interval_view(when)
    reasons = tuple(u.reason for u in (outcome.placement.unplaced if outcome.placement else ()))
    return WriteVerdict(outcome.level, view, reasons, outcome.proof, when)


def record_deletion(session: Session, kept: Kept, key: str, app: str) -> None:
    """Log an allocation's deletion for those who catch up (a reload when its app runs:
    the agents' room changes with it)."""
    if app in kept.apps:
        _record(session, kept.cluster_id, {"reload": True})
        return
    entry = {"key": key, "demand": None, "extra": 0, "forced": False}
    _record(session, kept.cluster_id, {"allocations": [entry]})


def _cluster(session: Session, cluster_id: int) -> Cluster:
    found = session.get(Cluster, cluster_id)
    assert found is not None
    return found


def _when(kept: Kept, outcome: Outcome, now: datetime) -> Interval | None:
    """The first stretch of time in which the scene that does not fit holds (None: it fits)."""
    if outcome.failing is None:
        return None
    reservations = kept.standing.scenes[outcome.failing].reservations
    for interval in intervals_from(now, [sl.window for sl in kept.slots.values()]):
        if interval.active == reservations:
            return interval
    return None


def _body(
    key: str,
    demand: Demand | None,
    extra: int,
    forced: bool,
    outcome: Outcome,
    standing: Standing,
) -> dict[str, Any]:
    """The log's account of the write: the allocation, and where its change went."""
    body: dict[str, Any] = {
        "allocations": [
            {
                "key": key,
                "demand": demand_json(demand) if demand is not None else None,
                "extra": extra,
                "forced": forced,
            }
        ]
    }
    if not accepted(outcome.level):
        return body  # a refused write is not committed; a forced one is replayed by first fit
    if outcome.escalated:
        body["moves"] = [asdict(m) for m in outcome.moves]
        body["placed"] = [
            {
                "reservations": sorted(scene.reservations),
                "where": {d.key: [b for b in scene.where(d.key)] for d in scene.demands()},
            }
            for scene in standing.scenes
        ]
    else:
        body["hints"] = [
            {"reservations": sorted(scene.reservations), "where": hints}
            for scene, hints in zip(standing.scenes, outcome.hints, strict=False)
        ]
    return body


def _view(
    kept: Kept, outcome: Outcome, surge: Mapping[str, Demand], now: datetime
) -> dict[str, Any]:
    unplaced = outcome.placement.unplaced if outcome.placement is not None else ()
    confirmed = kept.confirmed_at or now
    return {
        "checked": True,
        "fits": accepted(outcome.level),
        "level": outcome.level,
        "snapshot_age_seconds": round((now - confirmed).total_seconds(), 3),
        "agents_used": kept.standing.used(),
        "lower_bound": kept.standing.volume_bound(),
        "surge": surge_view(kept.concurrent, surge.values()),
        "unplaced": [
            {
                "demand": u.key,
                "instance": u.index,
                "reason": u.reason,
                "shortfall": dict(u.shortfall),
            }
            for u in unplaced
        ],
        "moves": [move_view(m, kept.agents) for m in outcome.moves],
        "proof": outcome.proof,
        "steps": list(outcome.steps),
        "seconds": outcome.seconds,
    }


def move_view(m: Any, agents: Sequence[Agent]) -> dict[str, Any]:
    host = {a.id: a.hostname for a in agents}
    return {
        "demand": m.demand,
        "instance": m.instance,
        "from": {"agent": m.source, "hostname": host.get(m.source, m.source)},
        "to": {"agent": m.target, "hostname": host.get(m.target, m.target)},
    }


def surge_view(concurrent: int, surge: Iterable[Demand]) -> dict[str, Any]:
    surge = list(surge)
    return {
        "concurrent_deploys": concurrent,
        "deploys": [d.key.removeprefix("surge:") for d in surge],
        "instances": sum(d.count for d in surge),
        **{
            r: round(sum(getattr(d, r) * d.count for d in surge), 3)
            for r in ("cpus", "mem", "disk")
        },
    }


def reader_outcome(kept: Kept, seconds: float) -> Outcome:
    """The standing placement's own verdict, judged once per version in this process
    (escalations found here are kept: they are packings of the same demands)."""
    with kept.lock:
        if kept.outcome is None:
            kept.outcome = kept.standing.judge(seconds=seconds)
            kept.standing.commit()
        return kept.outcome


def now_placement(kept: Kept, active: frozenset[int]) -> Placement:
    """The placement for now: the scene of a set that holds what is active now, less the
    reservations that are not active yet."""
    with kept.lock:
        for scene in kept.standing.scenes:
            if active <= scene.reservations:
                bound = kept.bounds.get(scene.reservations)
                if bound is None:
                    bound = lower_bound(kept.agents, scene.demands())
                    kept.bounds[scene.reservations] = bound
                p = scene.placement(lower_bound=bound)
                drop = {f"reservation:{rid}" for rid in scene.reservations - active}
                return Placement(
                    {k: v for k, v in p.assignments.items() if k not in drop},
                    tuple(u for u in p.unplaced if u.key not in drop),
                    p.agents_used,
                    p.lower_bound,
                    p.strategy,
                    p.proven,
                )
        return kept.standing.scenes[0].placement()


def _interval(pic: Picture, reservations: frozenset[int]) -> Interval | None:
    return next((i for i in pic.intervals if i.active == reservations), None)


def _verdict(pic: Picture, kept: Kept, outcome: Outcome) -> Verdict:
    now_active = pic.intervals[0].active if pic.intervals else frozenset()
    placement = now_placement(kept, now_active)
    failing, interval = None, None
    if outcome.failing is not None:
        failing = outcome.placement
        interval = _interval(pic, kept.standing.scenes[outcome.failing].reservations)
    return Verdict(
        checked=True,
        fits=accepted(outcome.level),
        placement=placement,
        failing=failing,
        failing_interval=interval,
        picture=pic,
        level=outcome.level,
        moves=tuple(move_view(m, kept.agents) for m in outcome.moves),
        proof=outcome.proof,
        steps=outcome.steps,
    )


def verdict_of(session: Session, pic: Picture, seconds: float) -> Verdict:
    """The verdict on the cluster as it is, from this process's standing placement (kept
    current; escalated at most once per version)."""
    if pic.snapshot is None:
        return Verdict(False, True, None, None, None, pic)
    kept = standing_for(session, pic.cluster, pic=pic)
    assert kept is not None
    return _verdict(pic, kept, reader_outcome(kept, seconds))


def require_fit(
    pic: Picture, *, force: bool, what: str, key: str | None, seconds: float
) -> Verdict:
    """409 unless everything the picture holds fits at every moment from now on (an admin
    may force it): the whole cluster placed afresh and judged, for writes that change
    more than an allocation (reservations). Over-commits an admin forced earlier may stay
    unplaced; the change being made (`key`) always counts."""
    if pic.snapshot is None:
        return Verdict(False, True, None, None, None, pic)
    kept = _kept_from(pic, version=-1)
    outcome = kept.standing.judge(seconds=seconds, tolerate=kept.tolerate(but=key))
    verdict = _verdict(pic, kept, outcome)
    if verdict.fits or force:
        return verdict
    raise DoesNotFitError(
        refusal(
            pic.cluster.name,
            what,
            verdict.failing,
            verdict.failing_interval,
            pic.now,
            outcome.proof,
        ),
        fit=verdict.as_dict(),
    )


def refusal(
    cluster: str,
    what: str,
    failing: Placement | None,
    interval: Interval | None,
    now: datetime,
    proof: str,
    *,
    reasons: Sequence[str] = (),
    when: Interval | None = None,
) -> str:
    """The detail of a 409: what does not fit, from when, each instance and why, and what
    proves that no packing exists (or why it could not be settled)."""
    reasons = list(reasons) or [u.reason for u in (failing.unplaced if failing else ())]
    interval = when or interval
    start = interval.start if interval is not None else None
    when_text = ""
    if start is not None and start > now:
        when_text = f" from {start.isoformat(timespec='minutes')}"
    shown = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    text = f"{what} would not fit on cluster '{cluster}'{when_text}: {shown}"
    return f"{text} ({proof})" if proof else text


def unplaced_now(
    session: Session, cluster: Cluster, keys: Iterable[str], seconds: float
) -> Verdict | None:
    """The verdict on the cluster when instances of the demands `keys` have no agent now
    (None when they all have one, or the cluster was never synced): the render gate."""
    kept = standing_for(session, cluster)
    if kept is None:
        return None
    outcome = reader_outcome(kept, seconds)
    wanted = set(keys)
    now = utcnow()
    windows = [sl.window for sl in kept.slots.values()]
    intervals = intervals_from(now, windows)
    active = intervals[0].active if intervals else frozenset()
    with kept.lock:
        scene = next((s for s in kept.standing.scenes if active <= s.reservations), None)
        if scene is None or not wanted & scene.missing.keys():
            return None
    pic = picture(session, cluster, now)
    return _verdict(pic, kept, outcome)
