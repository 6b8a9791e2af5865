"""Time of the fit verdict, `place()` in the ledger's fast mode, on a generated cluster.

1,000 agents of three shapes with rack and zone attributes, a few host ports in use on
each; 5,000 allocations x 3 instances, each allocation with 1-2 host ports unique in the
cluster and `[["hostname", "UNIQUE"]]`. Prints instances per second, the time with the
constraints on and off, and the peak memory (tracemalloc: Python allocations made during
the call; and the process's maximum resident set size from getrusage).

Ports: [31000-32000] holds 1,001 ports and 5,000 allocations need about 7,500 unique ones,
so by default the agents offer [31000-38999]. `--ports 31000-32000` keeps the default Mesos
range instead: ports then repeat across allocations, whose instances may not share agents.

    .venv/bin/python -m bench.placement_speed [--agents 1000] [--allocations 5000]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
import tracemalloc
from dataclasses import replace

from allocator.model import Agent, Demand, Placement
from allocator.placement import place

SHAPES = (  # cpus, mem MiB, disk MiB
    (8.0, 32768.0, 250_000.0),
    (16.0, 65536.0, 500_000.0),
    (32.0, 131072.0, 1_000_000.0),
)
EXECUTOR = (0.1, 32.0)  # Mesos adds this to every task


def cluster(n: int, ports: tuple[int, int], seed: int = 1) -> list[Agent]:
    """Agents of three shapes in 3 zones and 40 racks, some ports already in use on each."""
    rng = random.Random(seed)
    agents = []
    lo, hi = ports
    for i in range(n):
        cpus, mem, disk = SHAPES[i % len(SHAPES)]
        # other frameworks' tasks use a little of some agents
        busy = rng.choice((0.0, 0.0, 0.05, 0.1))
        used = sorted(rng.sample(range(lo, hi + 1), rng.randint(0, 6)))
        ranges = []
        at = lo
        for p in used:
            if p > at:
                ranges.append((at, p - 1))
            at = p + 1
        if at <= hi:
            ranges.append((at, hi))
        agents.append(
            Agent(
                id=f"agent-{i:04d}-S0",
                hostname=f"host-{i:04d}.dc1",
                cpus=cpus * (1 - busy),
                mem=mem * (1 - busy),
                disk=disk * (1 - busy),
                ports=tuple(ranges),
                attributes={"rack": f"rack-{i % 40:02d}", "zone": "abc"[i % 3]},
                total_cpus=cpus,
                total_mem=mem,
                total_disk=disk,
            )
        )
    return agents


def allocations(
    n: int, ports: tuple[int, int], constraints: bool, seed: int = 2, instances: int = 3
) -> list[Demand]:
    """n allocations of `instances` each, sized like Java and Node services, with host ports."""
    rng = random.Random(seed)
    lo, hi = ports
    span = hi - lo + 1
    next_port = 0
    demands = []
    for i in range(n):
        cpus = rng.choice((0.1, 0.25, 0.5, 0.5, 1.0, 1.0, 2.0))
        mem = rng.choice((256, 512, 512, 1024, 1024, 1024, 2048, 2048, 4096))
        disk = rng.choice((0, 0, 256, 512, 1024))
        k = rng.choice((1, 1, 2))
        # ports handed out in order, as berth assigns the lowest free one; they wrap (and so
        # repeat) only when the range is too small for all of them
        mine = tuple(lo + (next_port + j) % span for j in range(k))
        next_port += k
        demands.append(
            Demand(
                key=f"svc-{i:05d}/production",
                count=instances,
                cpus=cpus + EXECUTOR[0],
                mem=mem + EXECUTOR[1],
                disk=float(disk),
                ports=mine,
                constraints=(("hostname", "UNIQUE"),) if constraints else (),
                headroom=0.0,
                label=f"svc-{i:05d} (production)",
            )
        )
    return demands


def timed(agents: list[Agent], demands: list[Demand], repeat: int) -> tuple[float, Placement]:
    """The best time of `repeat` calls of place() (fast), and its result."""
    best = float("inf")
    result: Placement | None = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = place(agents, demands)
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--allocations", type=int, default=5000)
    parser.add_argument("--ports", default="31000-38999", help="the agents' port range")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args()
    lo, hi = (int(v) for v in args.ports.split("-"))
    agents = cluster(args.agents, (lo, hi))
    demands = allocations(args.allocations, (lo, hi), constraints=True)
    n = sum(d.count for d in demands)
    print(
        f"python {sys.version.split()[0]}, {args.agents} agents, {len(demands)} allocations, "
        f"{n} instances, ports {lo}-{hi}"
    )

    seconds, result = timed(agents, demands, args.repeat)
    verdict = "fits" if result.fits else f"{len(result.unplaced)} unplaced"
    print(
        f"constraints and ports on : {seconds:6.2f} s  {n / seconds:8.0f} instances/s  "
        f"{verdict}, {result.agents_used} agents used, lower bound {result.lower_bound}"
    )
    plain = [replace(d, constraints=()) for d in demands]
    s2, r2 = timed(agents, plain, args.repeat)
    print(
        f"ports on, constraints off: {s2:6.2f} s  {n / s2:8.0f} instances/s  "
        f"({seconds / s2:.2f}x with constraints)"
    )
    bare = [replace(d, constraints=(), ports=()) for d in demands]
    s3, r3 = timed(agents, bare, args.repeat)
    print(
        f"ports and constraints off: {s3:6.2f} s  {n / s3:8.0f} instances/s  "
        f"({seconds / s3:.2f}x with both)"
    )

    # a cluster that is too small: the verdict "does not fit" runs the fallbacks
    small = agents[: int(len(agents) * 0.55)]
    s4, r4 = timed(small, demands, 1)
    print(f"does not fit ({len(small)} agents): {s4:6.2f} s, {len(r4.unplaced)} instances unplaced")

    gc.collect()
    tracemalloc.start()
    place(agents, demands)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory: {peak / 2**20:.1f} MiB allocated during place() (tracemalloc); "
        f"process max RSS {rss:.0f} MiB (getrusage, whole bench)"
    )
    figures = {
        "bench": "placement_speed",
        "agents": args.agents,
        "instances": n,
        "seconds": round(seconds, 3),
        "instances_per_s": round(n / seconds),
        "instances_per_s_ports_only": round(n / s2),
        "instances_per_s_bare": round(n / s3),
        "fits": result.fits,
        "agents_used": result.agents_used,
        "lower_bound": result.lower_bound,
        "peak_mib": round(peak / 2**20, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
