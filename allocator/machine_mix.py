"""The cheapest set of machines to add so that a plan fits: variable-sized bin packing with
costs, over the few shapes of agent that can be bought.

Ops ask before a promotion "what is the cheapest set of machines to buy", not "how many
of the common shape". Three steps, each bounded:

1. The lower bound: the cheapest multiset of shapes whose room covers, per resource,
   what the cluster lacks (less the smallest headroom), and that counts at least as many
   agents as host ports and UNIQUE hostname need. It is an integer programme of a few
   variables (CP-SAT solves it at once) and no weaker than its LP relaxation or the best
   cost per unit of each resource; no mix that fits can cost less.
2. A mix found by placement: the cheapest cover of what is short, placed (first fit);
   what is left over is added to the shortfall and the cover solved again, until it fits
   (a leap that grows by what the last miss left over); then agents are taken away, the
   dearest shape first, while it still fits.
3. On models small enough, the exact search (CP-SAT, `allocator.packing.exact`) places
   every instance on the existing agents and on candidate agents of every shape, buying
   only those it uses, and minimises their cost, seeded with the mix of step 2. When it
   finishes, the mix is proven the cheapest; its best bound raises the lower bound.

The answer says how far from the cheapest it may be: (cost − lower bound) / lower bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from allocator.bounds import extra_by_rules
from allocator.model import EPS, RESOURCES, Agent, AgentShape, Demand, Placement
from allocator.packing.exact import CP_SAT_MAX_VARIABLES
from allocator.placement import place
from allocator.plans import new_agents, place_every, too_big, unplaced_volume

MIX_PREFIX = "~plan-mix-"  # sorts after real agent ids: existing agents are filled first
COST_UNIT = 1000  # resources are searched in thousandths, costs in at least thousandths
MAX_OBJECTIVE = 2**60  # the most a search's objective may reach: int64 with room to spare
MAX_LEAPS = 40
MAX_CANDIDATES = 64  # per shape, in the exact search's model


@dataclass(frozen=True)
class PricedShape:
    name: str
    shape: AgentShape
    cost: float


@dataclass(frozen=True)
class Mix:
    counts: dict[str, int]  # shape name → agents to add, every shape named
    cost: float | None  # None: no mix of these shapes makes it fit
    lower_bound: float  # no mix that fits costs less
    bound_by: str  # what proves lower_bound
    proven: bool  # cost is the least there is
    final: Placement | None
    tries: int = 0
    seconds: float = 0.0
    why_not: str = ""
    share: dict[str, float] = field(default_factory=dict)  # per resource, need ÷ room

    @property
    def binds(self) -> str:
        """The resource the cluster is fullest of with the mix added."""
        return max(self.share.items(), key=lambda kv: kv[1])[0] if self.share else ""

    @property
    def agents(self) -> int:
        return sum(self.counts.values())

    @property
    def gap(self) -> float:
        """How much dearer than the cheapest the mix may be, as a share of the bound."""
        if self.cost is None or self.lower_bound <= EPS:
            return 0.0
        return max(0.0, (self.cost - self.lower_bound) / self.lower_bound)


def mix_agents(shapes: Sequence[PricedShape], counts: Sequence[int]) -> list[Agent]:
    """The agents a mix adds: each shape's first counts[t], spread over its attributes."""
    return [
        a
        for t, (priced, n) in enumerate(zip(shapes, counts, strict=True))
        for a in new_agents(priced.shape, n, f"{MIX_PREFIX}{t}-", priced.name)
    ]


def _cost_scale(costs: Sequence[float], most_agents: int) -> float:
    """Units per unit of cost in an integer search that buys up to `most_agents` agents:
    the cheapest costs COST_UNIT units where the dearest leaves the objective inside int64
    (costs run from 1e-6 to 1e9: one scale for every search would round the cheap ones to
    the same unit, or overflow with the dear ones)."""
    return min(COST_UNIT / min(costs), MAX_OBJECTIVE / (max(costs) * max(1, most_agents)))


def _units(cost: float, scale: float) -> int:
    return max(1, round(cost * scale))


