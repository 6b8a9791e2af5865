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

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from allocator.bounds import Volume
from allocator.constraints import AgentRules
from allocator.model import RESOURCES, Agent, Demand, Placement, Unplaced
from allocator.packing import Kind, Problem
from allocator.packing.core import Core, State
from allocator.packing.first_fit import Tree
from allocator.packing.orders import bin_order
from allocator.reasons import Explainer
from allocator.verdict import AFTER_MOVES, FITS, Move, accepted, settle, worst


@dataclass(frozen=True)
class Change:
    """A demand as it is now (None: gone), where its instances run (agent ids), and where
    to put the others if they fit there (agent indices, by instance)."""

    key: str
    demand: Demand | None
    running: tuple[str, ...] = ()
    hint: tuple[int, ...] | None = None


class Scene:
    """Every demand of one set of reservations, each instance on an agent or unplaced."""

    def __init__(
        self,
        agents: Sequence[Agent],
        demands: Sequence[Demand] = (),
        reservations: frozenset[int] = frozenset(),
    ) -> None:
        """The demands are known, not placed yet: `fill` places each (together, so that
        GROUP_BY counts its group's whole total from the start)."""
        self.agents = list(agents)
        self.index = {a.id: i for i, a in enumerate(self.agents)}
        self.reservations = reservations
        base = AgentRules(self.agents, demands)
        free, total = [a.size for a in self.agents], [a.totals for a in self.agents]
        kinds = [Kind(size=d.size, count=max(0, d.count), headroom=d.headroom) for d in demands]
        self.core = Core(Problem(free=free, total=total, kinds=kinds), base)
        self.state: State = self.core.state()
        rules = self.state.rules
        assert isinstance(rules, AgentRules)
        self.rules: AgentRules = rules
        self.tree = Tree(self.state, bin_order(self.core))
        self.kind: dict[str, int] = {d.key: k for k, d in enumerate(demands)}
        self.missing: dict[str, int] = {}  # demand key → instances without an agent
        self.need = list(volume_need(demands))  # what the demands ask in all
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
        self._grow_need(self.rules.demands[k], -1)
        self._log("retire", key, k, self.missing.pop(key, 0))

    def _grow_need(self, d: Demand, sign: int) -> None:
        for r, size in enumerate(d.size):
            self.need[r] += sign * size * max(0, d.count)

    def _extend(self, demand: Demand) -> int:
        k = self.rules.extend(demand)
        kind = Kind(size=demand.size, count=max(0, demand.count), headroom=demand.headroom)
        assert self.core.add_kind(kind, self.rules.eligible(k)) == k
        self.state.grow()
        self.kind[demand.key] = k
        self._grow_need(demand, +1)
        self._log("kind", demand.key, k)
        return k

    def apply(
        self,
        changes: Sequence[Change],
        hints: Mapping[str, Sequence[int]] | None = None,
    ) -> int:
        """Replace each changed demand (take its instances out, place the new ones);
        returns how many instances found no agent.

        Every changed demand is taken out before any is placed, and every new one counted
        before any is placed: a group's GROUP_BY share is then its final one. When that
        share changes, the group's other demands are placed again too (where they are,
        as far as the new share allows): what the old share let in may be too much now.
        Pins and hinted agents go first for every demand, first fit for the rest after:
        an instance without a place of its own must not take one that another has."""
        changes = [*changes, *self._regrouped(changes)]
        for c in changes:
            self.remove(c.key)
        placing = [(self._extend(c.demand), c) for c in changes if c.demand is not None]
        left = []
        for k, c in placing:
            hint = hints[c.key] if hints is not None and c.key in hints else c.hint
            left.append((k, self.pin(k, c.running, hint)))
        return sum(self._fit_rest(k, items) for k, items in left)

    def _regrouped(self, changes: Sequence[Change]) -> list[Change]:
        """The other demands of the groups whose GROUP_BY share the changes move, each
        as it is, with its pinned instances and its place as the hint."""
        keys = {c.key for c in changes}
        groups = set()
        for c in changes:
            for d in (c.demand, self.demand(c.key)):
                if d is not None and any(x.operator == "GROUP_BY" for x in d.constraints):
                    groups.add(d.constraint_group)
        if not groups:
            return []
        out = []
        for key, k in list(self.kind.items()):
            d = self.rules.demands[k]
            if key in keys or d.constraint_group not in groups:
                continue
            first, last = self.core.first[k], self.core.first[k + 1]
            pinned = [
                self.agents[self.core.fixed[x]].id
                for x in range(first, last)
                if x in self.core.fixed
            ]
            out.append(Change(key, d, tuple(pinned), tuple(self.state.where[first:last])))
        return out

    def fill(self, k: int, running: Sequence[str] = (), hint: Sequence[int] | None = None) -> int:
        """Place the instances of kind k (`pin`, then first fit); how many found no agent."""
        return self._fit_rest(k, self.pin(k, running, hint))

    def pin(
        self, k: int, running: Sequence[str] = (), hint: Sequence[int] | None = None
    ) -> list[int]:
        """Place what has a place of its own: the first instances on the agents where they
        run, in turn, as far as each fits there (one that does not is skipped, the next
        takes its turn, as `placement.place` pins them); the others where `hint` says (by
        instance, agent indices), if they fit there. Returns the instances still without."""
        st, core = self.state, self.core
        first, count = core.first[k], core.first[k + 1] - core.first[k]
        pinned = 0
        for agent_id in running:
            if pinned == count:
                break
            b = self.index.get(agent_id, -1)
            if b >= 0 and st.can_stay(first + pinned, b):
                self._put(first + pinned, b)
                core.fixed[first + pinned] = b
                pinned += 1
        core.nfixed[k] = pinned
        left: list[int] = []
        for x in range(first + pinned, first + count):
            b = hint[x - first] if hint is not None and x - first < len(hint) else -1
            if 0 <= b < core.nbins and st.can(x, b):
                self._put(x, b)
            else:
                left.append(x)
        return left

    def _fit_rest(self, k: int, items: list[int]) -> int:
        missing = self._first_fit(k, items)
        if missing:
            key = self.rules.demands[k].key
            self.missing[key] = missing
            self._log("missing", key)
        return missing

    def _first_fit(self, k: int, items: list[int]) -> int:
        st, core, tree = self.state, self.core, self.tree
        if not core.nbins:
            return len(items)
        eligible = core.eligible[k]
        missing = 0
        if eligible is not None:
            # few agents allowed: walk them in the tree's order rather than search the tree
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
            i = tree.first(x, start) if start < tree.size else -1
            if i < 0:
                missing += 1
                start = tree.size  # the kind's other instances will not fit either
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
                self._grow_need(self.rules.demands[k], -1)
                core.truncate_kinds(k)
                st.shrink()
                self.rules.truncate(k)
            elif op == "missing":
                key = entry[1]
                assert isinstance(key, str)
                self.missing.pop(key, None)
            elif op == "retire":
                key, k, missing = entry[1], entry[2], entry[3]
                assert isinstance(key, str) and isinstance(k, int) and isinstance(missing, int)
                self.rules.unretire(k)
                self._grow_need(self.rules.demands[k], +1)
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
    """A scene of the demands: instances that run stay where they run, the others go where
    `placed` puts them (agent ids, by instance, e.g. a full placement's) while they fit
    there; then the rest by first fit, demands with rules that keep them to few agents
    first. Every pinned and placed instance goes before any first fit, so a packing given
    whole is taken whole."""
    scene = Scene(agents, demands, reservations)
    order = sorted(range(len(demands)), key=lambda k: (-_restriction(demands[k]), k))
    left = []
    for k in order:
        d = demands[k]
        hint = None
        if placed is not None and d.key in placed:
            hint = [scene.index.get(a, -1) for a in placed[d.key]]
        left.append((k, scene.pin(k, running.get(d.key, ()), hint)))
    for k, items in left:
        scene._fit_rest(k, items)
    return scene


