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
from dataclasses import dataclass, field, replace

from allocator.bounds import vector_lower_bound, volume_bound
from allocator.constraints import AgentRules, attribute, static_reason
from allocator.packing import Kind, Packing, Problem, pack

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

    @property
    def totals(self) -> tuple[float, float, float]:
        """The agent's whole cpus, mem and disk, which headroom shares are taken of."""
        return (
            self.total_cpus if self.total_cpus is not None else self.cpus,
            self.total_mem if self.total_mem is not None else self.mem,
            self.total_disk if self.total_disk is not None else self.disk,
        )


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
    # the verdict is certain: it fits, or no placement of every instance exists at all (too
    # little room in total, or an exhaustive search on a small problem found none); False
    # when the heuristics merely found none
    proven: bool = False

    @property
    def fits(self) -> bool:
        return not self.unplaced


EFFORTS = ("quick", "fast", "thorough")


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
            if c[1] == "CLUSTER" and (len(c) < 3 or not c[2]) and d.count > 0:
                members = groups.setdefault((d.constraint_group, c[0]), [])
                if k not in members:
                    members.append(k)
    if not groups:
        return None
    scale = [max((getattr(a, r) for a in agents), default=0.0) or 1.0 for r in RESOURCES]
    room: dict[tuple[str, str], list[float]] = {}
    hosts: dict[tuple[str, str], int] = {}
    for a in agents:
        for attr in {attr for _, attr in groups}:
            value = attribute(a, attr)
            if value is None:
                continue
            acc = room.setdefault((attr, value), [0.0, 0.0, 0.0])
            for r, f in enumerate((a.cpus, a.mem, a.disk)):
                acc[r] += f
            hosts[(attr, value)] = hosts.get((attr, value), 0) + 1

    def need(ks: list[int]) -> list[float]:
        return [sum(demands[k].count * _size(demands[k])[r] for k in ks) for r in range(3)]

    def share(ks: list[int]) -> float:
        return sum(n / c for n, c in zip(need(ks), scale, strict=True))

    order = sorted(groups, key=lambda g: (-share(groups[g]), g))
    pin: dict[tuple[str, str], str] = {}
    for group, attr in order:
        ks = groups[(group, attr)]
        want = need(ks)
        apart = max(
            demands[k].count if demands[k].ports or _unique_hostname(demands[k]) else 1 for k in ks
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
                (c[0], "CLUSTER", pin[(d.constraint_group, c[0])])
                if c[1] == "CLUSTER"
                and (len(c) < 3 or not c[2])
                and (d.constraint_group, c[0]) in pin
                else tuple(c)
                for c in d.constraints
            ),
        )
        for d in demands
    ]


def _size(d: Demand) -> tuple[float, float, float]:
    return (d.cpus, d.mem, d.disk)


def _size_of(a: Agent) -> tuple[float, float, float]:
    return (a.cpus, a.mem, a.disk)


def _unique_hostname(d: Demand) -> bool:
    return any(c[0] == "hostname" and c[1] == "UNIQUE" for c in d.constraints)


