"""Drift: what berth would deploy for each allocation against what Marathon runs.

The running side is the latest snapshot of the environment's cluster (see ledger/sync.py),
so drift is as fresh as the last sync; `refresh` syncs first when it is too old.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.capacity import app_id
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import ConflictError
from ledger.renders import IMAGE_PLACEHOLDER, callees_in, render_input
from ledger.snapshots import latest_snapshot_row, live_view
from ledger.sync import fresh_snapshot
from marathon.apps import image_of
from marathon.compare import LEDGER_FIELDS, RELEASE_FIELDS, differences
from marathon.render import config_hash, render
from models import Allocation, Deployment, Environment, Service, Snapshot
from models.base import utcnow


class NotSyncedError(ConflictError):
    title = "Cluster never synced"


def _group(path: str) -> str:
    return "/" + path.strip("/")


def _under(app: str, group: str) -> bool:
    return group == "/" or app.startswith(group.rstrip("/") + "/")


def _releases(session: Session, env: str) -> dict[str, list[Deployment]]:
    """The environment's releases that may be what runs, newest first, per service."""
    rows = session.scalars(
        select(Deployment)
        .where(Deployment.environment == env, Deployment.status.in_(("succeeded", "deploying")))
        .order_by(Deployment.id.desc())
    )
    by_service: dict[str, list[Deployment]] = defaultdict(list)
    for d in rows:
        by_service[d.service].append(d)
    return by_service


def _running_release(releases: Sequence[Deployment], running_hash: Any) -> Deployment | None:
    """The newest release that finished, or that still says deploying although Marathon runs
    its config (nobody has followed it since)."""
    for d in releases:
        if d.status == "succeeded" or d.config_hash == running_hash:
            return d
    return None


def _release_view(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "image": d.image,
        "status": d.status,
        "config_hash": d.config_hash,
        "allocation_version": d.allocation_version,
        "created_at": d.created_at,
    }


def _running_tasks(app: dict[str, Any]) -> int:
    return sum(1 for t in app["tasks"] if t.get("state") == "TASK_RUNNING")


def _compare(
    session: Session,
    alloc: Allocation,
    app: dict[str, Any],
    releases: Sequence[Deployment],
    callees: Mapping[int, Sequence[str]],
) -> dict[str, Any]:
    running = app["definition"]
    labels = running.get("labels") or {}
    release = _running_release(releases, labels.get("BERTH_CONFIG_HASH"))
    if release is not None:
        image = release.image
        fields: tuple[str, ...] = (*LEDGER_FIELDS, *RELEASE_FIELDS)
    else:
        # never deployed through berth (imported): the ledger does not know image and env
        image = image_of(running)
        image = image or IMAGE_PLACEHOLDER
        fields = LEDGER_FIELDS
    rendered = render(render_input(session, alloc, image, callees=callees))
    return {
        "service": alloc.service.name,
        "app_id": rendered["id"],
        "allocation_version": alloc.version,
        "release": None if release is None else _release_view(release),
        "ledger_changed_since_release": (
            None if release is None else config_hash(rendered) != release.config_hash
        ),
        "deploying": bool(app.get("deployments")),
        "tasks_running": _running_tasks(app),
        "compared": list(fields),
        "differences": [d.as_dict() for d in differences(rendered, running, fields)],
    }


def _unmanaged(
    session: Session, env: Environment, snap: Snapshot, known: set[str]
) -> list[dict[str, Any]]:
    """Apps under the environment's group that no allocation of the cluster accounts for;
    nested groups of other environments are theirs to report."""
    group = _group(env.marathon_group)
    nested = [
        _group(g)
        for g in session.scalars(
            select(Environment.marathon_group).where(
                Environment.cluster_id == env.cluster_id, Environment.id != env.id
            )
        )
        if _group(g) != group and _under(_group(g), group)
    ]
    out = []
    for app in snap.apps:
        if app["id"] in known or not _under(app["id"], group):
            continue
        if any(_under(app["id"], g) for g in nested):
            continue
        d = app["definition"]
        out.append(
            {
                "app_id": app["id"],
                "group": posixpath.dirname(app["id"]),
                "instances": d.get("instances", 1),
                "cpus": d.get("cpus", 1),
                "mem": d.get("mem", 128),
                "disk": d.get("disk", 0),
                "image": image_of(d),
                "tasks_running": _running_tasks(app),
            }
        )
    return out


def environment_drift(ctx: Context, env_name: str, *, refresh: bool = False) -> dict[str, Any]:
    """Every allocation of the environment against its running app, plus what runs unknown.

    A field differs when what berth would send now (rendered with the image of the release
    that runs) is not what Marathon runs: a change made behind berth's back, or a ledger
    change not deployed yet (`ledger_changed_since_release` tells which). Image and env
    are compared only for apps deployed through berth, since only a release records them.
    """
    if refresh:
        cluster = in_transaction(ctx, lambda s: find_environment(s, env_name).cluster.name)
        fresh_snapshot(ctx, cluster, full=False)

    def work(session: Session) -> dict[str, Any]:
        env = find_environment(session, env_name)
        snap = latest_snapshot_row(session, env.cluster_id)
        if snap is None:
            name = env.cluster.name
            raise NotSyncedError(
                f"cluster '{name}' has never been synced, so berth does not know what runs; "
                f"sync it (POST /api/v1/clusters/{name}/sync) or ask with ?refresh=true"
            )
        # the cluster's allocations, read once: this environment's are compared, every
        # environment's tell which running apps are berth's
        on_cluster = session.scalars(
            select(Allocation)
            .join(Service)
            .join(Environment)
            .where(Environment.cluster_id == env.cluster_id)
            .order_by(Service.name)
        ).all()
        allocs = [a for a in on_cluster if a.environment_id == env.id]
        apps = {a["id"]: a for a in snap.apps}
        releases = _releases(session, env.name)
        callees = callees_in(session, env.id)
        drifted, in_sync, missing = [], [], []
        for alloc in allocs:
            name = alloc.service.name
            app = apps.get(app_id(env, name))
            if app is None:
                if alloc.instances > 0:
                    missing.append(
                        {"service": name, "app_id": app_id(env, name), "instances": alloc.instances}
                    )
                else:
                    in_sync.append(name)  # nothing should run, and nothing does
                continue
            entry = _compare(session, alloc, app, releases.get(name, []), callees)
            if entry["differences"]:
                drifted.append(entry)
            else:
                in_sync.append(name)
        known = {app_id(a.environment, a.service.name) for a in on_cluster}
        unmanaged = _unmanaged(session, env, snap, known)
        now = utcnow()
        return {
            "environment": env.name,
            "cluster": env.cluster.name,
            "marathon_group": env.marathon_group,
            "snapshot": {
                "id": snap.id,
                "taken_at": snap.taken_at,
                "confirmed_at": snap.confirmed_at,
                "age_seconds": round((now - snap.confirmed_at).total_seconds(), 3),
                "live": live_view(session, env.cluster_id, now),
            },
            "in_sync": not (drifted or missing or unmanaged),
            "summary": {
                "allocations": len(allocs),
                "in_sync": len(in_sync),
                "drifted": len(drifted),
                "missing": len(missing),
                "unmanaged": len(unmanaged),
            },
            "drifted": drifted,
            "missing": missing,
            "unmanaged": unmanaged,
            "in_sync_services": in_sync,
        }

    return in_transaction(ctx, work)
