"""Capacity figures for Prometheus, computed at scrape time from the ledger and the latest
snapshot of each cluster, with the very code of the capacity answers (`GET .../capacity`).

A scrape never calls Mesos or Marathon: it reads the latest snapshot as it is and reports
its age, so a stale cluster shows as such instead of slowing every scrape down. Placement
is the costly part: it comes from the cluster's standing placement (ledger/standing.py),
which follows every write and is judged at most once per change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from allocator.verdict import LEVELS
from ledger.capacity import RESOURCES, picture
from ledger.capacity_report import capacity_answer
from ledger.context import Context, in_transaction
from ledger.snapshots import live_view
from ledger.standing import verdict_of
from models import Cluster, Environment
from models.base import utcnow

__all__ = ["LEVELS", "Figures", "capacity_figures"]


@dataclass(frozen=True)
class Figures:
    """One scope's capacity: resources as {cpus, mem (MiB), disk (MiB)}."""

    cluster: str
    environment: str | None
    totals: dict[str, float]
    allocated: dict[str, float]
    reserved: dict[str, float]  # active now
    free: dict[str, float]
    unplaceable: int
    snapshot_age_seconds: float
    level: str = "fits"  # the verdict's level (allocator.verdict)
    moves: int = 0  # running tasks the packing needs moved first
    last_event_age_seconds: float | None = None  # the watcher's last event applied
    watching: bool = False


def _figures(answer: dict[str, Any]) -> Figures:
    return Figures(
        cluster=answer["cluster"],
        environment=answer["environment"],
        totals=answer["totals"],
        allocated=answer["allocated"],
        reserved={r: answer["reserved"]["now"][r] for r in RESOURCES},
        free=answer["free"],
        unplaceable=len(answer["unplaceable"]),
        snapshot_age_seconds=answer["snapshot"]["age_seconds"],
        level=answer.get("level", "fits"),
        moves=len(answer.get("moves", ())),
    )


def capacity_figures(ctx: Context) -> tuple[list[Figures], list[str]]:
    """Figures per synced cluster (environment None) and per environment; and the names of
    the clusters never synced, which have no figures yet."""

    def work(session: Session) -> tuple[list[Figures], list[str]]:
        figures, unsynced = [], []
        for cluster in session.scalars(select(Cluster).order_by(Cluster.name)):
            pic = picture(session, cluster)
            if pic.snapshot is None:
                unsynced.append(cluster.name)
                continue
            verdict = verdict_of(session, pic, ctx.settings.fit_budget)
            live = live_view(session, cluster.id, utcnow())
            figures.append(
                replace(
                    _figures(capacity_answer(pic, verdict, None)),
                    last_event_age_seconds=live["last_event_age_seconds"],
                    watching=live["watching"],
                )
            )
            envs = session.scalars(
                select(Environment.name)
                .where(Environment.cluster_id == cluster.id)
                .order_by(Environment.name)
            )
            figures += [_figures(capacity_answer(pic, verdict, env)) for env in envs]
        return figures, unsynced

    return in_transaction(ctx, work)
