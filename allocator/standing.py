"""The standing placement of a cluster: every instance on an agent, changed a demand at a time.

Instances that run stay where they run (Marathon never moves a task to make room); the
rest (instances not running yet, scale-ups, reservation slots, the deploy surge) are placed
around them. A write places only what it changes: it takes the old instances of a demand
out and fits the new ones into what is left, by first fit over a segment tree of the
agents' room, in O(changed instances × log agents). What fits there fits as the cluster
runs now.

One `Scene` per set of reservations that are active together (the maximal sets from now
on): each places everything of the cluster plus its reservations. Every change is
journaled, so that a trial (a dry run, a refused write, a write whose transaction has not
committed yet) is undone exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from allocator.constraints import AgentRules
from allocator.model import RESOURCES, Agent, Demand, Placement, Unplaced
from allocator.packing import Kind, Problem
from allocator.packing.core import Core, State
from allocator.packing.first_fit import Tree
from allocator.packing.orders import bin_order
from allocator.reasons import Explainer


@dataclass(frozen=True)
class Change:
    """A demand as it is now (None: gone), and where its instances run (agent ids)."""

    key: str
    demand: Demand | None
    running: tuple[str, ...] = ()


class Scene:
    """Every demand of one set of reservations, each instance on an agent or unplaced."""

    def __init__(self, agents: Sequence[Agent], reservations: frozenset[int] = frozenset()) -> None:
        self.agents = list(agents)
        self.index = {a.id: i for i, a in enumerate(self.agents)}
        self.reservations = reservations
        base = AgentRules(self.agents, [])
        self.core = Core(
            Problem(
                free=[a.size for a in self.agents], total=[a.totals for a in self.agents], kinds=[]
            ),
            base,
        )
        self.state: State = self.core.state()
        rules = self.state.rules
        assert isinstance(rules, AgentRules)
        self.rules: AgentRules = rules
        self.tree = Tree(self.state, bin_order(self.core))
        self.kind: dict[str, int] = {}  # demand key → its live kind
        self.missing: dict[str, int] = {}  # demand key → instances without an agent
        self.journal: list[tuple[object, ...]] | None = None

    # --- changes ---------------------------------------------------------------------------

    def demands(self) -> list[Demand]:
        return [self.rules.demands[k] for k in self.kind.values()]

    def demand(self, key: str) -> Demand | None:
        k = self.kind.get(key)
        return None if k is None else self.rules.demands[k]

    def where(self, key: str) -> list[int]:
        """The agent (index) of each instance of the demand, -1 for none."""
        k = self.kind.get(key)
        if k is None:
            return []
        return self.state.where[self.core.first[k] : self.core.first[k + 1]]

    def _log(self, *entry: object) -> None:
        if self.journal is not None:
            self.journal.append(entry)

    def _put(self, x: int, b: int) -> None:
        self.state.put(x, b)
        self.tree.update(b)
        self._log("put", x, b)

    def _take(self, x: int) -> None:
        b = self.state.take(x)
        self.tree.update(b)
        self._log("take", x, b)

    def remove(self, key: str) -> None:
        k = self.kind.pop(key, None)
        if k is None:
            return
        st, core = self.state, self.core
        for x in range(core.first[k], core.first[k + 1]):
            if st.where[x] >= 0:
                self._take(x)
        self.rules.retire(k)
        self._log("retire", key, k, self.missing.pop(key, 0))

    def add(
        self,
        demand: Demand,
        running: Sequence[str] = (),
        hint: Sequence[int] | None = None,
    ) -> int:
        """Place a demand's instances: the first ones on the agents where they run, as far
        as they fit there; the others where `hint` says if they fit there, else by first
        fit. Returns how many found no agent."""
        self.remove(demand.key)
        count = max(0, demand.count)
        k = self.rules.extend(demand)
        kk = self.core.add_kind(
            Kind(size=demand.size, count=count, headroom=demand.headroom), self.rules.eligible(k)
        )
        assert k == kk
        self.state.grow()
        self.kind[demand.key] = k
        self._log("kind", demand.key, k)
        st, core = self.state, self.core
        first = core.first[k]
        pinned = 0
        for j, agent_id in enumerate(running[:count]):
            b = self.index.get(agent_id, -1)
            if b >= 0 and st.can(first + j, b):
                self._put(first + j, b)
                core.fixed[first + j] = b
                pinned = j + 1
            else:
                break
        core.nfixed[k] = pinned
        left: list[int] = []
        for x in range(first + pinned, first + count):
            b = hint[x - first] if hint is not None and x - first < len(hint) else -1
            if b >= 0 and b < core.nbins and st.can(x, b):
                self._put(x, b)
            else:
                left.append(x)
        missing = self._first_fit(k, left)
        if missing:
            self.missing[demand.key] = missing
        return missing

    def _first_fit(self, k: int, items: list[int]) -> int:
        st, core, tree = self.state, self.core, self.tree
        eligible = core.eligible[k]
        missing = 0
        if eligible is not None:
            allowed = sorted(eligible, key=tree.pos.__getitem__)
            j = 0
            for x in items:
                while j < len(allowed) and not st.can(x, allowed[j]):
                    j += 1
                if j == len(allowed):
                    missing += 1
                    continue
                self._put(x, allowed[j])
            return missing
        start = 0
        for x in items:
            i = tree.first(x, start)
            if i < 0:
                missing += 1
                start = tree.size  # the kind's other items will not fit either
                continue
            self._put(x, tree.order[i])
            start = i
        return missing

    def begin(self) -> int:
        """Start (or nest) a trial: what follows can be undone back to here."""
        if self.journal is None:
            self.journal = []
        return len(self.journal)

    def undo(self, mark: int = 0) -> None:
        """Undo every change since `begin()` returned `mark`."""
        journal = self.journal or []
        st, core = self.state, self.core
        while len(journal) > mark:
            entry = journal.pop()
            op = entry[0]
            if op == "put":
                x, b = entry[1], entry[2]
                assert isinstance(x, int) and isinstance(b, int)
                st.take(x)
                core.fixed.pop(x, None)
                self.tree.update(b)
            elif op == "take":
                x, b = entry[1], entry[2]
                assert isinstance(x, int) and isinstance(b, int)
                st.put(x, b)
                self.tree.update(b)
            elif op == "kind":
                key, k = entry[1], entry[2]
                assert isinstance(key, str) and isinstance(k, int)
                del self.kind[key]
                self.missing.pop(key, None)
                core.truncate_kinds(k)
                st.shrink()
                self.rules.truncate(k)
            elif op == "retire":
                key, k, missing = entry[1], entry[2], entry[3]
                assert isinstance(key, str) and isinstance(k, int) and isinstance(missing, int)
                self.rules.unretire(k)
                self.kind[key] = k
                if missing:
                    self.missing[key] = missing
        if mark == 0:
            self.journal = None

    def commit(self) -> None:
        """Keep what the trial changed."""
        self.journal = None

    # --- readings ---------------------------------------------------------------------------

    def complete(self, tolerate: Iterable[str] = ()) -> bool:
        """Every instance placed, but those of demands in `tolerate` (and their surge)."""
        allowed = set(tolerate)
        return all(k in allowed or k.removeprefix("surge:") in allowed for k in self.missing)

    def used(self) -> int:
        return self.state.used

    def room(self, b: int) -> tuple[float, float, float]:
        """What agent b has left for an instance without headroom of its own."""
        res, keep = self.state.res[b], self.state.keep[b]
        return (res[0] - keep[0], res[1] - keep[1], res[2] - keep[2])

    def placement(self, lower_bound: int = 0, explain: Iterable[str] | None = None) -> Placement:
        """The scene as a Placement (agent ids per instance), with a reason for every
        instance without an agent (`explain`: only for these demand keys)."""
        demands = sorted(self.demands(), key=lambda d: d.key)
        assignments: dict[str, tuple[str, ...]] = {}
        for d in demands:
            assignments[d.key] = tuple(self.agents[b].id for b in self.where(d.key) if b >= 0)
        unplaced: list[Unplaced] = []
        wanted = None if explain is None else set(explain)
        if self.missing:
            explainer = Explainer(self.agents, self.rules.demands, self.rules, [])
            explainer.adopt(self.state)
            for d in demands:
                missing = self.missing.get(d.key, 0)
                if not missing or (wanted is not None and d.key not in wanted):
                    continue
                placed = d.count - missing
                for index in range(placed + 1, d.count + 1):
                    unplaced.append(explainer.explain(self.kind[d.key], index))
        return Placement(
            assignments=assignments,
            unplaced=tuple(unplaced),
            agents_used=self.state.used,
            lower_bound=lower_bound,
            strategy="standing",
            proven=not self.missing,
        )


def volume_need(demands: Iterable[Demand]) -> tuple[float, float, float]:
    """What the demands ask in all, per resource."""
    need = [0.0, 0.0, 0.0]
    for d in demands:
        for r in range(len(RESOURCES)):
            need[r] += d.size[r] * max(0, d.count)
    return (need[0], need[1], need[2])


def scene_from(
    agents: Sequence[Agent],
    demands: Sequence[Demand],
    running: Mapping[str, Sequence[str]],
    placed: Mapping[str, Sequence[str]] | None = None,
    reservations: frozenset[int] = frozenset(),
) -> Scene:
    """A scene of the demands: each on the agents `placed` gives it (by id) where it fits
    there, else by first fit; instances that run stay where they run. Demands with rules
    that keep them to few agents go first, as in a full placement."""
    scene = Scene(agents, reservations)
    order = sorted(demands, key=lambda d: (-_restriction(d), -d.count, d.key))
    for d in order:
        hint = None
        if placed is not None and d.key in placed:
            ids = placed[d.key]
            hint = [scene.index.get(a, -1) for a in ids]
        scene.add(d, running.get(d.key, ()), hint)
    return scene


def _restriction(d: Demand) -> int:
    return (2 if d.constraints else 0) + (1 if d.ports else 0)
