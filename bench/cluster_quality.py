"""Quality of `place()` on generated, cluster-shaped problems with ports and constraints.

Two tables:

1. Agents used / lower bound on clusters of 50 to 400 agents, fast and thorough effort.
2. On small problems (at most 60 instances), the gap to the optimum proven by OR-Tools
   CP-SAT (fewest agents used, with the same rules: resources after headroom, host ports,
   UNIQUE, MAX_PER, GROUP_BY, CLUSTER, IS, LIKE, UNLIKE).

    .venv/bin/python -m bench.cluster_quality [--small 200] [--large 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from allocator.model import Agent, Demand, Placement
from allocator.placement import place

SHAPES = ((4.0, 16384.0, 100_000.0), (8.0, 32768.0, 200_000.0), (16.0, 65536.0, 400_000.0))
PORTS = (31000, 32000)


@dataclass(frozen=True)
class Case:
    name: str
    agents: tuple[Agent, ...]
    demands: tuple[Demand, ...]


def _agents(rng: random.Random, n: int) -> list[Agent]:
    racks = max(2, n // 4)
    out = []
    for i in range(n):
        cpus, mem, disk = rng.choice(SHAPES)
        busy = rng.choice((0.0, 0.0, 0.0, 0.1, 0.25))
        taken = sorted(rng.sample(range(PORTS[0], PORTS[1] + 1), rng.randint(0, 3)))
        ranges, at = [], PORTS[0]
        for p in taken:
            if p > at:
                ranges.append((at, p - 1))
            at = p + 1
        ranges.append((at, PORTS[1]))
        out.append(
            Agent(
                id=f"a{i:03d}",
                hostname=f"host-{i:03d}",
                cpus=cpus * (1 - busy),
                mem=mem * (1 - busy),
                disk=disk * (1 - busy),
                ports=tuple(ranges),
                attributes={"rack": f"r{i % racks}", "zone": "abc"[i % 3]},
                total_cpus=cpus,
                total_mem=mem,
                total_disk=disk,
            )
        )
    return out


CONSTRAINTS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (),
    (),
    (("hostname", "UNIQUE"),),
    (("hostname", "UNIQUE"),),
    (("rack", "MAX_PER", "2"),),
    (("zone", "GROUP_BY"),),
    (("zone", "IS", "a"),),
    (("zone", "LIKE", "[ab]"),),
    (("zone", "UNLIKE", "c"),),
    (("rack", "CLUSTER"),),
    (("hostname", "UNIQUE"), ("zone", "GROUP_BY")),
)


def _demands(rng: random.Random, n: int, max_count: int, port_share: float) -> list[Demand]:
    out = []
    next_port = PORTS[0] + 5
    for i in range(n):
        count = rng.randint(1, max_count)
        ports: tuple[int, ...] = ()
        if rng.random() < port_share:
            ports = (next_port,)
            next_port += 1
        out.append(
            Demand(
                key=f"svc-{i:03d}",
                count=count,
                cpus=rng.choice((0.25, 0.5, 1.0, 1.0, 2.0, 3.0)) + 0.1,
                mem=rng.choice((512, 1024, 2048, 2048, 4096, 6144, 8192)) + 32.0,
                disk=float(rng.choice((0, 0, 1024, 4096, 16384))),
                ports=ports,
                constraints=rng.choice(CONSTRAINTS),
                headroom=rng.choice((0.0, 0.0, 0.0, 0.1)),
                label=f"svc-{i:03d} (production)",
            )
        )
    return out


def small_case(seed: int) -> Case:
    """At most 60 instances on 4 to 16 agents, sized to fill roughly 40-90% of the cluster."""
    rng = random.Random(seed)
    agents = _agents(rng, rng.randint(4, 16))
    demands = _demands(rng, rng.randint(3, 14), 4, 0.5)
    while sum(d.count for d in demands) > 60:
        demands.pop()
    demands = _load(demands, agents, rng.uniform(0.3, 0.8))
    return Case(f"small-{seed}", tuple(agents), tuple(demands))


def _load(demands: list[Demand], agents: list[Agent], target: float) -> list[Demand]:
    """The first demands that together ask at most `target` of the cluster's cpus and mem."""
    cpus = sum(a.cpus for a in agents)
    mem = sum(a.mem for a in agents)
    keep: list[Demand] = []
    used = [0.0, 0.0]
    for d in demands:
        c, m = used[0] + d.cpus * d.count, used[1] + d.mem * d.count
        if c <= target * cpus and m <= target * mem:
            keep.append(d)
            used = [c, m]
    return keep or demands[:1]


