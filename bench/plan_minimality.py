"""Minimality of what-if plans through the API: extra agents (and the cheapest mix of agent
shapes) against the optimum that OR-Tools CP-SAT proves with a model of its own.

Each case is an acceptance check of `POST /api/v1/plans` as an operator would make one: a
simulated cluster of 3-10 agents (sometimes of two sizes), 5-15 services of typical Java
and Node sizes allocated through berth's HTTP API (gunicorn, 2 workers, SQLite; every PUT
must be accepted: the base fits), then a plan with `scale` factors per team and per
service (1.5-4) and the new agents' shape given. The semantics are exact: no host ports,
no constraints, headroom 0, executor overhead 0 (set on the cluster), upgrade strategies
(0, 0) that start no extra instance and `concurrent_deploys` 0, no reservations; so the
fewest extra agents is a pure vector bin packing question, which this bench's own CP-SAT
model answers (existing agents plus up to U optional agents of the shape, U from its own
first fit decreasing; fewest opened). Nothing of berth's allocator is used: it is what
is judged.

Cases, in turns:

- tight: the scaled demand is cut out of the existing agents (each filled until nothing
  more goes on), memory 96-99.5% full: the optimum is 0 extra agents;
- cut+k: cut out of the existing agents and k = 1-4 new agents of the shape, 93-99% full:
  the optimum is at most k, usually k;
- loose: services that fill 35-75% of the cluster, scaled by team and service factors;
- frag: loose or cut+k with sizes up to 60% of the smallest agent, kept only where the
  optimum is above the volume bound (k − 1 takes a search to settle, not a bound).

The header counts the cases where this bench's own first fit decreasing (one order,
existing agents first) misses the optimum.

Part A prints how many plans are at the optimum (target >= 95%), above it (each should
say it is not proven: `checked.does_not_fit.proven` false, or a top-level `proven`
false), below it (never: a bug), and the time of a plan (p50, max); then every case off
the optimum with its cluster and demand. Part B asks for the cheapest mix of 2-4 agent
shapes with prices (`agent_shapes`; the answer's `mix`) and compares its cost with the
CP-SAT optimum (target: >= 90% within 5%); it says so and skips when berth does not
answer with a `mix` yet. `--self-test` checks Part B's judging on handwritten answers
without a server.

    nice .venv/bin/python -m bench.plan_minimality [--cases 40] [--mix-cases 30] [--seed 0]
        [--kinds frag] [--dump off.json] [--self-test]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.servers import start_berth_on_sqlite

# existing agents (cpus, mem MiB, disk MiB), and the shapes plans add
CLUSTER_SHAPES = (
    (8.0, 32768.0, 100_000.0),
    (16.0, 65536.0, 200_000.0),
    (4.0, 16384.0, 60_000.0),
    (8.0, 16384.0, 100_000.0),
    (16.0, 32768.0, 150_000.0),
)
NEW_SHAPES = (
    (8.0, 32768.0, 100_000.0),
    (16.0, 65536.0, 200_000.0),
    (4.0, 16384.0, 60_000.0),
    (16.0, 32768.0, 150_000.0),
)
# Part B: (name, cpus, mem, disk, cost)
PRICED = (
    ("m8", 8.0, 32768.0, 100_000.0, 1.0),
    ("m16", 16.0, 65536.0, 200_000.0, 1.8),
    ("r4", 4.0, 32768.0, 60_000.0, 0.7),
    ("r16", 16.0, 131072.0, 200_000.0, 3.1),
    ("c8", 8.0, 16384.0, 100_000.0, 0.65),
    ("c16", 16.0, 32768.0, 150_000.0, 1.25),
)
JAVA = ((0.5, 1024), (1, 2048), (1, 3072), (2, 4096), (2, 6144), (4, 8192), (0.5, 1536), (1, 4096))
BIG_JAVA = ((2, 10240), (4, 12288), (2, 8192), (3, 6144))  # where agents are large enough
NODE = ((0.25, 256), (0.25, 512), (0.5, 512), (0.5, 1024), (1, 1024))
DISK = (0, 0, 0, 512, 1024, 2048)
FACTORS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
SCALE = (1000, 1, 1)  # cpus in thousandths (exact for every size here); mem, disk in MiB

Size = tuple[int, int, int]


def units(cpus: float, mem: float, disk: float) -> Size:
    return (round(cpus * SCALE[0]), round(mem), round(disk))


def scaled_count(n: int, factor: float) -> int:
    """ceil(n × factor), as the plans' contract says (float noise rounded off first)."""
    return max(0, math.ceil(round(n * factor, 9)))


@dataclass(frozen=True)
class Service:
    name: str  # suffix of the service's name in the case
    team: str
    cpus: float
    mem: int
    disk: int
    base: int  # instances allocated (PUT)
    scaled: int  # instances after the plan's factors

    @property
    def size(self) -> Size:
        return units(self.cpus, self.mem, self.disk)


@dataclass(frozen=True)
class Case:
    index: int
    kind: str  # "tight", "cut+k", "loose", "frag:loose", "frag:cut+k"
    agents: tuple[tuple[float, float, float], ...]  # the existing agents
    shape: tuple[float, float, float]  # Part A: the new agents
    services: tuple[Service, ...]
    scale: tuple[tuple[str, float], ...]  # "team:<t>" or a service suffix → factor
    fill: float  # memory the scaled demand takes of the existing agents (tight, cut+k)
    priced: tuple[tuple[str, float, float, float, float], ...] = ()  # Part B's shapes
    optimum: int | None = None  # Part A: fewest extra agents (CP-SAT, proven)
    best_cost: float | None = None  # Part B: cheapest mix (CP-SAT, proven)
    best_mix: dict[str, int] = field(default_factory=dict)
    ffd: int | None = None  # extra agents of this bench's own first fit decreasing

    def demand(self) -> list[tuple[int, Size]]:
        return [(s.scaled, s.size) for s in self.services if s.scaled > 0]

    def existing(self) -> list[Size]:
        return [units(*a) for a in self.agents]


