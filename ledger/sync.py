"""Reading a cluster's truth from Mesos and Marathon into dated snapshots."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ledger.clusters import find_cluster
from ledger.context import Context, in_transaction
from ledger.errors import NotFoundError, SnapshotStaleError, SyncBusyError, UpstreamError
from ledger.events import emit
from ledger.snapshots import latest_snapshot_row, live_view
from ledger.upstream import Endpoints, translate
from marathon.client import MarathonApp
from marathon.errors import ClusterError
from models import Cluster, Environment, Snapshot, SyncLease
from models.base import utcnow

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Reading:
    read_at: datetime
    mesos_version: str
    marathon_version: str
    agents: list[dict[str, Any]]
    apps: list[dict[str, Any]]

    def digest(self) -> str:
        canonical = json.dumps(
            [self.mesos_version, self.marathon_version, self.agents, self.apps],
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _app_record(app: MarathonApp) -> dict[str, Any]:
    return {
        "id": app.id,
        "definition": app.definition,
        "deployments": list(app.deployment_ids),
        "tasks": [
            {
                "id": t.id,
                "host": t.host,
                "agent_id": t.agent_id,
                "ports": list(t.ports),
                "state": t.state,
                "started_at": t.started_at,
            }
            for t in sorted(app.tasks, key=lambda t: t.id)
        ],
    }


def read_cluster(ctx: Context, endpoints: Endpoints) -> Reading:
    """Ask the leading Mesos master and Marathon; no database transaction is open meanwhile."""
    read_at = utcnow()
    try:
        state = endpoints.mesos(ctx).state()
    except ClusterError as exc:
        raise translate(exc, f"reading Mesos of cluster '{endpoints.cluster}'") from exc
    try:
        marathon = endpoints.marathon(ctx)
        info = marathon.info()
        apps = marathon.apps()
    except ClusterError as exc:
        raise translate(exc, f"reading Marathon of cluster '{endpoints.cluster}'") from exc
    return Reading(
        read_at=read_at,
        mesos_version=state.version,
        marathon_version=str(info.get("version", "")),
        agents=sorted((a.as_dict() for a in state.agents), key=lambda a: a["id"]),
        apps=sorted((_app_record(a) for a in apps), key=lambda a: a["id"]),
    )


def snapshot_view(
    s: Snapshot, cluster: str, now: datetime, *, full: bool = False
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": s.id,
        "cluster": cluster,
        "taken_at": s.taken_at,
        "confirmed_at": s.confirmed_at,
        "age_seconds": round((now - s.confirmed_at).total_seconds(), 3),
        "mesos_version": s.mesos_version,
        "marathon_version": s.marathon_version,
        "agent_count": len(s.agents),
        "app_count": len(s.apps),
        "task_count": sum(len(a["tasks"]) for a in s.apps),
    }
    if full:
        view["agents"] = s.agents
        view["apps"] = s.apps
    return view


def _lease(session: Session, cluster: Cluster) -> SyncLease:
    lease = session.get(SyncLease, cluster.id, with_for_update=True)
    if lease is None:
        lease = SyncLease(cluster_id=cluster.id)
        session.add(lease)
        session.flush()
    return lease


def acquire_lease(ctx: Context, name: str, holder: str, ttl: timedelta) -> Endpoints:
    """Take (or renew) the right to sync one cluster; refused while another holder's lease runs."""

    def work(session: Session) -> Endpoints:
        cluster = find_cluster(session, name)
        lease = _lease(session, cluster)
        now = utcnow()
        if lease.holder not in (None, holder) and lease.expires_at and lease.expires_at > now:
            raise SyncBusyError(
                f"cluster '{name}' is being synced by {lease.holder} until "
                f"{lease.expires_at.isoformat(timespec='seconds')}",
                holder=lease.holder,
            )
        lease.holder, lease.expires_at, lease.last_attempt_at = holder, now + ttl, now
        return Endpoints.of(cluster)

    return in_transaction(ctx, work)


def _finish(ctx: Context, name: str, holder: str, error: str | None, keep: bool) -> None:
    def work(session: Session) -> None:
        cluster = session.scalar(select(Cluster).where(Cluster.name == name))
        if cluster is None:
            return
        lease = _lease(session, cluster)
        if lease.holder not in (None, holder):
            return  # our lease ran out and someone else took it
        lease.last_error = error
        if error is None:
            lease.last_success_at = utcnow()
        if not keep:
            lease.holder, lease.expires_at = None, None

    in_transaction(ctx, work)


def new_snapshot(cluster_id: int, reading: Reading, digest: str, at: datetime) -> Snapshot:
    """A snapshot row holding the reading, taken and confirmed at `at`."""
    return Snapshot(
        cluster_id=cluster_id,
        taken_at=at,
        confirmed_at=at,
        content_hash=digest,
        mesos_version=reading.mesos_version,
        marathon_version=reading.marathon_version,
        agents=reading.agents,
        apps=reading.apps,
    )


