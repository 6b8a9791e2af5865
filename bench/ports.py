"""Time per allocation into an empty cluster and into one holding 20,000 ports, on PostgreSQL.

Both clusters live in one database and the allocations alternate between them, so the
ratio is measured under the same noise. The target: full / empty <= 2, i.e. the free-port
search does not scan the ports already held.

    make bench            # or: .venv/bin/python -m bench.ports [--held 20000] [--samples 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, upgrade_database
from ledger.allocations import put_allocation
from ledger.clusters import create_cluster
from ledger.environments import create_environment
from ledger.services import create_service

SERVER = os.environ.get(
    "BERTH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RANGE = "10000-39999"


def _fill(url: str, held: int) -> None:
    """Hold `held` ports, densely from the bottom of the range, as 100 services x N environments."""
    per_env = 100
    envs = (held + per_env - 1) // per_env
    engine = create_engine(url)
    with engine.begin() as conn:
        cluster_id = conn.execute(text("SELECT id FROM clusters WHERE name = 'full'")).scalar_one()
        now = "now()"
        conn.execute(
            text(
                "INSERT INTO services (name, runtime, team, tags, description,"
                " created_at, updated_at)"
                f" SELECT 'filler-' || g, 'java', 'bench', '[]', '', {now}, {now}"
                f" FROM generate_series(1, {per_env}) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO service_ports (service_id, name, protocol, position)"
                " SELECT id, 'http', 'tcp', 0 FROM services WHERE name LIKE 'filler-%'"
            )
        )
        conn.execute(
            text(
                "INSERT INTO environments (name, cluster_id, marathon_group, headroom,"
                " defaults,"
                " description, created_at, updated_at)"
                f" SELECT 'filler-' || g, {cluster_id}, '/filler-' || g, 0, '{{}}', '',"
                f" {now}, {now}"
                f" FROM generate_series(1, {envs}) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO allocations (environment_id, service_id, cpus, mem, disk, instances,"
                " network, constraints, minimum_health_capacity, maximum_over_capacity,"
                " overrides,"
                " version, created_at, updated_at, updated_by)"
                " SELECT e.id, s.id, 0.1, 64, 0, 1, 'host', '[]', 1, 1, '{}', 1,"
                " now(), now(), 'bench'"
                " FROM environments e CROSS JOIN services s"
                " WHERE e.name LIKE 'filler-%' AND s.name LIKE 'filler-%'"
                f" ORDER BY e.id, s.id LIMIT {held}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO port_assignments (cluster_id, port, allocation_id, port_name,"
                " environment, service, assigned_at)"
                f" SELECT {cluster_id}, 9999 + row_number() OVER (ORDER BY a.id), a.id, 'http',"
                " e.name, s.name, now() FROM allocations a"
                " JOIN environments e ON e.id = a.environment_id"
                " JOIN services s ON s.id = a.service_id WHERE e.name LIKE 'filler-%'"
            )
        )
        conn.execute(
            text(
                "INSERT INTO port_blocks (cluster_id, block, used)"
                f" SELECT {cluster_id}, port / 256, count(*) FROM port_assignments"
                f" WHERE cluster_id = {cluster_id} GROUP BY port / 256"
            )
        )
        count = conn.execute(
            text(f"SELECT count(*) FROM port_assignments WHERE cluster_id = {cluster_id}")
        ).scalar_one()
    engine.dispose()
    assert count == held, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()

    name = f"berth_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_database(url)
        app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        ctx = app.extensions["berth"].context(actor="bench")
        for cluster in ("empty", "full"):
            create_cluster(
                ctx,
                {
                    "name": cluster,
                    "mesos_masters": ["http://m:5050"],
                    "marathon_url": "http://m:8080",
                    "port_ranges": [RANGE],
                },
            )
            create_environment(
                ctx,
                {"name": f"bench-{cluster}", "cluster": cluster, "marathon_group": f"/{cluster}"},
            )
        _fill(url, args.held)
        for i in range(args.samples):
            create_service(
                ctx,
                {
                    "name": f"bench-{i}",
                    "runtime": "java",
                    "team": "bench",
                    "ports": [{"name": "http"}],
                },
            )
        timings: dict[str, list[float]] = {"empty": [], "full": []}
        body = {"cpus": 0.5, "mem": 512}
        for i in range(args.samples):
            for cluster in ("empty", "full") if i % 2 else ("full", "empty"):
                start = time.perf_counter()
                result = put_allocation(ctx, f"bench-{cluster}", f"bench-{i}", body)
                timings[cluster].append(time.perf_counter() - start)
                assert result.created
        expected_full = 10000 + args.held + args.samples - 1
        last = put_allocation(ctx, "bench-full", f"bench-{args.samples - 1}", body).allocation
        assert last["ports"]["http"] == expected_full, last["ports"]

        med = {k: statistics.median(v) * 1000 for k, v in timings.items()}
        p90 = {k: statistics.quantiles(v, n=10)[-1] * 1000 for k, v in timings.items()}
        print(
            f"bench.ports on PostgreSQL, {platform.machine()}, {os.cpu_count()} cores, "
            f"{args.samples} allocations per cluster, alternating"
        )
        print(f"{'cluster':<28}{'median ms':>10}{'p90 ms':>10}")
        print(f"{'empty (0 ports held)':<28}{med['empty']:>10.2f}{p90['empty']:>10.2f}")
        print(f"{f'full ({args.held:,} ports held)':<28}{med['full']:>10.2f}{p90['full']:>10.2f}")
        ratio = med["full"] / med["empty"]
        print(f"ratio full/empty (median): {ratio:.2f}  (target <= 2)")
        figures = {"median_empty_ms": med["empty"], "median_full_ms": med["full"], "ratio": ratio}
        rounded = {k: round(v, 2) for k, v in figures.items()}
        print(json.dumps({"bench": "ports", "held": args.held, **rounded, "target": "<= 2"}))
        app.extensions["berth"].engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