def large_case(seed: int) -> Case:
    rng = random.Random(10_000 + seed)
    n = rng.choice((50, 100, 200, 400))
    agents = _agents(rng, n)
    demands = _demands(rng, n * 3, 4, 0.6)
    return Case(f"large-{seed}-{n}", tuple(agents), tuple(_load(demands, agents, 0.75)))


# --- the exact model -------------------------------------------------------------------------


def optimum(case: Case, seconds: float) -> tuple[str, int | None]:
    """("optimal" | "feasible" | "infeasible" | "unknown", fewest agents) by CP-SAT."""
    from ortools.sat.python import cp_model

    agents, demands = case.agents, case.demands
    m = cp_model.CpModel()
    nb = len(agents)
    n = {}
    for k, d in enumerate(demands):
        for b in range(nb):
            n[k, b] = m.new_int_var(0, d.count, f"n{k}_{b}")
        m.add(sum(n[k, b] for b in range(nb)) == d.count)
    used = [m.new_bool_var(f"u{b}") for b in range(nb)]
    on = {}
    for k, d in enumerate(demands):
        for b in range(nb):
            on[k, b] = m.new_bool_var(f"on{k}_{b}")
            m.add(n[k, b] <= d.count * on[k, b])
            m.add(n[k, b] >= on[k, b])
            m.add_implication(on[k, b], used[b])
    scale = (1000, 1, 1)  # cpus in thousandths; mem, disk in MiB
    for b, a in enumerate(agents):
        free = (a.cpus, a.mem, a.disk)
        total = (a.total_cpus or a.cpus, a.total_mem or a.mem, a.total_disk or a.disk)
        for r in range(3):
            load = sum(
                n[k, b] * round((d.cpus, d.mem, d.disk)[r] * scale[r])
                for k, d in enumerate(demands)
            )
            m.add(load <= math.floor(free[r] * scale[r] + 1e-6))
            for k, d in enumerate(demands):
                if d.headroom > 0:
                    cap = math.floor((free[r] - d.headroom * total[r]) * scale[r] + 1e-6)
                    m.add(load <= cap).only_enforce_if(on[k, b])
    # host ports: inside the agent's ranges, at most one instance per port and agent
    ports: dict[int, list[int]] = {}
    for k, d in enumerate(demands):
        for p in d.ports:
            ports.setdefault(p, []).append(k)
    for p, ks in ports.items():
        for b, a in enumerate(agents):
            if not any(lo <= p <= hi for lo, hi in a.ports):
                for k in ks:
                    m.add(n[k, b] == 0)
            else:
                m.add(sum(n[k, b] for k in ks) <= 1)
    # constraints, counted per (group, field, operator) like allocator.constraints
    distinct = {}
    for d in demands:
        for c in d.constraints:
            distinct[c[0]] = len({a.attribute(c[0]) for a in agents} - {None})
    totals: dict[str, int] = {}
    for d in demands:
        totals[d.constraint_group] = totals.get(d.constraint_group, 0) + d.count
    counted: dict[tuple[str, str, str], tuple[list[int], int]] = {}
    for k, d in enumerate(demands):
        for c in d.constraints:
            attr, op = c[0], c[1]
            arg = c[2] if len(c) > 2 else None
            for b, a in enumerate(agents):
                value = a.attribute(attr)
                bad = (
                    (op == "IS" and value != arg)
                    or (op == "LIKE" and (value is None or not re.fullmatch(arg or "", value)))
                    or (op == "UNLIKE" and value is not None and re.fullmatch(arg or "", value))
                    or (op == "CLUSTER" and arg and value != arg)
                    or (op in ("UNIQUE", "MAX_PER", "GROUP_BY", "CLUSTER") and value is None)
                )
                if bad:
                    m.add(n[k, b] == 0)
            key = (d.constraint_group, attr, op)
            if op == "UNIQUE":
                limit = 1
            elif op == "MAX_PER":
                limit = int(arg or 1)
            elif op == "GROUP_BY":
                limit = math.ceil(
                    totals[d.constraint_group] / (int(arg) if arg else max(1, distinct[attr]))
                )
            elif op == "CLUSTER" and not arg:
                limit = -1
            else:
                continue
            ks, old = counted.get(key, ([], limit))
            counted[key] = (ks + [k], min(old, limit) if limit >= 0 else -1)
    for (_, attr, _op), (ks, limit) in counted.items():
        values: dict[str | None, list[int]] = {}
        for b, a in enumerate(agents):
            values.setdefault(a.attribute(attr), []).append(b)
        if limit >= 0:
            for v, bs in values.items():
                if v is not None:
                    m.add(sum(n[k, b] for k in ks for b in bs) <= limit)
        else:
            pick = {v: m.new_bool_var(f"c{attr}{v}") for v in values if v is not None}
            m.add_exactly_one(pick.values())
            for v, bs in values.items():
                if v is None:
                    continue
                for k in ks:
                    for b in bs:
                        m.add(n[k, b] <= demands[k].count * pick[v])
    m.minimize(sum(used))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 1
    status = solver.solve(m)
    names = {
        cp_model.OPTIMAL: "optimal",
        cp_model.FEASIBLE: "feasible",
        cp_model.INFEASIBLE: "infeasible",
    }
    state = names.get(status, "unknown")
    value = round(solver.objective_value) if state in ("optimal", "feasible") else None
    return state, value


