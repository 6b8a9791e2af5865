"""A service across its environments, for its page: the ledger's allocations beside what
runs in each cluster's latest snapshot, and its last deployments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.capacity import app_id
from ledger.context import Context, in_transaction
from ledger.deployments import deployment_view
from ledger.services import find_service
from ledger.snapshots import latest_snapshot_row
from ledger.views import allocation_view, service_view
from marathon.apps import image_of
from models import Allocation, Deployment, Environment


def service_sheet(ctx: Context, name: str) -> dict[str, Any]:
    """A service across its environments: what the ledger allocates, what runs (image,
    tasks) in the latest snapshot of each cluster, and its last deployments."""

    def work(session: Session) -> dict[str, Any]:
        service = find_service(session, name)
        allocations = session.scalars(
            select(Allocation)
            .join(Environment)
            .where(Allocation.service_id == service.id)
            .order_by(Environment.name)
        ).all()
        lines = []
        snapshots: dict[int, Any] = {}
        for alloc in allocations:
            cluster = alloc.environment.cluster
            if cluster.id not in snapshots:
                snapshots[cluster.id] = latest_snapshot_row(session, cluster.id)
            snap = snapshots[cluster.id]
            running = None
            if snap is not None:
                wanted = app_id(alloc.environment, service.name)
                app = next((a for a in snap.apps if a["id"] == wanted), None)
                running = {
                    "app_id": wanted,
                    "found": app is not None,
                    "image": image_of(app["definition"]) if app else None,
                    "tasks": len(app["tasks"]) if app else 0,
                    "cpus": app["definition"].get("cpus") if app else None,
                    "mem": app["definition"].get("mem") if app else None,
                    "snapshot_confirmed_at": snap.confirmed_at,
                }
            lines.append({"allocation": allocation_view(alloc), "running": running})
        deployments = session.scalars(
            select(Deployment)
            .where(Deployment.service == service.name)
            .order_by(Deployment.id.desc())
            .limit(10)
        )
        return {
            "service": service_view(service),
            "environments": lines,
            "deployments": [deployment_view(d) for d in deployments],
        }

    return in_transaction(ctx, work)
