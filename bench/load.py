"""A bounded load run: reads, renders and fit-checked writes from many clients, then a check.

berth under gunicorn (4 workers) on PostgreSQL, one simulated cluster of 1,000 agents
holding 5,000 allocations (bench.write_cost's, synced, so every write is fit-checked on
its agents), and 32 concurrent clients on loopback:

1. the mix, for `--seconds`: reads of allocations and host ports, the pipeline's render
   (GET …/marathon?image=), PUTs that change an existing allocation (memory up or down by
   64 MiB), PUTs of new allocations (new host ports) and DELETEs of some of them;
2. writes alone, for `--write-seconds`: every client PUTs changes of existing allocations
   of the one cluster, as fast as berth takes them: fit-checked writes per second
   (target >= 100).

Afterwards the database is checked: no 5xx, no port held twice, the cluster still fits (the
capacity answer on the final state), and every acknowledged write is there as answered
(and every acknowledged delete gone).

    make load          # or: .venv/bin/python -m bench.load [--seconds 60] [--clients 32]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import signal
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, upgrade_database
from bench.plans_api import start_simulator
from bench.servers import free_port, start_gunicorn
from bench.write_cost import allocation_body, seed_clusters
from ledger.context import in_transaction
from ledger.environments import create_environment
from ledger.services import add_service
from ledger.tokens import create_token

SERVER = os.environ.get(
    "BERTH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("production", "test")
SEEDED = 40  # the allocations of production that reads and renders ask for
WRITABLE = 400  # services per client process that writes may allocate (in test)
IMAGE = "registry.local/shop/{}:1.4.2"
# (route, weight): the mix of one client
MIX = [
    ("read", 30),
    ("list", 1),
    ("ports", 1),
    ("render", 25),
    ("change", 26),
    ("put", 10),
    ("delete", 5),
]
WRITES = ("change", "put")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _thread(
    base: str,
    token: str,
    proc: int,
    index: int,
    threads: int,
    end: float,
    out: list[Any],
    mix: list[tuple[str, int]],
    changes: list[tuple[str, dict[str, Any]]],
) -> None:
    """One client: its own session, its own share of the writable services."""
    rng = random.Random(proc * 1000 + index)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    mine = [f"load-{proc}-{n}" for n in range(index, WRITABLE, threads)]
    fresh = [(ENVIRONMENTS[1], svc) for svc in mine]
    rng.shuffle(fresh)
    held: list[tuple[str, str]] = []
    routes, weights = zip(*mix, strict=True)
    while time.monotonic() < end:
        route = rng.choices(routes, weights)[0]
        env = ENVIRONMENTS[0]
        seeded = changes[rng.randrange(SEEDED)][0]
        if route == "put" and not fresh:
            route = "read"
        if route == "delete" and not held:
            route = "read"
        started = time.perf_counter()
        record: dict[str, Any] = {"route": route}
        if route == "read":
            r = session.get(f"{base}/environments/{env}/allocations/{seeded}", timeout=60)
        elif route == "list":
            r = session.get(f"{base}/environments/{env}/allocations", timeout=60)
        elif route == "ports":
            r = session.get(f"{base}/clusters/east/ports", timeout=60)
        elif route == "render":
            r = session.get(
                f"{base}/environments/{env}/allocations/{seeded}/marathon",
                params={"image": IMAGE.format(seeded)},
                timeout=60,
            )
        elif route == "change":
            name, body = changes[rng.randrange(len(changes))]
            body = {**body, "mem": body["mem"] + rng.choice((0, 64))}
            r = session.put(f"{base}/environments/{env}/allocations/{name}", json=body, timeout=60)
        elif route == "put":
            env, svc = fresh.pop()
            r = session.put(
                f"{base}/environments/{env}/allocations/{svc}",
                json={"cpus": 0.1, "mem": 64, "instances": rng.choice([1, 2])},
                timeout=60,
            )
            record["key"] = (env, svc)
            if r.status_code in (200, 201):
                held.append((env, svc))
                record["ports"] = r.json()["ports"]
        else:
            env, svc = held.pop(rng.randrange(len(held)))
            r = session.delete(f"{base}/environments/{env}/allocations/{svc}", timeout=60)
            record["key"] = (env, svc)
        record["ms"] = (time.perf_counter() - started) * 1000
        record["status"] = r.status_code
        if r.status_code >= 500:
            record["body"] = r.text[:300]
        out.append(record)


def _client_process(
    base: str,
    token: str,
    proc: int,
    threads: int,
    seconds: float,
    queue: Any,
    mix: list[tuple[str, int]],
    changes: list[tuple[str, dict[str, Any]]],
) -> None:
    out: list[Any] = []
    end = time.monotonic() + seconds
    workers = [
        threading.Thread(
            target=_thread, args=(base, token, proc, i, threads, end, out, mix, changes)
        )
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put(out)


def _seed(
    url: str, sim_url: str, processes: int, services: int
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """bench.write_cost's allocations in production, an empty test environment, the
    services that new allocations go to; an ops token and the body of each allocation."""
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    ctx = app.extensions["berth"].context(actor="bench")
    seeded = seed_clusters(app, services, {"east": (sim_url, services)}, env="production")
    create_environment(ctx, {"name": "test", "cluster": "east", "marathon_group": "/test"})
    ports = [{"name": "http"}, {"name": "dubbo"}]
    batch = [
        {"name": f"load-{p}-{n}", "runtime": "node", "team": "t", "ports": ports}
        for p in range(processes)
        for n in range(WRITABLE)
    ]
    in_transaction(ctx, lambda session: [add_service(ctx, session, d) for d in batch])
    token = create_token(ctx, "load", "ops")
    app.extensions["berth"].engine.dispose()
    changes = [(d.key.split("/")[0], allocation_body(d)) for d in seeded["demands"]]
    return token, changes


def _check(url: str, base: str, token: str, records: list[dict[str, Any]]) -> list[str]:
    """What must hold after the run; returns the problems found."""
    problems = []
    errors = [r for r in records if r["status"] >= 500]
    if errors:
        problems.append(f"{len(errors)} answers were 5xx, e.g. {errors[0]}")
    # the final state each client believes in, in the order it acted
    expected: dict[tuple[str, str], dict[str, int] | None] = {}
    for r in records:
        if r["route"] == "put" and r["status"] in (200, 201):
            expected[r["key"]] = r["ports"]
        elif r["route"] == "delete" and r["status"] == 204:
            expected[r["key"]] = None
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.name, s.name, a.port_name, a.port FROM port_assignments a "
                "JOIN allocations al ON al.id = a.allocation_id "
                "JOIN environments e ON e.id = al.environment_id "
                "JOIN services s ON s.id = al.service_id"
            )
        ).all()
        duplicates = conn.execute(
            text("SELECT cluster_id, port FROM port_assignments GROUP BY 1, 2 HAVING count(*) > 1")
        ).all()
    engine.dispose()
    if duplicates:
        problems.append(f"ports held twice: {duplicates[:5]}")
    saved: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for env, svc, name, port in rows:
        saved[(env, svc)][name] = port
    for key, ports in expected.items():
        if ports is None and key in saved:
            problems.append(f"{key} was deleted (204) but is still there")
        elif ports is not None and saved.get(key) != ports:
            problems.append(f"{key} answered {ports} but the database holds {saved.get(key)}")
    capacity = requests.get(
        f"{base}/clusters/east/capacity", headers={"Authorization": f"Bearer {token}"}, timeout=120
    ).json()
    if not capacity.get("fits") and capacity.get("unplaceable"):
        problems.append(f"the cluster is over-committed: {capacity['unplaceable'][:3]}")
    return problems


def _run(
    base: str,
    token: str,
    processes: int,
    threads: int,
    seconds: float,
    mix: list[tuple[str, int]],
    changes: list[tuple[str, dict[str, Any]]],
) -> tuple[list[dict[str, Any]], float]:
    queue: Any = mp.Queue()
    procs = [
        mp.Process(
            target=_client_process,
            args=(base, token, p, threads, seconds, queue, mix, changes),
        )
        for p in range(processes)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    records = [r for _ in procs for r in queue.get(timeout=seconds + 300)]
    for p in procs:
        p.join()
    return records, time.monotonic() - started


def _table(records: list[dict[str, Any]], elapsed: float, mix: list[tuple[str, int]]) -> dict:
    print(f"{'route':<8}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    routes: dict[str, Any] = {}
    for route, _ in mix:
        mine = [r for r in records if r["route"] == route]
        ms = [r["ms"] for r in mine]
        statuses: dict[int, int] = defaultdict(int)
        for r in mine:
            statuses[r["status"]] += 1
        routes[route] = {
            "requests": len(mine),
            "rps": len(mine) / elapsed,
            "p50_ms": _percentile(ms, 0.5),
            "p99_ms": _percentile(ms, 0.99),
            "statuses": dict(sorted(statuses.items())),
        }
        f = routes[route]
        print(
            f"{route:<8}{f['requests']:>10}{f['rps']:>9.1f}{f['p50_ms']:>9.1f}"
            f"{f['p99_ms']:>9.1f}  {f['statuses']}"
        )
    all_ms = [r["ms"] for r in records]
    print(
        f"{'all':<8}{len(records):>10}{len(records) / elapsed:>9.1f}"
        f"{_percentile(all_ms, 0.5):>9.1f}{_percentile(all_ms, 0.99):>9.1f}"
    )
    return routes


def _writes_per_second(records: list[dict[str, Any]], elapsed: float) -> float:
    ok = [r for r in records if r["route"] in WRITES and r["status"] in (200, 201)]
    return len(ok) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the mix runs")
    parser.add_argument(
        "--write-seconds", type=float, default=20.0, help="how long the writes alone run"
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients in all")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--services", type=int, default=5000, help="allocations in the cluster")
    parser.add_argument("--agents", type=int, default=1000)
    args = parser.parse_args()
    threads = max(1, args.clients // args.processes)

    name = f"berth_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    server = None
    sim, sim_url = start_simulator(args.agents, seed=11)
    try:
        upgrade_database(url)
        token, changes = _seed(url, sim_url, args.processes, args.services)
        port = free_port()
        server = start_gunicorn(url, port, args.workers)
        base = f"http://127.0.0.1:{port}/api/v1"

        # warm every worker up (imports, the first connections, its standing placement)
        warm = requests.Session()
        warm.headers["Authorization"] = f"Bearer {token}"
        for n in range(8 * args.workers):
            warm.get(
                f"{base}/environments/production/allocations/{changes[n % SEEDED][0]}/marathon",
                params={"image": IMAGE.format("warm")},
                timeout=120,
            )

        clients = threads * args.processes
        print(
            f"bench.load: gunicorn {args.workers} workers, PostgreSQL, one simulated cluster of "
            f"{args.agents} agents with {args.services} allocations, {clients} clients, "
            f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
        )
        print(f"1. the mix, {args.seconds:g} s")
        records, elapsed = _run(base, token, args.processes, threads, args.seconds, MIX, changes)
        routes = _table(records, elapsed, MIX)
        mixed_writes = _writes_per_second(records, elapsed)
        print(f"fit-checked writes: {mixed_writes:.1f}/s")
        print(f"2. writes alone, {args.write_seconds:g} s")
        only = [("change", 1)]
        writes, write_elapsed = _run(
            base, token, args.processes, threads, args.write_seconds, only, changes
        )
        _table(writes, write_elapsed, only)
        rate = _writes_per_second(writes, write_elapsed)
        print(f"fit-checked writes to one cluster: {rate:.1f}/s (target >= 100)")
        everything = records + writes
        problems = _check(url, base, token, everything)
        fivexx = sum(1 for r in everything if r["status"] >= 500)
        print(
            f"checks: ok: {fivexx} 5xx, no port held twice, the cluster fits, every "
            "acknowledged write present and every acknowledged delete gone"
            if not problems
            else "checks: FAILED\n  " + "\n  ".join(problems)
        )
        total = len(records) / elapsed
        all_ms = [r["ms"] for r in records]
        print(
            json.dumps(
                {
                    "bench": "load",
                    "seconds": args.seconds,
                    "clients": clients,
                    "workers": args.workers,
                    "requests_per_second": round(total, 1),
                    "p50_ms": round(_percentile(all_ms, 0.5), 1),
                    "p99_ms": round(_percentile(all_ms, 0.99), 1),
                    "writes_per_second_mixed": round(mixed_writes, 1),
                    "writes_per_second": round(rate, 1),
                    "errors_5xx": fivexx,
                    "checks_ok": not problems,
                    "routes": {
                        k: {m: (round(v, 1) if isinstance(v, float) else v) for m, v in r.items()}
                        for k, r in routes.items()
                    },
                }
            )
        )
        if problems:
            sys.exit(1)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        sim.terminate()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