# --- the referee: first fit decreasing and CP-SAT, of this bench's own ----------------------


def first_fit(existing: list[Size], demand: list[tuple[int, Size]], shape: Size) -> int | None:
    """Agents of `shape` that first fit decreasing opens after the existing ones (None:
    an instance fits no agent of the shape); an upper bound for the exact model."""
    items = sorted(
        (size for count, size in demand for _ in range(count)),
        key=lambda s: (max(s[r] / shape[r] for r in range(3) if shape[r]), s),
        reverse=True,
    )
    bins = [list(a) for a in existing]
    opened = 0
    for s in items:
        for room in bins:
            if all(s[r] <= room[r] for r in range(3)):
                for r in range(3):
                    room[r] -= s[r]
                break
        else:
            if not all(s[r] <= shape[r] for r in range(3)):
                return None
            bins.append([shape[r] - s[r] for r in range(3)])
            opened += 1
    return opened


@dataclass(frozen=True)
class Group:
    """Optional agents of one size: between `lo` and `hi` of them, `cost` each."""

    size: Size
    cost: int
    lo: int
    hi: int


def solve(
    existing: list[Size], groups: list[Group], demand: list[tuple[int, Size]], seconds: float
) -> tuple[str, int | None, list[int]]:
    """Every instance on the existing agents or on opened optional ones, at the least cost
    of the opened: ("optimal" | "feasible" | "infeasible" | "unknown", cost, opened per
    group)."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    bins: list[tuple[Size, Any]] = [(a, None) for a in existing]
    opened: list[list[Any]] = []
    for g, group in enumerate(groups):
        row = []
        for j in range(group.hi):
            o = m.new_bool_var(f"o{g}_{j}")
            if j < group.lo:
                m.add(o == 1)
            if row:
                m.add_implication(o, row[-1])  # symmetry: the first ones open first
            row.append(o)
            bins.append((group.size, o))
        opened.append(row)
    x: dict[tuple[int, int], Any] = {}
    for k, (count, size) in enumerate(demand):
        placed = []
        for b, (cap, _) in enumerate(bins):
            most = min([count] + [cap[r] // size[r] for r in range(3) if size[r] > 0])
            if most > 0:
                x[k, b] = m.new_int_var(0, most, f"x{k}_{b}")
                placed.append(x[k, b])
        if not placed:
            return "infeasible", None, [0] * len(groups)
        m.add(sum(placed) == count)
    for b, (cap, o) in enumerate(bins):
        on = [(k, v) for (k, bb), v in x.items() if bb == b]
        if not on:
            continue
        for r in range(3):
            load = sum(v * demand[k][1][r] for k, v in on)
            m.add(load <= cap[r] * (o if o is not None else 1))
    # volume: the opened agents hold what the existing ones cannot (helps the proof)
    for r in range(3):
        need = sum(c * s[r] for c, s in demand) - sum(a[r] for a in existing)
        if need > 0:
            m.add(sum(o * groups[g].size[r] for g, row in enumerate(opened) for o in row) >= need)
    m.minimize(sum(o * groups[g].cost for g, row in enumerate(opened) for o in row))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 1
    status = solver.solve(m)
    state = {
        cp_model.OPTIMAL: "optimal",
        cp_model.FEASIBLE: "feasible",
        cp_model.INFEASIBLE: "infeasible",
    }.get(status, "unknown")
    if state not in ("optimal", "feasible"):
        return state, None, [0] * len(groups)
    counts = [sum(int(solver.value(o)) for o in row) for row in opened]
    return state, round(solver.objective_value), counts


def fewest_extra(case: Case, seconds: float) -> tuple[str, int | None, int | None]:
    """(state, fewest extra agents of the case's shape, first fit decreasing's)."""
    shape = units(*case.shape)
    upper = first_fit(case.existing(), case.demand(), shape)
    if upper is None:
        return "no shape fits", None, None
    if upper == 0:
        return "optimal", 0, 0
    state, best, _ = solve(case.existing(), [Group(shape, 1, 0, upper)], case.demand(), seconds)
    return state, best, upper


def volume_bound(case: Case) -> int:
    """Extra agents of the shape that the scaled demand needs by cpus, mem, disk in total."""
    shape = units(*case.shape)
    over = [
        sum(c * s[r] for c, s in case.demand()) - sum(a[r] for a in case.existing())
        for r in range(3)
    ]
    return max([0] + [math.ceil(over[r] / shape[r]) for r in range(3) if shape[r]])


def cost_units(cost: float) -> int:
    return round(cost * 1000)


def cheapest_mix(case: Case, seconds: float) -> tuple[str, float | None, dict[str, int]]:
    """(state, the least cost of agents to add, how many of each shape)."""
    existing, demand = case.existing(), case.demand()
    alone: dict[str, int | None] = {}
    for name, cpus, mem, disk, _ in case.priced:
        alone[name] = first_fit(existing, demand, units(cpus, mem, disk))
    costs = {name: cost_units(c) for name, *_, c in case.priced}
    feasible = [alone[n] * costs[n] for n in alone if alone[n] is not None]
    if not feasible:
        return "no shape fits", None, {}
    ceiling = min(feasible)  # one shape alone does it at this cost: no mix costs more
    groups = []
    for name, cpus, mem, disk, _ in case.priced:
        hi = ceiling // costs[name] if costs[name] else 0
        if alone[name] is not None:
            hi = min(hi, alone[name])
        groups.append(Group(units(cpus, mem, disk), costs[name], 0, hi))
    if ceiling == 0:
        return "optimal", 0.0, {name: 0 for name, *_ in case.priced}
    state, best, counts = solve(existing, groups, demand, seconds)
    names = [name for name, *_ in case.priced]
    if best is None:
        return state, None, {}
    return state, best / 1000, dict(zip(names, counts, strict=True))


def mix_fits(case: Case, counts: dict[str, int], seconds: float) -> str:
    """Whether the existing agents and exactly `counts` of each shape hold the demand."""
    groups = [
        Group(units(cpus, mem, disk), 0, counts.get(name, 0), counts.get(name, 0))
        for name, cpus, mem, disk, _ in case.priced
    ]
    state, _, _ = solve(case.existing(), groups, case.demand(), seconds)
    return {"optimal": "fits", "feasible": "fits", "infeasible": "does not fit"}.get(
        state, "unknown"
    )


# --- the cases -------------------------------------------------------------------------


def _pool(
    rng: random.Random, n: int, biggest: Size, share: float = 0.5
) -> list[tuple[float, int, int]]:
    """n distinct service sizes (cpus, mem, disk), none above `share` of the smallest
    agent (larger Java sizes too when that is above half)."""
    out: list[tuple[float, int, int]] = []
    for _ in range(200):
        if len(out) == n:
            break
        cpus, mem = rng.choice(JAVA + BIG_JAVA * (share > 0.5) if rng.random() < 0.6 else NODE)
        mem += rng.choice((0, 0, 128, 256, 512))
        size = (float(cpus), int(mem), rng.choice(DISK))
        s = units(*size)
        if any(s[r] > share * biggest[r] for r in range(3)) or size in out:
            continue
        out.append(size)
    return out


def _cluster(rng: random.Random) -> list[tuple[float, float, float]]:
    n = rng.randint(3, 10)
    first = rng.choice(CLUSTER_SHAPES)
    if rng.random() < 0.35:
        second = rng.choice([s for s in CLUSTER_SHAPES if s != first])
        return [first if rng.random() < 0.6 else second for _ in range(n)]
    return [first] * n


def _cut(
    rng: random.Random, bins: list[Size], pool: list[tuple[float, int, int]]
) -> tuple[list[int], float]:
    """Instances per pool size cut out of `bins`: each bin filled with random sizes until
    none goes on; and the share of memory they take."""
    counts = [0] * len(pool)
    sizes = [units(*p) for p in pool]
    used = 0
    for cap in bins:
        room = list(cap)
        while True:
            fits = [k for k, s in enumerate(sizes) if all(s[r] <= room[r] for r in range(3))]
            if not fits:
                break
            k = rng.choice(fits)
            counts[k] += 1
            for r in range(3):
                room[r] -= sizes[k][r]
            used += sizes[k][1]
    return counts, used / sum(b[1] for b in bins)


def _factors(
    rng: random.Random, counts: list[int], teams: list[str], team_of: list[int]
) -> tuple[list[int], dict[str, float]]:
    """Base instances and scale entries such that ceil(base × factor) is `counts`: a factor
    per team, a service's own where its team's cannot give its count (1 where no factor
    of 1.5-4 can: a single instance stays one)."""
    team_factor = [rng.choice(FACTORS) for _ in teams]
    scale: dict[str, float] = {f"team:{t}": team_factor[i] for i, t in enumerate(teams)}
    base = []
    for k, m in enumerate(counts):
        f = team_factor[team_of[k]]
        n = next((n for n in range(1, m + 1) if scaled_count(n, f) == m), None)
        if n is None:
            options = [(g, n) for g in FACTORS for n in range(1, m + 1) if scaled_count(n, g) == m]
            if options:
                g, n = rng.choice(options)
            else:
                g, n = 1.0, m
            scale[f"s{k:02d}"] = g
        base.append(n)
    return base, scale


def _make(
    rng: random.Random,
    index: int,
    kind: str,
    agents: list[tuple[float, float, float]],
    shape: tuple[float, float, float],
    pool: list[tuple[float, int, int]],
    counts: list[int],
    fill: float,
) -> Case | None:
    keep = [k for k, c in enumerate(counts) if c > 0]
    if not 5 <= len(keep) <= 15:
        return None
    teams = [f"t{index:03d}{chr(97 + i)}" for i in range(rng.randint(1, 3))]
    team_of = [rng.randrange(len(teams)) for _ in keep]
    base, scale = _factors(rng, [counts[k] for k in keep], teams, team_of)
    services = tuple(
        Service(f"s{j:02d}", teams[team_of[j]], *pool[k], base[j], counts[k])
        for j, k in enumerate(keep)
    )
    # the base must fit the existing agents (PUT accepted); by this bench's own first fit,
    # with room to spare, so that berth's check surely takes it
    base_demand = [(s.base, s.size) for s in services]
    existing = [units(*a) for a in agents]
    for r in range(3):
        if sum(c * s[r] for c, s in base_demand) > 0.85 * sum(a[r] for a in existing):
            return None
    if first_fit(existing, base_demand, (1, 1, 1)) != 0:
        return None
    used = {teams[team_of[j]] for j in range(len(keep))}
    scale = {k: v for k, v in scale.items() if not k.startswith("team:") or k[5:] in used}
    return Case(index, kind, tuple(agents), shape, services, tuple(sorted(scale.items())), fill)


def generate(rng: random.Random, index: int, kind: str) -> Case | None:
    """A case of `kind` ("tight", "cut", "loose"; "frag": loose or cut with sizes up to
    60% of the smallest agent, which cases() keeps only where the optimum is above the
    volume bound), or None when the draw does not make one."""
    agents = _cluster(rng)
    shape = rng.choice(NEW_SHAPES)
    smallest = tuple(min(units(*a)[r] for a in [*agents, shape]) for r in range(3))
    frag = kind == "frag"
    if frag:
        kind = rng.choice(("loose", "cut"))
    pool = _pool(rng, rng.randint(6, 16), smallest, 0.6 if frag else 0.5)  # type: ignore[arg-type]
    case = _generate(rng, index, kind, agents, shape, pool)
    if case is not None and frag:
        case = Case(**{**case.__dict__, "kind": "frag:" + case.kind})
    return case


def _generate(
    rng: random.Random,
    index: int,
    kind: str,
    agents: list[tuple[float, float, float]],
    shape: tuple[float, float, float],
    pool: list[tuple[float, int, int]],
) -> Case | None:
    if kind == "loose":
        target = rng.uniform(0.35, 0.75)
        cap = [sum(units(*a)[r] for a in agents) for r in range(3)]
        counts = [0] * len(pool)
        load = [0, 0, 0]
        for k in rng.sample(range(len(pool)), len(pool)):
            s = units(*pool[k])
            n = rng.randint(1, 6)
            if all(load[r] + n * s[r] <= target * cap[r] for r in range(3)):
                counts[k] = n
                load = [load[r] + n * s[r] for r in range(3)]
        teams = [f"t{index:03d}{chr(97 + i)}" for i in range(rng.randint(1, 3))]
        keep = [k for k, c in enumerate(counts) if c > 0]
        if not 5 <= len(keep) <= 15:
            return None
        team_of = [rng.randrange(len(teams)) for _ in keep]
        factor = {t: rng.choice(FACTORS) for t in teams}
        scale: dict[str, float] = {f"team:{t}": factor[t] for t in teams}
        services = []
        for j, k in enumerate(keep):
            f = factor[teams[team_of[j]]]
            if rng.random() < 0.25:
                f = rng.choice(FACTORS)
                scale[f"s{j:02d}"] = f
            services.append(
                Service(
                    f"s{j:02d}",
                    teams[team_of[j]],
                    *pool[k],
                    counts[k],
                    scaled_count(counts[k], f),
                )
            )
        existing = [units(*a) for a in agents]
        if first_fit(existing, [(s.base, s.size) for s in services], (1, 1, 1)) != 0:
            return None
        used = {s.team for s in services}
        scale = {k: v for k, v in scale.items() if not k.startswith("team:") or k[5:] in used}
        return Case(
            index, kind, tuple(agents), shape, tuple(services), tuple(sorted(scale.items())), 0.0
        )
    k = 0 if kind == "tight" else rng.randint(1, 4)
    bins = [units(*a) for a in agents] + [units(*shape)] * k
    counts, fill = _cut(rng, bins, pool)
    lo, hi = (0.96, 0.995) if k == 0 else (0.93, 0.99)
    if not lo <= fill <= hi:
        return None
    return _make(rng, index, "tight" if k == 0 else f"cut+{k}", agents, shape, pool, counts, fill)


KINDS = ("tight", "cut", "loose", "frag")


def cases(
    count: int,
    seed: int,
    seconds: float,
    mix: bool = False,
    kinds: tuple[str, ...] | None = None,
) -> tuple[list[Case], int]:
    """`count` cases whose optimum CP-SAT proves, of `kinds` in turn (all four; for a
    mix cut, loose, cut: it is asked where agents must be added); and how many
    candidates it took."""
    rng = random.Random(seed)
    if kinds is None:
        kinds = ("cut", "loose", "cut") if mix else KINDS
    elif mix:
        kinds = tuple(k for k in kinds if k != "tight") or ("cut",)
    out: list[Case] = []
    tried = 0
    while len(out) < count:
        tried += 1
        kind = kinds[len(out) % len(kinds)]
        case = generate(rng, len(out), kind)
        if case is None:
            continue
        if mix:
            names = rng.sample(range(len(PRICED)), rng.randint(2, 4))
            priced = tuple(
                (PRICED[i][0], *PRICED[i][1:4], round(PRICED[i][4] * rng.uniform(0.9, 1.1), 3))
                for i in sorted(names)
            )
            case = Case(**{**case.__dict__, "priced": priced})
            state, best, counts = cheapest_mix(case, seconds)
            if state != "optimal" or not best:
                continue
            out.append(Case(**{**case.__dict__, "best_cost": best, "best_mix": counts}))
            continue
        state, best, ffd = fewest_extra(case, seconds)
        if state != "optimal" or best is None or best > 6:
            continue
        if case.kind.startswith("frag") and best <= volume_bound(case):
            continue
        out.append(Case(**{**case.__dict__, "optimum": best, "ffd": ffd}))
    return out, tried


# --- berth, over HTTP -----------------------------------------------------------------------


class Berth:
    """berth under gunicorn on a fresh SQLite file, asked over HTTP as an admin (as
    bench.verdict_quality starts it)."""

    def __init__(self, stack: ExitStack, workers: int) -> None:
        self.base, self.http = start_berth_on_sqlite(stack, workers)

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, timeout=300)

    def ok(self, method: str, path: str, body: Any = None) -> requests.Response:
        r = self.call(method, path, body)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:400]}")
        return r


def seed(berth: Berth, case: Case, prefix: str) -> tuple[str, list[int]]:
    """The case's cluster (a simulator of its own, synced, then stopped), environment,
    services and allocations; the environment's name and the PUTs' status codes."""
    from simulator import Simulator, serve

    env = f"{prefix}{case.index:03d}"
    for s in case.services:
        body = {"name": f"{env}-{s.name}", "runtime": "java", "team": s.team, "ports": []}
        berth.ok("POST", "/services", body)
    sim = Simulator(agents=0, seed=case.index)
    for cpus, mem, disk in case.agents:
        sim.add_agent(cpus=cpus, mem=mem, disk=disk, ports="[31000-32000]")
    with ExitStack() as stack:
        server = stack.enter_context(serve(sim))
        cluster = {
            "name": env,
            "mesos_masters": [server.url],
            "marathon_url": server.url,
            "port_ranges": ["31000-32000"],
            "executor_cpus": 0,
            "executor_mem": 0,
            "concurrent_deploys": 0,
        }
        berth.ok("POST", "/clusters", cluster)
        berth.ok(
            "POST",
            "/environments",
            {"name": env, "cluster": env, "marathon_group": f"/{env}", "headroom": 0},
        )
        berth.ok("POST", f"/clusters/{env}/sync")
    codes = []
    for s in case.services:
        body = {
            "cpus": s.cpus,
            "mem": s.mem,
            "disk": s.disk,
            "instances": s.base,
            "upgrade_strategy": {"minimum_health_capacity": 0, "maximum_over_capacity": 0},
        }
        codes.append(
            berth.call("PUT", f"/environments/{env}/allocations/{env}-{s.name}", body).status_code
        )
    return env, codes


def plan_body(case: Case, env: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    scale = {(k if k.startswith("team:") else f"{env}-{k}"): f for k, f in case.scale}
    return {
        "environment": env,
        "scale": scale,
        "window": [(now + timedelta(days=1)).isoformat(), (now + timedelta(days=3)).isoformat()],
    }


def scaled_as_expected(case: Case, env: str, answer: dict[str, Any]) -> list[str]:
    """Services whose instances after the plan are not what this bench computed."""
    after = {s["service"]: s["instances_after"] for s in answer.get("services", [])}
    return [
        f"{s.name}: {after.get(f'{env}-{s.name}', s.base)} instead of {s.scaled}"
        for s in case.services
        if after.get(f"{env}-{s.name}", s.base) != s.scaled
    ]


def proven_claim(answer: dict[str, Any]) -> bool | None:
    """Whether the answer says its k − 1 is settled: a top-level `proven` if it has one,
    else `checked.does_not_fit.proven`; None when there is no k − 1 (k = 0 or none)."""
    if isinstance(answer.get("proven"), bool):
        return bool(answer["proven"])
    below = (answer.get("checked") or {}).get("does_not_fit")
    if isinstance(below, dict) and isinstance(below.get("proven"), bool):
        return bool(below["proven"])
    return None


def _gib(mem: float) -> str:
    return f"{mem / 1024:g}G"


def describe(case: Case) -> list[str]:
    """The case as the engineer fixing the planner needs it."""
    agents = Counter(case.agents)
    cluster = ", ".join(
        f"{n}× {c:g}c/{_gib(m)}/{d:g}MiB disk" for (c, m, d), n in sorted(agents.items())
    )
    lines = [f"cluster: {cluster}"]
    if case.priced:
        lines.append(
            "shapes: "
            + ", ".join(f"{n} {c:g}c/{_gib(m)} at {p:g}" for n, c, m, _, p in case.priced)
        )
    else:
        c, m, d = case.shape
        lines.append(f"new agents: {c:g}c/{_gib(m)}/{d:g}MiB disk")
    lines.append("scale: " + ", ".join(f"{k} ×{f:g}" for k, f in case.scale))
    lines.append(
        "services (cpus/mem MiB/disk MiB: instances before → after): "
        + "; ".join(
            f"{s.name} {s.cpus:g}/{s.mem}/{s.disk}: {s.base}→{s.scaled}" for s in case.services
        )
    )
    need = [sum(c * s[r] for c, s in case.demand()) for r in range(3)]
    have = [sum(a[r] for a in case.existing()) for r in range(3)]
    lines.append(
        f"scaled demand {need[0] / 1000:g} cpus, {need[1]} MiB, {need[2]} MiB disk on "
        f"{have[0] / 1000:g} cpus, {have[1]} MiB, {have[2]} MiB disk in the cluster"
    )
    return lines


def case_json(case: Case) -> dict[str, Any]:
    return {
        "kind": case.kind,
        "agents": [list(a) for a in case.agents],
        "shape": list(case.shape),
        "priced": [list(p) for p in case.priced],
        "scale": dict(case.scale),
        "services": [
            {
                "name": s.name,
                "team": s.team,
                "cpus": s.cpus,
                "mem": s.mem,
                "disk": s.disk,
                "instances": s.base,
                "instances_after": s.scaled,
            }
            for s in case.services
        ],
        "optimum": case.optimum,
        "best_cost": case.best_cost,
        "best_mix": case.best_mix,
    }


# --- part A: fewest extra agents of one shape ----------------------------------------------


def part_a(berth: Berth, found: list[Case]) -> dict[str, Any]:
    tally: Counter[str] = Counter()
    times: list[float] = []
    off: list[dict[str, Any]] = []
    proven_at: Counter[str] = Counter()
    settled: Counter[str] = Counter()
    above_bound = 0  # answers above berth's own lower bound: k − 1 needed a search
    bound_wrong: list[str] = []  # berth's lower bound above the optimum: a bug
    exact: list[float] = []
    for case in found:
        env, codes = seed(berth, case, "pa")
        if any(c not in (200, 201) for c in codes):
            tally["base refused"] += 1
            off.append(
                {
                    **case_json(case),
                    "case": env,
                    "what": f"a PUT of the base refused: {codes}",
                    "describe": describe(case),
                }
            )
            continue
        body = plan_body(case, env)
        c, m, d = case.shape
        body["agent_shape"] = {"cpus": c, "mem": m, "disk": d}
        start = time.perf_counter()
        r = berth.call("POST", "/plans", body)
        times.append(time.perf_counter() - start)
        if r.status_code != 201:
            tally["error"] += 1
            off.append(
                {
                    "case": env,
                    "what": f"POST /plans {r.status_code}: {r.text[:300]}",
                    "describe": describe(case),
                    **case_json(case),
                }
            )
            continue
        answer = r.json()
        wrong = scaled_as_expected(case, env, answer)
        k = answer.get("extra_agents")
        claim = proven_claim(answer)
        assert case.optimum is not None
        if wrong:
            verdict = "scaled otherwise"
        elif k is None:
            verdict = "none"
        elif k == case.optimum:
            verdict = "equal"
            proven_at[f"equal, proven {claim}"] += 1
        elif k > case.optimum:
            verdict = "above"
            proven_at[f"above, proven {claim}"] += 1
        else:
            verdict = "below"
        tally[verdict] += 1
        # how k − 1 was settled: "fits now" (k = 0), by a bound, or by a search
        below = (answer.get("checked") or {}).get("does_not_fit") or {}
        settled[below.get("by", "fits now" if k == 0 else "?")] += 1
        if k is not None and (answer.get("lower_bound") or 0) < k:
            above_bound += 1
        if (answer.get("lower_bound") or 0) > case.optimum:
            bound_wrong.append(f"{env}: lower_bound {answer.get('lower_bound')} > {case.optimum}")
        exact.append(float(answer.get("exact_search_seconds") or 0.0))
        if verdict != "equal":
            off.append(
                {
                    "case": env,
                    "what": verdict,
                    "extra_agents": k,
                    "optimum": case.optimum,
                    "ffd": case.ffd,
                    "lower_bound": answer.get("lower_bound"),
                    "proven": claim,
                    "proven_top_level": answer.get("proven"),
                    "exact_search_seconds": answer.get("exact_search_seconds"),
                    "checked": answer.get("checked"),
                    "advice": answer.get("advice"),
                    "scaled_otherwise": wrong,
                    "seconds": round(times[-1], 3),
                    "describe": describe(case),
                    **case_json(case),
                }
            )
    return {
        "tally": tally,
        "times": times,
        "off": off,
        "proven": proven_at,
        "settled": settled,
        "above_bound": above_bound,
        "bound_wrong": bound_wrong,
        "exact": exact,
    }


# --- part B: the cheapest mix of shapes -----------------------------------------------------


def judge_mix(case: Case, answer: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The answer's mix against the optimum: within 5%, above, below (a bug), its own gap."""
    assert case.best_cost is not None
    mix = answer.get("mix")
    out: dict[str, Any] = {"optimum": case.best_cost, "best_mix": case.best_mix}
    if not isinstance(mix, dict) or mix.get("cost") is None:
        out["verdict"] = "no mix"
        return out
    counts = {s["name"]: int(s.get("count", 0)) for s in mix.get("shapes", [])}
    asked = {name for name, *_ in case.priced}
    out["counts"] = counts
    if set(counts) - asked:
        out["verdict"] = f"unknown shapes {sorted(set(counts) - asked)}"
        return out
    prices = {name: p for name, *_, p in case.priced}
    recomputed = sum(prices[n] * c for n, c in counts.items())
    cost = float(mix["cost"])
    out["cost"] = cost
    out["stated_gap"] = mix.get("gap")
    out["proven"] = mix.get("proven")
    if abs(recomputed - cost) > 1e-6 * max(1.0, cost):
        out["cost_mismatch"] = recomputed
    out["ratio"] = (
        cost / case.best_cost if case.best_cost > 0 else (1.0 if cost <= 1e-9 else math.inf)
    )
    bound = (mix.get("lower_bound") or {}).get("cost")
    out["lower_bound"] = bound
    if isinstance(bound, int | float) and bound > case.best_cost + 1e-6:
        out["bound_above_optimum"] = True  # a lower bound above the optimum: a bug
    if cost < case.best_cost - 1e-6:
        out["verdict"] = "below"
        out["mix_fits"] = mix_fits(case, counts, seconds)  # does it hold everything at all?
    elif cost <= case.best_cost + 1e-6:
        out["verdict"] = "optimum"
    elif cost <= 1.05 * case.best_cost + 1e-9:
        out["verdict"] = "within 5%"
    else:
        out["verdict"] = "above 5%"
    if out["verdict"] in ("within 5%", "above 5%") and mix.get("proven") is True:
        out["proven_but_above"] = True  # says it is the cheapest, and is not
    return out


