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
    """Constraints and host ports of `demands` on `agents`, with the counts placed so far.

    Demands are kinds by index. A standing placement grows them as the ledger changes
    (`extend`, `retire`, and `truncate` to undo), so what a demand may do is compiled once
    per demand, and GROUP_BY's share follows its group's total.
    """

    def __init__(self, agents: Sequence[Agent], demands: Sequence[Demand]) -> None:
        self.agents = agents
        self.demands: list[Demand] = []
        self.values: dict[str, list[str | None]] = {}
        self._distinct: dict[str, int] = {}
        self.totals: dict[str, int] = {}
        self._kinds_of_group: dict[str, list[int]] = {}
        self._port_index: PortIndex | None = None
        self._lacking: dict[int, set[int]] = {}
        self._barred_by: dict[tuple[object, ...], set[int]] = {}
        # per demand, the agents it may never use: those it may use when they are few (a
        # list for the packer to walk, and a set), else a set of those it may not
        self._eligible: list[list[int] | None] = []
        self._barred: list[set[int] | None] = []
        self._only: list[set[int] | None] = []
        # per demand: (counter key, field, limit) for the counted operators, CLUSTER fields
        self._limits: list[list[tuple[tuple[str, str, str], str, int]]] = []
        self._cluster: list[list[tuple[tuple[str, str, str], str]]] = []
        self._ports: list[tuple[int, ...]] = []
        self._retired: set[int] = set()
        self._hostname_compared = False
        for d in demands:
            self.totals[d.constraint_group] = self.totals.get(d.constraint_group, 0) + d.count
        for d in demands:
            self._compile(d)
        self._reset()

    def _field(self, name: str) -> list[str | None]:
        got = self.values.get(name)
        if got is None:
            got = self.values[name] = [agent.attribute(name) for agent in self.agents]
            self._distinct[name] = len(set(got) - {None})
        return got

    def _compile(self, d: Demand) -> int:
        """Append what demand d may do; returns its kind index."""
        agents, n = self.agents, len(self.agents)
        for c in d.constraints:
            self._field(c.field)
            if c.field == "hostname" and (c.static or c.value is not None):
                self._hostname_compared = True
        sig = d.constraints
        if sig not in self._barred_by:
            self._barred_by[sig] = barred_agents(agents, sig)
        out = self._barred_by[sig]
        if d.ports:
            if self._port_index is None:
                self._port_index = PortIndex(agents)
            out = set(out)
            for p in d.ports:
                if p not in self._lacking:
                    self._lacking[p] = self._port_index.lacking(p)
                out |= self._lacking[p]
        if 2 * len(out) > n:
            allowed = [i for i in range(n) if i not in out]
            self._eligible.append(allowed)
            self._only.append(set(allowed))
            self._barred.append(None)
        else:
            self._eligible.append(None)
            self._only.append(None)
            self._barred.append(out or None)
        k = len(self.demands)
        self.demands.append(d)
        self._ports.append(tuple(d.ports))
        self._limits.append(self._counted(d))
        self._cluster.append(
            list(
                {
                    (d.constraint_group, c.field, c.operator): c.field
                    for c in d.constraints
                    if c.operator == "CLUSTER" and not c.value
                }.items()
            )
        )
        self._kinds_of_group.setdefault(d.constraint_group, []).append(k)
        return k

    def _counted(self, d: Demand) -> list[tuple[tuple[str, str, str], str, int]]:
        limits: dict[tuple[str, str, str], tuple[str, int]] = {}
        for c in d.constraints:
            attr, op, arg = c
            key = (d.constraint_group, attr, op)
            if op in ("UNIQUE", "MAX_PER"):
                limit = c.limit
            elif op == "GROUP_BY":
                spread_over = int(arg) if arg else max(1, self._distinct.get(attr, 1))
                limit = math.ceil(self.totals.get(d.constraint_group, 0) / spread_over)
            else:
                continue
            if key in limits:
                limit = min(limit, limits[key][1])
            limits[key] = (attr, limit)
        return [(k, a, lim) for k, (a, lim) in limits.items()]

    def _regroup(self, group: str) -> None:
        """GROUP_BY's share of every demand of the group, after its total changed."""
        for k in self._kinds_of_group.get(group, ()):
            if any(c.operator == "GROUP_BY" for c in self.demands[k].constraints):
                self._limits[k] = self._counted(self.demands[k])

    def extend(self, demand: Demand) -> int:
        """One more demand, counted in its group's total; returns its kind index."""
        group = demand.constraint_group
        self.totals[group] = self.totals.get(group, 0) + demand.count
        k = self._compile(demand)
        self._regroup(group)
        return k

    def retire(self, kind: int) -> None:
        """Demand `kind` no longer counts (its instances must be taken out first)."""
        d = self.demands[kind]
        self._retired.add(kind)
        self.totals[d.constraint_group] -= d.count
        self._regroup(d.constraint_group)

    def unretire(self, kind: int) -> None:
        d = self.demands[kind]
        self._retired.discard(kind)
        self.totals[d.constraint_group] += d.count
        self._regroup(d.constraint_group)

    def truncate(self, n: int) -> None:
        """Forget the demands from index n on (undoes `extend`; none may have instances)."""
        for k in range(len(self.demands) - 1, n - 1, -1):
            d = self.demands.pop()
            group = d.constraint_group
            if k not in self._retired:
                self.totals[group] -= d.count
            self._retired.discard(k)
            self._kinds_of_group[group].pop()
            for column in (
                self._eligible,
                self._barred,
                self._only,
                self._limits,
                self._cluster,
                self._ports,
            ):
                column.pop()
            self._regroup(group)

    def _reset(self) -> None:
        self.counts: dict[tuple[str, str, str], dict[str | None, int]] = {}
        self.taken: list[set[int]] = [set() for _ in self.agents]

    def fresh(self) -> AgentRules:
        """The same demands with nothing placed; shares what is compiled, so demands must
        only be added to the copy that a standing placement owns."""
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