# --- the report --------------------------------------------------------------------------


def violations(agents: Sequence[Agent], demands: Sequence[Demand], result: Placement) -> list[str]:
    """What a placement breaks, checked from scratch (independently of the allocator)."""
    by_id = {a.id: a for a in agents}
    out: list[str] = []
    load: dict[str, list[float]] = {}
    keep: dict[str, float] = {}
    ports: dict[str, list[int]] = {}
    spread: dict[tuple[str, str, str], dict[str | None, int]] = {}
    totals: dict[str, int] = {}
    for d in demands:
        totals[d.constraint_group] = totals.get(d.constraint_group, 0) + d.count
    for d in demands:
        for agent_id in result.assignments[d.key]:
            a = by_id[agent_id]
            acc = load.setdefault(agent_id, [0.0, 0.0, 0.0])
            for r, size in enumerate((d.cpus, d.mem, d.disk)):
                acc[r] += size
            keep[agent_id] = max(keep.get(agent_id, 0.0), d.headroom)
            for p in d.ports:
                if not any(lo <= p <= hi for lo, hi in a.ports):
                    out.append(f"{d.key}: port {p} outside the ranges of {agent_id}")
                ports.setdefault(agent_id, []).append(p)
            for c in d.constraints:
                attr, op = c[0], c[1]
                arg = c[2] if len(c) > 2 else None
                value = a.attribute(attr)
                if op == "IS" and value != arg:
                    out.append(f"{d.key} on {agent_id}: IS {attr} {arg}")
                if op == "LIKE" and (value is None or not re.fullmatch(arg or "", value)):
                    out.append(f"{d.key} on {agent_id}: LIKE {attr} {arg}")
                if op == "UNLIKE" and value is not None and re.fullmatch(arg or "", value):
                    out.append(f"{d.key} on {agent_id}: UNLIKE {attr} {arg}")
                if op == "CLUSTER" and arg and value != arg:
                    out.append(f"{d.key} on {agent_id}: CLUSTER {attr} {arg}")
                if op in ("UNIQUE", "MAX_PER", "GROUP_BY", "CLUSTER"):
                    if value is None:
                        out.append(f"{d.key} on {agent_id}: {op} {attr} without a value")
                    key = (d.constraint_group, attr, op)
                    seen = spread.setdefault(key, {})
                    seen[value] = seen.get(value, 0) + 1
    for agent_id, acc in load.items():
        a = by_id[agent_id]
        free = (a.cpus, a.mem, a.disk)
        total = (a.total_cpus or a.cpus, a.total_mem or a.mem, a.total_disk or a.disk)
        for r in range(3):
            if acc[r] > free[r] - keep[agent_id] * total[r] + 1e-6:
                out.append(f"{agent_id} over capacity in resource {r}")
    for agent_id, held in ports.items():
        if len(held) != len(set(held)):
            out.append(f"{agent_id}: one port twice")
    for d in demands:
        for c in d.constraints:
            attr, op = c[0], c[1]
            arg = c[2] if len(c) > 2 else None
            seen = spread.get((d.constraint_group, attr, op), {})
            if op == "UNIQUE" and any(n > 1 for n in seen.values()):
                out.append(f"{d.key}: UNIQUE {attr}")
            if op == "MAX_PER" and any(n > int(arg or 1) for n in seen.values()):
                out.append(f"{d.key}: MAX_PER {attr} {arg}")
            if op == "GROUP_BY":
                over = int(arg) if arg else len({a.attribute(attr) for a in agents} - {None})
                if any(
                    n > math.ceil(totals[d.constraint_group] / max(1, over)) for n in seen.values()
                ):
                    out.append(f"{d.key}: GROUP_BY {attr}")
            if op == "CLUSTER" and not arg and len(seen) > 1:
                out.append(f"{d.key}: CLUSTER {attr} spans {len(seen)} values")
    return out


