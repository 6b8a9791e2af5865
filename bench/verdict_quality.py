"""Verdict quality through the API: clusters with exactly the optimal number of agents.

Cluster-shaped problems (Java and Node services of typical sizes, a few instances each,
cpus, memory and disk, agents of one shape per cluster) whose optimum, the fewest agents
that hold every instance, OR-Tools CP-SAT proves with a model of its own
(bench.cluster_quality.optimum, which shares nothing with berth's exact search). For each:

- a simulated cluster with exactly that many agents: every allocation is PUT through
  berth's HTTP API (gunicorn, 2 workers, SQLite), the last one timed; it must be
  accepted (target: 98% of the problems);
- a simulated cluster with one agent fewer: the same PUTs; the last must be refused.

Services have no host ports and no constraints; upgrade strategies (0, 0) start no extra
instance, so the optimum is exactly what berth must find. The executor's overhead (0.1
cpus, 32 MiB) is part of every instance, in the optimum too. Printed: accepted and
refused counts, the mix of levels, the time per verdict (p50, max; target max <= budget
+ 0.5 s), and how many problems first fit decreasing alone gets wrong (where it takes
more than a heuristic).

    .venv/bin/python -m bench.verdict_quality [--cases 60] [--seed 0] [--budget 2] [--hard]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import requests

from allocator.model import Agent, Demand
from allocator.placement import place
from bench.cluster_quality import Case, optimum
from bench.servers import start_berth_on_sqlite
from simulator import Simulator, serve

SHAPES = (
    (8.0, 32768.0, 100_000.0),
    (16.0, 65536.0, 200_000.0),
    (4.0, 16384.0, 60_000.0),
    (8.0, 16384.0, 100_000.0),
    (16.0, 32768.0, 40_000.0),
)
JAVA = ((0.5, 1024), (1, 2048), (1, 3072), (2, 4096), (2, 6144), (4, 8192), (0.5, 1536), (1, 4096))
NODE = ((0.25, 256), (0.25, 512), (0.5, 512), (0.5, 1024), (1, 1024))
DISK = (0, 0, 0, 512, 1024, 2048, 5120, 10240)
EXECUTOR = (0.1, 32)


@dataclass(frozen=True)
class Problem:
    shape: tuple[float, float, float]
    services: tuple[tuple[int, float, int, int], ...]  # instances, cpus, mem, disk
    optimum: int
    ffd_misses: bool


def generate(
    rng: random.Random,
) -> tuple[tuple[float, float, float], list[tuple[int, float, int, int]]]:
    shape = rng.choice(SHAPES)
    services = []
    for _ in range(rng.randint(6, 18)):
        cpus, mem = rng.choice(JAVA if rng.random() < 0.6 else NODE)
        mem += rng.choice((0, 0, 128, 256, 512))
        disk = rng.choice(DISK)
        if cpus + EXECUTOR[0] > shape[0] / 2 or mem + EXECUTOR[1] > shape[1] / 2:
            continue
        services.append((rng.randint(1, 6), cpus, mem, disk))
    return shape, services


def _demands(services: list[tuple[int, float, int, int]]) -> list[Demand]:
    return [
        Demand(f"s{k:02d}", n, c + EXECUTOR[0], m + EXECUTOR[1], d)
        for k, (n, c, m, d) in enumerate(services)
    ]


def _agents(shape: tuple[float, float, float], n: int) -> list[Agent]:
    return [Agent(f"a{i:03d}", f"agent-{i}", *shape) for i in range(n)]


def problems(count: int, seed: int, seconds: float, hard: bool = False) -> list[Problem]:
    """`count` problems whose optimum CP-SAT proves, at least 2 agents (`hard`: only those
    where first fit decreasing misses the optimum)."""
    rng = random.Random(seed)
    out: list[Problem] = []
    while len(out) < count:
        shape, services = generate(rng)
        demands = _demands(services)
        bound = place(_agents(shape, 1), demands, effort="quick").lower_bound
        bound = max(bound, place(_agents(shape, 200), demands).lower_bound)
        state, best = optimum(Case("x", tuple(_agents(shape, bound + 4)), tuple(demands)), seconds)
        if state != "optimal" or best is None or best < 2:
            continue
        ffd = place(_agents(shape, best), demands, effort="quick").fits
        if hard and ffd:
            continue
        out.append(Problem(shape, tuple(services), best, not ffd))
    return out


class Berth:
    """berth under gunicorn on a fresh SQLite file, asked over HTTP as an admin."""

    def __init__(self, stack: ExitStack, workers: int, budget: float) -> None:
        os.environ["BERTH_FIT_BUDGET_SECONDS"] = str(budget)
        self.base, self.http = start_berth_on_sqlite(stack, workers)

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, timeout=60)


def _cluster(berth: Berth, stack: ExitStack, name: str, shape: tuple, agents: int) -> None:
    sim = Simulator(agents=0, seed=hash(name) % 1000)
    for _ in range(agents):
        sim.add_agent(cpus=shape[0], mem=shape[1], disk=shape[2], ports="[31000-32000]")
    server = stack.enter_context(serve(sim))
    body = {
        "name": name,
        "mesos_masters": [server.url],
        "marathon_url": server.url,
        "port_ranges": ["31000-32000"],
    }
    assert berth.call("POST", "/clusters", body).status_code == 201
    env = {"name": name, "cluster": name, "marathon_group": f"/{name}"}
    assert berth.call("POST", "/environments", env).status_code == 201
    assert berth.call("POST", f"/clusters/{name}/sync").status_code == 200


def _put(
    berth: Berth, env: str, service: str, spec: tuple[int, float, int, int]
) -> requests.Response:
    n, cpus, mem, disk = spec
    body = {
        "cpus": cpus,
        "mem": mem,
        "disk": disk,
        "instances": n,
        "upgrade_strategy": {"minimum_health_capacity": 0, "maximum_over_capacity": 0},
    }
    return berth.call("PUT", f"/environments/{env}/allocations/{service}", body)


def run(problem_set: list[Problem], workers: int, budget: float) -> dict[str, Any]:
    accepted = refused = early = 0
    levels: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    times: list[float] = []
    misses: list[str] = []
    with ExitStack() as stack:
        berth = Berth(stack, workers, budget)
        for i, p in enumerate(problem_set):
            names = [f"p{i:03d}-s{k:02d}" for k in range(len(p.services))]
            for name in names:
                body = {"name": name, "runtime": "java", "team": "bench", "ports": []}
                assert berth.call("POST", "/services", body).status_code == 201
            for env, agents in ((f"opt{i:03d}", p.optimum), (f"less{i:03d}", p.optimum - 1)):
                _cluster(berth, stack, env, p.shape, agents)
                before = [
                    _put(berth, env, name, spec).status_code
                    for name, spec in zip(names[:-1], p.services[:-1], strict=True)
                ]
                start = time.perf_counter()
                last = _put(berth, env, names[-1], p.services[-1])
                times.append(time.perf_counter() - start)
                answer = last.json()
                fit = answer.get("fit") or {}
                if env.startswith("opt"):
                    if last.status_code in (200, 201) and all(s in (200, 201) for s in before):
                        accepted += 1
                        levels[fit.get("level", "?")] += 1
                    else:
                        levels[fit.get("level", f"http {last.status_code}")] += 1
                        detail = answer.get("detail", "")[:200]
                        misses.append(f"{env}: {before} then {last.status_code} {detail}")
                elif last.status_code == 409:
                    refused += 1
                    refusals[fit.get("level", "?")] += 1
                elif any(s == 409 for s in before):
                    # an earlier allocation was refused already: the cluster never holds
                    # all but the last, so the last alone may well fit
                    early += 1
                    refusals["refused earlier"] += 1
                else:
                    misses.append(f"{env}: every allocation accepted with one agent fewer")
    return {
        "accepted": accepted,
        "refused": refused,
        "refused_earlier": early,
        "levels": dict(levels),
        "refusals": dict(refusals),
        "p50_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "misses": misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=2.0, help="BERTH_FIT_BUDGET_SECONDS")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cp-sat-seconds", type=float, default=20.0, help="per optimum")
    parser.add_argument(
        "--hard", action="store_true", help="only problems where first fit decreasing misses"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    found = problems(args.cases, args.seed, args.cp_sat_seconds, args.hard)
    hard = sum(p.ffd_misses for p in found)
    print(
        f"bench.verdict_quality: {len(found)} problems with proven optima ({hard} where first "
        f"fit decreasing misses it), {time.perf_counter() - start:.0f} s to prove; "
        f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
        f"budget {args.budget:g} s, gunicorn {args.workers} workers, SQLite"
    )
    got = run(found, args.workers, args.budget)
    n = len(found)
    print(
        f"optimal agents:  accepted {got['accepted']}/{n} ({got['accepted'] / n:.1%}); "
        f"levels {got['levels']}"
    )
    print(
        f"one agent fewer: the last refused {got['refused']}/{n}, an earlier one "
        f"{got['refused_earlier']}/{n}; levels {got['refusals']}"
    )
    print(
        f"time of the last PUT: p50 {got['p50_s']:.3f} s, max {got['max_s']:.3f} s "
        f"(target <= {args.budget + 0.5:g} s)"
    )
    for line in got["misses"][:10]:
        print("   " + line)
    figures = {
        "bench": "verdict_quality",
        "cases": n,
        "ffd_misses": hard,
        "accepted": got["accepted"],
        "refused": got["refused"],
        "refused_earlier": got["refused_earlier"],
        "levels": got["levels"],
        "p50_s": got["p50_s"],
        "max_s": got["max_s"],
        "budget_s": args.budget,
    }
    print(json.dumps(figures))
    sys.exit(0)


if __name__ == "__main__":
    main()
