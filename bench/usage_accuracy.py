"""How close berth's recommendations come to the truth of known usage profiles.

The simulator's demo (`simulator.demo.populate`: about 120 services in /prod, each with a
seeded usage profile, most peaking at 20-60% of what they ask) runs on 20 agents whose
`/monitor/statistics` berth reads over loopback HTTP, with berth's own sampler
(`ledger.usage.UsageSampler`), into a fresh SQLite database. The simulator's clock is
settable: it moves `--every` simulated minutes between rounds (default 1: every simulated
minute, on the minute, so each rate is one whole minute of the profile), for `--hours`
simulated hours (default 24).

Then, per allocation, berth's recommendation is compared with what the same method gives
on the truth (the simulator's `usage_truth`: the p90 of the per-minute CPU rates, the peak
resident memory), both through `allocator.right_sizing.recommend` (margin 15%, floors,
the JVM heap): within `--tolerance` (10%) in CPU and in memory. Printed: the share of
allocations within it (target >= 95%), the worst cases, and the right-sizing answer on
the demo (`GET /clusters/prod/right-sizing`'s use case: agents as allocated and as
recommended, the agents freed) checked by placing both sets again with the packer's
thorough effort, and bracketed by the lower bounds; one JSON line.

    .venv/bin/python -m bench.usage_accuracy [--hours 24] [--every 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from allocator.placement import place
from allocator.right_sizing import ObservedUsage, recommend
from app import create_app, upgrade_database
from ledger.capacity import picture
from ledger.clusters import create_cluster, find_cluster
from ledger.context import Context, in_transaction
from ledger.environments import create_environment
from ledger.importer import import_marathon
from ledger.right_sizing import cluster_right_sizing, sized
from ledger.sync import sync_cluster
from ledger.usage import UsageSampler, java_heap
from models import Allocation, Environment
from simulator import Simulator, serve
from simulator.demo import populate

START = 1_893_456_000.0  # 2030-01-01T00:00:00Z, on a minute (and an hour, a day)
TARGET_SHARE = 0.95


class Clock:
    """The simulator's `now`, moved by the bench only."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def run(hours: float, every: int, tolerance: float, agents: int) -> dict[str, Any]:
    clock = Clock(START)
    sim = Simulator(agents=agents, seed=11, now=clock)
    populate(sim, ["/prod"], seed=0)
    server = serve(sim)
    tmp = tempfile.mkdtemp(prefix="berth-usage-accuracy-")
    url = f"sqlite:///{Path(tmp) / 'berth.db'}"
    upgrade_database(url)
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    ctx: Context = app.extensions["berth"].context(actor="bench")
    try:
        create_cluster(
            ctx,
            {
                "name": "prod",
                "mesos_masters": [server.url],
                "marathon_url": server.url,
                "port_ranges": ["31000-32000"],
            },
        )
        create_environment(
            ctx, {"name": "production", "cluster": "prod", "marathon_group": "/prod"}
        )
        import_marathon(ctx, "prod", "production")
        sync_cluster(ctx, "prod")
        sampler = UsageSampler(ctx, "prod")
        rounds = int(hours * 60 / every)
        wall = time.perf_counter()
        slowest = 0.0
        for _ in range(rounds + 1):  # the first round gives no rates
            result = sampler.sample(datetime.fromtimestamp(clock.now, UTC))
            assert result is not None
            slowest = max(slowest, result.seconds)
            clock.now += 60 * every
        clock.now -= 60 * every
        wall = time.perf_counter() - wall
        sampler.close()
        end = datetime.fromtimestamp(clock.now, UTC)
        settings = ctx.settings.usage

        def compare(session: Any) -> list[dict[str, Any]]:
            allocs = list(
                session.scalars(
                    select(Allocation).join(Environment).where(Environment.name == "production")
                )
            )
            got = sized(session, allocs, settings, end)
            rows = []
            for a in allocs:
                app_id = f"/prod/{a.service.name}"
                truth = sim.usage_truth(app_id, START, clock.now)
                java = java_heap(a, a.environment)
                want = recommend(
                    ObservedUsage([(truth["cpu_p90"], 1.0)], truth["mem_peak_mib"], hours),
                    settings.right_sizing,
                    java,
                )
                rec = got[a.id].recommendation
                row: dict[str, Any] = {"service": a.service.name, "runtime": a.service.runtime}
                if rec is None or want is None:
                    row.update(ok=False, why="no recommendation")
                else:
                    cpu_err = abs(rec.cpus - want.cpus) / want.cpus
                    mem_err = abs(rec.mem_mib - want.mem_mib) / want.mem_mib
                    row.update(
                        ok=cpu_err <= tolerance and mem_err <= tolerance,
                        cpus=rec.cpus,
                        cpus_true=want.cpus,
                        cpu_error=round(cpu_err, 4),
                        mem=rec.mem_mib,
                        mem_true=want.mem_mib,
                        mem_error=round(mem_err, 4),
                        confidence=rec.confidence,
                    )
                rows.append(row)
            return rows

        rows = in_transaction(ctx, compare)
        freed = right_sizing_check(ctx, end)
    finally:
        server.shutdown()
    within = sum(1 for r in rows if r["ok"])
    share = within / len(rows) if rows else 0.0
    worst = sorted(rows, key=lambda r: -max(r.get("cpu_error", 9.0), r.get("mem_error", 9.0)))[:5]
    print(
        f"{len(rows)} allocations on {agents} agents, {hours:g} simulated hours sampled every "
        f"{every} simulated minute{'s' if every != 1 else ''} ({rounds + 1} rounds, "
        f"{wall:.1f} s of wall time, slowest round {slowest:.3f} s)"
    )
    print(
        f"within {tolerance:.0%} of the truth's recommendation (p90 CPU and peak memory, "
        f"+ margin): {within}/{len(rows)} = {share:.1%} (target >= {TARGET_SHARE:.0%})"
    )
    cpu_errors = sorted(r["cpu_error"] for r in rows if "cpu_error" in r)
    mem_errors = sorted(r["mem_error"] for r in rows if "mem_error" in r)
    if cpu_errors:
        print(
            f"CPU error: median {cpu_errors[len(cpu_errors) // 2]:.2%}, max {cpu_errors[-1]:.2%}; "
            f"memory error: median {mem_errors[len(mem_errors) // 2]:.2%}, max {mem_errors[-1]:.2%}"
        )
    print("worst cases:")
    for r in worst:
        if "cpu_error" in r:
            print(
                f"  {r['service']:<28} cpus {r['cpus']:.3f} vs {r['cpus_true']:.3f} "
                f"({r['cpu_error']:.1%}), mem {r['mem']} vs {r['mem_true']} MiB "
                f"({r['mem_error']:.1%})"
            )
        else:
            print(f"  {r['service']:<28} {r['why']}")
    return {
        "bench": "usage_accuracy",
        "allocations": len(rows),
        "simulated_hours": hours,
        "sample_every_minutes": every,
        "share_within": round(share, 4),
        "target_share": TARGET_SHARE,
        "tolerance": tolerance,
        "cpu_error_max": cpu_errors[-1] if cpu_errors else None,
        "mem_error_max": mem_errors[-1] if mem_errors else None,
        "rounds": rounds + 1,
        "wall_seconds": round(wall, 1),
        "right_sizing": freed,
        "ok": share >= TARGET_SHARE and freed["bracketed"],
    }


