"""The demo of the embedded default: two simulated clusters, imported the way a real one would be.

`make run` starts the simulator (about 20 agents in all, 120 services per environment) and
then this fills the ledger through the import path itself, so the demo shows what a team
sees on its first day with berth.
"""

from __future__ import annotations

import os

from sqlalchemy import select

from ledger.clusters import create_cluster
from ledger.context import Context, in_transaction
from ledger.environments import create_environment
from ledger.importer import import_marathon
from ledger.sync import sync_cluster
from models import Cluster, Environment

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
