"""Placing every instance on a real agent: the verdict "fits", or what does not and why.

The values are `allocator.model`; the packing itself is `allocator.packing`
(n-dimensional, here with three resources); ports and constraints are
`allocator.constraints`; bounds are `allocator.bounds`; the words of a refusal are
`allocator.reasons`.
Deterministic: agents are taken in order of id and demands in order of key, whatever
order they come in, and no unseeded randomness is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from allocator.bounds import lower_bound_of_canonical
from allocator.constraints import AgentRules
from allocator.model import (
    EFFORTS,
    RESOURCES,
    Agent,
    Constraint,
    Demand,
    Placement,
    Unplaced,
    canonical,
)
from allocator.packing import Kind, Packing, Problem, pack, pack_exact
from allocator.packing.core import Core
from allocator.reasons import Explainer


def _priority(d: Demand, restriction: float) -> int:
    """Which demands go first, as fewer agents can take them: those that constraints or
    ports keep off most agents, then those with constraints, then with more host ports."""
    return round(restriction * 20) * 128 + (64 if d.constraints else 0) + min(len(d.ports), 63)


def _pin_clusters(agents: Sequence[Agent], demands: Sequence[Demand]) -> list[Demand] | None:
    """The demands with each CLUSTER-without-value group given a value, or None if none.

    Groups go biggest first, each to the value whose agents have the most room left after
    it (room summed over those agents, in shares of the biggest agent), among values with
    enough agents for the instances that need one each (host ports, UNIQUE hostname).
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for k, d in enumerate(demands):
        for c in d.constraints:
            if c.operator == "CLUSTER" and not c.value and d.count > 0:
                members = groups.setdefault((d.constraint_group, c.field), [])
                if k not in members:
                    members.append(k)
    if not groups:
        return None
    scale = [max((getattr(a, r) for a in agents), default=0.0) or 1.0 for r in RESOURCES]
    room: dict[tuple[str, str], list[float]] = {}
    hosts: dict[tuple[str, str], int] = {}
    for a in agents:
        for attr in {attr for _, attr in groups}:
            value = a.attribute(attr)
            if value is None:
                continue
            acc = room.setdefault((attr, value), [0.0, 0.0, 0.0])
            for r, f in enumerate((a.cpus, a.mem, a.disk)):
                acc[r] += f
            hosts[(attr, value)] = hosts.get((attr, value), 0) + 1

    def need(ks: list[int]) -> list[float]:
        return [sum(demands[k].count * demands[k].size[r] for k in ks) for r in range(3)]

    def share(ks: list[int]) -> float:
        return sum(n / c for n, c in zip(need(ks), scale, strict=True))

    order = sorted(groups, key=lambda g: (-share(groups[g]), g))
    pin: dict[tuple[str, str], str] = {}
    for group, attr in order:
        ks = groups[(group, attr)]
        want = need(ks)
        apart = max(
            demands[k].count if demands[k].ports or demands[k].unique_hostname else 1 for k in ks
        )
        options = [
            (min((rm[r] - want[r]) / scale[r] for r in range(3)), value)
            for (a, value), rm in room.items()
            if a == attr and hosts[(a, value)] >= apart
        ]
        if not options:
            continue
        value = min(options, key=lambda o: (-o[0], o[1]))[1]
        for r in range(3):
            room[(attr, value)][r] -= want[r]
        pin[(group, attr)] = value
    return [
        replace(
            d,
            constraints=tuple(
                Constraint(c.field, "CLUSTER", pin[(d.constraint_group, c.field)])
                if c.operator == "CLUSTER" and not c.value and (d.constraint_group, c.field) in pin
                else c
                for c in d.constraints
            ),
        )
        for d in demands
    ]


def _pins(
    agents: Sequence[Agent],
    demands: Sequence[Demand],
    rules: AgentRules,
    pinned: Mapping[str, Sequence[str]],
) -> list[list[int]]:
    """Per demand, the agents (by index) its first instances stay on: where they run, in
    turn, as far as they still fit there at the demand's size and under its rules (one
    that does not is placed like any other instance). Headroom does not move a task that
    runs; an agent whose tasks eat into it takes nothing new."""
    index = {a.id: i for i, a in enumerate(agents)}
    probe = Problem(
        free=[a.size for a in agents],
        total=[a.totals for a in agents],
        kinds=[Kind(size=d.size, count=max(0, d.count), headroom=d.headroom) for d in demands],
    )
    core = Core(probe, rules)
    st = core.state()
    fixed: list[list[int]] = []
    for k, d in enumerate(demands):
        kept: list[int] = []
        for agent_id in pinned.get(d.key, ()):
            if len(kept) == max(0, d.count):
                break
            b = index.get(agent_id, -1)
            x = core.first[k] + len(kept)
            if b >= 0 and st.can_stay(x, b):
                st.put(x, b)
                kept.append(b)
        fixed.append(kept)
    return fixed