def right_sizing_check(ctx: Context, end: datetime) -> dict[str, Any]:
    """The right-sizing answer on the demo, checked by placing both sets again with the
    packer's thorough effort (another search than the answer's fast one): each count must
    lie between its lower bound and the answer's, and the agents freed inside the bounds."""
    answer = cluster_right_sizing(ctx, "prod", now=end)
    settings = ctx.settings.usage

    def placed(session: Any) -> tuple[int, int]:
        cluster = find_cluster(session, "prod")
        pic = picture(session, cluster, end)
        allocs = [a for a, _ in pic.allocations]
        sizes = sized(session, allocs, settings, end)
        recommended = []
        for a, d in pic.allocations:
            rec = sizes[a.id].recommendation if sizes[a.id].usable else None
            if rec is not None:  # as the answer sizes them: the executor's share on top
                d = replace(
                    d, cpus=rec.cpus + cluster.executor_cpus, mem=rec.mem_mib + cluster.executor_mem
                )
            recommended.append(d)
        allocated = place(pic.agents, [d for _, d in pic.allocations], effort="thorough")
        right = place(pic.agents, recommended, effort="thorough")
        assert allocated.fits and right.fits
        return allocated.agents_used, right.agents_used

    used_a, used_r = in_transaction(ctx, placed)
    a, r = answer["as_allocated"], answer["as_recommended"]
    low, high = answer["freed_bounds"]["at_least"], answer["freed_bounds"]["at_most"]
    ok = (
        a["lower_bound"] <= used_a <= a["agents_used"]
        and r["lower_bound"] <= used_r <= r["agents_used"]
        and low <= answer["agents_freed"] <= high
        and low <= used_a - used_r <= high
    )
    print(
        f"right-sizing on the demo ({answer['measured']}/{answer['allocations']} allocations "
        f"measured, {answer['agents']} agents): as allocated {a['agents_used']} agents "
        f"(bound {a['lower_bound']}), as recommended {r['agents_used']} (bound "
        f"{r['lower_bound']}): {answer['agents_freed']} freed, bounds [{low}, {high}]; the "
        f"packer's thorough effort: {used_a} and {used_r}, {used_a - used_r} freed; "
        f"{'bracketed' if ok else 'NOT BRACKETED'}"
    )
    return {
        "agents_freed": answer["agents_freed"],
        "freed_bounds": [low, high],
        "thorough": [used_a, used_r],
        "bracketed": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--every", type=int, default=1, help="simulated minutes between rounds")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--agents", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(run(args.hours, args.every, args.tolerance, args.agents)))


if __name__ == "__main__":
    main()
