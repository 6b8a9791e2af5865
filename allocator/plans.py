"""What-if plans: the fewest extra agents of one shape that make scaled demands fit.

The answer k is checked both ways by placing everything: with k extra agents every
instance is placed, with k − 1 some are not (or k − 1 is below the volume bound, which
proves it). The search starts at the volume lower bound and goes up one agent at a time
for a few steps, then doubles its step and bisects back to a k whose k − 1 fails. As
placement is a heuristic, "fits with k" is not strictly monotone in k; the answer is still
consistent (k fits, k − 1 does not) and never below the bound.

Monotone in the load: more instances never lower the volume bound, and the search
returns the first k it meets that fits, so a plan with higher factors lands at or above
one with lower factors unless the heuristic finds a placement for more instances that it
misses for fewer; the property tests check this on generated clusters.

A plan may hold several scenarios (the sets of reservations active at different times
of its window): k must fit all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from allocator.placement import Agent, Demand, Placement, Unplaced, place

RESOURCES = ("cpus", "mem", "disk")
EXTRA_PREFIX = "~plan-extra-"  # sorts after real agent ids: existing agents are filled first
LINEAR_STEPS = 3  # tries of k, k+1, … before the step doubles
_EPS = 1e-9


@dataclass(frozen=True)
class AgentShape:
    """The agents a plan would add: their size, free port ranges and attributes."""

    cpus: float
    mem: float
    disk: float
    ports: tuple[tuple[int, int], ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)

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
    checks: tuple[Check, ...]  # k (fits) and k − 1 (does not), when k exists and k > 0
    bottleneck: str  # the resource whose volume bound is tightest
    lower_bound: int  # extra agents the volume bound alone asks for
    need: dict[str, float]  # per resource, what the demands need in all (worst scenario)
    capacity: dict[str, float]  # per resource, what the agents offer (less headroom)
    unplaced: tuple[Unplaced, ...]  # with no extra agent (the worst scenario)
    now: Placement  # with no extra agent
    final: Placement | None  # with the k extra agents
    why_not: str = ""  # when extra_agents is None
    tries: int = 0  # placements run


def extra_agents(shape: AgentShape, k: int) -> list[Agent]:
    return [
        Agent(
            id=f"{EXTRA_PREFIX}{i:05d}",
            hostname=f"new-agent-{i}",
            cpus=shape.cpus,
            mem=shape.mem,
            disk=shape.disk,
            ports=shape.ports,
            attributes=dict(shape.attributes),
        )
        for i in range(1, k + 1)
    ]


def _total(a: Agent) -> tuple[float, float, float]:
    return (
        a.total_cpus if a.total_cpus is not None else a.cpus,
        a.total_mem if a.total_mem is not None else a.mem,
        a.total_disk if a.total_disk is not None else a.disk,
    )


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
        r: sum(max(0.0, getattr(a, r) - h * _total(a)[i]) for a in agents)
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
    cache: dict[int, tuple[bool, Placement, int]] = {}  # k → fits all, worst placement, which

    def run(k: int) -> tuple[bool, Placement, int]:
        nonlocal tries
        got = cache.get(k)
        if got is not None:
            return got
        pool = [*agents, *extra_agents(shape, k)]
        # the scenario that failed last is tried first: a miss is found with one placement
        order = sorted(range(len(scenarios)), key=lambda s: s != last_failed[0])
        first: tuple[Placement, int] | None = None
        for s in order:
            tries += 1
            p = place(pool, scenarios[s], effort=effort)
            if first is None:
                first = (p, s)
            if not p.fits:
                last_failed[0] = s
                cache[k] = (False, p, s)
                return cache[k]
        assert first is not None
        cache[k] = (True, first[0], first[1])
        return cache[k]

    last_failed = [0]
    bounds = [volume(agents, s, shape) for s in scenarios]
    worst_s = max(range(len(scenarios)), key=lambda s: (bounds[s][0], s == 0))
    lower, bottleneck, need, cap = bounds[worst_s]

    fits0, now, _ = run(0)
    # the placement without extra agents that an operator reads: the failing one if any
    if fits0:
        return PlanAnswer(0, True, (), bottleneck, 0, need, cap, (), now, now, tries=tries)

    hopeless = _hopeless(shape, [d for s in scenarios for d in s])
    if hopeless:
        return PlanAnswer(
            None,
            False,
            (),
            bottleneck,
            lower,
            need,
            cap,
            now.unplaced,
            now,
            None,
            why_not=hopeless,
            tries=tries,
        )
    cap_k = max_extra if max_extra is not None else 2 * lower + len(now.unplaced) + 1

    def fits(k: int) -> bool:
        return run(k)[0]

    # last known failure below, first success above
    failing = 0 if lower <= 0 else None  # k < lower fails by volume; 0 failed by placement
    k = max(1, lower)
    step = 1
    steps = 0
    found: int | None = None
    while k <= cap_k:
        if fits(k):
            found = k
            break
        failing = k
        steps += 1
        if steps >= LINEAR_STEPS:
            step *= 2
        k = min(k + step, cap_k) if k < cap_k else cap_k + 1
    if found is None:
        why = (
            f"even {cap_k} more agents of {shape.cpus:g} cpus, {shape.mem:g} MiB "
            f"and {shape.disk:g} MiB of disk do not make it fit"
        )
        return PlanAnswer(
            None,
            False,
            (),
            bottleneck,
            lower,
            need,
            cap,
            now.unplaced,
            now,
            None,
            why_not=why,
            tries=tries,
        )
    # bisect between the last failure and the first success: ends with k fits, k−1 fails
    lo = failing if failing is not None else lower - 1
    hi = found
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    final = run(hi)[1]
    checks = [
        Check(hi, True, True, "placement", final.agents_used, 0),
    ]
    if hi - 1 < lower:
        checks.append(Check(hi - 1, False, True, "volume bound"))
    else:
        below = run(hi - 1)[1]
        checks.append(
            Check(hi - 1, False, below.proven, "placement", below.agents_used, len(below.unplaced))
        )
    return PlanAnswer(
        hi,
        False,
        tuple(checks),
        bottleneck,
        lower,
        need,
        cap,
        now.unplaced,
        now,
        final,
        tries=tries,
    )