def place(
    agents: Sequence[Agent],
    demands: Sequence[Demand],
    *,
    effort: str = "fast",
    budget: int | None = None,
    order: str = "max",
    pinned: Mapping[str, Sequence[str]] | None = None,
    prefer: Mapping[str, Sequence[str]] | None = None,
    seconds: float = 2.0,
    costs: Mapping[str, int] | None = None,
    chains: Sequence[Sequence[str]] = (),
) -> Placement:
    """Place every instance of every demand on an agent, or say which do not fit and why.

    effort="fast" (the ledger's verdict): first fit decreasing over a segment tree of the
    agents' free room; only if instances are left over, other orders, best fit, a repair
    search and, on small inputs, an exhaustive search run before they are declared
    unplaceable. effort="thorough" (plans): several heuristics and a local search that
    empties agents, to use as few agents as it can. effort="quick": the first fit alone,
    for searches that place many times and confirm their answer with "fast" (it neither
    computes the lower bound, 0, nor explains in detail what is left over).
    effort="exact": the fast effort, then, when instances are left over or `prefer` is
    given, an exact search (CP-SAT) within `seconds`: its answer is proven either way
    unless the time runs out. `budget` bounds the heuristics' work (in candidate checks,
    so that results do not depend on the machine's speed). `order`: the measure of size
    the first pass sorts by (allocator.packing.ORDERS); a plan's search leads with the
    one that packed its cluster best.

    `pinned`: demand key → the agent ids its first instances stay on (tasks that run:
    Marathon never moves them to make room), as far as they fit there. `prefer` (exact
    only): demand key → agent ids its instances should keep if they can; the exact search
    moves as few of them as it can.

    `costs` (exact only): agent id → what the agent costs if it holds anything (an
    integer; agents not named are there anyway); the exact search then minimises the cost
    of the agents used, and `chains` (lists of agent ids) are bought in their order.
    """
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of {EFFORTS}, not {effort!r}")
    agents, demands = canonical(agents, demands)
    # a search that places many times reads only what fits and what is left over
    quick = effort == "quick"
    bound = 0 if quick else lower_bound_of_canonical(agents, demands)
    if not any(d.count > 0 for d in demands):
        return Placement({d.key: () for d in demands}, (), 0, bound, proven=True)
    # CLUSTER without a value: first try each group on a value chosen up front (first fit
    # would let the first instance pick a value that cannot hold the rest), then as is
    clustered = _pin_clusters(agents, demands)
    tries = [clustered, demands] if clustered is not None else [demands]
    heuristic = "fast" if effort == "exact" else effort
    best: tuple[Packing, AgentRules, Problem] | None = None
    proven = False
    for attempt in tries:
        rules = AgentRules(agents, attempt)
        problem = Problem(
            free=[a.size for a in agents],
            total=[a.totals for a in agents],
            kinds=[
                Kind(
                    size=d.size,
                    count=max(0, d.count),
                    headroom=d.headroom,
                    priority=_priority(d, rules.restriction(k)),
                )
                for k, d in enumerate(attempt)
            ],
            fixed=_pins(agents, attempt, rules, pinned) if pinned else (),
        )
        got = pack(
            problem,
            rules,
            effort=heuristic,
            budget=budget,
            lower=bound,
            order=order,
            exhaustive_search=effort != "exact",
        )
        if best is None or (got.unplaced, got.bins_used) < (best[0].unplaced, best[0].bins_used):
            best = (got, rules, problem)
        # only a search under the rules as given proves that nothing fits
        proven = got.proven if attempt is demands else not got.unplaced
        if not got.unplaced and (heuristic != "thorough" or got.bins_used == bound):
            break
    assert best is not None
    packing, rules, problem = best
    strategy = packing.strategy
    cost_bound: int | None = None
    cost_optimal = False
    searched = packing.unplaced or prefer or costs
    if effort == "exact" and searched and not (packing.unplaced and proven):
        # the rules as given (CP-SAT chooses CLUSTER values itself), seeded with the best
        rules = AgentRules(agents, demands)
        problem = replace(problem, fixed=_pins(agents, demands, rules, pinned) if pinned else ())
        index = {a.id: i for i, a in enumerate(agents)}
        wants = [[index[a] for a in (prefer or {}).get(d.key, ()) if a in index] for d in demands]
        found, exact = pack_exact(
            problem,
            rules,
            seconds,
            start=packing,
            prefer=wants,
            lower=bound,
            costs=[int((costs or {}).get(a.id, 0)) for a in agents] if costs else (),
            chains=[[index[a] for a in chain if a in index] for chain in chains],
        )
        if costs and exact.status == "found":
            cost_bound, cost_optimal = exact.cost_bound, exact.optimal
        if found is not None and found.unplaced <= packing.unplaced:
            packing, strategy, proven = found, f"exact ({exact.seconds:.2f} s)", True
        elif exact.status == "infeasible":
            proven = True
        elif exact.status == "unknown" and packing.unplaced:
            strategy = f"{strategy}; exact search: {exact.why}"
    proven = proven or not packing.unplaced
    assignments: dict[str, list[str]] = {d.key: [] for d in demands}
    missing: list[tuple[int, int]] = []  # (demand, placed so far)
    for k, d in enumerate(demands):
        placed = [agents[b].id for b in packing.by_kind[k] if b >= 0]
        assignments[d.key].extend(placed)
        if len(placed) < max(0, d.count):
            missing.append((k, len(placed)))
    unplaced: list[Unplaced] = []
    if missing:
        final = None if quick else Explainer(agents, demands, rules, packing.by_kind)
        for k, placed in missing:
            d = demands[k]
            for index_ in range(placed + 1, d.count + 1):
                if final is None:
                    why = f"{d.name} #{index_}: first fit alone found no agent"
                    unplaced.append(Unplaced(d.key, index_, why, {}))
                else:
                    unplaced.append(final.explain(k, index_))
    return Placement(
        assignments={k: tuple(v) for k, v in assignments.items()},
        unplaced=tuple(unplaced),
        agents_used=packing.bins_used,
        lower_bound=bound,
        strategy=strategy,
        proven=proven,
        cost_bound=cost_bound,
        cost_optimal=cost_optimal,
    )
