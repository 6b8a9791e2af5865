"""What-if plans: the fewest extra agents of one shape that make scaled demands fit.

The answer k is checked both ways by placing everything: with k extra agents every
instance is placed, with k − 1 some are not (or k − 1 is below a lower bound, which
proves it). The lower bound is the larger of the volume bound (cpus, mem, disk in total,
less the smallest headroom) and the instances that can never share an agent (one host
port, a UNIQUE hostname group).

The search costs placements of the whole cluster (a quarter of a second each for 25,000
instances on 1,400 agents), so it places as few as it can. The full effort at the bound
tries every first-fit order and says which packs this cluster best (they differ by tens
of agents on large clusters); the search then leaps up from the bound with that order's
first fit alone, by what each miss leaves over, doubling, and bisects back; the full
effort then judges k − 1, and where it still fits (another order, a repair), the search
goes on below. As placement is a heuristic, "fits with k" is not strictly monotone in k;
the answer is still consistent (k fits, k − 1 does not) and never below the bound.

Monotone in the load: more instances never lower the bounds, and the search ends at a k
whose k − 1 fails, so a plan with higher factors lands at or above one with lower factors
unless the heuristic places more instances on k − 1 agents where it missed fewer; the
property tests check the answer never falls on generated clusters.

A plan may hold several scenarios (the sets of reservations active at different times
of its window): k must fit all of them.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from allocator.packing import ORDERS
from allocator.placement import Agent, Demand, Placement, Unplaced, place

RESOURCES = ("cpus", "mem", "disk")
EXTRA_PREFIX = "~plan-extra-"  # sorts after real agent ids: existing agents are filled first
_EPS = 1e-9


@dataclass(frozen=True)
class AgentShape:
    """The agents a plan would add: their size, free port ranges and attributes."""

    cpus: float
    mem: float
    disk: float
    ports: tuple[tuple[int, int], ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    # attribute → values the new agents take in turn (racks, zones), so that rules like
    # GROUP_BY rack can be met by adding agents, as an operator would spread them
    spread: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def attributes_of(self, i: int) -> dict[str, str]:
        """The attributes of the i-th new agent (from 0)."""
        out = dict(self.attributes)
        for name, values in self.spread.items():
            if values:
                out[name] = values[i % len(values)]
        return out

    def size(self) -> tuple[float, float, float]:
        return (self.cpus, self.mem, self.disk)


@dataclass(frozen=True)
class Check:
    """One placement tried with `extra_agents` more agents."""

    extra_agents: int
    fits: bool
    proven: bool  # the verdict is certain (by the volume bound or an exhaustive search)
    by: str  # "placement" or "volume bound"
    agents_used: int | None = None
    unplaced: int = 0


@dataclass(frozen=True)
class PlanAnswer:
    extra_agents: int | None  # None: no number of agents of this shape makes it fit
    fits_now: bool
    bottleneck: str  # the resource whose volume bound is tightest
    lower_bound: int  # extra agents that the bounds ask for (the larger of the two below)
    volume_bound: int  # by cpus, mem and disk in total
    rule_bound: int  # by instances that cannot share an agent (host ports, UNIQUE)
    rule: str  # which rule gives rule_bound, e.g. "host port 31002"
    need: dict[str, float]  # per resource, what the demands need in all (worst scenario)
    capacity: dict[str, float]  # per resource, what the agents offer (less headroom)
    now: Placement  # with no extra agent (the scenario that fails, if one does)
    final: Placement | None  # with the k extra agents
    checks: tuple[Check, ...] = ()  # k (fits) and k − 1 (does not), when k > 0
    why_not: str = ""  # when extra_agents is None
    tries: int = 0  # placements run

    @property
    def unplaced(self) -> tuple[Unplaced, ...]:
        """The instances without a place when no agent is added."""
        return self.now.unplaced


def extra_agents(shape: AgentShape, k: int) -> list[Agent]:
    return [
        Agent(
            id=f"{EXTRA_PREFIX}{i:05d}",
            hostname=f"new-agent-{i}",
            cpus=shape.cpus,
            mem=shape.mem,
            disk=shape.disk,
            ports=shape.ports,
            attributes=shape.attributes_of(i - 1),
        )
        for i in range(1, k + 1)
    ]


def volume(
    agents: Sequence[Agent], demands: Sequence[Demand], shape: AgentShape
) -> tuple[int, str, dict[str, float], dict[str, float]]:
    """The volume lower bound on extra agents, the bottleneck resource, need and capacity.

    Every agent that holds an instance keeps at least the smallest headroom of all
    demands free, so no agent offers more than its free room less that share of its
    total; the extra agents likewise. Per resource r, k_r is the fewest agents of the
    shape that close the gap; the bound is the largest k_r and its resource the
    bottleneck (when nothing is short, the resource most used in shares).
    """
    live = [d for d in demands if d.count > 0]
    h = min((d.headroom for d in live), default=0.0)
    need = {r: sum(getattr(d, r) * d.count for d in live) for r in RESOURCES}
    cap = {
        r: sum(max(0.0, getattr(a, r) - h * a.totals[i]) for a in agents)
        for i, r in enumerate(RESOURCES)
    }
    per_agent = {r: getattr(shape, r) * (1 - h) for r in RESOURCES}
    bound, bottleneck, worst = 0, "", -math.inf
    for r in RESOURCES:
        gap = need[r] - cap[r]
        if gap <= _EPS:
            k = 0
        elif per_agent[r] <= _EPS:
            k = 10**9
        else:
            k = math.ceil(gap / per_agent[r] - _EPS)
        share = need[r] / cap[r] if cap[r] > _EPS else (math.inf if need[r] > _EPS else 0.0)
        if (k, share) > (bound, worst):
            bound, bottleneck, worst = k, r, share
    return bound, bottleneck or "cpus", need, cap


def _offered(ranges: Sequence[tuple[int, int]], port: int) -> bool:
    return any(lo <= port <= hi for lo, hi in ranges)


def apart(
    agents: Sequence[Agent], demands: Sequence[Demand], shape: AgentShape
) -> tuple[int, str, str]:
    """The bound from instances that can never share an agent: extra agents, why, and why
    no number of them helps (empty when some number does).

    Instances that need the same host port need an agent each with that port free;
    a UNIQUE hostname group needs an agent per instance, a MAX_PER hostname n group
    one per n.
    """
    live = [d for d in demands if d.count > 0]
    per_port: Counter[int] = Counter()
    for d in live:
        for port in set(d.ports):
            per_port[port] += d.count
    starts = sorted(lo for a in agents for lo, _ in a.ports)
    ends = sorted(hi for a in agents for _, hi in a.ports)
    best, why = 0, ""
    for port, count in per_port.items():
        free_on = bisect_right(starts, port) - bisect_left(ends, port)
        if count - free_on > best:
            if not _offered(shape.ports, port):
                return (
                    0,
                    "",
                    (
                        f"{count} instances need host port {port}, {free_on} agents have it free "
                        "and the new agents' port ranges do not hold it"
                    ),
                )
            best, why = count - free_on, f"host port {port}"
    groups: Counter[str] = Counter()
    limits: dict[str, int] = {}
    for d in live:
        for c in d.constraints:
            if c[0] == "hostname" and c[1] in ("UNIQUE", "MAX_PER"):
                n = 1
                if c[1] == "MAX_PER":
                    n = int(c[2]) if len(c) > 2 and c[2].isdigit() and int(c[2]) > 0 else 1
                group = d.constraint_group
                limits[group] = min(limits.get(group, n), n)
                groups[group] += d.count
                break
    for group, count in groups.items():
        k = math.ceil(count / limits[group]) - len(agents)
        if k > best:
            best, why = k, f"hostname {'UNIQUE' if limits[group] == 1 else 'MAX_PER'} of {group}"
    return best, why, ""


def _left_over(p: Placement, demands: Sequence[Demand], shape: AgentShape) -> int:
    """Agents of the shape that the unplaced instances need by volume alone."""
    size = {d.key: (d.cpus, d.mem, d.disk) for d in demands}
    need = [0.0, 0.0, 0.0]
    for u in p.unplaced:
        for r in range(3):
            need[r] += size.get(u.key, (0.0, 0.0, 0.0))[r]
    return max(
        (math.ceil(n / c - _EPS) for n, c in zip(need, shape.size(), strict=True) if c > _EPS),
        default=0,
    )


def _hopeless(shape: AgentShape, demands: Sequence[Demand]) -> str:
    """Why no number of new agents can help, if an instance cannot go on an empty one."""
    for d in sorted(demands, key=lambda d: d.key):
        if d.count <= 0:
            continue
        for i, r in enumerate(RESOURCES):
            room = shape.size()[i] * (1 - d.headroom)
            if (d.cpus, d.mem, d.disk)[i] > room + _EPS:
                return (
                    f"an instance of {d.name} needs {(d.cpus, d.mem, d.disk)[i]:g} {r}, more "
                    f"than an empty agent of the shape offers after headroom ({room:g})"
                )
    return ""


def _lead(p: Placement, current: str) -> str:
    """The first-fit order that made placement p, else `current`."""
    name = p.strategy.removeprefix("ffd-").split("+")[0]
    return name if p.strategy.startswith("ffd-") and name in ORDERS else current


def plan(
    agents: Sequence[Agent],
    scenarios: Sequence[Sequence[Demand]],
    shape: AgentShape,
    *,
    effort: str = "fast",
    max_extra: int | None = None,
) -> PlanAnswer:
    """The fewest extra agents of `shape` with which every scenario's demands fit.

    `max_extra` caps the search (default: the bound plus every instance unplaced without
    extra agents, each on an agent of its own, plus the bound again); past it the
    answer is None with the reason.
    """
    scenarios = [list(s) for s in scenarios] or [[]]
    tries = 0
    # (k, effort, order) → fits all, worst placement, which scenario
    cache: dict[tuple[int, str, str], tuple[bool, Placement, int]] = {}
    last_failed = [0]

    # The search places with one first fit alone ("quick": a miss costs one pass, where
    # "fast" tries five more orders and a repair before it gives up), in the order that
    # the fuller effort found best at the lower bound: which order packs best depends on
    # the cluster's shapes, and the best one needs the fewest agents of all (by tens on
    # large clusters). The answer's k − 1 is then judged with the effort asked for.
    search = "quick" if effort == "fast" else effort

    def run(k: int, how: str, order: str = "max") -> tuple[bool, Placement, int]:
        nonlocal tries
        got = cache.get((k, how, order))
        if got is None and how == "fast":
            # fast's first pass is the quick one: a quick fit is fast's answer too
            quick = cache.get((k, "quick", order))
            got = quick if quick is not None and quick[0] else None
        if got is not None:
            return got
        pool = [*agents, *extra_agents(shape, k)]
        # the scenario that failed last is tried first: a miss is found with one placement
        ordered = sorted(range(len(scenarios)), key=lambda s: s != last_failed[0])
        first: tuple[Placement, int] | None = None
        for s in ordered:
            tries += 1
            p = place(pool, scenarios[s], effort=how, order=order)
            if first is None:
                first = (p, s)
            if not p.fits:
                last_failed[0] = s
                cache[(k, how, order)] = (False, p, s)
                return cache[(k, how, order)]
        assert first is not None
        cache[(k, how, order)] = (True, first[0], first[1])
        return cache[(k, how, order)]

    bounds = [volume(agents, s, shape) for s in scenarios]
    worst_s = max(range(len(scenarios)), key=lambda s: (bounds[s][0], s == 0))
    by_volume, bottleneck, need, cap = bounds[worst_s]
    rules = [apart(agents, s, shape) for s in scenarios]
    by_rules, rule, blocked = max(rules, key=lambda r: (bool(r[2]), r[0]))
    lower = max(by_volume, by_rules)
    bound_name = f"lower bound ({rule})" if by_rules > by_volume else "volume bound"

    def answer(k: int | None, **more: Any) -> PlanAnswer:
        return PlanAnswer(
            k,
            k == 0,
            bottleneck=bottleneck,
            lower_bound=lower,
            volume_bound=by_volume,
            rule_bound=by_rules,
            rule=rule,
            need=need,
            capacity=cap,
            tries=tries,
            **more,
        )

    fits0, now, which0 = run(0, effort)
    if fits0:
        return answer(0, now=now, final=now)
    hopeless = blocked or _hopeless(shape, [d for s in scenarios for d in s])
    if hopeless:
        return answer(None, now=now, final=None, why_not=hopeless)
    cap_k = max_extra if max_extra is not None else 2 * lower + len(now.unplaced) + 1

    # the most extra agents known not to do with the full effort (below the bound: none
    # do), and the failed placement there, which says what is left over
    lead = _lead(now, "max")
    failing, missed, missed_in = 0, now, which0
    if 1 <= lower <= cap_k:
        ok, at_bound, which = run(lower, effort, lead)
        if ok:
            below = Check(lower - 1, False, True, bound_name)
            checks = (Check(lower, True, True, "placement", at_bound.agents_used, 0), below)
            return answer(lower, now=now, final=at_bound, checks=checks)
        lead = _lead(at_bound, lead)
        failing, missed, missed_in = lower, at_bound, which

    def least(lead: str, upper: int | None) -> int | None:
        """The fewest extra agents above `failing` with which quick first fit in `lead`
        order fits (`upper`, known to fit, when none below it does), or None past cap_k.

        Upward in leaps that double, the first as big as what the last miss left over
        needs by volume (what is left over packs worse than its volume: the leaps catch
        up), or down from `upper` in steps that double; then bisecting: ends with k fits
        and k − 1 misses.
        """
        # a miss of this order already seen below upper: first fit misses there again
        lo = max(
            [failing]
            + [
                k
                for (k, how, order), (ok, _, _) in cache.items()
                if how == search and order == lead and not ok and (upper is None or k < upper)
            ]
        )
        hi = upper
        if hi is not None:
            # another order did better just below the last answer: its own answer is
            # likely close below, so the search walks down in doubling steps
            step = 1
            while hi - step > lo:
                if not run(hi - step, search, lead)[0]:
                    lo = hi - step
                    break
                hi -= step
                step *= 2
        else:
            placed, which = missed, missed_in
            leap = max(1, (len(agents) + lower) // 400)
            leap = max(leap, _left_over(placed, scenarios[which], shape))
            while True:
                k = min(lo + leap, cap_k)
                if k <= lo:
                    return None
                ok, placed, which = run(k, search, lead)
                if ok:
                    hi = k
                    break
                lo = k
                leap = max(2 * leap, _left_over(placed, scenarios[which], shape))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if run(mid, search, lead)[0]:
                hi = mid
            else:
                lo = mid
        return hi

    upper: int | None = None
    while True:
        found = least(lead, upper)
        if found is None:
            why = (
                f"even {cap_k} more agents of {shape.cpus:g} cpus, {shape.mem:g} MiB "
                f"and {shape.disk:g} MiB of disk do not make it fit"
            )
            return answer(None, now=now, final=None, why_not=why)
        upper = found
        if upper - 1 <= failing:
            break
        # the full effort judges one agent fewer: when it fits (by another order, or a
        # repair), the search goes on below it in the order that did
        ok, fewer, _ = run(upper - 1, effort, lead)
        if not ok:
            failing, missed = upper - 1, fewer
            break
        upper -= 1
        lead = _lead(fewer, lead)
    final = run(upper, effort, lead)[1]
    checks = [Check(upper, True, True, "placement", final.agents_used, 0)]
    if upper - 1 < lower:
        checks.append(Check(upper - 1, False, True, bound_name))
    else:
        checks.append(
            Check(
                upper - 1,
                False,
                missed.proven,
                "placement",
                missed.agents_used,
                len(missed.unplaced),
            )
        )
    return answer(upper, now=now, final=final, checks=tuple(checks))
