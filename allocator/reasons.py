"""Why instances have no agent, in words an operator can act on, with the shortfall."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from allocator.constraints import AgentRules
from allocator.model import EPS, RESOURCES, Agent, Demand, Unplaced
from allocator.packing.core import State

UNITS = {"cpus": "cpus", "mem": "MiB", "disk": "MiB of disk"}


def fmt(value: float, resource: str) -> str:
    number = f"{value:g}" if resource == "cpus" else f"{value:.0f}"
    return f"{number} {UNITS[resource]}"


class Explainer:
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
        self._caches()

    def _caches(self) -> None:
        self.cache: dict[int, tuple[str, Mapping[str, float]]] = {}
        self._rooms: dict[float, list[tuple[float, float, float]]] = {}
        self._by_lack: dict[tuple[tuple[float, float, float], float], list[int]] = {}
        self._by_room: dict[tuple[float, int], list[int]] = {}
        self._largest_of: dict[tuple[float, int], tuple[float, int]] = {}

    def adopt(self, st: State) -> None:
        """Read the agents as a packing in progress leaves them (its rules are only read)."""
        rules = st.rules
        assert isinstance(rules, AgentRules)
        self.rules = rules
        self.used = [
            [a.size[r] - st.res[b][r] for r in range(3)] for b, a in enumerate(self.agents)
        ]
        self.hmax = list(st.hmax)
        self._caches()

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
            (self.agents[i].size[w] - h * self.agents[i].totals[w], i)
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
                f"needs {fmt(size[1], 'mem')} and {fmt(size[0], 'cpus')}; no placement of "
                f"every instance was found although {self.agents[best].hostname} has room "
                "for this one",
                shortfall,
            )
        # every resource named is short on the agent named: the allowed agent that comes
        # closest to holding the instance (the smallest shortfall relative to the need)
        short = [r for r in RESOURCES if shortfall[r] > 0]
        h = demand.headroom
        for r in short:
            w = RESOURCES.index(r)
            # bigger than any allowed agent even when empty: say so, not how full they are
            largest, big = self._largest(h, w, static)
            if size[w] > largest + EPS:
                return (
                    f"needs {fmt(size[w], r)}; no agent is that large: the largest "
                    f"{'it may use ' if static_set is not None else ''}offers "
                    f"{fmt(max(0.0, largest), r)} when empty ({self.agents[big].hostname})",
                    shortfall,
                )
        among = ""
        if demand.ports:
            among = (
                " among the agents with port"
                + ("s " if len(demand.ports) > 1 else " ")
                + ", ".join(str(p) for p in demand.ports)
                + " free"
            )
        elif demand.constraints:
            among = " among the agents its constraints allow"
        needs = " and ".join(fmt(size[RESOURCES.index(r)], r) for r in short)
        has = " and ".join(fmt(max(0.0, rooms[best][RESOURCES.index(r)]), r) for r in short)
        text = (
            f"needs {needs}; the closest fit{among}, {self.agents[best].hostname}, has {has} free"
        )
        return text, shortfall
