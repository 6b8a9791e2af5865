"""Placing every instance on a real agent: the verdict "fits", or what does not and why.

The values are `allocator.model`; the packing itself is `allocator.packing`
(n-dimensional, here with three resources); ports and constraints are
`allocator.constraints`; bounds are `allocator.bounds`; the words of a refusal are
`allocator.reasons`.
Deterministic: agents are taken in order of id and demands in order of key, whatever
order they come in, and no unseeded randomness is used.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from allocator.packing import Kind, Packing, Problem, pack
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


def place(
    agents: Sequence[Agent],
    demands: Sequence[Demand],
    *,
    effort: str = "fast",
    budget: int | None = None,
    order: str = "max",
) -> Placement:
    """Place every instance of every demand on an agent, or say which do not fit and why.

    effort="fast" (the ledger's verdict): first fit decreasing over a segment tree of the
    agents' free room; only if instances are left over, other orders, best fit, a repair
    search and, on small inputs, an exhaustive search run before they are declared
    unplaceable. effort="thorough" (plans): several heuristics and a local search that
    empties agents, to use as few agents as it can. effort="quick": the first fit alone,
    for searches that place many times and confirm their answer with "fast" (it neither
    computes the lower bound, 0, nor explains in detail what is left over). `budget`
    bounds the work (in candidate checks, so that results do not depend on the machine's
    speed). `order`: the measure of size the first pass sorts by (allocator.packing.ORDERS); a
    plan's search leads with the one that packed its cluster best.
    """
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of {EFFORTS}, not {effort!r}")
    agents, demands = canonical(agents, demands)
    # a search that places many times reads only what fits and what is left over
    quick = effort == "quick"
    bound = 0 if quick else lower_bound_of_canonical(agents, demands)
    assignments: dict[str, list[str]] = {d.key: [] for d in demands}
    if not any(d.count > 0 for d in demands):
        return Placement({k: () for k in assignments}, (), 0, bound, proven=True)
    # CLUSTER without a value: first try each group on a value chosen up front (first fit
    # would let the first instance pick a value that cannot hold the rest), then as is
    pinned = _pin_clusters(agents, demands)
    tries = [pinned, demands] if pinned is not None else [demands]
    best: tuple[Packing, AgentRules] | None = None
    for attempt in tries:
        rules = AgentRules(agents, attempt)
        problem = Problem(
            free=[(a.cpus, a.mem, a.disk) for a in agents],
            total=[a.totals for a in agents],
            kinds=[
                Kind(
                    size=(d.cpus, d.mem, d.disk),
                    count=max(0, d.count),
                    headroom=d.headroom,
                    priority=_priority(d, rules.restriction(k)),
                )
                for k, d in enumerate(attempt)
            ],
        )
        got = pack(problem, rules, effort=effort, budget=budget, lower=bound, order=order)
        if best is None or (got.unplaced, got.bins_used) < (best[0].unplaced, best[0].bins_used):
            best = (got, rules)
        # only a search under the rules as given proves that nothing fits
        proven = got.proven if attempt is demands else not got.unplaced
        if not got.unplaced and (effort != "thorough" or got.bins_used == bound):
            break
    assert best is not None
    packing, rules = best
    proven = proven or not packing.unplaced
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
            for index in range(placed + 1, d.count + 1):
                if final is None:
                    why = f"{d.name} #{index}: first fit alone found no agent"
                    unplaced.append(Unplaced(d.key, index, why, {}))
                else:
                    unplaced.append(final.explain(k, index))
    return Placement(
        assignments={k: tuple(v) for k, v in assignments.items()},
        unplaced=tuple(unplaced),
        agents_used=packing.bins_used,
        lower_bound=bound,
        strategy=packing.strategy,
        proven=proven,
    )
