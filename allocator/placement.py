"""Placing every instance on a real agent: the verdict "fits", or what does not and why.

Public interface (kept stable for ledger/): `Agent`, `Demand`, `Unplaced`, `Placement`,
`place()`, `lower_bound()`. Sizes are plain numbers: cpus, MiB of memory, MiB of disk.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
    headroom: float = 0.0  # share of every agent's cpus, mem and disk to leave free
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

    @property
    def fits(self) -> bool:
        return not self.unplaced


# --- constraints -----------------------------------------------------------------------


def _attribute(agent: Agent, field_name: str) -> str | None:
    if field_name == "hostname":
        return agent.hostname
    value = agent.attributes.get(field_name)
    return None if value is None else str(value)


class _Spread:
    """Counts of a constraint group's instances per agent and per attribute value."""

    def __init__(self) -> None:
        self.per_value: dict[tuple[str, str | None], Counter[str | None]] = defaultdict(Counter)
        self.first_value: dict[str, str | None] = {}

    def add(self, agent: Agent, constraints: tuple[tuple[str, ...], ...]) -> None:
        for c in constraints:
            value = _attribute(agent, c[0])
            self.per_value[(c[0], c[1])][value] += 1
            self.first_value.setdefault(c[0], value)


def _allows(
    agent: Agent, demand: Demand, spread: _Spread, total: int, values: Mapping[str, int]
) -> str | None:
    """None when the constraints allow one more instance on `agent`, else why not."""
    for c in demand.constraints:
        attr, op = c[0], c[1]
        arg = c[2] if len(c) > 2 else None
        value = _attribute(agent, attr)
        counts = spread.per_value[(attr, op)]
        if op == "UNIQUE":
            if value is None or counts[value] >= 1:
                return f"UNIQUE {attr}"
        elif op == "MAX_PER":
            if value is None or counts[value] >= int(arg or 1):
                return f"MAX_PER {attr} {arg}"
        elif op == "CLUSTER":
            want = arg if arg else spread.first_value.get(attr, value)
            if value is None or value != want:
                return f"CLUSTER {attr} {want}"
        elif op == "IS":
            if value != arg:
                return f"IS {attr} {arg}"
        elif op == "LIKE":
            if value is None or not re.fullmatch(arg or "", value):
                return f"LIKE {attr} {arg}"
        elif op == "UNLIKE":
            if value is not None and re.fullmatch(arg or "", value):
                return f"UNLIKE {attr} {arg}"
        elif op == "GROUP_BY":
            if value is None:
                return f"GROUP_BY {attr}"
            spread_over = int(arg) if arg else max(1, values.get(attr, 1))
            if counts[value] >= math.ceil(total / spread_over):
                return f"GROUP_BY {attr}"
    return None


# --- the packer --------------------------------------------------------------------------


class _State:
    def __init__(self, agents: Sequence[Agent]) -> None:
        self.agents = list(agents)
        self.free = [[a.cpus, a.mem, a.disk] for a in self.agents]
        self.total = [
            [
                a.total_cpus if a.total_cpus is not None else a.cpus,
                a.total_mem if a.total_mem is not None else a.mem,
                a.total_disk if a.total_disk is not None else a.disk,
            ]
            for a in self.agents
        ]
        self.ports_taken: list[set[int]] = [set() for _ in self.agents]
        self.used = [False] * len(self.agents)

    def room(self, i: int, demand: Demand) -> list[float]:
        """What agent i has left for this demand, after the demand's headroom."""
        keep = [demand.headroom * t for t in self.total[i]]
        return [f - k for f, k in zip(self.free[i], keep, strict=True)]

    def port_ok(self, i: int, port: int) -> bool:
        if port in self.ports_taken[i]:
            return False
        return any(lo <= port <= hi for lo, hi in self.agents[i].ports)


def _size(d: Demand) -> tuple[float, float, float]:
    return (d.cpus, d.mem, d.disk)


def _order_key(d: Demand, scale: Sequence[float]) -> tuple[float, ...]:
    shares = [s / c if c > 0 else 0.0 for s, c in zip(_size(d), scale, strict=True)]
    return (-bool(d.constraints), -len(d.ports), -max(shares), -sum(shares), d.key)


