"""Capacity figures for Prometheus, computed at scrape time from the ledger and the latest
snapshot of each cluster, with the very code of the capacity answers (`GET .../capacity`).

A scrape never calls Mesos or Marathon: it reads the latest snapshot as it is and reports
its age, so a stale cluster shows as such instead of slowing every scrape down. Placement
is the costly part; its verdict is kept per cluster and reused while nothing it depends on
(agents, allocations, surge, reservations active now and later) has changed.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.capacity import RESOURCES, Picture, Verdict, judge, picture
from ledger.capacity_report import _report as capacity_answer
from ledger.context import Context, in_transaction
from models import Cluster, Environment

_lock = threading.Lock()
# cluster id → (what the verdict depends on, the verdict without its picture)
_verdicts: dict[int, tuple[str, Verdict]] = {}
placements_run = 0  # how many times a scrape had to place a cluster (tests read it)


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


def placement_key(pic: Picture) -> str:
    """A digest of everything `judge` reads: the agents, every demand, and which sets of
    reservations are active now and later (their times only move the answer's dates)."""
    parts = (
        pic.agents,
        [d for _, d in pic.allocations],
        pic.surge,
        [d for _, d in pic.reservations],
        [sorted(i.active) for i in pic.intervals],
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _verdict(pic: Picture) -> Verdict:
    global placements_run
    key = placement_key(pic)
    with _lock:
        kept = _verdicts.get(pic.cluster.id)
    if kept is not None and kept[0] == key:
        return replace(kept[1], picture=pic)
    verdict = judge(pic)
    with _lock:
        placements_run += 1
        _verdicts[pic.cluster.id] = (key, verdict)
    return verdict


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
            verdict = _verdict(pic)
            figures.append(_figures(capacity_answer(pic, verdict, None)))
            envs = session.scalars(
                select(Environment.name)
                .where(Environment.cluster_id == cluster.id)
                .order_by(Environment.name)
            )
            figures += [_figures(capacity_answer(pic, verdict, env)) for env in envs]
        with _lock:  # forget deleted clusters
            live = {c for c in session.scalars(select(Cluster.id))}
            for gone in set(_verdicts) - live:
                del _verdicts[gone]
        return figures, unsynced

    return in_transaction(ctx, work)