def _cheapest_cover(
    shapes: Sequence[PricedShape],
    short: Sequence[Sequence[float]],
    offer: Sequence[Sequence[float]],
    fewest: int,
    only: Mapping[tuple[int, ...], Sequence[float]] | None = None,
) -> list[int] | None:
    """The cheapest counts per shape whose offer covers every row of `short` (one per
    scenario, per resource) with at least `fewest` agents; None if no count does.
    `only`: needs that only some shapes can hold (instances too big for the others),
    each covered by the offer of those shapes alone."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    # room rounded up and shortfalls down, so the integer model relaxes the real one
    room = [[math.ceil(o * COST_UNIT) for o in row] for row in offer]
    rows = [(tuple(range(len(shapes))), s) for s in short] + list((only or {}).items())
    most = []
    for t in range(len(shapes)):
        need = sum(
            max(
                (
                    math.ceil(s[r] * COST_UNIT / room[t][r])
                    for r in range(len(RESOURCES))
                    if room[t][r] > 0 and s[r] > EPS
                ),
                default=0,
            )
            for _, s in rows
        )
        most.append(need + fewest + 1)
    y = [model.new_int_var(0, most[t], f"y{t}") for t in range(len(shapes))]
    for which, s in rows:
        for r in range(len(RESOURCES)):
            need = math.floor(s[r] * COST_UNIT)
            if need > 0:
                model.add(sum(y[t] * room[t][r] for t in which) >= need)
    if fewest > 0:
        model.add(sum(y) >= fewest)
    scale = _cost_scale([p.cost for p in shapes], sum(most))
    model.minimize(sum(y[t] * _units(shapes[t].cost, scale) for t in range(len(shapes))))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 5.0
    solver.parameters.num_workers = 1
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return [solver.value(v) for v in y]


class MixSearch:
    def __init__(
        self,
        agents: Sequence[Agent],
        scenarios: Sequence[Sequence[Demand]],
        shapes: Sequence[PricedShape],
        order: str = "max",
    ) -> None:
        self.agents = list(agents)
        self.order = order  # the first-fit order that packs this cluster best
        self.scenarios = [[d for d in s if d.count > 0] for s in scenarios] or [[]]
        self.shapes = list(shapes)
        self.tries = 0
        self.last_failed = 0
        self.cache: dict[tuple[int | bool, ...], tuple[bool, Placement, int]] = {}
        head = [min((d.headroom for d in s), default=0.0) for s in self.scenarios]
        self.short: list[list[float]] = []
        for s, h in zip(self.scenarios, head, strict=True):
            need = [sum(getattr(d, r) * d.count for d in s) for r in RESOURCES]
            cap = [
                sum(max(0.0, getattr(a, r) - h * a.totals[i]) for a in self.agents)
                for i, r in enumerate(RESOURCES)
            ]
            self.short.append([max(0.0, n - c) for n, c in zip(need, cap, strict=True)])
        h0 = min(head, default=0.0)
        self.offer = [[getattr(p.shape, r) * (1 - h0) for r in RESOURCES] for p in self.shapes]
        self.fewest = max(
            (extra_by_rules(self.agents, s, self.shapes[0].shape)[0] for s in self.scenarios),
            default=0,
        )

    def cost(self, counts: Sequence[int]) -> float:
        return sum(n * p.cost for n, p in zip(counts, self.shapes, strict=True))

    def run(self, counts: Sequence[int], how: str = "quick") -> tuple[bool, Placement, int]:
        """Place every scenario with the mix: fits all, the worst placement, which."""
        key = (*counts, how == "fast")
        got = self.cache.get(key)
        if got is None and how == "fast":
            quick = self.cache.get((*counts, False))
            got = quick if quick is not None and quick[0] else None
        if got is not None:
            return got
        pool = [*self.agents, *mix_agents(self.shapes, counts)]
        ok, p, s, tried = place_every(pool, self.scenarios, self.last_failed, how, self.order)
        self.tries += tried
        if not ok:
            self.last_failed = s
        self.cache[key] = (ok, p, s)
        return self.cache[key]

    def _holds(self, d: Demand) -> tuple[int, ...]:
        """The shapes an empty agent of which holds one instance of `d`."""
        return tuple(t for t, p in enumerate(self.shapes) if too_big(d, p.shape.size()) is None)

    def _left_over(self, p: Placement, s: int) -> dict[tuple[int, ...], list[float]]:
        """What the unplaced instances need, by the shapes that can hold them."""
        demand = {d.key: d for d in self.scenarios[s]}
        out: dict[tuple[int, ...], list[float]] = {}
        for key, volume in unplaced_volume(p, self.scenarios[s]).items():
            acc = out.setdefault(self._holds(demand[key]), [0.0, 0.0, 0.0])
            for r in range(3):
                acc[r] += volume[r]
        return out

    def heuristic(self) -> tuple[list[int], Placement] | None:
        """A mix that fits by first fit: leap by what is left over (at least doubling the
        last leap, as what is left over is what packs worst), then trim. What is left over
        of instances that only some shapes hold must be covered by those shapes."""
        every = tuple(range(len(self.shapes)))
        more: dict[tuple[int, ...], list[float]] = {}
        leap: dict[tuple[int, ...], list[float]] = {}
        fewest = self.fewest
        counts: list[int] | None = None
        found: Placement | None = None
        # as a plan's search: every instance left over, on two agents of its own, and more
        # than twice the bound, is past what any mix of these shapes could need
        cap: int | None = None
        for _ in range(MAX_LEAPS):
            base = more.get(every, [0.0, 0.0, 0.0])
            short = [[x + m for x, m in zip(row, base, strict=True)] for row in self.short]
            only = {k: v for k, v in more.items() if k != every}
            cover = _cheapest_cover(self.shapes, short, self.offer, fewest, only)
            if cover is None or (cap is not None and sum(cover) > cap):
                return None
            if counts is not None and cover == counts:
                fewest = sum(cover) + 1  # what is left over is too small to change the cover
                continue
            counts = cover
            ok, p, s = self.run(counts)
            if ok:
                found = p
                break
            if cap is None:
                cap = 2 * (sum(counts) + len(p.unplaced)) + 1
            for which, left in self._left_over(p, s).items():
                last = leap.get(which)
                step = (
                    left
                    if last is None
                    else [max(2 * a, b) for a, b in zip(last, left, strict=True)]
                )
                leap[which] = step
                acc = more.setdefault(which, [0.0, 0.0, 0.0])
                for r in range(3):
                    acc[r] += step[r]
        if found is None or counts is None:
            return None
        return self.trim(counts, found)

    def trim(self, counts: list[int], found: Placement) -> tuple[list[int], Placement]:
        """Fewer agents while it fits: the new agents first fit left empty go for free
        (the placement holds without them), then each shape, the dearest first, is
        bisected down to the fewest with which first fit still places everything."""
        if len(self.scenarios) == 1:  # with several, another scenario may use them
            used = {b for placed in found.assignments.values() for b in placed}
            counts = [
                max(
                    (i for i in range(1, n + 1) if f"{MIX_PREFIX}{t}-{i:05d}" in used),
                    default=0,
                )
                for t, n in enumerate(counts)
            ]
            # the placement holds on what is left: placing again might not find it
            self.cache[(*counts, False)] = (True, found, 0)
        by_price = sorted(range(len(self.shapes)), key=lambda t: -self.shapes[t].cost)
        for t in by_price:
            lo, hi = -1, counts[t]  # lo: known not to fit (or below 0), hi: fits
            while hi - lo > 1:
                mid = (lo + hi) // 2
                trial = [mid if i == t else n for i, n in enumerate(counts)]
                ok, p, _ = self.run(trial)
                if ok:
                    hi, found = mid, p
                else:
                    lo = mid
            counts = [hi if i == t else n for i, n in enumerate(counts)]
        ok, found, _ = self.run(counts)
        assert ok
        return counts, found

    def exact(
        self, counts: Sequence[int], seconds: float
    ) -> tuple[list[int], Placement, float, bool] | None:
        """The cheapest mix by the exact search, on the scenario that failed last (the
        others are checked by placement): counts, placement, the proven bound on the cost
        (in cost, not units), and whether the mix is proven the cheapest. None when the model is
        too big or the search found nothing in time."""
        budget = self.cost(counts)
        cand = [min(MAX_CANDIDATES, math.floor(budget / p.cost + EPS)) for p in self.shapes]
        s = self.last_failed if len(self.scenarios) > 1 else 0
        demands = self.scenarios[s]
        if len(demands) * (len(self.agents) + sum(cand)) > CP_SAT_MAX_VARIABLES or seconds <= 0.05:
            return None
        extra = mix_agents(self.shapes, cand)
        scale = _cost_scale([p.cost for p in self.shapes], sum(cand))
        costs = {
            a.id: _units(self.shapes[int(a.id[len(MIX_PREFIX) :].split("-")[0])].cost, scale)
            for a in extra
        }
        chains = [
            [a.id for a in extra if a.id.startswith(f"{MIX_PREFIX}{t}-")]
            for t in range(len(self.shapes))
        ]
        self.tries += 1
        p = place(
            [*self.agents, *extra],
            demands,
            effort="exact",
            seconds=seconds,
            costs=costs,
            chains=chains,
        )
        if not p.fits or p.cost_bound is None:
            return None
        used = {b for placed in p.assignments.values() for b in placed}
        got = [0] * len(self.shapes)
        for t, chain in enumerate(chains):
            for i, agent_id in enumerate(chain):
                if agent_id in used:
                    got[t] = i + 1
        for other in range(len(self.scenarios)):
            if other != s and not self.run(got)[0]:
                return None
        return got, p, p.cost_bound / scale, p.cost_optimal and len(self.scenarios) == 1

    def share(self, counts: Sequence[int]) -> dict[str, float]:
        """Per resource, what the worst scenario needs over the room with the mix."""
        pool = [*self.agents, *mix_agents(self.shapes, counts)]
        out = {}
        for i, r in enumerate(RESOURCES):
            room = sum(a.size[i] for a in pool)
            need = max((sum(d.size[i] * d.count for d in s) for s in self.scenarios), default=0)
            out[r] = round(need / room, 4) if room > EPS else 0.0
        return out


def _too_big(
    agents: Sequence[Agent], shapes: Sequence[PricedShape], scenarios: Sequence[Sequence[Demand]]
) -> str:
    """Why no mix helps, when an instance fits on an empty agent of none of the shapes and
    on none of the agents there are (one that fits an existing agent may go there)."""

    for d in sorted({d.key: d for s in scenarios for d in s if d.count > 0}.values(), key=str):
        if all(too_big(d, p.shape.size()) is not None for p in shapes) and all(
            too_big(d, a.totals) is not None for a in agents
        ):
            return (
                f"an instance of {d.name} ({d.cpus:g} cpus, {d.mem:g} MiB, {d.disk:g} MiB of "
                "disk) is bigger than an empty machine of every shape offered, after headroom"
            )
    return ""


def cheapest_mix(
    agents: Sequence[Agent],
    scenarios: Sequence[Sequence[Demand]],
    shapes: Sequence[PricedShape],
    *,
    seconds: float = 0.0,
    fits_now: bool = False,
    order: str = "max",
    known: tuple[Sequence[int], Placement] | None = None,
) -> Mix:
    """The cheapest multiset of `shapes` to add so that every scenario's demands fit, the
    lower bound on its cost, and whether it is proven the cheapest. `seconds`: the time
    the exact search may take (0: placement alone). `fits_now`: the caller has proven
    that nothing need be added (a plan's own search may know it from its exact search).
    `order`: the first-fit order that packs the cluster best (a plan's search finds it).
    `known`: counts per shape known to fit, with their placement (a plan's answer for one
    of the shapes): a candidate the mix must beat."""
    start = time.perf_counter()
    search = MixSearch(agents, scenarios, shapes, order)
    zero = [0] * len(shapes)
    names = [p.name for p in shapes]

    def answer(counts: Sequence[int] | None, final: Placement | None, **more: object) -> Mix:
        return Mix(
            counts=dict(zip(names, counts or zero, strict=True)),
            cost=None if counts is None else round(search.cost(counts), 6),
            final=final,
            tries=search.tries,
            seconds=round(time.perf_counter() - start, 3),
            share=search.share(counts or zero),
            **more,  # type: ignore[arg-type]
        )

    ok, now, _ = (True, None, 0) if fits_now else search.run(zero, "fast")
    if ok:
        return answer(zero, now, lower_bound=0.0, bound_by="it fits as it is", proven=True)
    too_big = _too_big(agents, shapes, scenarios)
    if too_big:
        return answer(None, None, lower_bound=0.0, bound_by="", proven=True, why_not=too_big)
    bound_counts = _cheapest_cover(shapes, search.short, search.offer, search.fewest)
    if bound_counts is None:
        return answer(
            None,
            None,
            lower_bound=0.0,
            bound_by="",
            proven=False,
            why_not="no mix of these shapes holds what the cluster lacks",
        )
    lower = search.cost(bound_counts)
    bound_by = "volume: the cheapest mix with room for what is short, per resource"
    found = search.heuristic()
    if found is None:
        return answer(
            None,
            None,
            lower_bound=lower,
            bound_by=bound_by,
            proven=False,
            why_not=(
                "no mix of these shapes makes it fit: an instance fits none of them, or a "
                "constraint or host port keeps it off every new agent"
            ),
        )
    counts, final = found
    if known is not None and search.cost(known[0]) < search.cost(counts) - 1e-9:
        counts, final = list(known[0]), known[1]
    proven = math.isclose(search.cost(counts), lower, abs_tol=1e-9)
    if not proven:
        left = seconds - (time.perf_counter() - start)
        exact = search.exact(counts, left)
        if exact is not None:
            got, placed, cost_bound, optimal = exact
            if search.cost(got) < search.cost(counts) - 1e-9:
                counts, final = got, placed
            if cost_bound > lower + 1e-9:
                lower = min(cost_bound, search.cost(counts))
                bound_by = "the exact search"
            if optimal and search.cost(got) <= search.cost(counts) + 1e-9:
                counts, final, proven = got, placed, True
                lower, bound_by = search.cost(got), "the exact search (the cheapest proven)"
    return answer(counts, final, lower_bound=lower, bound_by=bound_by, proven=proven)
