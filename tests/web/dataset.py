"""A small shop for the report and page tests: one simulated cluster of four agents running
the first services of the demo, imported into the ledger the way a real cluster would be."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from ledger.importer import import_marathon
from ledger.sync import sync_cluster
from models.base import utcnow
from simulator import Simulator
from simulator.demo import definitions

SERVICES = 16  # the first four domains of the demo: order, cart, payment, inventory
GROWN = "order-service"  # allocated bigger in the ledger than what runs


def shop_simulator() -> Simulator:
    sim = Simulator(agents=0, seed=11)
    for rack in ("r1", "r1", "r2", "r2"):
        sim.add_agent(cpus=16, mem=32768, disk=100000, attributes={"rack": rack})
    for definition in definitions(sim, ["/prod"], seed=11)[:SERVICES]:
        sim.create_app(definition)
    return sim


def load_shop(app: Flask, admin: Any, ops: Any, url: str) -> dict[str, Any]:
    """Cluster 'shop', environment 'production', the services imported and synced; one
    allocation grown past what runs and one reservation starting in three days."""
    cluster = {
        "name": "shop",
        "mesos_masters": [url],
        "marathon_url": url,
        "port_ranges": ["31000-32000"],
    }
    assert admin.post("/api/v1/clusters", json=cluster).status_code == 201
    env = {"name": "production", "cluster": "shop", "marathon_group": "/prod", "headroom": 0.1}
    assert admin.post("/api/v1/environments", json=env).status_code == 201
    ctx = app.extensions["berth"].context(actor="test")
    import_marathon(ctx, "shop", "production")
    sync_cluster(ctx, "shop")
    current = ops.get(f"/api/v1/environments/production/allocations/{GROWN}").get_json()
    body = {
        k: current[k]
        for k in ("cpus", "disk", "instances", "network", "constraints", "upgrade_strategy")
    }
    body["cpus"] = current["cpus"] * 2
    body["mem"] = current["mem"] * 2
    grown = ops.put(f"/api/v1/environments/production/allocations/{GROWN}", json=body)
    assert grown.status_code == 200, grown.get_json()
    start = utcnow().replace(microsecond=0) + timedelta(days=3)
    reservation = {
        "environment": "production",
        "count": 4,
        "cpus": 1,
        "mem": 2048,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=2)).isoformat(),
        "reason": "promotion <b>&</b>",
    }
    made = ops.post("/api/v1/reservations", json=reservation)
    assert made.status_code == 201, made.get_json()
    return {"reservation": made.get_json(), "before": current}
