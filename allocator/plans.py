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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from allocator.bounds import extra_by_rules, extra_by_volume
from allocator.model import EPS, RESOURCES, Agent, AgentShape, Demand, Placement, Unplaced
from allocator.packing import ORDERS
from allocator.packing.exact import CP_SAT_MAX_VARIABLES
from allocator.placement import place

EXTRA_PREFIX = "~plan-extra-"  # sorts after real agent ids: existing agents are filled first


@dataclass(frozen=True)
class Check:
    """One placement tried with `extra_agents` more agents."""

    extra_agents: int
    fits: bool
    proven: bool  # the verdict is certain (by a lower bound or an exact search)
    by: str  # "placement", "exact search" or the bound, e.g. "volume bound"
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
    exact_seconds: float = 0.0  # spent in the exact search settling k − 1
    lead: str = "max"  # the first-fit order that packed this cluster best

    @property
    def proven(self) -> bool:
        """The answer is the fewest: it fits now, or k − 1 is proven not to fit."""
        if self.fits_now:
            return True
        below = [c for c in self.checks if not c.fits]
        return bool(below) and below[0].proven

    @property
    def unplaced(self) -> tuple[Unplaced, ...]:
        """The instances without a place when no agent is added."""
        return self.now.unplaced


def new_agents(
    shape: AgentShape, k: int, prefix: str = EXTRA_PREFIX, name: str = "agent"
) -> list[Agent]:
    """k agents of the shape, spread over its attributes (a mix names each shape's own)."""
    return [
        Agent(
            id=f"{prefix}{i:05d}",
            hostname=f"new-{name}-{i}",
            cpus=shape.cpus,
            mem=shape.mem,
            disk=shape.disk,
            ports=shape.ports,
            attributes=shape.attributes_of(i - 1),
        )
        for i in range(1, k + 1)
    ]


def extra_agents(shape: AgentShape, k: int) -> list[Agent]:
    return new_agents(shape, k)


def too_big(d: Demand, size: Sequence[float]) -> int | None:
    """The first resource (an index into RESOURCES) in which one instance of `d` is bigger
    than an empty agent of `size` offers after the demand's headroom; None if it fits."""
    return next(
        (i for i in range(len(RESOURCES)) if d.size[i] > size[i] * (1 - d.headroom) + EPS),
        None,
    )


def unplaced_volume(p: Placement, demands: Sequence[Demand]) -> dict[str, list[float]]:
    """Per demand key, the cpus, mem and disk of its instances p left unplaced."""
    size = {d.key: d.size for d in demands}
    out: dict[str, list[float]] = {}
    for u in p.unplaced:
        if u.key in size:
            acc = out.setdefault(u.key, [0.0] * len(RESOURCES))
            for r in range(len(RESOURCES)):
                acc[r] += size[u.key][r]
    return out


def _left_over(p: Placement, demands: Sequence[Demand], shape: AgentShape) -> int:
    """Agents of the shape that the unplaced instances need by volume alone."""
    need = [sum(v[r] for v in unplaced_volume(p, demands).values()) for r in range(3)]
    return max(
        (math.ceil(n / c - EPS) for n, c in zip(need, shape.size(), strict=True) if c > EPS),
        default=0,
    )


def _hopeless(shape: AgentShape, demands: Sequence[Demand]) -> str:
    """Why no number of new agents can help, if an instance cannot go on an empty one."""
    for d in sorted(demands, key=lambda d: d.key):
        i = too_big(d, shape.size()) if d.count > 0 else None
        if i is not None:
            room = shape.size()[i] * (1 - d.headroom)
            return (
                f"an instance of {d.name} needs {d.size[i]:g} {RESOURCES[i]}, more "
                f"than an empty agent of the shape offers after headroom ({room:g})"
            )
    return ""


def place_every(
    pool: Sequence[Agent],
    scenarios: Sequence[Sequence[Demand]],
    first: int,
    how: str,
    order: str,
) -> tuple[bool, Placement, int, int]:
    """Place every scenario on `pool`, scenario `first` first (the one that failed last: a
    miss is then found with one placement), until one fails: whether all fit, the placement
    that failed (else the first one), which scenario it was, and the placements run."""
    ordered = sorted(range(len(scenarios)), key=lambda s: s != first)
    head: tuple[Placement, int] | None = None
    for tried, s in enumerate(ordered, start=1):
        p = place(pool, scenarios[s], effort=how, order=order)
        if not p.fits:
            return False, p, s, tried
        if head is None:
            head = (p, s)
    assert head is not None
    return True, head[0], head[1], len(ordered)


def _lead(p: Placement, current: str) -> str:
    """The first-fit order that made placement p, else `current`."""
    name = p.strategy.removeprefix("ffd-").split("+")[0]
    return name if p.strategy.startswith("ffd-") and name in ORDERS else current


