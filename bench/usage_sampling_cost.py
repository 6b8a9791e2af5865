"""What one usage sampling round costs on a big cluster, and what the database grows by.

A simulator subprocess with `--agents` agents (1,000) each serving `/monitor/statistics` on
a loopback port of its own, and `--apps` apps of `--instances` instances (1,000 × 15 =
15,000 tasks); berth on PostgreSQL (a fresh database, migrated) imports them as
allocations and syncs. Then `--rounds` rounds of berth's own sampler
(`ledger.usage.UsageSampler`: every agent read over loopback HTTP, bounded concurrency,
rates against the previous round, one row per allocation per minute stored), each dated a
minute after the last, and one more in the next hour so the hour is rolled up.

Printed: wall time per round (reading, attributing and storing; target <= 10 s), rows
and bytes (PostgreSQL's pg_total_relation_size, indexes included) per minute row and per
hour row, and the growth per day at one round a minute (1,440 minute rows and 24 hour
rows per allocation); and the bound retention sets (2 days of minutes, 60 days of hours).

    .venv/bin/python -m bench.usage_sampling_cost [--agents 1000] [--apps 1000] [--instances 15]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import func, select, text

from app import create_app
from bench.plans_api import SIM_PORTS, fresh_database
from bench.servers import start_simulator_process
from ledger.clusters import create_cluster
from ledger.context import Context, in_transaction
from ledger.environments import create_environment
from ledger.importer import import_marathon
from ledger.sync import sync_cluster
from ledger.usage import UsageSampler
from models import UsageHour, UsageMinute

DATABASE = "bench_usage_sampling"
TARGET_SECONDS = 10.0


def _raise_files() -> None:
    """A listening socket per agent: the simulator needs more than 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def start_simulator(agents: int) -> tuple[subprocess.Popen[bytes], str]:
    return start_simulator_process(
        agents, seed=31, ports=SIM_PORTS, tries=300, preexec_fn=_raise_files
    )


def deploy(url: str, apps: int, instances: int) -> None:
    http = requests.Session()
    for i in range(apps):
        r = http.post(
            f"{url}/v2/apps",
            json={
                "id": f"/bench/svc-{i:04d}",
                "cmd": "sleep 3600",
                "cpus": 0.05,
                "mem": 64,
                "instances": instances,
            },
            timeout=30,
        )
        r.raise_for_status()


def run(agents: int, apps: int, instances: int, rounds: int) -> dict[str, Any]:
    _raise_files()
    sim, url = start_simulator(agents)
    try:
        started = time.perf_counter()
        deploy(url, apps, instances)
        db = fresh_database(DATABASE)
        app = create_app({"DATABASE_URL": db, "LOG_LEVEL": "WARNING"})
        ctx: Context = app.extensions["berth"].context(actor="bench")
        create_cluster(
            ctx,
            {
                "name": "big",
                "mesos_masters": [url],
                "marathon_url": url,
                "port_ranges": ["31000-32000"],
            },
        )
        create_environment(ctx, {"name": "bench", "cluster": "big", "marathon_group": "/bench"})
        import_marathon(ctx, "big", "bench")
        snap = sync_cluster(ctx, "big")
        print(
            f"{snap['agent_count']} agents, {snap['task_count']} tasks, {apps} allocations "
            f"(set up in {time.perf_counter() - started:.0f} s)"
        )
        sampler = UsageSampler(ctx, "big")
        base = datetime(2030, 1, 1, 0, 50, tzinfo=UTC)
        times, reads = [], []
        for i in range(rounds):
            if i:
                time.sleep(1.0)  # rates need readings a second apart at least
            t = time.perf_counter()
            result = sampler.sample(base + timedelta(minutes=i))
            times.append(time.perf_counter() - t)
            assert result is not None
            reads.append(result.seconds)
            print(
                f"round {i + 1}: {times[-1]:.2f} s ({result.agents} agents, "
                f"{result.agents_unreachable} unreachable, {result.executors} executors, "
                f"{result.rates} rates, {result.allocations} allocations stored)"
            )
        sampler.sample(base + timedelta(minutes=rounds + 15))  # the next hour: a roll-up
        sampler.close()

        def sizes(session: Any) -> dict[str, float]:
            out: dict[str, float] = {}
            for name, model in (("usage_minutes", UsageMinute), ("usage_hours", UsageHour)):
                out[f"{name}_rows"] = session.scalar(select(func.count()).select_from(model))
                out[f"{name}_bytes"] = session.scalar(
                    text(f"SELECT pg_total_relation_size('{name}')")
                )
            return out

        s = in_transaction(ctx, sizes)
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    minute_row = s["usage_minutes_bytes"] / max(1, s["usage_minutes_rows"])
    hour_row = s["usage_hours_bytes"] / max(1, s["usage_hours_rows"])
    per_day_rows = apps * (1440 + 24)
    per_day_bytes = apps * (1440 * minute_row + 24 * hour_row)
    bound_bytes = apps * (2 * 1440 * minute_row + 60 * 24 * hour_row)
    p50 = statistics.median(times[1:] or times)
    worst = max(times)
    print(
        f"round wall time: median {p50:.2f} s, worst {worst:.2f} s (target <= "
        f"{TARGET_SECONDS:g} s); reading alone: median {statistics.median(reads):.2f} s"
    )
    print(
        f"PostgreSQL: {minute_row:.0f} bytes a minute row, {hour_row:.0f} bytes an hour row "
        f"(table, TOAST and indexes, measured on {s['usage_minutes_rows']:.0f} and "
        f"{s['usage_hours_rows']:.0f} rows)"
    )
    print(
        f"growth a day at one round a minute: {per_day_rows:,} rows, "
        f"{per_day_bytes / 2**20:.0f} MiB; at most {bound_bytes / 2**20:.0f} MiB kept "
        "(2 days of minutes, 60 days of hours)"
    )
    return {
        "bench": "usage_sampling_cost",
        "agents": agents,
        "tasks": apps * instances,
        "round_seconds_median": round(p50, 3),
        "round_seconds_worst": round(worst, 3),
        "target_seconds": TARGET_SECONDS,
        "minute_row_bytes": round(minute_row, 1),
        "hour_row_bytes": round(hour_row, 1),
        "rows_per_day": per_day_rows,
        "mib_per_day": round(per_day_bytes / 2**20, 1),
        "mib_bound": round(bound_bytes / 2**20, 1),
        "ok": worst <= TARGET_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("BERTH_LOG_LEVEL", "WARNING")
    print(json.dumps(run(args.agents, args.apps, args.instances, args.rounds)))


if __name__ == "__main__":
    main()