def _restriction(d: Demand) -> int:
    return (2 if d.constraints else 0) + (1 if d.ports else 0)


# --- the engine: a standing placement of every scene, a change at a time -------------------


@dataclass(frozen=True)
class Outcome:
    """The verdict on a change (or on the standing placement as it is)."""

    level: str
    # the first scene that does not fit, if any, and its best packing found, with a reason
    # for each instance of the change (or, when the change itself was placed, of any
    # instance) that has no agent there
    failing: int | None = None
    placement: Placement | None = None
    moves: tuple[Move, ...] = ()
    proof: str = ""
    steps: tuple[str, ...] = ()
    seconds: float = 0.0
    # where the changed demands went, per scene (agent indices): others can replay it
    hints: tuple[dict[str, list[int]], ...] = ()
    escalated: bool = False  # the standing placement was re-packed (not a change's worth)


class Standing:
    """The standing placement of a cluster: one scene per set of reservations active together.

    `running`: demand key → the agents where its instances run (they stay there).
    `moves`: when a packing was only found with running tasks moved, those moves: until
    they happen, every verdict that builds on it says so.
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        scenes: Sequence[tuple[frozenset[int], Sequence[Demand]]],
        running: Mapping[str, Sequence[str]],
        placed: Sequence[Mapping[str, Sequence[str]] | None] | None = None,
    ) -> None:
        self.agents = list(agents)
        self.running = {k: tuple(v) for k, v in running.items()}
        self.scenes = [
            scene_from(
                self.agents,
                demands,
                self.running,
                placed[i] if placed is not None and i < len(placed) else None,
                reservations,
            )
            for i, (reservations, demands) in enumerate(scenes)
        ]
        self.moves: tuple[Move, ...] = ()
        self._undo: list[tuple[int, Scene, tuple[Move, ...]]] | None = None
        self._volume = Volume([a.size for a in self.agents])

    # --- trials ---------------------------------------------------------------------------

    def begin(self) -> None:
        """Start a trial (a trial already started goes on: `undo` goes back to its start)."""
        if self._undo is None:
            self._undo = []
        for scene in self.scenes:
            scene.begin()

    def undo(self) -> None:
        """Back to where `begin()` was called."""
        for i, old, moves in reversed(self._undo or []):
            self.scenes[i] = old
            self.moves = moves
        self._undo = None
        for scene in self.scenes:
            if scene.journal is not None:
                scene.undo()

    def commit(self) -> None:
        self._undo = None
        for scene in self.scenes:
            scene.commit()

    @staticmethod
    def _kept_room(scene: Scene, tolerate: frozenset[str]) -> list[Demand]:
        """The scene's demands, a tolerated one (an admin's over-commit) counting only its
        instances placed now: what it does not have may stay missing, but a re-pack may
        not take the room of what it has."""
        out = []
        for d in scene.demands():
            missing = scene.missing.get(d.key, 0)
            tolerated = d.key in tolerate or d.key.removeprefix("surge:") in tolerate
            out.append(replace(d, count=d.count - missing) if missing and tolerated else d)
        return out

    def used(self) -> int:
        """Agents holding an instance, in the scene that uses most."""
        return max((s.used() for s in self.scenes), default=0)

    def volume_bound(self) -> int:
        """Fewest agents the scene that asks most needs by volume (biggest agents first)."""
        return max((self._volume(s.need) for s in self.scenes), default=0)

    def replay(
        self,
        changes: Sequence[Change],
        hints: Mapping[frozenset[int], Mapping[str, Sequence[int]]],
        reservation_of: Mapping[str, int] | None = None,
    ) -> None:
        """Apply changes another process judged, where it placed them (`hints`, per set of
        reservations) as far as they fit here; no escalation (the next verdict does it)."""
        for scene in self.scenes:
            scene.apply(
                self._mine(scene, changes, reservation_of or {}), hints.get(scene.reservations)
            )

    @staticmethod
    def _mine(
        scene: Scene, changes: Sequence[Change], reservation_of: Mapping[str, int]
    ) -> list[Change]:
        return [
            c
            for c in changes
            if c.key not in reservation_of or reservation_of[c.key] in scene.reservations
        ]

    def _adopt(self, i: int, placement: Placement, moves: tuple[Move, ...]) -> None:
        """Scene i as the escalation packed it (running tasks where it put them, if moved)."""
        if self._undo is not None:
            self._undo.append((i, self.scenes[i], self.moves))
        old = self.scenes[i]
        running = {} if moves else self.running
        self.scenes[i] = scene_from(
            self.agents, old.demands(), running, placement.assignments, old.reservations
        )
        self.moves = moves

    # --- verdicts ---------------------------------------------------------------------------

    def change(
        self,
        changes: Sequence[Change],
        *,
        seconds: float,
        tolerate: frozenset[str] = frozenset(),
        reservation_of: Mapping[str, int] | None = None,
    ) -> Outcome:
        """Apply the changes (inside a trial the caller commits or undoes) and judge them.

        Each change goes to every scene, but a reservation's (its key in `reservation_of`)
        only to the scenes of the sets it belongs to. The change is placed into what the
        standing placement leaves; when a scene has instances left over, it escalates.
        """
        reservation_of = reservation_of or {}
        keys = {c.key for c in changes}
        hints: list[dict[str, list[int]]] = []
        for scene in self.scenes:
            mine = self._mine(scene, changes, reservation_of)
            scene.apply(mine)
            hints.append({c.key: list(scene.where(c.key)) for c in mine if c.demand is not None})
        outcome = self.judge(seconds=seconds, tolerate=tolerate, explain=keys)
        return Outcome(
            outcome.level,
            outcome.failing,
            outcome.placement,
            outcome.moves,
            outcome.proof,
            outcome.steps,
            outcome.seconds,
            tuple(hints) if not outcome.escalated else (),
            outcome.escalated,
        )

    def judge(
        self,
        *,
        seconds: float,
        tolerate: frozenset[str] = frozenset(),
        explain: Iterable[str] | None = None,
    ) -> Outcome:
        """The level of the standing placement as it is: `fits` when every scene holds every
        instance (but those tolerated); else each scene that does not is escalated within
        the budget, and adopted when a packing is found."""
        start = time.perf_counter()
        wanted = None if explain is None else set(explain)
        failing = [i for i, s in enumerate(self.scenes) if not s.complete(tolerate)]
        if not failing:
            level = AFTER_MOVES if self.moves else FITS
            return Outcome(
                level,
                moves=self.moves,
                steps=("standing",),
                seconds=round(time.perf_counter() - start, 3),
            )
        levels: list[str] = []
        steps: list[str] = []
        proof, moves, first_failing = "", self.moves, None
        placement: Placement | None = None
        for i, scene in enumerate(self.scenes):
            if i not in failing:
                levels.append(AFTER_MOVES if self.moves else FITS)
                continue
            # the reasons: about the change when it is what found no room
            own = scene.placement(explain=wanted)
            if not own.unplaced:
                own = scene.placement()
            budget = max(0.05, (seconds - (time.perf_counter() - start)) / (len(failing) or 1))
            # where tasks really run, whatever moves an earlier packing counted on: the
            # level and the moves are about the cluster as it is
            demands = self._kept_room(scene, tolerate)
            got = settle(self.agents, demands, self.running, seconds=budget)
            steps.extend(got.steps)
            levels.append(got.level)
            if accepted(got.level):
                self._adopt(i, got.placement, got.moves)
                moves = self.moves
            elif first_failing is None:
                proof, first_failing, placement = got.proof, i, own
        return Outcome(
            worst(levels),
            first_failing,
            placement,
            moves,
            proof,
            tuple(dict.fromkeys(steps)),
            round(time.perf_counter() - start, 3),
            escalated=True,
        )
