"""Counted constraints: UNIQUE, MAX_PER, GROUP_BY and CLUSTER without a value, with the
counts of instances placed so far; plus each demand's static mask and host ports.

Constraints are counted per constraint group (`Demand.constraint_group`): the instances of
every demand in a group that carries the same (field, operator) count together. What is
fixed by the agent alone is worked out once per demand (`allocator.constraints.static`);
what depends on the instances placed so far (UNIQUE, MAX_PER, GROUP_BY, CLUSTER, ports
taken) is checked by dictionary lookups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from allocator.constraints.ports import PORTS_BLOCKED, PortIndex, ports_ok
from allocator.constraints.static import barred_agents, static_reason
from allocator.model import Agent, Demand


class AgentRules:
    """Constraints and host ports of `demands` on `agents`, with the counts placed so far."""

    def __init__(self, agents: Sequence[Agent], demands: Sequence[Demand]) -> None:
        self.agents = agents
        self.demands = demands
        attrs = {c.field for d in demands for c in d.constraints}
        self.values: dict[str, list[str | None]] = {
            a: [agent.attribute(a) for agent in agents] for a in attrs
        }
        distinct = {a: len(set(v) - {None}) for a, v in self.values.items()}
        self.totals = totals = group_totals(demands)
        ports = PortIndex(agents) if any(d.ports for d in demands) else None
        lacking: dict[int, set[int]] = {}
        barred: dict[tuple[object, ...], set[int]] = {}
        n = len(agents)
        # per demand, the agents it may never use: those it may use when they are few (a
        # list for the packer to walk, and a set), else a set of those it may not
        self._eligible: list[list[int] | None] = []
        self._barred: list[set[int] | None] = []
        self._only: list[set[int] | None] = []
        # per demand: (counter key, field, limit) for the counted operators, CLUSTER fields
        self._limits: list[list[tuple[tuple[str, str, str], str, int]]] = []
        self._cluster: list[list[tuple[tuple[str, str, str], str]]] = []
        for d in demands:
            sig = d.constraints
            if sig not in barred:
                barred[sig] = barred_agents(agents, sig)
            out = barred[sig]
            if d.ports:
                assert ports is not None
                out = set(out)
                for p in d.ports:
                    if p not in lacking:
                        lacking[p] = ports.lacking(p)
                    out |= lacking[p]
            if 2 * len(out) > n:
                allowed = [i for i in range(n) if i not in out]
                self._eligible.append(allowed)
                self._only.append(set(allowed))
                self._barred.append(None)
            else:
                self._eligible.append(None)
                self._only.append(None)
                self._barred.append(out or None)
            limits: dict[tuple[str, str, str], tuple[str, int]] = {}
            cluster: dict[tuple[str, str, str], str] = {}
            for c in d.constraints:
                attr, op, arg = c
                key = (d.constraint_group, attr, op)
                if op in ("UNIQUE", "MAX_PER"):
                    limit = c.limit
                elif op == "GROUP_BY":
                    spread_over = int(arg) if arg else max(1, distinct.get(attr, 1))
                    limit = math.ceil(totals[d.constraint_group] / spread_over)
                elif op == "CLUSTER" and not arg:
                    cluster[key] = attr
                    continue
                else:
                    continue
                if key in limits:
                    limit = min(limit, limits[key][1])
                limits[key] = (attr, limit)
            self._limits.append([(k, a, lim) for k, (a, lim) in limits.items()])
            self._cluster.append(list(cluster.items()))
        self._ports = [tuple(d.ports) for d in demands]
        self._hostname_compared = any(
            c.field == "hostname" and (c.static or c.value is not None)
            for d in demands
            for c in d.constraints
        )
        self._reset()

    def _reset(self) -> None:
        self.counts: dict[tuple[str, str, str], dict[str | None, int]] = {}
        self.taken: list[set[int]] = [set() for _ in self.agents]

    def fresh(self) -> AgentRules:
        twin = object.__new__(AgentRules)
        twin.__dict__.update(self.__dict__)
        twin._reset()
        return twin

    def signature(self, b: int) -> object:
        """Equal for agents that no rule tells apart while both hold nothing of ours.

        The hostname counts only where a rule compares it with a value (IS, LIKE, UNLIKE,
        CLUSTER with a value); counted operators see every empty agent alike.
        """
        return (
            self.agents[b].ports,
            tuple(
                self.values[attr][b]
                for attr in sorted(self.values)
                if attr != "hostname" or self._hostname_compared
            ),
        )

    def static_ok(self, kind: int, b: int) -> bool:
        barred, only = self._barred[kind], self._only[kind]
        return (barred is None or b not in barred) and (only is None or b in only)

    def related(self, kind: int, other: int) -> bool:
        if kind == other:
            return True
        if set(self._ports[kind]) & set(self._ports[other]):
            return True
        group = self.demands[kind].constraint_group
        return group == self.demands[other].constraint_group and bool(
            self._limits[kind] or self._cluster[kind]
        )

    def restriction(self, kind: int) -> float:
        """The share of agents that ports and constraints keep off `kind` whatever else."""
        n = len(self.agents) or 1
        barred, only = self._barred[kind], self._only[kind]
        if only is not None:
            return 1 - len(only) / n
        return len(barred) / n if barred is not None else 0.0

    def eligible(self, kind: int) -> Sequence[int] | None:
        return self._eligible[kind]

    def ports(self, kind: int) -> tuple[int, ...]:
        return self._ports[kind]

    def counted(self, kind: int) -> list[tuple[tuple[str, str, str], str, int]]:
        """(counter key, field, limit) of each counted operator (UNIQUE, MAX_PER, GROUP_BY):
        the instances under one key may number at most `limit` per value of the field."""
        return self._limits[kind]

    def clustered(self, kind: int) -> list[tuple[tuple[str, str, str], str]]:
        """(counter key, field) of each CLUSTER without a value: one value for all."""
        return self._cluster[kind]

    def value(self, field_name: str, b: int) -> str | None:
        return self.values[field_name][b]

    def allows(self, kind: int, b: int) -> bool:
        barred = self._barred[kind]
        if barred is not None and b in barred:
            return False
        only = self._only[kind]
        if only is not None and b not in only:
            return False
        taken = self.taken[b]
        for p in self._ports[kind]:
            if p in taken:
                return False
        counts = self.counts
        values = self.values
        for key, attr, limit in self._limits[kind]:
            seen = counts.get(key)
            if seen is not None and seen.get(values[attr][b], 0) >= limit:
                return False
        for key, attr in self._cluster[kind]:
            seen = counts.get(key)
            if seen and values[attr][b] not in seen:
                return False
        return True

    def add(self, kind: int, b: int) -> None:
        self.taken[b].update(self._ports[kind])
        for key, attr, _ in self._limits[kind]:
            seen = self.counts.setdefault(key, {})
            value = self.values[attr][b]
            seen[value] = seen.get(value, 0) + 1
        for key, attr in self._cluster[kind]:
            seen = self.counts.setdefault(key, {})
            value = self.values[attr][b]
            seen[value] = seen.get(value, 0) + 1

    def remove(self, kind: int, b: int) -> None:
        self.taken[b].difference_update(self._ports[kind])
        for key, attr, _ in self._limits[kind] + [(k, a, 0) for k, a in self._cluster[kind]]:
            seen = self.counts[key]
            value = self.values[attr][b]
            if seen[value] <= 1:
                del seen[value]
            else:
                seen[value] -= 1

    def why_not(self, kind: int, b: int) -> str | None:
        """In words, why agent b may not take one more instance of demand `kind`; None if it may."""
        agent = self.agents[b]
        demand = self.demands[kind]
        if not ports_ok(agent, demand.ports) or any(p in self.taken[b] for p in self._ports[kind]):
            return PORTS_BLOCKED
        for c in demand.constraints:
            why = static_reason(agent, c)
            if why is not None:
                return f"constraint {why}"
        for key, attr, limit in self._limits[kind]:
            seen = self.counts.get(key, {})
            if seen.get(self.values[attr][b], 0) >= limit:
                op = key[2]
                detail = f" {limit}" if op == "MAX_PER" else ""
                return f"constraint {op} {attr}{detail}"
        for key, attr in self._cluster[kind]:
            seen = self.counts.get(key)
            if seen and self.values[attr][b] not in seen:
                return f"constraint CLUSTER {attr} {next(iter(seen))}"
        return None


def group_totals(demands: Sequence[Demand]) -> Mapping[str, int]:
    totals: dict[str, int] = {}
    for d in demands:
        totals[d.constraint_group] = totals.get(d.constraint_group, 0) + d.count
    return totals