def part_b(berth: Berth, found: list[Case], seconds: float) -> dict[str, Any]:
    judged: list[dict[str, Any]] = []
    times: list[float] = []
    for case in found:
        env, codes = seed(berth, case, "pb")
        if any(c not in (200, 201) for c in codes):
            judged.append(
                {
                    **case_json(case),
                    "case": env,
                    "verdict": f"a PUT of the base refused: {codes}",
                    "optimum": case.best_cost,
                    "describe": describe(case),
                }
            )
            continue
        body = plan_body(case, env)
        body["agent_shapes"] = [
            {"name": n, "cpus": c, "mem": m, "disk": d, "cost": p} for n, c, m, d, p in case.priced
        ]
        start = time.perf_counter()
        r = berth.call("POST", "/plans", body)
        times.append(time.perf_counter() - start)
        if r.status_code == 422 and "agent_shapes" in r.text:
            detail = r.json().get("detail", r.text[:200]) if r.text.startswith("{") else r.text
            return {"skipped": f"POST /plans refuses agent_shapes (422: {detail})"}
        if r.status_code != 201:
            judged.append(
                {
                    **case_json(case),
                    "case": env,
                    "verdict": f"http {r.status_code}",
                    "text": r.text[:300],
                    "optimum": case.best_cost,
                    "describe": describe(case),
                }
            )
            continue
        answer = r.json()
        if "mix" not in answer:
            return {
                "skipped": "the answer of POST /plans has no `mix` (the field is not there yet)"
            }
        got = judge_mix(case, answer, seconds)
        got["case"] = env
        got["seconds"] = round(times[-1], 3)
        if got["verdict"] != "optimum" or got.get("bound_above_optimum"):
            got["describe"] = describe(case)
            got["answer_mix"] = answer.get("mix")
        judged.append(got)
    return {"judged": judged, "times": times}


