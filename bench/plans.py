"""Time of one what-if plan, and the extra agents it asks for as the factor rises.

The cluster of bench.placement_speed: 1,000 agents of three shapes in 40 racks; 5,000
services × 3 instances, each with 1-2 host ports unique in the cluster and UNIQUE
hostname. A generated layered call graph (edge → BFF → domain → data, each
service calling up to three of the next tier, fan-out 0.5-2) carries the load. Two
kinds of plan, each for rising factors:

- promotion: a storefront team of 50 edge services scaled, the load carried along the
  calls (`propagate`) through the BFF, domain and data tiers, as a team lead asks
  before a sale;
- everything: every service scaled, with --everything.

The extra agents are those of the most common shape (16 cpus, 64 GiB). Printed per
plan: seconds, instances, extra agents, lower bound, placements tried, the two checks, and
the plan's time over one first-fit pass of its own demands with its answer's agents, timed
just after it (the machine's speed divides out: how many passes the plan cost). Each
plan runs as a live one does, with the exact search's budget (BUDGET, the default of
BERTH_PLAN_BUDGET_SECONDS). Unless --no-shapes, each is followed by the cheapest mix of
three machine shapes (MACHINES), seeded as POST /plans seeds it, and the time of both
is printed. The last line is JSON for bench.all; the target is ≤ 10 s for every plan
and ≤ 20 s with the three shapes.

    .venv/bin/python -m bench.plans [--factors 1,3,10,20] [--everything 1.5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import replace

from allocator.dependencies import Edge, graph, load_factors
from allocator.machine_mix import PricedShape, cheapest_mix
from allocator.model import Agent, AgentShape, Demand
from allocator.placement import place
from allocator.plans import PlanAnswer, extra_agents, plan
from bench.placement_speed import allocations, cluster

PORTS = (31000, 38999)
BUDGET = 5.0  # BERTH_PLAN_BUDGET_SECONDS's default: the exact search a live plan may run
# the machines a cheapest mix may buy: the common shape (16 cpus, 64 GiB) among them
MACHINES = (
    ("m16", (16.0, 65536.0, 500_000.0), 1.0),
    ("m32", (32.0, 131072.0, 1_000_000.0), 1.9),
    ("c16", (16.0, 32768.0, 500_000.0), 0.75),
)
TEAM_EVERY = 10  # every 10th service of the edge tier forms the team: 50 of 5,000


TIERS = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.7), (0.7, 1.0))  # edge, BFF, domain, data


def call_edges(n: int, seed: int = 7) -> list[Edge]:
    """A layered call graph: each service calls 0-3 services of the next tier down (edge →
    BFF → domain → data), fan-out 0.5-2; the data tier calls nobody."""
    rng = random.Random(seed)
    bounds = [(int(lo * n), int(hi * n)) for lo, hi in TIERS]
    edges = []
    for t, (lo, hi) in enumerate(bounds[:-1]):
        below = range(*bounds[t + 1])
        for i in range(lo, hi):
            for j in sorted(rng.sample(below, rng.choice((0, 1, 2, 2, 3)))):
                fan_out = rng.choice((0.5, 1.0, 1.0, 2.0))
                edges.append(Edge(f"svc-{i:05d}", f"svc-{j:05d}", fan_out))
    return edges


def scaled(demands: list[Demand], factors: dict[str, float]) -> list[Demand]:
    out = []
    for d in demands:
        f = factors.get(d.key.split("/")[0], 1.0)
        out.append(replace(d, count=math.ceil(round(d.count * f, 9))) if f != 1.0 else d)
    return out


def line(label: str, seconds: float, demands: list[Demand], got: PlanAnswer, one: float) -> str:
    checks = ", ".join(
        f"{c.extra_agents} {'fits' if c.fits else 'does not'} ({c.by})" for c in got.checks
    )
    return (
        f"{label:>22}: {seconds:6.2f} s  {sum(d.count for d in demands):6d} instances  "
        f"extra agents {got.extra_agents!s:>5}  lower bound {got.lower_bound:4d}  "
        f"placements {got.tries:2d}  {seconds / one:5.1f}x one pass  "
        f"{checks or 'fits as it is'}"
    )


def one_placement(agents: list[Agent], demands: list[Demand], shape: AgentShape, k: int) -> float:
    """Seconds of one first-fit pass over the demands with the plan's k extra agents: the
    unit a plan's search spends (the fast effort runs up to six and a repair)."""
    start = time.perf_counter()
    place([*agents, *extra_agents(shape, k)], demands, effort="quick")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--factors", default="1,3,10,20", help="the promotion's factors")
    parser.add_argument("--everything", default="1.5", help="factors for every service")
    parser.add_argument(
        "--no-shapes",
        dest="shapes",
        action="store_false",
        help="skip the cheapest mix of 3 machine shapes (target <= 20 s with the plan)",
    )
    args = parser.parse_args()
    agents = cluster(args.agents, PORTS)
    demands = allocations(args.services, PORTS, constraints=True)
    names = [d.key.split("/")[0] for d in demands]
    g = graph(names, call_edges(len(names)))
    edge_tier = int(TIERS[0][1] * len(names))
    team = [n for i, n in enumerate(names[:edge_tier]) if i % TEAM_EVERY == 0]
    shape = AgentShape(16.0, 65536.0, 500_000.0, ports=(PORTS,))
    priced = [
        PricedShape(name, AgentShape(*size, ports=(PORTS,)), cost) for name, size, cost in MACHINES
    ]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores (other work slows every figure)")
    print(
        f"python {sys.version.split()[0]}, {len(agents)} agents, {len(demands)} services, "
        f"{sum(d.count for d in demands)} instances, {g.number_of_edges()} calls; "
        f"new agents of {shape.cpus:g} cpus, {shape.mem:g} MiB"
    )
    runs: list[tuple[str, list[Demand]]] = []
    for factor in (float(f) for f in args.factors.split(",") if f):
        factors = load_factors(g, dict.fromkeys(team, factor))
        grown = sum(1 for n in names if factors.get(n, 1.0) > 1.0)
        runs.append((f"team x{factor:g} ({grown} grow)", scaled(demands, factors)))
    for factor in (float(f) for f in args.everything.split(",") if f):
        runs.append((f"everything x{factor:g}", scaled(demands, dict.fromkeys(names, factor))))
    plans: list[dict[str, object]] = []
    monotone = True
    previous: dict[str, float] = {}
    for label, wanted in runs:
        start = time.perf_counter()
        got = plan(agents, [wanted], shape, seconds=BUDGET)
        seconds = time.perf_counter() - start
        one = one_placement(agents, wanted, shape, got.extra_agents or 0)
        print(line(label, seconds, wanted, got, one))
        mixed: dict[str, object] = {}
        if args.shapes:
            # as POST /plans with agent_shapes: the plan, then the mix seeded by its answer
            start = time.perf_counter()
            mix = cheapest_mix(
                agents,
                [wanted],
                priced,
                seconds=BUDGET,
                fits_now=got.fits_now,
                order=got.lead,
                known=(
                    ([got.extra_agents, 0, 0], got.final)
                    if got.extra_agents is not None and got.final is not None
                    else None
                ),
            )
            with_mix = seconds + time.perf_counter() - start
            counts = " ".join(f"{n} {name}" for name, n in mix.counts.items() if n)
            print(
                f"{'with 3 machine shapes':>22}: {with_mix:6.2f} s  mix {counts or 'none'}, "
                f"cost {mix.cost} (one shape: {got.extra_agents}), lower bound "
                f"{mix.lower_bound:g}, gap {mix.gap:.3f}, binds {mix.binds}, "
                f"placements {mix.tries}"
            )
            mixed = {"seconds_with_3_shapes": round(with_mix, 2), "mix_cost": mix.cost}
        kind = label.split(" ")[0]
        k = got.extra_agents if got.extra_agents is not None else math.inf
        if k < previous.get(kind, -1):
            print("  !! fewer extra agents than for a smaller factor")
            monotone = False
        previous[kind] = k
        plans.append(
            {
                "plan": label,
                "seconds": round(seconds, 2),
                "extra_agents": got.extra_agents,
                "lower_bound": got.lower_bound,
                "placements": got.tries,
                "placements_worth": round(seconds / one, 1),
                **mixed,
            }
        )
    growing = [p for p in plans if p["extra_agents"]]
    slowest = max(growing or plans, key=lambda p: float(p["seconds"]))  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "bench": "plans",
                "services": args.services,
                "agents": args.agents,
                "slowest": slowest,
                "monotone": monotone,
                "plans": plans,
                "target": "<= 10 s; <= 20 s with 3 machine shapes",
            }
        )
    )


if __name__ == "__main__":
    main()
