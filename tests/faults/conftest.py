"""The simulator fixtures of the integration tests, and the world of the write bursts."""

from __future__ import annotations

from app import create_app
from ledger.clusters import create_cluster
from ledger.environments import create_environment
from ledger.services import create_service
from ledger.tokens import create_token
from tests.integration.conftest import dead_url, quick_timeouts, sim, sim_server  # noqa: F401


def seed_burst(url: str, clients: int, services_each: int) -> str:
    """Cluster 'east' (31000-31999), environment 'production', services svc-{client}-{n}
    with ports http and dubbo, on a migrated database; returns an ops token."""
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "ERROR"})
    ctx = app.extensions["berth"].context()
    cluster = {
        "name": "east",
        "mesos_masters": ["http://m:5050"],
        "marathon_url": "http://m:8080",
        "port_ranges": ["31000-31999"],
    }
    create_cluster(ctx, cluster)
    create_environment(ctx, {"name": "production", "cluster": "east", "marathon_group": "/p"})
    ports = [{"name": "http"}, {"name": "dubbo"}]
    for i in range(clients):
        for n in range(services_each):
            create_service(
                ctx, {"name": f"svc-{i}-{n}", "runtime": "java", "team": "t", "ports": ports}
            )
    token = create_token(ctx, "burst", "ops")
    app.extensions["berth"].engine.dispose()
    return token