def place(agents: Sequence[Agent], demands: Sequence[Demand]) -> Placement:
    """First fit decreasing by dominant share; deterministic for the same input."""
    state = _State(agents)
    scale = [max((t[r] for t in state.total), default=1.0) or 1.0 for r in range(3)]
    values: dict[str, int] = defaultdict(int)
    for attr in {c[0] for d in demands for c in d.constraints}:
        values[attr] = len({_attribute(a, attr) for a in agents} - {None})
    spreads: dict[str, _Spread] = defaultdict(_Spread)
    totals: Counter[str] = Counter()
    for d in demands:
        totals[d.constraint_group] += d.count
    assignments: dict[str, list[str]] = {d.key: [] for d in demands}
    unplaced: list[Unplaced] = []
    for demand in sorted(demands, key=lambda d: _order_key(d, scale)):
        spread = spreads[demand.constraint_group]
        size = _size(demand)
        for index in range(1, demand.count + 1):
            chosen = None
            for i in range(len(state.agents)):
                room = state.room(i, demand)
                if any(s > r + _EPS for s, r in zip(size, room, strict=True)):
                    continue
                if not all(state.port_ok(i, p) for p in demand.ports):
                    continue
                if (
                    _allows(
                        state.agents[i], demand, spread, totals[demand.constraint_group], values
                    )
                    is not None
                ):
                    continue
                chosen = i
                break
            if chosen is None:
                unplaced.append(_explain(state, demand, index, spread, totals, values))
                continue
            for r in range(3):
                state.free[chosen][r] -= size[r]
            state.ports_taken[chosen].update(demand.ports)
            state.used[chosen] = True
            spread.add(state.agents[chosen], demand.constraints)
            assignments[demand.key].append(state.agents[chosen].id)
    return Placement(
        assignments={k: tuple(v) for k, v in assignments.items()},
        unplaced=tuple(unplaced),
        agents_used=sum(state.used),
        lower_bound=lower_bound(agents, demands),
    )


_UNITS = {"cpus": "cpus", "mem": "MiB", "disk": "MiB of disk"}


def _fmt(value: float, resource: str) -> str:
    number = f"{value:g}" if resource == "cpus" else f"{value:.0f}"
    return f"{number} {_UNITS[resource]}"


def _explain(
    state: _State,
    demand: Demand,
    index: int,
    spread: _Spread,
    totals: Mapping[str, int],
    values: Mapping[str, int],
) -> Unplaced:
    """Why instance `index` of `demand` has no agent, in words, with the shortfall."""
    name = f"{demand.name} #{index}"
    size = _size(demand)
    eligible = []
    blocked: Counter[str] = Counter()
    for i, agent in enumerate(state.agents):
        if not all(state.port_ok(i, p) for p in demand.ports):
            blocked["its host ports are taken or outside the agent's ranges"] += 1
            continue
        why = _allows(agent, demand, spread, totals[demand.constraint_group], values)
        if why is not None:
            blocked[f"constraint {why}"] += 1
            continue
        eligible.append(i)
    if not eligible:
        if not state.agents:
            return Unplaced(demand.key, index, f"{name}: there is no active agent", {})
        causes = "; ".join(f"{n} agents: {c}" for c, n in blocked.most_common())
        return Unplaced(demand.key, index, f"{name}: no agent is allowed ({causes})", {})

    # the eligible agent that lacks least, relative to the need
    def lack(i: int) -> tuple[float, ...]:
        room = state.room(i, demand)
        return tuple(max(0.0, s - r) / s if s else 0.0 for s, r in zip(size, room, strict=True))

    best = min(eligible, key=lambda i: (max(lack(i)), sum(lack(i)), i))
    room = state.room(best, demand)
    shortfall = {
        r: round(max(0.0, s - free), 6) for r, s, free in zip(RESOURCES, size, room, strict=True)
    }
    worst = max(RESOURCES, key=lambda r: shortfall[r] / (size[RESOURCES.index(r)] or 1))
    k = RESOURCES.index(worst)
    most = max(state.room(i, demand)[k] for i in eligible)
    holder = state.agents[max(eligible, key=lambda i: (state.room(i, demand)[k], -i))]
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
    reason = (
        f"{name}: needs {_fmt(size[k], worst)}; the most free on {where} is "
        f"{_fmt(max(0.0, most), worst)} ({holder.hostname})"
    )
    return Unplaced(demand.key, index, reason, shortfall)


# --- bounds ------------------------------------------------------------------------------


def lower_bound(agents: Sequence[Agent], demands: Sequence[Demand]) -> int:
    """Fewest agents any placement needs: the larger of the per-resource volume bound (on
    the largest agent's size) and the instances that can never share an agent (those of
    a UNIQUE hostname group, or holding the same host port)."""
    if not demands:
        return 0
    cap = [max((getattr(a, r) for a in agents), default=0.0) for r in RESOURCES]
    volume = 0
    for r, c in zip(RESOURCES, cap, strict=True):
        need = sum(getattr(d, r) * d.count for d in demands)
        if need > _EPS:
            volume = max(volume, math.ceil(need / c - _EPS) if c > 0 else 10**9)
    apart = 0
    per_group: Counter[str] = Counter()
    for d in demands:
        if any(c[0] == "hostname" and c[1] == "UNIQUE" for c in d.constraints):
            per_group[d.constraint_group] += d.count
    apart = max(per_group.values(), default=0)
    per_port: Counter[int] = Counter()
    for d in demands:
        for p in d.ports:
            per_port[p] += d.count
    apart = max(apart, max(per_port.values(), default=0))
    return max(volume, apart, 1 if any(d.count for d in demands) else 0)