class PlanSearch:
    """The search for the fewest extra agents of one shape with which every scenario fits.

    Placements are cached per (extra agents, effort, order); `failing` is the most extra
    agents known not to do with the full effort, `missed` the placement there (what it
    leaves over sizes the next leap).

    The search places with one first fit alone ("quick": a miss costs one pass, where
    "fast" tries five more orders and a repair before it gives up), in the order that
    the fuller effort found best at the lower bound: which order packs best depends on
    the cluster's shapes, and the best one needs the fewest agents of all (by tens on
    large clusters). The answer's k − 1 is then judged with the effort asked for.
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        scenarios: Sequence[Sequence[Demand]],
        shape: AgentShape,
        effort: str,
        seconds: float = 0.0,
    ) -> None:
        self.agents = list(agents)
        self.seconds = seconds  # for the exact search that settles k − 1
        self.exact_spent = 0.0
        self.scenarios = [list(s) for s in scenarios] or [[]]
        self.shape = shape
        self.effort = effort
        self.search = "quick" if effort == "fast" else effort
        self.tries = 0
        # (k, effort, order) → fits all, worst placement, which scenario
        self.cache: dict[tuple[int, str, str], tuple[bool, Placement, int]] = {}
        self.last_failed = 0
        bounds = [extra_by_volume(self.agents, s, shape) for s in self.scenarios]
        worst = max(range(len(self.scenarios)), key=lambda s: (bounds[s][0], s == 0))
        self.by_volume, self.bottleneck, self.need, self.capacity = bounds[worst]
        rules = [extra_by_rules(self.agents, s, shape) for s in self.scenarios]
        self.by_rules, self.rule, self.blocked = max(rules, key=lambda r: (bool(r[2]), r[0]))
        self.lower = max(self.by_volume, self.by_rules)
        self.bound_name = (
            f"lower bound ({self.rule})" if self.by_rules > self.by_volume else "volume bound"
        )
        self.failing = 0
        self.missed: Placement | None = None
        self.missed_in = 0
        self.cap_k = 0
        self.lead = "max"

    def run(self, k: int, how: str, order: str = "max") -> tuple[bool, Placement, int]:
        """Place every scenario with k extra agents: fits all, the worst placement, which."""
        cache = self.cache
        got = cache.get((k, how, order))
        if got is None and how == "fast":
            # fast's first pass is the quick one: a quick fit is fast's answer too
            quick = cache.get((k, "quick", order))
            got = quick if quick is not None and quick[0] else None
        if got is not None:
            return got
        pool = [*self.agents, *extra_agents(self.shape, k)]
        ok, p, s, tried = place_every(pool, self.scenarios, self.last_failed, how, order)
        self.tries += tried
        if not ok:
            self.last_failed = s
        cache[(k, how, order)] = (ok, p, s)
        return cache[(k, how, order)]

    def answer(self, k: int | None, **more: Any) -> PlanAnswer:
        return PlanAnswer(
            k,
            k == 0,
            bottleneck=self.bottleneck,
            lower_bound=self.lower,
            volume_bound=self.by_volume,
            rule_bound=self.by_rules,
            rule=self.rule,
            need=self.need,
            capacity=self.capacity,
            tries=self.tries,
            exact_seconds=round(self.exact_spent, 3),
            lead=self.lead,
            **more,
        )

    def least(self, lead: str, upper: int | None) -> int | None:
        """The fewest extra agents above `failing` with which quick first fit in `lead`
        order fits (`upper`, known to fit, when none below it does), or None past cap_k.

        Upward in leaps that double, the first as big as what the last miss left over
        needs by volume (what is left over packs worse than its volume: the leaps catch
        up), or down from `upper` in steps that double; then bisecting: ends with k fits
        and k − 1 misses.
        """
        # a miss of this order already seen below upper: first fit misses there again
        lo = max(
            [self.failing]
            + [
                k
                for (k, how, order), (ok, _, _) in self.cache.items()
                if how == self.search and order == lead and not ok and (upper is None or k < upper)
            ]
        )
        hi = upper
        if hi is not None:
            # another order did better just below the last answer: its own answer is
            # likely close below, so the search walks down in doubling steps
            step = 1
            while hi - step > lo:
                if not self.run(hi - step, self.search, lead)[0]:
                    lo = hi - step
                    break
                hi -= step
                step *= 2
        else:
            assert self.missed is not None
            placed, which = self.missed, self.missed_in
            leap = max(1, (len(self.agents) + self.lower) // 400)
            leap = max(leap, _left_over(placed, self.scenarios[which], self.shape))
            while True:
                k = min(lo + leap, self.cap_k)
                if k <= lo:
                    return None
                ok, placed, which = self.run(k, self.search, lead)
                if ok:
                    hi = k
                    break
                lo = k
                leap = max(2 * leap, _left_over(placed, self.scenarios[which], self.shape))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.run(mid, self.search, lead)[0]:
                hi = mid
            else:
                lo = mid
        return hi

    def solve(self, max_extra: int | None) -> PlanAnswer:
        effort, shape = self.effort, self.shape
        fits0, now, which0 = self.run(0, effort)
        if fits0:
            return self.answer(0, now=now, final=now)
        hopeless = self.blocked or _hopeless(shape, [d for s in self.scenarios for d in s])
        if hopeless:
            return self.answer(None, now=now, final=None, why_not=hopeless)
        lower = self.lower
        self.cap_k = max_extra if max_extra is not None else 2 * (lower + len(now.unplaced)) + 1
        lead = self.lead = _lead(now, "max")
        self.failing, self.missed, self.missed_in = 0, now, which0
        if 1 <= lower <= self.cap_k:
            ok, at_bound, which = self.run(lower, effort, lead)
            if ok:
                below = Check(lower - 1, False, True, self.bound_name)
                checks = (Check(lower, True, True, "placement", at_bound.agents_used, 0), below)
                return self.answer(lower, now=now, final=at_bound, checks=checks)
            lead = self.lead = _lead(at_bound, lead)
            self.failing, self.missed, self.missed_in = lower, at_bound, which
        upper: int | None = None
        while True:
            found = self.least(lead, upper)
            if found is None:
                why = (
                    f"even {self.cap_k} more agents of {shape.cpus:g} cpus, {shape.mem:g} MiB "
                    f"and {shape.disk:g} MiB of disk do not make it fit"
                )
                return self.answer(None, now=now, final=None, why_not=why)
            upper = found
            if upper - 1 <= self.failing:
                break
            # the full effort judges one agent fewer: when it fits (by another order, or a
            # repair), the search goes on below it in the order that did
            ok, fewer, _ = self.run(upper - 1, effort, lead)
            if not ok:
                self.failing, self.missed = upper - 1, fewer
                break
            upper -= 1
            lead = self.lead = _lead(fewer, lead)
        final = self.run(upper, effort, lead)[1]
        missed = self.missed
        assert missed is not None
        below = Check(
            upper - 1, False, missed.proven, "placement", missed.agents_used, len(missed.unplaced)
        )
        upper, final, below = self.settle(upper, final, below)
        if upper == 0:  # the exact search packed the cluster as it is
            return self.answer(0, now=final, final=final)
        checks = [Check(upper, True, True, "placement", final.agents_used, 0)]
        if upper - 1 < lower:
            checks.append(Check(upper - 1, False, True, self.bound_name))
        else:
            checks.append(below)
        return self.answer(upper, now=now, final=final, checks=tuple(checks))

    def exact(self, k: int, seconds: float) -> tuple[str, Placement | None, int]:
        """The exact search with k extra agents: "found" (every scenario fits, the worst
        placement), "infeasible" (a scenario has no packing at all, proven) or "unknown"
        (too big to model, or out of time), and which scenario decided it."""
        pool = [*self.agents, *extra_agents(self.shape, k)]
        ordered = sorted(range(len(self.scenarios)), key=lambda s: s != self.last_failed)
        worst: Placement | None = None
        for s in ordered:
            demands = self.scenarios[s]
            if sum(1 for d in demands if d.count > 0) * len(pool) > CP_SAT_MAX_VARIABLES:
                return "unknown", None, s
            left = seconds - self.exact_spent
            if left <= 0.05:
                return "unknown", None, s
            start = time.perf_counter()
            self.tries += 1
            p = place(pool, demands, effort="exact", seconds=left)
            self.exact_spent += time.perf_counter() - start
            if not p.fits:
                self.last_failed = s
                if p.proven or p.lower_bound > len(pool):
                    return "infeasible", p, s
                return "unknown", p, s
            if worst is None:
                worst = p
        return "found", worst, 0

    def settle(self, upper: int, final: Placement, below: Check) -> tuple[int, Placement, Check]:
        """Walk down from `upper` (it fits by placement) with the exact search while it
        finds packings, until k − 1 is proven not to fit, the bounds prove it, or the
        search cannot tell within its time (the check then says proven: false)."""
        if below.proven or self.seconds <= 0:
            return upper, final, below
        while upper - 1 >= self.lower:
            status, p, _ = self.exact(upper - 1, self.seconds)
            if status == "found":
                assert p is not None
                upper, final = upper - 1, p
                below = Check(upper - 1, False, False, "placement")
                continue
            if status == "infeasible":
                assert p is not None
                below = Check(
                    upper - 1, False, True, "exact search", p.agents_used, len(p.unplaced)
                )
            break
        return upper, final, below


def plan(
    agents: Sequence[Agent],
    scenarios: Sequence[Sequence[Demand]],
    shape: AgentShape,
    *,
    effort: str = "fast",
    max_extra: int | None = None,
    seconds: float = 0.0,
) -> PlanAnswer:
    """The fewest extra agents of `shape` with which every scenario's demands fit.

    `max_extra` caps the search (default: twice the bound plus every instance unplaced
    without extra agents, each on two agents of its own: placement under GROUP_BY and
    headroom may need more than one agent per left-over instance); past it the answer is
    None with the reason. `seconds`: the time the exact search (CP-SAT) may take in all to
    settle k − 1 where placement left it open (0: placement alone), walking down while it
    finds packings placement missed.
    """
    return PlanSearch(agents, scenarios, shape, effort, seconds).solve(max_extra)