def store_snapshot(ctx: Context, name: str, reading: Reading) -> dict[str, Any]:
    """Keep the reading; an unchanged cluster only moves the latest snapshot's confirmed_at."""

    def work(session: Session) -> dict[str, Any]:
        cluster = find_cluster(session, name)
        now = utcnow()
        digest = reading.digest()
        latest = latest_snapshot_row(session, cluster.id)
        changed = latest is None or latest.content_hash != digest
        if changed:
            latest = new_snapshot(cluster.id, reading, digest, reading.read_at)
            session.add(latest)
        else:
            assert latest is not None
            latest.confirmed_at = max(latest.confirmed_at, reading.read_at)
        session.flush()
        if changed:
            _prune(ctx, session, cluster.id, latest.id, now)
        return {**snapshot_view(latest, name, now), "changed": changed}

    return in_transaction(ctx, work)


def _prune(ctx: Context, session: Session, cluster_id: int, keep: int, now: datetime) -> None:
    """Drop snapshots older than the retention; the newest always stays."""
    session.execute(
        delete(Snapshot).where(
            Snapshot.cluster_id == cluster_id,
            Snapshot.id != keep,
            Snapshot.confirmed_at < now - ctx.settings.snapshot_retention,
        )
    )


def sync_cluster(
    ctx: Context,
    name: str,
    *,
    holder: str = HOLDER,
    ttl: timedelta = timedelta(minutes=2),
    keep_lease: bool = False,
) -> dict[str, Any]:
    """Read a cluster and store a snapshot; never two syncers on one cluster at once.

    The lease outlives the slowest possible reading (every call timing out), so that it
    cannot run out while its holder is still reading.
    """
    read = ctx.settings.cluster_timeout
    ttl = ttl or timedelta(seconds=max(60.0, 12 * (read[0] + read[1])))
    endpoints = acquire_lease(ctx, name, holder, ttl)
    try:
        reading = read_cluster(ctx, endpoints)
    except Exception as exc:
        _finish(ctx, name, holder, str(exc)[:2000], keep_lease)
        emit(
            "sync_failed",
            ctx.actor,
            ctx.request_id,
            f"sync {name} failed",
            cluster=name,
            error=str(getattr(exc, "detail", exc))[:500],
        )
        raise
    result = store_snapshot(ctx, name, reading)
    _finish(ctx, name, holder, None, keep_lease)
    emit(
        "sync",
        ctx.actor,
        ctx.request_id,
        f"sync {name}",
        cluster=name,
        agents=result.get("agent_count"),
        apps=result.get("app_count"),
        tasks=result.get("task_count"),
        changed=result.get("changed"),
    )
    return result


def latest_snapshot(ctx: Context, name: str, *, full: bool = False) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        cluster = find_cluster(session, name)
        snap = latest_snapshot_row(session, cluster.id)
        if snap is None:
            raise NotFoundError(
                f"cluster '{name}' has no snapshot yet; sync it first "
                f"(POST /api/v1/clusters/{name}/sync or 'flask --app app sync')"
            )
        now = utcnow()
        return {
            **snapshot_view(snap, name, now, full=full),
            "live": live_view(session, cluster.id, now),
        }

    return in_transaction(ctx, work)


def fresh_snapshot(ctx: Context, name: str, *, full: bool = True) -> dict[str, Any]:
    """A snapshot no older than the configured age: sync when needed, 503 with the age if we can't.

    When the sync fails but the last snapshot is still young enough, it is used as it is.
    """
    try:
        current = latest_snapshot(ctx, name, full=full)
    except NotFoundError:
        current = None
    max_age = ctx.settings.snapshot_max_age.total_seconds()
    if current is not None and current["age_seconds"] <= max_age:
        return current
    try:
        sync_cluster(ctx, name)
    except SyncBusyError:
        pass  # someone else is syncing right now; use what is there if it is young enough
    except UpstreamError as exc:
        age = "missing" if current is None else f"{current['age_seconds']:.0f} s old"
        raise SnapshotStaleError(
            f"cluster '{name}' cannot be read ({exc.detail}) and its last snapshot is "
            f"{age}, older than the {max_age:.0f} s allowed",
            age_seconds=None if current is None else current["age_seconds"],
        ) from exc
    return latest_snapshot(ctx, name, full=full)


def refresh_if_stale(
    ctx: Context, *, cluster: str | None = None, environment: str | None = None
) -> None:
    """Before a checked write: sync a cluster whose snapshot is too old (outside any
    transaction); 503 with the age when it cannot be read. A cluster never synced is
    left alone: its changes are saved unchecked, and say so."""

    def age(session: Session) -> tuple[str, float] | None:
        if environment is not None:
            env = session.scalar(select(Environment).where(Environment.name == environment))
            if env is None:
                return None
            target = env.cluster
        else:
            target = session.scalar(select(Cluster).where(Cluster.name == cluster))
            if target is None:
                return None
        snap = latest_snapshot_row(session, target.id, content=False)
        if snap is None:
            return None
        return target.name, (utcnow() - snap.confirmed_at).total_seconds()

    found = in_transaction(ctx, age)
    max_age = ctx.settings.snapshot_max_age.total_seconds()
    if found is None or found[1] <= max_age:
        return
    name, seconds = found
    try:
        sync_cluster(ctx, name)
    except SyncBusyError:
        return  # another process is refreshing it right now
    except UpstreamError as exc:
        raise SnapshotStaleError(
            f"cluster '{name}' cannot be read ({exc.detail}) and its last snapshot is "
            f"{seconds:.0f} s old, older than the {max_age:.0f} s allowed; the change was "
            "not checked and not saved",
            age_seconds=round(seconds, 3),
        ) from exc