def _check(case: Case, result: Placement) -> None:
    broken = violations(case.agents, case.demands, result)
    assert not broken, f"{case.name}: {broken[:3]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=200, help="small cases for CP-SAT")
    parser.add_argument("--large", type=int, default=20, help="large cases (ratio to bound)")
    parser.add_argument("--seconds", type=float, default=10.0, help="CP-SAT limit per case")
    args = parser.parse_args()

    print("1. agents used / lower bound, clusters of 50-400 agents")
    rows: dict[str, list[float]] = {"fast": [], "thorough": []}
    times: dict[str, float] = {"fast": 0.0, "thorough": 0.0}
    at_bound = {"fast": 0, "thorough": 0}
    for seed in range(args.large):
        case = large_case(seed)
        for effort in ("fast", "thorough"):
            start = time.perf_counter()
            result = place(case.agents, case.demands, effort=effort)
            times[effort] += time.perf_counter() - start
            _check(case, result)
            if result.fits:
                rows[effort].append(result.agents_used / result.lower_bound)
                at_bound[effort] += result.agents_used == result.lower_bound
    for effort, ratios in rows.items():
        print(
            f"   {effort:<9} {len(ratios):>3} cases that fit: used/bound mean "
            f"{statistics.fmean(ratios):.4f}, max {max(ratios):.4f}, at the bound "
            f"{at_bound[effort]}; {times[effort] / max(1, args.large):.2f} s per case"
        )

    figures: dict[str, object] = {
        "bench": "cluster_quality",
        "large_cases": args.large,
        "used_over_bound": {e: round(statistics.fmean(r), 4) for e, r in rows.items() if r},
    }
    print(f"2. gap to the CP-SAT optimum, {args.small} small cases (<= 60 instances)")
    tally = {"fast": [0, 0, 0], "thorough": [0, 0, 0]}  # zero gap, gap, ours unplaced
    proven = infeasible = unknown = 0
    misses: list[str] = []
    start = time.perf_counter()
    for seed in range(args.small):
        case = small_case(seed)
        state, best = optimum(case, args.seconds)
        if state == "infeasible":
            infeasible += 1
            for effort in ("fast", "thorough"):
                assert not place(case.agents, case.demands, effort=effort).fits
            continue
        if state != "optimal" or best is None:
            unknown += 1
            continue
        proven += 1
        for effort in ("fast", "thorough"):
            result = place(case.agents, case.demands, effort=effort)
            _check(case, result)
            if not result.fits:
                tally[effort][2] += 1
                misses.append(f"{case.name} {effort}: {len(result.unplaced)} unplaced")
            elif result.agents_used == best:
                tally[effort][0] += 1
            else:
                assert result.agents_used > best, f"{case.name}: beat the optimum?"
                tally[effort][1] += 1
                if effort == "thorough":
                    misses.append(f"{case.name}: {result.agents_used} vs {best}")
    print(
        f"   CP-SAT: {proven} proven optimal, {infeasible} proven infeasible (ours agree), "
        f"{unknown} not proven in {args.seconds:g} s; {time.perf_counter() - start:.0f} s"
    )
    for effort, (zero, gap, failed) in tally.items():
        print(
            f"   {effort:<9} zero gap {zero}/{proven} ({zero / max(1, proven):.1%}), "
            f"more agents {gap}, not placed although it fits {failed}"
        )
    for line in misses[:10]:
        print("     " + line)
    figures["proven_optimal"] = proven
    figures["zero_gap"] = {e: t[0] for e, t in tally.items()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
