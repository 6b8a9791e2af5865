"""What a fit-checked write costs as the cluster grows: small and large cluster, one run.

Two clusters in one PostgreSQL database, each synced from its own simulator (a
subprocess): "small", 100 services on 20 agents, and "large", 5,000 services on 1,000
agents, both sized like bench.placement_speed (3 instances, 1-2 host ports and UNIQUE
hostname each; agents of 8, 16 and 32 cpus offering [31000-38999]). Then PUTs of
allocations whose change fits what the standing placement leaves (memory up by 64 MiB,
then back), interleaved small, large, small, ..., in-process through the Flask test
client: the path of a request, the standing placement kept by this process. Printed: p50
and p90 per cluster, the ratio of the p50s (target <= 2) and the large p50 (target
<= 50 ms); and, for comparison, the cost of placing the large cluster afresh (what every
write paid before the standing placement: `picture()` and `place()`).

    .venv/bin/python -m bench.write_cost [--writes 200] [--services 5000] [--agents 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

from flask import Flask

from allocator.placement import place
from app import create_app
from bench.placement_speed import EXECUTOR, allocations
from bench.plans_api import PORTS, fresh_database, start_simulator
from ledger.allocations import write_allocation
from ledger.capacity import picture
from ledger.clusters import create_cluster, find_cluster
from ledger.context import Context, in_transaction
from ledger.environments import create_environment
from ledger.services import add_service
from ledger.sync import sync_cluster
from ledger.tokens import create_token

DATABASE = "bench_write_cost"
BATCH = 500


def allocation_body(d: Any, more_mem: int = 0) -> dict[str, Any]:
    """The PUT body of a generated demand, with `more_mem` MiB more."""
    return {
        "cpus": round(d.cpus - EXECUTOR[0], 6),
        "mem": int(d.mem - EXECUTOR[1]) + more_mem,
        "disk": int(d.disk),
        "instances": d.count,
        "constraints": [list(c[:2]) for c in d.constraints],
        "upgrade_strategy": {"minimum_health_capacity": 0.5, "maximum_over_capacity": 0.2},
    }


def seed_clusters(
    app: Flask, services: int, clusters: dict[str, tuple[str, int]], env: str | None = None
) -> dict[str, Any]:
    """The services, then per cluster (name → simulator URL, allocations) its environment
    (named `env`, else like the cluster) and allocations, unchecked, then a sync; the
    demands, and an ops token."""
    ctx: Context = app.extensions["berth"].context(actor="bench")
    demands = allocations(services, PORTS, constraints=True)
    names = ("http", "dubbo")
    specs = [
        {
            "name": d.key.split("/")[0],
            "runtime": "java",
            "team": "t",
            "ports": [{"name": p} for p in names[: len(d.ports)]],
        }
        for d in demands
    ]
    for at in range(0, len(specs), BATCH):
        batch = specs[at : at + BATCH]
        in_transaction(ctx, lambda session, b=batch: [add_service(ctx, session, s) for s in b])
    for name, (sim_url, n) in clusters.items():
        create_cluster(
            ctx,
            {
                "name": name,
                "mesos_masters": [sim_url],
                "marathon_url": sim_url,
                "port_ranges": [f"{PORTS[0]}-{PORTS[1]}"],
            },
        )
        where = env or name
        create_environment(ctx, {"name": where, "cluster": name, "marathon_group": f"/{where}"})
        for at in range(0, n, BATCH):
            batch = demands[at : min(at + BATCH, n)]
            in_transaction(
                ctx,
                lambda session, b=batch, env=where: [
                    write_allocation(
                        ctx, session, env, d.key.split("/")[0], allocation_body(d), check_fit=False
                    )
                    for d in b
                ],
            )
        sync_cluster(ctx, name)
    return {"demands": demands, "token": create_token(ctx, "bench-write-cost", "ops")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=200, help="PUTs per cluster")
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--small-services", type=int, default=100)
    parser.add_argument("--small-agents", type=int, default=20)
    args = parser.parse_args()
    large_sim, large_url = start_simulator(args.agents, seed=91)
    small_sim, small_url = start_simulator(args.small_agents, seed=92)
    try:
        url = fresh_database(DATABASE)
        app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        start = time.perf_counter()
        seeded = seed_clusters(
            app,
            args.services,
            {"small": (small_url, args.small_services), "large": (large_url, args.services)},
        )
        seeding = time.perf_counter() - start
        client = app.test_client()
        headers = {"Authorization": f"Bearer {seeded['token']}"}
        demands = seeded["demands"]

        def put(env: str, i: int, more: int) -> tuple[float, int, dict[str, Any]]:
            d = demands[i]
            url = f"/api/v1/environments/{env}/allocations/{d.key.split('/')[0]}"
            began = time.perf_counter()
            r = client.put(url, json=allocation_body(d, more), headers=headers)
            return time.perf_counter() - began, r.status_code, r.get_json()

        # the first write of each cluster makes its standing placement: not what is measured
        first = {env: put(env, 0, 64)[0] for env in ("small", "large")}
        times: dict[str, list[float]] = {"small": [], "large": []}
        levels: dict[str, dict[str, int]] = {"small": {}, "large": {}}
        for w in range(args.writes):
            for env, n in (("small", args.small_services), ("large", args.services)):
                i = 1 + (w // 2) % (n - 1)
                took, status, body = put(env, i, 64 if w % 2 == 0 else 0)
                times[env].append(took)
                level = (body.get("fit") or {}).get("level", f"http {status}")
                levels[env][level] = levels[env].get(level, 0) + 1
        # what every write paid before: the cluster's picture and a full placement
        with app.app_context():
            ctx: Context = app.extensions["berth"].context()

            def afresh(session: Any) -> float:
                began = time.perf_counter()
                pic = picture(session, find_cluster(session, "large"))
                place(list(pic.agents), [d for _, d in pic.allocations])
                return time.perf_counter() - began

            full = in_transaction(ctx, afresh)
        p50 = {env: statistics.median(t) * 1000 for env, t in times.items()}
        p90 = {env: sorted(t)[int(0.9 * len(t))] * 1000 for env, t in times.items()}
        ratio = p50["large"] / p50["small"]
        print(
            f"bench.write_cost: PostgreSQL, in-process (Flask test client), "
            f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
            f"seeding {seeding:.0f} s"
        )
        print(f"{'cluster':<8}{'services':>9}{'agents':>8}{'p50 ms':>9}{'p90 ms':>9}  levels")
        for env, services, agents in (
            ("small", args.small_services, args.small_agents),
            ("large", args.services, args.agents),
        ):
            print(
                f"{env:<8}{services:>9}{agents:>8}{p50[env]:>9.1f}{p90[env]:>9.1f}  {levels[env]}"
            )
        print(
            f"ratio large/small (p50): {ratio:.2f} (target <= 2); large p50 {p50['large']:.1f} ms "
            f"(target <= 50); first write (makes the standing placement): small "
            f"{first['small'] * 1000:.0f} ms, large {first['large'] * 1000:.0f} ms; placing the "
            f"large cluster afresh: {full * 1000:.0f} ms"
        )
        print(
            json.dumps(
                {
                    "bench": "write_cost",
                    "writes": args.writes,
                    "p50_small_ms": round(p50["small"], 1),
                    "p50_large_ms": round(p50["large"], 1),
                    "p90_large_ms": round(p90["large"], 1),
                    "ratio": round(ratio, 2),
                    "afresh_ms": round(full * 1000),
                }
            )
        )
    finally:
        large_sim.terminate()
        small_sim.terminate()


if __name__ == "__main__":
    main()
