"""Placing every instance on a real agent: the verdict "fits", or what does not and why.

Public interface (kept stable for ledger/): `Agent`, `Demand`, `Unplaced`, `Placement`,
`place()`, `lower_bound()`. Sizes are plain numbers: cpus, MiB of memory, MiB of disk.

The packing itself is `allocator.packing` (n-dimensional, here with three resources);
ports and constraints are `allocator.constraints`; bounds are `allocator.bounds`.
Deterministic: agents are taken in order of id and demands in order of key, whatever
order they come in, and no unseeded randomness is used.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from allocator.bounds import vector_lower_bound
from allocator.constraints import AgentRules
from allocator.packing import Kind, Problem, pack

RESOURCES = ("cpus", "mem", "disk")
_EPS = 1e-9


@dataclass(frozen=True)
class Agent:
    """What one agent offers berth's tasks.

    cpus/mem/disk: what berth's role may use, i.e. the total less what is reserved for
    other roles and less what tasks berth does not manage already use. ports: the free
    host port ranges left for berth.
    """

    id: str
    hostname: str
    cpus: float
    mem: float
    disk: float
    ports: tuple[tuple[int, int], ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    # the agent's whole size, which headroom shares are taken of (defaults: the above)
    total_cpus: float | None = None
    total_mem: float | None = None
    total_disk: float | None = None


@dataclass(frozen=True)
class Demand:
    """`count` identical instances to place (an allocation, a reservation's slots, a surge).

    Sizes include the executor's overhead. `group` names who the constraints count
    together: a rolling upgrade's extra instances share their allocation's group.
    """

    key: str
    count: int
    cpus: float
    mem: float
    disk: float = 0.0
    ports: tuple[int, ...] = ()
    constraints: tuple[tuple[str, ...], ...] = ()
    # share of its total cpus, mem and disk that an agent holding one of these instances
    # keeps free, whatever else it holds
    headroom: float = 0.0
    group: str = ""
    label: str = ""  # how an operator calls it, e.g. "order-service (production)"

    @property
    def constraint_group(self) -> str:
        return self.group or self.key

    @property
    def name(self) -> str:
        return self.label or self.key


@dataclass(frozen=True)
class Unplaced:
    key: str
    index: int  # 1-based instance number within the demand
    reason: str  # in words an operator can act on
    shortfall: Mapping[str, float]  # per resource, what the best candidate agent lacks


@dataclass(frozen=True)
class Placement:
    # demand key → the agent id of each placed instance, in instance order
    assignments: Mapping[str, tuple[str, ...]]
    unplaced: tuple[Unplaced, ...]
    agents_used: int
    lower_bound: int
    strategy: str = ""  # which heuristic found it, e.g. "ffd-max" or "bfd-sum+reduce"

    @property
    def fits(self) -> bool:
        return not self.unplaced


EFFORTS = ("fast", "thorough")


def _priority(d: Demand) -> int:
    """Demands with constraints, then those with more host ports, go first: fewer agents fit."""
    return (64 if d.constraints else 0) + min(len(d.ports), 63)


def _canonical(
    agents: Sequence[Agent], demands: Sequence[Demand]
) -> tuple[list[Agent], list[Demand]]:
    return (
        sorted(agents, key=lambda a: a.id),
        [d for _, d in sorted(enumerate(demands), key=lambda p: (p[1].key, p[0]))],
    )


def _total(a: Agent) -> tuple[float, float, float]:
    return (
        a.total_cpus if a.total_cpus is not None else a.cpus,
        a.total_mem if a.total_mem is not None else a.mem,
        a.total_disk if a.total_disk is not None else a.disk,
    )


def place(
    agents: Sequence[Agent],
    demands: Sequence[Demand],
    *,
    effort: str = "fast",
    budget: int | None = None,
) -> Placement:
    """Place every instance of every demand on an agent, or say which do not fit and why.

    effort="fast" (the ledger's verdict): first fit decreasing over a segment tree of the
    agents' free room; only if instances are left over, other orders, best fit, a repair
    search and, on small inputs, an exhaustive search run before they are declared
    unplaceable. effort="thorough" (plans): several heuristics and a local search that
    empties agents, to use as few agents as it can. `budget` bounds the work (in candidate
    checks, so that results do not depend on the machine's speed).
    """
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of {EFFORTS}, not {effort!r}")
    agents, demands = _canonical(agents, demands)
    bound = _lower_bound(agents, demands)
    assignments: dict[str, list[str]] = {d.key: [] for d in demands}
    if not any(d.count > 0 for d in demands):
        return Placement({k: () for k in assignments}, (), 0, bound)
    rules = AgentRules(agents, demands)
    problem = Problem(
        free=[(a.cpus, a.mem, a.disk) for a in agents],
        total=[_total(a) for a in agents],
        kinds=[
            Kind(
                size=(d.cpus, d.mem, d.disk),
                count=max(0, d.count),
                headroom=d.headroom,
                priority=_priority(d),
            )
            for d in demands
        ],
    )
    packing = pack(problem, rules, effort=effort, budget=budget, lower=bound)
    missing: list[tuple[int, int]] = []  # (demand, placed so far)
    for k, d in enumerate(demands):
        placed = [agents[b].id for b in packing.by_kind[k] if b >= 0]
        assignments[d.key].extend(placed)
        if len(placed) < max(0, d.count):
            missing.append((k, len(placed)))
    unplaced: list[Unplaced] = []
    if missing:
        final = _Final(agents, demands, rules, packing.by_kind)
        for k, placed in missing:
            d = demands[k]
            for index in range(placed + 1, d.count + 1):
                unplaced.append(final.explain(k, index))
    return Placement(
        assignments={k: tuple(v) for k, v in assignments.items()},
        unplaced=tuple(unplaced),
        agents_used=packing.bins_used,
        lower_bound=bound,
        strategy=packing.strategy,
    )


# --- reasons in words -------------------------------------------------------------------------

_UNITS = {"cpus": "cpus", "mem": "MiB", "disk": "MiB of disk"}


def _fmt(value: float, resource: str) -> str:
    number = f"{value:g}" if resource == "cpus" else f"{value:.0f}"
    return f"{number} {_UNITS[resource]}"


class _Final:
    """The agents as the placement leaves them, to explain what did not fit."""

    def __init__(
        self,
        agents: Sequence[Agent],
        demands: Sequence[Demand],
        rules: AgentRules,
        by_kind: Sequence[Sequence[int]],
    ) -> None:
        self.agents = agents
        self.demands = demands
        self.rules = rules.fresh()
        self.used = [[0.0, 0.0, 0.0] for _ in agents]
        self.hmax = [0.0] * len(agents)
        for k, bins in enumerate(by_kind):
            d = demands[k]
            for b in bins:
                if b < 0:
                    continue
                self.rules.add(k, b)
                for r, s in enumerate((d.cpus, d.mem, d.disk)):
                    self.used[b][r] += s
                self.hmax[b] = max(self.hmax[b], d.headroom)
        self.cache: dict[int, tuple[str, Mapping[str, float]]] = {}

    def room(self, b: int, demand: Demand) -> list[float]:
        """What agent b has left for this demand: its free room less the headroom kept."""
        a = self.agents[b]
        h = max(demand.headroom, self.hmax[b])
        return [
            f - u - h * t
            for f, u, t in zip((a.cpus, a.mem, a.disk), self.used[b], _total(a), strict=True)
        ]

    def explain(self, k: int, index: int) -> Unplaced:
        """Why instance `index` of demand k has no agent, in words, with the shortfall."""
        demand = self.demands[k]
        if k not in self.cache:
            self.cache[k] = self._why(k)
        text, shortfall = self.cache[k]
        return Unplaced(demand.key, index, f"{demand.name} #{index}: {text}", shortfall)

    def _why(self, k: int) -> tuple[str, Mapping[str, float]]:
        demand = self.demands[k]
        size = (demand.cpus, demand.mem, demand.disk)
        if not self.agents:
            return "there is no active agent", {}
        eligible = []
        blocked: Counter[str] = Counter()
        for b in range(len(self.agents)):
            why = self.rules.why_not(k, b)
            if why is None:
                eligible.append(b)
            else:
                blocked[why] += 1
        if not eligible:
            causes = "; ".join(f"{n} agents: {c}" for c, n in blocked.most_common())
            return f"no agent is allowed ({causes})", {}
        rooms = {b: self.room(b, demand) for b in eligible}

        def lack(b: int) -> tuple[float, ...]:
            return tuple(
                max(0.0, s - r) / s if s else 0.0 for s, r in zip(size, rooms[b], strict=True)
            )

        # the allowed agent that lacks least, relative to the need
        best = min(eligible, key=lambda b: (max(lack(b)), sum(lack(b)), b))
        shortfall = {
            r: round(max(0.0, s - free), 6)
            for r, s, free in zip(RESOURCES, size, rooms[best], strict=True)
        }
        if not any(shortfall.values()):
            # room enough alone, yet it was not placed: the search gave up (rare)
            return (
                f"needs {_fmt(size[1], 'mem')} and {_fmt(size[0], 'cpus')}; no placement of "
                f"every instance was found although {self.agents[best].hostname} has room "
                "for this one",
                shortfall,
            )
        worst = max(RESOURCES, key=lambda r: shortfall[r] / (size[RESOURCES.index(r)] or 1))
        w = RESOURCES.index(worst)
        holder = max(eligible, key=lambda b: (rooms[b][w], -b))
        most = rooms[holder][w]
        where = "an agent"
        if demand.ports:
            where = (
                "an agent with port"
                + ("s " if len(demand.ports) > 1 else " ")
                + ", ".join(str(p) for p in demand.ports)
                + " free"
            )
        elif demand.constraints:
            where = "an agent its constraints allow"
        text = (
            f"needs {_fmt(size[w], worst)}; the most free on {where} is "
            f"{_fmt(max(0.0, most), worst)} ({self.agents[holder].hostname})"
        )
        return text, shortfall


# --- bounds ------------------------------------------------------------------------------


def lower_bound(agents: Sequence[Agent], demands: Sequence[Demand]) -> int:
    """Fewest agents any placement needs (the agents given, then more like the biggest).

    The larger of: the per-resource volume bound (biggest agents first), the vector
    bound of instances that pairwise cannot share an agent by size, and instances that can
    never share an agent by rule (a UNIQUE or MAX_PER group, or the same host port).
    """
    return _lower_bound(*_canonical(agents, demands))


def _lower_bound(agents: Sequence[Agent], demands: Sequence[Demand]) -> int:
    active = [d for d in demands if d.count > 0]
    if not active:
        return 0
    # every agent that is used keeps at least the smallest headroom free
    keep = min(d.headroom for d in active)
    caps = [
        tuple(
            max(0.0, f - keep * t) for f, t in zip((a.cpus, a.mem, a.disk), _total(a), strict=True)
        )
        for a in agents
    ]
    by_size = vector_lower_bound(
        [(d.cpus, d.mem, d.disk) for d in active], [d.count for d in active], caps
    )
    # instances of a UNIQUE group each need their own agent; a MAX_PER n group, one per n
    apart = 0
    unique: Counter[tuple[str, str]] = Counter()
    capped: Counter[tuple[str, str]] = Counter()
    limit: dict[tuple[str, str], int] = {}
    for d in active:
        seen: set[tuple[tuple[str, str], str]] = set()
        for c in d.constraints:
            key = (d.constraint_group, c[0])
            if c[1] == "UNIQUE" and (key, "U") not in seen:
                seen.add((key, "U"))
                unique[key] += d.count
            elif c[1] == "MAX_PER":
                n = max(1, int(c[2]) if len(c) > 2 and c[2] else 1)
                limit[key] = min(limit.get(key, n), n)
                if (key, "M") not in seen:
                    seen.add((key, "M"))
                    capped[key] += d.count
    apart = max(unique.values(), default=0)
    for key, n in capped.items():
        apart = max(apart, math.ceil(n / limit[key]))
    per_port: Counter[int] = Counter()
    for d in active:
        for p in set(d.ports):
            per_port[p] += d.count
    apart = max(apart, max(per_port.values(), default=0))
    return max(by_size, apart, 1)
