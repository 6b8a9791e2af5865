"""The demo of the embedded default: two simulated clusters, imported the way a real one would be.

`make run` starts the simulator (about 20 agents in all, 120 services per environment) and
then this fills the ledger through the import path itself, so the demo shows what a team
sees on its first day with berth.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import requests
from sqlalchemy import select

from ledger.clusters import create_cluster
from ledger.context import Context, in_transaction
from ledger.environments import create_environment
from ledger.importer import import_marathon
from ledger.sync import sync_cluster
from ledger.usage import UsageSampler
from models import Cluster, Environment
from models.usage import UsageMinute

# cluster name → (URL of its simulator, [(environment, Marathon group, headroom)])
DEMO = {
    "nonprod": (
        os.environ.get("BERTH_DEMO_NONPROD_URL", "http://127.0.0.1:5051"),
        [("test", "/test", 0.0), ("integration", "/integration", 0.0)],
    ),
    "prod": (
        os.environ.get("BERTH_DEMO_PROD_URL", "http://127.0.0.1:5050"),
        [("production", "/prod", 0.1)],
    ),
}


def _exists(ctx: Context, model: type[Cluster] | type[Environment], name: str) -> bool:
    return bool(in_transaction(ctx, lambda s: s.scalar(select(model.id).where(model.name == name))))


def load_demo(ctx: Context) -> str:
    """Create the demo clusters and environments (once), import their apps, sync them."""
    lines = []
    for cluster, (url, envs) in DEMO.items():
        if not _exists(ctx, Cluster, cluster):
            create_cluster(
                ctx,
                {
                    "name": cluster,
                    "mesos_masters": [url],
                    "marathon_url": url,
                    "port_ranges": ["31000-32000"],
                    "description": f"simulated cluster at {url}",
                },
            )
        for env, group, headroom in envs:
            if not _exists(ctx, Environment, env):
                create_environment(
                    ctx,
                    {
                        "name": env,
                        "cluster": cluster,
                        "marathon_group": group,
                        "headroom": headroom,
                    },
                )
            report = import_marathon(ctx, cluster, env)
            lines.append(
                f"{group} -> {env}: {report.apps} apps, {len(report.allocations_created)} "
                f"allocations created, {len(report.conflicts)} conflicts"
            )
        snap = sync_cluster(ctx, cluster)
        lines.append(f"{cluster}: {snap['agent_count']} agents, {snap['task_count']} tasks")
    return "\n".join(lines)


def usage_history(ctx: Context, hours: float, every_minutes: int = 5) -> str:
    """Sample the demo's usage over the past `hours`, so that recommendations and
    right-sizing have something to say the moment the demo starts.

    The demo's simulators start with their clocks that far behind (`--clock-behind`); each
    round here samples every agent, then moves the simulator's clock on by `every_minutes`
    (`PUT /_sim/clock`) until it is the wall clock's time again. On a later start, when the
    ledger holds usage already, the clocks are only brought up to now.
    """
    lines = []
    has_usage = in_transaction(
        ctx, lambda s: s.scalar(select(UsageMinute.allocation_id).limit(1)) is not None
    )
    for cluster, (url, _) in DEMO.items():
        sampler = None if has_usage or hours <= 0 else UsageSampler(ctx, cluster)
        rounds = 0
        while True:
            at = float(requests.get(f"{url}/_sim/clock", timeout=10).json()["epoch"])
            if sampler is not None:
                sampler.sample(datetime.fromtimestamp(at, UTC))
                rounds += 1
            behind = time.time() - at
            if behind <= 1:
                break
            step = min(behind, every_minutes * 60.0) if sampler is not None else behind
            requests.put(f"{url}/_sim/clock", json={"advance_seconds": step}, timeout=60)
        if sampler is not None:
            sampler.close()
            lines.append(f"{cluster}: {rounds} rounds of usage history sampled")
    return "\n".join(lines)
