"""Requests per second of the render endpoint against a bare one-row read, same app, one run.

gunicorn with 2 workers on PostgreSQL; the load comes from other processes on loopback.
Both endpoints go through the same auth and request handling, so the ratio is what
rendering costs. Target: render ≥ half the bare endpoint's requests per second.

    .venv/bin/python -m bench.render_throughput [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, upgrade_database
from ledger.allocations import put_allocation
from ledger.clusters import create_cluster
from ledger.environments import create_environment
from ledger.services import create_service
from ledger.tokens import create_token

SERVER = os.environ.get(
    "BERTH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROOT = Path(__file__).resolve().parent.parent


def _client(url: str, token: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    latencies, errors = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        response = session.get(url, headers=headers, timeout=10)
        latencies.append(time.perf_counter() - start)
        errors += response.status_code != 200
    out.put((latencies, errors))


def _load(url: str, token: str, seconds: float, clients: int) -> tuple[float, float, float, int]:
    out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [mp.Process(target=_client, args=(url, token, seconds, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    return len(latencies) / seconds, statistics.median(latencies) * 1000, p99 * 1000, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    name = f"berth_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    server = None
    try:
        upgrade_database(url)
        app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        ctx = app.extensions["berth"].context(actor="bench")
        create_cluster(
            ctx,
            {
                "name": "east",
                "mesos_masters": ["http://m:5050"],
                "marathon_url": "http://m:8080",
                "port_ranges": ["31000-31999"],
            },
        )
        create_environment(
            ctx, {"name": "production", "cluster": "east", "marathon_group": "/prod"}
        )
        create_service(
            ctx,
            {
                "name": "order-service",
                "runtime": "java",
                "team": "orders",
                "ports": [{"name": "http"}, {"name": "dubbo"}],
                "health_check": {"port": "http", "path": "/actuator/health", "protocol": "HTTP"},
            },
        )
        put_allocation(
            ctx,
            "production",
            "order-service",
            {"cpus": 1, "mem": 2048, "instances": 3, "constraints": [["hostname", "UNIQUE"]]},
        )
        token = create_token(ctx, "bench", "pipeline")
        app.extensions["berth"].engine.dispose()

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**os.environ, "BERTH_DATABASE_URL": url, "BERTH_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(100):
            try:
                requests.get(f"{base}/openapi.json", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        bare = f"{base}/clusters/east"
        render = (
            f"{base}/environments/production/allocations/order-service/marathon"
            "?image=registry.local/shop/order-service:1.4.2&git_sha=abc1234"
        )
        assert (
            requests.get(
                render, headers={"Authorization": f"Bearer {token}"}, timeout=5
            ).status_code
            == 200
        )
        figures: dict[str, list[tuple[float, float, float, int]]] = {"bare": [], "render": []}
        for _ in range(2):  # interleaved, so both see the same machine
            figures["bare"].append(_load(bare, token, args.seconds, args.clients))
            figures["render"].append(_load(render, token, args.seconds, args.clients))
        print(
            f"bench.render_throughput: gunicorn 2 workers, PostgreSQL, {args.clients} client "
            f"processes, {args.seconds:g} s x 2 per endpoint, {platform.machine()}, "
            f"{os.cpu_count()} cores"
        )
        print(f"{'endpoint':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        rate, p99s = {}, {}
        for label, runs in figures.items():
            rps = statistics.mean(r[0] for r in runs)
            rate[label] = rps
            p50 = statistics.mean(r[1] for r in runs)
            p99 = max(r[2] for r in runs)
            p99s[label] = p99
            errors = sum(r[3] for r in runs)
            print(f"{label:<10}{rps:>9.1f}{p50:>9.2f}{p99:>9.2f}{errors:>8}")
        print(f"ratio render/bare: {rate['render'] / rate['bare']:.2f}  (target >= 0.5)")
        machine = {
            "bench": "render_throughput",
            "rps_bare": round(rate["bare"], 1),
            "rps_render": round(rate["render"], 1),
            "ratio": round(rate["render"] / rate["bare"], 2),
            "p99_bare_ms": round(p99s["bare"], 1),
            "p99_render_ms": round(p99s["render"], 1),
            "target": ">= 0.5",
        }
        print(json.dumps(machine))
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