def mix_figures(judged: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts = Counter(j["verdict"] for j in judged)
    ratios = [j["ratio"] for j in judged if "ratio" in j and math.isfinite(j["ratio"])]
    gaps = [float(j["stated_gap"]) for j in judged if isinstance(j.get("stated_gap"), int | float)]
    known = ("optimum", "within 5%", "above 5%", "below", "no mix")
    return {
        "cases": len(judged),
        "optimum": verdicts["optimum"],
        "within_5pct": verdicts["optimum"] + verdicts["within 5%"],
        "above_5pct": verdicts["above 5%"],
        "below": verdicts["below"],
        "no_mix": verdicts["no mix"],
        "other": sum(v for k, v in verdicts.items() if k not in known),
        "proven_but_above": sum(1 for j in judged if j.get("proven_but_above")),
        "optimum_unproven": sum(
            1 for j in judged if j["verdict"] == "optimum" and j.get("proven") is False
        ),
        "bound_above_optimum": sum(1 for j in judged if j.get("bound_above_optimum")),
        "mean_ratio": round(statistics.fmean(ratios), 4) if ratios else None,
        "mean_stated_gap": round(statistics.fmean(gaps), 4) if gaps else None,
    }


def self_test(seconds: float) -> None:
    """Part B's judging on handwritten answers, no server: the optimum; one agent more of
    the dearest shape (honest, then saying proven); nothing added (below the optimum, and
    our model says it does not fit); a lower bound above the optimum; no mix."""
    found, _ = cases(3, 7, seconds, mix=True)
    case = found[0]
    assert case.best_cost is not None and case.best_cost > 0
    prices = {n: p for n, *_, p in case.priced}

    def answer(counts: dict[str, int], bound: float, proven: bool) -> dict[str, Any]:
        shapes = [
            {"name": n, "cpus": c, "mem": m, "disk": d, "cost": p, "count": counts.get(n, 0)}
            for n, c, m, d, p in case.priced
        ]
        cost = sum(prices[n] * k for n, k in counts.items())
        return {
            "mix": {
                "shapes": shapes,
                "agents": sum(counts.values()),
                "cost": cost,
                "lower_bound": {"cost": bound, "by": "volume"},
                "gap": cost / bound - 1 if bound else 0.0,
                "proven": proven,
                "binds": "mem",
            }
        }

    best, low = dict(case.best_mix), case.best_cost
    dearest = max(case.priced, key=lambda p: p[4])[0]
    more = {**best, dearest: best.get(dearest, 0) + 1}
    fewer = {n: 0 for n in best}
    asked = [
        ("the optimum", answer(best, low, True)),
        ("one more, honest", answer(more, 0.9 * low, False)),
        ("one more, says proven", answer(more, low, True)),
        ("nothing added", answer(fewer, 0.5 * low, False)),
        ("bound above the optimum", answer(best, 1.2 * low, True)),
        ("no mix", {"mix": None}),
    ]
    got = [judge_mix(case, a, seconds) for _, a in asked]
    print("self-test of Part B's judging on handwritten answers:")
    print("   " + "\n   ".join(describe(case)))
    for (label, _), g in zip(asked, got, strict=True):
        flags = [k for k in ("proven_but_above", "bound_above_optimum") if g.get(k)]
        print(
            f"   {label:>24}: {g['verdict']}, cost {g.get('cost')}, optimum {g['optimum']}, "
            f"fits {g.get('mix_fits', '-')}, flags {flags}"
        )
    assert got[0]["verdict"] == "optimum" and not got[0].get("bound_above_optimum"), got[0]
    assert got[1]["verdict"] in ("above 5%", "within 5%"), got[1]
    assert not got[1].get("proven_but_above") and got[2].get("proven_but_above"), got[1:3]
    assert got[3]["verdict"] == "below" and got[3]["mix_fits"] == "does not fit", got[3]
    assert got[4].get("bound_above_optimum"), got[4]
    assert got[5]["verdict"] == "no mix", got[5]
    print("   " + json.dumps(mix_figures([{**g, "case": "x"} for g in got])))
    print("self-test passed")


# --- the report -----------------------------------------------------------------------------


def _p(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else (values or [0.0])[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=40, help="part A")
    parser.add_argument("--mix-cases", type=int, default=30, help="part B (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kinds", help=f"only cases of these kinds, in turn (of {','.join(KINDS)})"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--cp-sat-seconds", type=float, default=20.0, help="per optimum")
    parser.add_argument("--dump", help="write every case off the optimum to this JSON file")
    parser.add_argument(
        "--self-test", action="store_true", help="check Part B's judging without a server"
    )
    args = parser.parse_args()
    if args.self_test:
        self_test(args.cp_sat_seconds)
        return
    began = time.perf_counter()
    kinds = tuple(args.kinds.split(",")) if args.kinds else None
    if kinds is not None and set(kinds) - set(KINDS):
        parser.error(f"--kinds: a comma-separated list of {', '.join(KINDS)}")
    found, tried = cases(args.cases, args.seed, args.cp_sat_seconds, kinds=kinds)
    mixes, mix_tried = (
        cases(args.mix_cases, args.seed + 1, args.cp_sat_seconds, mix=True, kinds=kinds)
        if args.mix_cases
        else ([], 0)
    )
    kinds = Counter(c.kind.split(":")[0].split("+")[0] for c in found)
    hard = sum(
        1 for c in found if c.ffd is not None and c.optimum is not None and c.ffd > c.optimum
    )
    print(
        f"bench.plan_minimality: {len(found)} cases with a proven optimum ({dict(kinds)}; "
        f"optimum {dict(sorted(Counter(c.optimum for c in found).items()))} extra agents; "
        f"{hard} where first fit decreasing misses it), {len(mixes)} mix cases; "
        f"{tried + mix_tried} generated, {time.perf_counter() - began:.0f} s to prove; "
        f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
        f"gunicorn {args.workers} workers, SQLite"
    )
    figures: dict[str, Any] = {"bench": "plan_minimality", "cases": len(found), "ffd_misses": hard}
    dump: dict[str, Any] = {}
    with ExitStack() as stack:
        berth = Berth(stack, args.workers)
        a = part_a(berth, found)
        tally, times = a["tally"], a["times"]
        n = len(found)
        above = tally["above"]
        above_unproven = a["proven"]["above, proven False"]
        print(
            f"A. fewest extra agents: {n} cases; equal to the optimum {tally['equal']}/{n} "
            f"({tally['equal'] / max(1, n):.1%}, target >= 95%); above {above} (saying "
            f"proven false: {above_unproven}/{above}, should be all); below {tally['below']} "
            f"(must be 0)"
            + "".join(
                f"; {k} {tally[k]}"
                for k in ("none", "scaled otherwise", "base refused", "error")
                if tally[k]
            )
        )
        print(
            f"   proven claims: {dict(sorted(a['proven'].items()))}; k − 1 settled by "
            f"{dict(a['settled'].most_common())}; answers above berth's own lower bound "
            f"{a['above_bound']}; exact search ran in "
            f"{sum(1 for x in a['exact'] if x > 0)} plans (max {max(a['exact'], default=0):.2f} s)"
            f"; berth's lower bound above the optimum {len(a['bound_wrong'])} (must be 0)"
        )
        for line in a["bound_wrong"]:
            print("   " + line)
        if times:
            print(
                f"   POST /plans: p50 {statistics.median(times):.3f} s, p90 {_p(times, 90):.3f} s, "
                f"max {max(times):.3f} s"
            )
        for o in a["off"]:
            print(
                f"   {o['case']} ({o.get('kind')}): {o['what']}: "
                f"extra_agents {o.get('extra_agents')} "
                f"vs optimum {o.get('optimum')} (own ffd {o.get('ffd')}, lower_bound "
                f"{o.get('lower_bound')}, proven {o.get('proven')}, exact search "
                f"{o.get('exact_search_seconds')} s, plan {o.get('seconds')} s)"
            )
            for line in o.get("describe", []):
                print("      " + line)
            if o.get("checked"):
                print(f"      checked: {json.dumps(o['checked'])}")
        figures.update(
            {
                "equal": tally["equal"],
                "above": above,
                "above_proven_false": above_unproven,
                "below": tally["below"],
                "other": n - tally["equal"] - above - tally["below"],
                "p50_s": round(statistics.median(times), 3) if times else None,
                "max_s": round(max(times), 3) if times else None,
                "above_bound": a["above_bound"],
                "bound_above_optimum": len(a["bound_wrong"]),
                "off": [
                    {
                        "case": o["case"],
                        "kind": o.get("kind"),
                        "extra_agents": o.get("extra_agents"),
                        "optimum": o.get("optimum"),
                        "proven": o.get("proven"),
                    }
                    for o in a["off"][:10]
                ],
            }
        )
        dump["part_a"] = a["off"]
        if mixes:
            b = part_b(berth, mixes, args.cp_sat_seconds)
            if "skipped" in b:
                print(f"B. cheapest mix: skipped: {b['skipped']}")
                figures["mix"] = {"skipped": b["skipped"][:120]}
            else:
                f = mix_figures(b["judged"])
                m = f["cases"]
                print(
                    f"B. cheapest mix: {m} cases; cost <= 1.05 × optimum {f['within_5pct']}/{m} "
                    f"({f['within_5pct'] / max(1, m):.1%}, target >= 90%; at the optimum "
                    f"{f['optimum']}); above 5% {f['above_5pct']}; below the optimum "
                    f"{f['below']} (must be 0); no mix {f['no_mix']}"
                    + (f"; errors {f['other']}" if f["other"] else "")
                )
                print(
                    f"   mean found/optimum {f['mean_ratio']}; mean stated gap "
                    f"{f['mean_stated_gap']}; at the optimum without proving it "
                    f"{f['optimum_unproven']}; above the optimum yet saying proven "
                    f"{f['proven_but_above']} (must be 0); stated lower bound above the "
                    f"optimum {f['bound_above_optimum']} (must be 0)"
                )
                if b["times"]:
                    print(
                        "   POST /plans with agent_shapes: "
                        f"p50 {statistics.median(b['times']):.3f} s, "
                        f"max {max(b['times']):.3f} s"
                    )
                for j in b["judged"]:
                    if j["verdict"] == "optimum" and not j.get("bound_above_optimum"):
                        continue
                    print(
                        f"   {j['case']}: {j['verdict']}: "
                        f"cost {j.get('cost')} {j.get('counts')} vs "
                        f"optimum {j.get('optimum')} {j.get('best_mix')}; stated gap "
                        f"{j.get('stated_gap')}, lower bound {j.get('lower_bound')}, proven "
                        f"{j.get('proven')}"
                        + (
                            f"; the mix fits by our model: {j['mix_fits']}"
                            if "mix_fits" in j
                            else ""
                        )
                    )
                    for line in j.get("describe", []):
                        print("      " + line)
                    if j.get("text"):
                        print(f"      answer: {j['text'][:300]}")
                    if j.get("answer_mix"):
                        print(f"      mix: {json.dumps(j['answer_mix'])}")
                figures["mix"] = {
                    **f,
                    "p50_s": round(statistics.median(b["times"]), 3) if b["times"] else None,
                }
                dump["part_b"] = [
                    j
                    for j in b["judged"]
                    if j["verdict"] != "optimum" or j.get("bound_above_optimum")
                ]
    if args.dump:
        Path(args.dump).write_text(json.dumps(dump, indent=1, default=str))
        print(f"cases off the optimum written to {args.dump}")
    figures["total_s"] = round(time.perf_counter() - began, 1)
    print(f"whole run {figures['total_s']} s")
    print(json.dumps(figures))
    sys.exit(0)


if __name__ == "__main__":
    main()
