"""The demo data of the embedded default: one cluster, three environments, 120 services."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select

from ledger.allocations import put_allocation
from ledger.clusters import create_cluster
from ledger.context import Context, in_transaction
from ledger.environments import create_environment
from ledger.services import create_service
from models import Cluster

DEMO_CLUSTER = "demo"
_DOMAINS = [
    "order",
    "cart",
    "checkout",
    "payment",
    "refund",
    "invoice",
    "user",
    "account",
    "login",
    "profile",
    "search",
    "catalog",
    "product",
    "price",
    "promotion",
    "coupon",
    "inventory",
    "warehouse",
    "shipping",
    "delivery",
    "review",
    "rating",
    "message",
    "notification",
    "mail",
    "sms",
    "report",
    "analytics",
    "recommend",
    "member",
]
_KINDS = ["service", "api", "worker", "admin"]
_TEAMS = ["storefront", "orders", "payments", "identity", "search", "logistics", "growth"]


def _services() -> list[dict[str, Any]]:
    rng = random.Random(20261127)
    specs: list[dict[str, Any]] = []
    for i, (domain, kind) in enumerate((d, k) for k in _KINDS for d in _DOMAINS):
        runtime = rng.choices(["java", "node", "python"], weights=[6, 3, 1])[0]
        ports = [{"name": "http"}]
        if runtime == "java" and kind in ("service", "worker"):
            ports.append({"name": "dubbo"})
        earlier = [s["name"] for s in specs]
        calls = sorted(set(rng.sample(earlier, k=min(len(earlier), rng.randint(0, 3)))))
        specs.append(
            {
                "name": f"{domain}-{kind}",
                "runtime": runtime,
                "team": _TEAMS[i % len(_TEAMS)],
                "tags": ["dubbo"] if len(ports) == 2 else [],
                "ports": ports,
                "health_check": {
                    "port": "http",
                    "path": "/actuator/health" if runtime == "java" else "/health",
                },
                "calls": [{"service": c} for c in calls],
                "description": f"{kind} of the {domain} domain",
            }
        )
    return specs


def load_demo(ctx: Context) -> str:
    """Create the demo data unless it is already there; returns a one-line summary."""
    exists = in_transaction(
        ctx, lambda s: s.scalar(select(Cluster.id).where(Cluster.name == DEMO_CLUSTER))
    )
    if exists:
        return "demo data already loaded"
    create_cluster(
        ctx,
        {
            "name": DEMO_CLUSTER,
            "mesos_masters": ["http://127.0.0.1:5050"],
            "marathon_url": "http://127.0.0.1:8080",
            "port_ranges": ["31000-32000"],
            "description": "the simulated 20-agent cluster of the embedded default",
        },
    )
    envs = {
        "test": ("/test", 0.0, 1),
        "integration": ("/integration", 0.0, 1),
        "production": ("/prod", 0.1, 3),
    }
    for name, (group, headroom, _) in envs.items():
        create_environment(
            ctx,
            {"name": name, "cluster": DEMO_CLUSTER, "marathon_group": group, "headroom": headroom},
        )
    rng = random.Random(7)
    specs = _services()
    for spec in specs:
        create_service(ctx, spec)
    count = 0
    for spec in specs:
        java = spec["runtime"] == "java"
        mem = rng.choice([1024, 1536, 2048]) if java else rng.choice([256, 512])
        cpus = rng.choice([0.5, 1.0]) if java else rng.choice([0.25, 0.5])
        for env, (_, _, scale) in envs.items():
            data = {
                "cpus": cpus,
                "mem": mem,
                "disk": 0,
                "instances": scale if env == "production" else 1,
                "network": "host" if "dubbo" in spec["tags"] else rng.choice(["host", "bridge"]),
                "constraints": [["hostname", "UNIQUE"]] if env == "production" else [],
            }
            put_allocation(ctx, env, spec["name"], data)
            count += 1
    return (
        f"demo data loaded: 1 cluster, {len(envs)} environments, {len(specs)} services, "
        f"{count} allocations"
    )
