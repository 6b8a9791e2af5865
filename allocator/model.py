"""The values every part of allocator/ reads: agents, demands, constraints, placements.

Sizes are plain numbers: cpus, MiB of memory, MiB of disk. Nothing here imports the rest
of allocator/, so every other module may import this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

RESOURCES = ("cpus", "mem", "disk")
EPS = 1e-9
EFFORTS = ("quick", "fast", "thorough", "exact")

OPERATORS = ("UNIQUE", "MAX_PER", "GROUP_BY", "CLUSTER", "LIKE", "UNLIKE", "IS")
# operators whose value is compulsory
NEEDS_VALUE = ("MAX_PER", "LIKE", "UNLIKE", "IS")
# what an instance's constraints count per agent or per attribute value, as placed so far
COUNTED = ("UNIQUE", "MAX_PER", "GROUP_BY")


class Constraint(NamedTuple):
    """One of Marathon's placement constraints, `[field, operator, value]`, parsed and
    checked (`parse_constraint`); `value` is None when it has none."""

    field: str
    operator: str
    value: str | None = None

    @property
    def static(self) -> bool:
        """Decided by the agent alone (IS, LIKE, UNLIKE, CLUSTER with a value)."""
        return self.operator in ("IS", "LIKE", "UNLIKE") or (
            self.operator == "CLUSTER" and bool(self.value)
        )

    @property
    def limit(self) -> int:
        """MAX_PER's count (UNIQUE: 1)."""
        if self.operator == "UNIQUE":
            return 1
        return int(self.value) if self.value else 1

    def text(self) -> str:
        return " ".join(p for p in (self.operator, self.field, self.value) if p)


def parse_constraint(parts: Sequence[object] | Constraint) -> Constraint:
    """A constraint from Marathon's list form; ValueError saying what is wrong with it."""
    if isinstance(parts, Constraint):
        return parts
    items = list(parts)
    if not 2 <= len(items) <= 3 or not all(isinstance(p, str) for p in items):
        raise ValueError("a constraint is [field, operator] or [field, operator, value]")
    name, operator = str(items[0]), str(items[1])
    value = str(items[2]) if len(items) > 2 else None
    if not name:
        raise ValueError("the constraint's field is empty (hostname or an attribute name)")
    if operator not in OPERATORS:
        raise ValueError(f"unknown operator '{operator}'; use one of {', '.join(OPERATORS)}")
    if operator in NEEDS_VALUE and value is None:
        raise ValueError(f"operator {operator} needs a value")
    if operator == "MAX_PER" and not re.fullmatch(r"[0-9]{1,6}", value or ""):
        raise ValueError('MAX_PER needs a whole number, like ["rack", "MAX_PER", "2"]')
    if operator == "GROUP_BY" and value is not None and not re.fullmatch(r"[1-9][0-9]{0,5}", value):
        raise ValueError("GROUP_BY takes a whole number of groups, 1 or more")
    if operator == "UNIQUE" and value is not None:
        raise ValueError("UNIQUE takes no value")
    if operator in ("LIKE", "UNLIKE"):
        try:
            re.compile(value or "")
        except re.error as exc:
            raise ValueError(f"{operator} needs a regular expression: {exc}") from exc
    return Constraint(name, operator, value or None)


def usable_constraints(rows: Iterable[Sequence[object]]) -> tuple[Constraint, ...]:
    """The constraints of stored rows that can be evaluated; old rows may hold some the API
    refuses today (an invalid regex, a GROUP_BY count of 0), which placement skips."""
    out = []
    for row in rows:
        try:
            out.append(parse_constraint([str(p) for p in row]))
        except ValueError:
            continue
    return tuple(out)


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
    def size(self) -> tuple[float, float, float]:
        return (self.cpus, self.mem, self.disk)

    @property
    def totals(self) -> tuple[float, float, float]:
        """The agent's whole cpus, mem and disk, which headroom shares are taken of."""
        return (
            self.total_cpus if self.total_cpus is not None else self.cpus,
            self.total_mem if self.total_mem is not None else self.mem,
            self.total_disk if self.total_disk is not None else self.disk,
        )

    def attribute(self, name: str) -> str | None:
        """The agent's value for a constraint field: its hostname or one of its attributes."""
        if name == "hostname":
            return self.hostname
        value = self.attributes.get(name)
        return None if value is None else str(value)


@dataclass(frozen=True)
class Demand:
    """`count` identical instances to place (an allocation, a reservation's slots, a surge).

    Sizes include the executor's overhead. `group` names who the constraints count
    together: a rolling upgrade's extra instances share their allocation's group.
    Constraints are parsed when the demand is made (ValueError when one is invalid).
    """

    key: str
    count: int
    cpus: float
    mem: float
    disk: float = 0.0
    ports: tuple[int, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    # share of its total cpus, mem and disk that an agent holding one of these instances
    # keeps free, whatever else it holds
    headroom: float = 0.0
    group: str = ""
    label: str = ""  # how an operator calls it, e.g. "order-service (production)"

    def __post_init__(self) -> None:
        if not all(isinstance(c, Constraint) for c in self.constraints):
            parsed = tuple(parse_constraint(c) for c in self.constraints)
            object.__setattr__(self, "constraints", parsed)

    @property
    def constraint_group(self) -> str:
        return self.group or self.key

    @property
    def name(self) -> str:
        return self.label or self.key

    @property
    def size(self) -> tuple[float, float, float]:
        return (self.cpus, self.mem, self.disk)

    @property
    def unique_hostname(self) -> bool:
        return any(c.field == "hostname" and c.operator == "UNIQUE" for c in self.constraints)


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
    # with agent costs (a plan's mix of machines): the least cost the exact search proved
    # any packing needs, and whether this packing's cost is that least (costs' units)
    cost_bound: int | None = None
    cost_optimal: bool = False

    @property
    def fits(self) -> bool:
        return not self.unplaced


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


def canonical(
    agents: Sequence[Agent], demands: Sequence[Demand]
) -> tuple[list[Agent], list[Demand]]:
    """Agents by id and demands by key, whatever order they came in: answers that do not
    depend on the order of a query's rows."""
    return (
        sorted(agents, key=lambda a: a.id),
        [d for _, d in sorted(enumerate(demands), key=lambda p: (p[1].key, p[0]))],
    )