def _canonical(
    agents: Sequence[Agent], demands: Sequence[Demand]
) -> tuple[list[Agent], list[Demand]]:
    return (
        sorted(agents, key=lambda a: a.id),
        [d for _, d in sorted(enumerate(demands), key=lambda p: (p[1].key, p[0]))],
    )


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
    agents, demands = _canonical(agents, demands)
    # a search that places many times reads only what fits and what is left over
    quick = effort == "quick"
    bound = 0 if quick else _lower_bound(agents, demands)
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
        final = None if quick else _Final(agents, demands, rules, packing.by_kind)
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
        self._rooms: dict[float, list[tuple[float, float, float]]] = {}
        self._by_lack: dict[tuple[tuple[float, float, float], float], list[int]] = {}
        self._by_room: dict[tuple[float, int], list[int]] = {}
        self._largest_of: dict[tuple[float, int], tuple[float, int]] = {}

    def rooms(self, h: float) -> list[tuple[float, float, float]]:
        """What each agent has left for a demand of headroom h: free less what it keeps."""
        got = self._rooms.get(h)
        if got is None:
            got = []
            for a, used, hm in zip(self.agents, self.used, self.hmax, strict=True):
                keep = max(h, hm)
                f, t = (a.cpus, a.mem, a.disk), a.totals
                got.append(
                    (
                        f[0] - used[0] - keep * t[0],
                        f[1] - used[1] - keep * t[1],
                        f[2] - used[2] - keep * t[2],
                    )
                )
            self._rooms[h] = got
        return got

    def _largest(self, h: float, w: int, allowed: Sequence[int] | None) -> tuple[float, int]:
        """What the largest of the allowed agents offers in dimension w when empty, less
        headroom h, and which agent that is; known per (h, w) when every agent is allowed,
        as thousands of unplaced demands ask the same."""
        key = (h, w)
        if allowed is None and key in self._largest_of:
            return self._largest_of[key]
        empty = [
            (_size_of(self.agents[i])[w] - h * self.agents[i].totals[w], i)
            for i in (allowed if allowed is not None else range(len(self.agents)))
        ]
        got = max(empty, key=lambda p: (p[0], -p[1]))
        if allowed is None:
            self._largest_of[key] = got
        return got

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
        static = self.rules.eligible(k)
        static_set = set(static) if static is not None else None

        def allowed(b: int) -> bool:
            return (static_set is None or b in static_set) and self.rules.allows(k, b)

        rooms = self.rooms(demand.headroom)
        # the allowed agent that lacks least, relative to the need; agents ranked once per
        # size and headroom, so that many unplaced demands cost little each
        key = (size, demand.headroom)
        ranking = self._by_lack.get(key)
        if ranking is None:

            def lack(b: int) -> tuple[float, float, int]:
                parts = [
                    max(0.0, s - r) / s if s else 0.0 for s, r in zip(size, rooms[b], strict=True)
                ]
                return (max(parts), sum(parts), b)

            ranking = sorted(range(len(self.agents)), key=lack)
            self._by_lack[key] = ranking
        best = next((b for b in ranking if allowed(b)), None)
        if best is None:
            blocked: Counter[str] = Counter()
            for b in range(len(self.agents)):
                blocked[self.rules.why_not(k, b) or "no room"] += 1
            causes = "; ".join(f"{n} agents: {c}" for c, n in blocked.most_common())
            return f"no agent is allowed ({causes})", {}
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
        order = self._by_room.get((demand.headroom, w))
        if order is None:
            order = sorted(range(len(self.agents)), key=lambda b: (-rooms[b][w], b))
            self._by_room[(demand.headroom, w)] = order
        holder = next(b for b in order if allowed(b))
        most = rooms[holder][w]
        # bigger than any allowed agent even when empty: say so, not how full they are
        h = demand.headroom
        largest, big = self._largest(h, w, static)
        if size[w] > largest + _EPS:
            return (
                f"needs {_fmt(size[w], worst)}; no agent is that large: the largest "
                f"{'it may use ' if static_set is not None else ''}offers "
                f"{_fmt(max(0.0, largest), worst)} when empty ({self.agents[big].hostname})",
                shortfall,
            )
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
    # instances with headroom h or more sit on agents that keep h of their total free: they
    # need at least as many agents as their sizes need on agents shrunk so (h = the
    # smallest headroom covers every instance)
    by_size = 0
    for h in sorted({d.headroom for d in active}):
        some = [d for d in active if d.headroom >= h]
        caps = [
            tuple(max(0.0, f - h * t) for f, t in zip(_size_of(a), a.totals, strict=True))
            for a in agents
        ]
        by_size = max(
            by_size, vector_lower_bound([_size(d) for d in some], [d.count for d in some], caps)
        )
    # instances that rules keep to some agents (IS, LIKE, UNLIKE, CLUSTER with a value)
    # need enough of those
    kept: dict[tuple[int, ...], list[Demand]] = {}
    for d in active:
        if any(
            c[1] in ("IS", "LIKE", "UNLIKE") or (c[1] == "CLUSTER" and len(c) > 2 and c[2])
            for c in d.constraints
        ):
            allowed = tuple(
                i
                for i, a in enumerate(agents)
                if all(static_reason(a, c) is None for c in d.constraints)
            )
            kept.setdefault(allowed, []).append(d)
    for allowed, some in kept.items():
        need = [sum(_size(d)[r] * d.count for d in some) for r in range(3)]
        if not allowed:
            continue  # nothing can hold them: no bound on agents from them
        by_size = max(by_size, volume_bound(need, [_size_of(agents[i]) for i in allowed]))
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
