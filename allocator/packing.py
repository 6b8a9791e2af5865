"""Packing vectors into bins: the n-dimensional core of placement.

`placement.place()` runs it with three resources (cpus, mem, disk) and rules for ports and
constraints; the vector-packing benchmark runs the very same code with 3..10 dimensions
and no rules. Bins may differ in size. Everything is deterministic: ties fall to the
lower index and the only randomness comes from a `random.Random` with a fixed seed.

Budgets are counted in units of work (candidate checks), not seconds, so that the same
input always yields the same output on any machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from allocator.bounds import vector_lower_bound

EPS = 1e-9
Vector = tuple[float, ...]

# Work units (roughly: one capacity check of one item against one bin) per effort.
FAST_BUDGET = 400_000
THOROUGH_BUDGET = 2_000_000
# The exhaustive fallback only runs on problems this small, so "does not fit" is proven.
EXACT_MAX_ITEMS = 60
EXACT_NODES = 60_000
# ... and in thorough mode, for a placement on one bin fewer, this many (it runs more often).
EXACT_FEWER_NODES = 20_000
# Tabu iterations without a better pool before the search gives up on emptying a bin.
PATIENCE = 1000
# The repair search runs only when at most this many items are left over.
REPAIR_MAX_POOL = 64
# Pairs of pool items are tried as one move only while the pool is this small.
PAIR_POOL = 8
# A swap search step considers the heaviest this many pool items.
ENTER_MAX = 12
# With rules or headroom, candidate moves are checked for real, best first, up to this many.
MOVES_TRIED = 64


@dataclass(frozen=True)
class Kind:
    """`count` identical items of one size.

    headroom: the share of its total size that a bin holding such an item keeps free,
    in every dimension. priority: kinds with a higher one are placed first (they have
    fewer places to go: constraints, ports).
    """

    size: Vector
    count: int
    headroom: float = 0.0
    priority: int = 0


@dataclass(frozen=True)
class Problem:
    """Bins (what each has free, and its whole size that headroom is a share of) and items."""

    free: Sequence[Vector]
    kinds: Sequence[Kind]
    total: Sequence[Vector] | None = None  # defaults to `free`


class Rules(Protocol):
    """What besides size decides whether an item may go into a bin (ports, constraints).

    A Rules object holds the state of one packing in progress; `fresh()` gives an empty one.
    """

    def fresh(self) -> Rules: ...

    def eligible(self, kind: int) -> Sequence[int] | None:
        """The bins that static rules allow for `kind`, in bin order; None: all bins."""
        ...

    def allows(self, kind: int, b: int) -> bool: ...

    def add(self, kind: int, b: int) -> None: ...

    def remove(self, kind: int, b: int) -> None: ...

    def signature(self, b: int) -> object:
        """Equal for two bins that the rules treat alike while both are empty."""
        ...

    def static_ok(self, kind: int, b: int) -> bool:
        """Whether anything at all lets `kind` into bin b (what allows() says when b is empty
        and nothing related is placed)."""
        ...

    def related(self, kind: int, other: int) -> bool:
        """Whether taking an item of `other` out of a bin can make room, by the rules, for
        one of `kind` (one constraint group, a shared port)."""
        ...


@dataclass(frozen=True)
class Packing:
    """Where every item went: `where[item]` is a bin index, or -1 when it has none."""

    where: tuple[int, ...]
    kind_of: tuple[int, ...]
    bins_used: int
    lower_bound: int
    strategy: str = ""
    # the verdict is certain: every item placed, or no placement of every item exists
    proven: bool = False
    # the bins that each kind's items went to, in item order (-1: not placed)
    by_kind: tuple[tuple[int, ...], ...] = field(default=())

    @property
    def unplaced(self) -> int:
        return sum(1 for b in self.where if b < 0)


# --- one packing in progress ----------------------------------------------------------------


class _State:
    """The bins' remaining room, what each holds, and the rules' state, kept in step."""

    def __init__(self, core: _Core, rules: Rules | None) -> None:
        self.core = core
        self.res: list[list[float]] = [list(f) for f in core.free]
        self.hmax = [0.0] * core.nbins
        self.keep: list[Vector] = [core.zero] * core.nbins  # hmax × total, per bin
        self.held: list[list[int]] = [[] for _ in range(core.nbins)]
        self.where = [-1] * core.nitems
        self.rules = rules.fresh() if rules is not None else None
        self.used = 0

    def fits(self, x: int, b: int) -> bool:
        """Room for item x in bin b, the headroom of every item there (and x's) kept free."""
        core = self.core
        k = core.kind_of[x]
        h = core.head[k]
        keep = self.keep[b] if h <= self.hmax[b] else core.reserve(h, b)
        for r, s, kp in zip(self.res[b], core.size[k], keep, strict=True):
            if r - s < kp - EPS:
                return False
        return True

    def can(self, x: int, b: int) -> bool:
        if not self.fits(x, b):
            return False
        rules = self.rules
        return rules is None or rules.allows(self.core.kind_of[x], b)

    def put(self, x: int, b: int) -> None:
        core = self.core
        k = core.kind_of[x]
        res = self.res[b]
        for r, s in enumerate(core.size[k]):
            res[r] -= s
        held = self.held[b]
        if not held:
            self.used += 1
        held.append(x)
        h = core.head[k]
        if h > self.hmax[b]:
            self.hmax[b] = h
            self.keep[b] = core.reserve(h, b)
        self.where[x] = b
        if self.rules is not None:
            self.rules.add(k, b)

    def take(self, x: int) -> int:
        """Take item x out of its bin; returns the bin."""
        core = self.core
        b = self.where[x]
        k = core.kind_of[x]
        res = self.res[b]
        for r, s in enumerate(core.size[k]):
            res[r] += s
        held = self.held[b]
        held.remove(x)
        if not held:
            self.used -= 1
        if core.head[k] and core.head[k] >= self.hmax[b]:
            h = max((core.head[core.kind_of[y]] for y in held), default=0.0)
            self.hmax[b] = h
            self.keep[b] = core.reserve(h, b) if h else core.zero
        self.where[x] = -1
        if self.rules is not None:
            self.rules.remove(k, b)
        return b

    def unplaced(self) -> list[int]:
        return [x for x, b in enumerate(self.where) if b < 0]


class _Core:
    """The problem flattened for speed: one entry per item, sizes shared per kind."""

    def __init__(self, problem: Problem, rules: Rules | None) -> None:
        self.free: list[Vector] = [tuple(float(v) for v in f) for f in problem.free]
        total = problem.total if problem.total is not None else problem.free
        self.total: list[Vector] = [tuple(float(v) for v in t) for t in total]
        self.kinds = list(problem.kinds)
        self.nbins = len(self.free)
        if self.kinds:
            self.dims = len(self.kinds[0].size)
        else:
            self.dims = len(self.free[0]) if self.free else 0
        self.zero: Vector = (0.0,) * self.dims
        self.size: list[Vector] = [tuple(float(v) for v in k.size) for k in self.kinds]
        self.head = [k.headroom for k in self.kinds]
        self.kind_of: list[int] = []
        for i, k in enumerate(self.kinds):
            self.kind_of.extend([i] * k.count)
        self.nitems = len(self.kind_of)
        self.first = [0] * (len(self.kinds) + 1)  # item ids of kind k: first[k]..first[k+1]-1
        for i, k in enumerate(self.kinds):
            self.first[i + 1] = self.first[i] + k.count
        self.rules = rules
        # sizes in shares of the largest bin, per dimension
        scale = [max((f[r] for f in self.free), default=0.0) for r in range(self.dims)]
        self.scale = [s if s > 0 else 1.0 for s in scale]
        self.unit: list[Vector] = [
            tuple(s / c for s, c in zip(size, self.scale, strict=True)) for size in self.size
        ]
        # each bin's room in the same shares, summed over dimensions
        self.room = [
            max(EPS, sum(f / c for f, c in zip(free, self.scale, strict=True)))
            for free in self.free
        ]
        kind_weight = [sum(u) for u in self.unit]
        self.weight = [kind_weight[k] for k in self.kind_of]  # per item
        self._reserve: dict[tuple[float, int], Vector] = {}
        self.eligible: list[Sequence[int] | None] = [
            rules.eligible(k) if rules is not None else None for k in range(len(self.kinds))
        ]
        self.work = 0  # units of work spent, for budgets

    def signature(self, b: int) -> object:
        """What tells bin b apart from others while it is empty: size and what rules see."""
        rules = self.rules
        told = rules.signature(b) if rules is not None else None
        return (self.free[b], self.total[b], told)

    def reserve(self, h: float, b: int) -> Vector:
        key = (h, b)
        got = self._reserve.get(key)
        if got is None:
            got = tuple(h * t for t in self.total[b])
            self._reserve[key] = got
        return got

    def state(self) -> _State:
        return _State(self, self.rules)

    def rebuild(self, where: Sequence[int]) -> _State:
        st = self.state()
        for x, b in enumerate(where):
            if b >= 0:
                st.put(x, b)
        return st


# --- orders ---------------------------------------------------------------------------------


class _Orders:
    """Orders of kinds, biggest first by several measures of "big", computed when first asked.

    Kinds of higher priority come first, then those with more headroom, except in the
    "plain-" orders (size alone) and the "head-" ones (headroom before priority); ties go by
    index.
    """

    NAMES = ("max", "sum", "l2", "weighted", "product", "maxsum")

    def __init__(self, core: _Core) -> None:
        self.core = core
        self.cache: dict[str, list[int]] = {}
        self.prioritised = any(k.priority != core.kinds[0].priority for k in core.kinds)
        self.headroom = any(h != core.head[0] for h in core.head)

    def __getitem__(self, name: str) -> list[int]:
        got = self.cache.get(name)
        if got is None:
            got = self.cache[name] = self._order(name)
        return got

    def _order(self, name: str) -> list[int]:
        core = self.core
        unit = core.unit
        plain = name.startswith("plain-")
        headfirst = name.startswith("head-")
        name = name.removeprefix("plain-").removeprefix("head-")
        if name == "max":
            measure = [max(u, default=0.0) for u in unit]
        elif name == "sum":
            measure = [sum(u) for u in unit]
        elif name == "l2":
            measure = [sum(v * v for v in u) for u in unit]
        elif name == "weighted":
            # weights: what all items together ask of each dimension (Panigrahy et al.)
            demand = [0.0] * core.dims
            for k, kind in enumerate(core.kinds):
                for r, v in enumerate(unit[k]):
                    demand[r] += v * kind.count
            top = max(demand, default=0.0) or 1.0
            w = [d / top for d in demand]
            measure = [sum(a * b for a, b in zip(w, u, strict=True)) for u in unit]
        elif name == "product":
            measure = [math.prod(v + 0.01 for v in u) for u in unit]
        elif name == "maxsum":
            measure = [max(u, default=0.0) + sum(u) / max(core.dims, 1) for u in unit]
        else:
            raise KeyError(name)
        kinds = core.kinds
        head = core.head
        if plain:
            return sorted(range(len(unit)), key=lambda k: (-measure[k], k))
        if headfirst:
            return sorted(
                range(len(unit)), key=lambda k: (-head[k], -kinds[k].priority, -measure[k], k)
            )
        # more headroom first within a priority: first fit then gathers such items on the
        # first bins, and only those bins keep the headroom free
        return sorted(
            range(len(unit)), key=lambda k: (-kinds[k].priority, -head[k], -measure[k], k)
        )


# every order first fit may go by: the measures alone, headroom first, priority ignored
ORDERS = (
    _Orders.NAMES
    + tuple(f"head-{n}" for n in _Orders.NAMES)
    + tuple(f"plain-{n}" for n in _Orders.NAMES)
)


def _items_in(core: _Core, kinds: Sequence[int]) -> list[int]:
    """Item ids of the kinds, kind after kind."""
    first = core.first
    out: list[int] = []
    for k in kinds:
        out.extend(range(first[k], first[k + 1]))
    return out


def _bin_order(core: _Core) -> list[int]:
    """Bins biggest first (fewer bins for the same items), ties by index."""
    unit = [sum(f / s for f, s in zip(free, core.scale, strict=True)) for free in core.free]
    return sorted(range(core.nbins), key=lambda b: (-unit[b], b))


# --- first fit over a segment tree ------------------------------------------------------------


class _Tree:
    """Per headroom level, a max-tree over bins of the room each still offers, per dimension.

    Finds the first bin (in a given order) that has room without looking at every bin.
    """

    def __init__(self, st: _State, order: Sequence[int]) -> None:
        self.st = st
        self.order = list(order)
        self.pos = {b: i for i, b in enumerate(self.order)}
        size = 1
        while size < max(1, len(self.order)):
            size *= 2
        self.size = size
        self.levels: dict[float, list[Vector]] = {}
        self.none: Vector = (-math.inf,) * st.core.dims
        self.three = st.core.dims == 3  # cpus, mem, disk: spelled out in the hot loops

    def _leaf(self, h: float, b: int) -> Vector:
        st = self.st
        keep = st.keep[b] if h <= st.hmax[b] else st.core.reserve(h, b)
        res = st.res[b]
        if self.three:
            return (res[0] - keep[0], res[1] - keep[1], res[2] - keep[2])
        return tuple(r - k for r, k in zip(res, keep, strict=True))

    def _level(self, h: float) -> list[Vector]:
        tree = self.levels.get(h)
        if tree is None:
            size = self.size
            tree = [self.none] * (2 * size)
            for i, b in enumerate(self.order):
                tree[size + i] = self._leaf(h, b)
            for node in range(size - 1, 0, -1):
                tree[node] = tuple(map(max, tree[2 * node], tree[2 * node + 1]))
            self.levels[h] = tree
        return tree

    def update(self, b: int) -> None:
        node = self.pos[b] + self.size
        for h, tree in self.levels.items():
            i = node
            tree[i] = self._leaf(h, b)
            i //= 2
            while i:
                left, right = tree[2 * i], tree[2 * i + 1]
                if self.three:
                    new = (
                        left[0] if left[0] > right[0] else right[0],
                        left[1] if left[1] > right[1] else right[1],
                        left[2] if left[2] > right[2] else right[2],
                    )
                else:
                    new = tuple(map(max, left, right))
                if new == tree[i]:
                    break
                tree[i] = new
                i //= 2

    def first(self, x: int, start: int) -> int:
        """Position (>= start) of the first bin that can take item x, or -1.

        The walk starts at the leaf `start` and climbs only as far as it must: identical
        items resume where the previous one went, and the next bin with room is usually
        close by, so a search costs a few nodes rather than a descent from the root.
        A node's room is the per-dimension maximum of its children's, so a node that
        seems to have room may hold no bin that does: the walk then backs out of it.
        """
        st = self.st
        core = st.core
        k = core.kind_of[x]
        tree = self._level(core.head[k])
        need = tuple(s - EPS for s in core.size[k])
        # three dimensions (cpus, mem, disk) compared inline: this is the innermost loop
        three = len(need) == 3
        n0, n1, n2 = need if three else (0.0, 0.0, 0.0)

        def ok(m: Vector) -> bool:
            return all(a >= s for a, s in zip(m, need, strict=True))

        size = self.size
        if start >= size:
            return -1
        rules = st.rules
        order = self.order
        node = start + size
        work = 0
        while True:
            work += 1
            m = tree[node]
            if (m[0] >= n0 and m[1] >= n1 and m[2] >= n2) if three else ok(m):
                if node < size:
                    node *= 2  # the left child first: bins in order
                    continue
                i = node - size
                if rules is None or rules.allows(k, order[i]):
                    core.work += work
                    return i
            # on to the next subtree to the right: up while this is a right child
            while node & 1:
                node >>= 1
            if node == 0:
                core.work += work
                return -1
            node += 1


def _first_fit(core: _Core, kinds: Sequence[int], bins: Sequence[int]) -> _State:
    """First fit in the given orders; identical items resume where the previous one went."""
    st = core.state()
    tree = _Tree(st, bins)
    pos = tree.pos
    for k in kinds:
        count = core.kinds[k].count
        if not count:
            continue
        items = _items_in(core, [k])
        eligible = core.eligible[k]
        if eligible is not None:
            # few bins allowed: walk them in bin order rather than search the tree
            allowed = sorted(eligible, key=pos.__getitem__)
            j = 0
            for x in items:
                while j < len(allowed) and not st.can(x, allowed[j]):
                    j += 1
                core.work += j + 1
                if j == len(allowed):
                    break
                st.put(x, allowed[j])
                tree.update(allowed[j])
            continue
        start = 0
        for x in items:
            i = tree.first(x, start)
            if i < 0:
                break  # the kind's other items will not fit either
            b = tree.order[i]
            st.put(x, b)
            tree.update(b)
            start = i
    return st


# --- best fit and bin-centric filling ----------------------------------------------------------


def _slack(core: _Core, st: _State, x: int, b: int) -> float:
    """How much room (in shares of the largest bin) bin b would have left after item x."""
    k = core.kind_of[x]
    return sum((r - s) / c for r, s, c in zip(st.res[b], core.size[k], core.scale, strict=True))


def _best_fit(core: _Core, kinds: Sequence[int], bins: Sequence[int]) -> _State:
    """Best fit: each item into the open bin it leaves least room in; else the first empty bin."""
    st = core.state()
    opened: list[int] = []
    rank = {b: i for i, b in enumerate(bins)}
    fresh = list(bins)
    for x in _items_in(core, kinds):
        k = core.kind_of[x]
        allowed = core.eligible[k]
        allowed_set = set(allowed) if allowed is not None else None
        best, best_slack = -1, math.inf
        for b in opened:
            if allowed_set is not None and b not in allowed_set:
                continue
            if st.can(x, b):
                sl = _slack(core, st, x, b)
                if sl < best_slack - EPS:
                    best, best_slack = b, sl
        core.work += len(opened) + 1
        if best < 0:
            for i, b in enumerate(fresh):
                if (allowed_set is None or b in allowed_set) and st.can(x, b):
                    best = b
                    del fresh[i]
                    opened.append(b)
                    opened.sort(key=rank.__getitem__)
                    break
            core.work += len(fresh)
        if best >= 0:
            st.put(x, best)
    return st


def _bin_centric(core: _Core, bins: Sequence[int], score: str) -> _State:
    """Fill one bin at a time with the item that best matches the room it has left.

    "dot": the largest dot product of the item and the room, weighted by what is left to
    place per dimension (Panigrahy et al.); "norm": the smallest weighted distance between
    the room and the item.
    """
    st = core.state()
    left = [kind.count for kind in core.kinds]
    firsts = []
    acc = 0
    for kind in core.kinds:
        firsts.append(acc)
        acc += kind.count
    placed_of = [0] * len(core.kinds)
    unit = core.unit
    scale = core.scale
    dims = core.dims
    remaining = [0.0] * dims
    for k, kind in enumerate(core.kinds):
        for r in range(dims):
            remaining[r] += unit[k][r] * kind.count
    open_kinds = [k for k in range(len(core.kinds)) if left[k]]
    allowed = [
        set(e) if e is not None else None for e in (core.eligible[k] for k in range(len(left)))
    ]
    for b in bins:
        if not open_kinds:
            break
        top = max(remaining) or 1.0
        w = [v / top for v in remaining]
        while True:
            room = [r / c for r, c in zip(st.res[b], scale, strict=True)]
            best, best_score = -1, -math.inf
            best_priority = -(10**9)
            for k in open_kinds:
                pr = core.kinds[k].priority
                if pr < best_priority:
                    continue
                al = allowed[k]
                if al is not None and b not in al:
                    continue
                x = firsts[k] + placed_of[k]
                if not st.can(x, b):
                    continue
                u = unit[k]
                if score == "dot":
                    sc = sum(a * c * e for a, c, e in zip(w, u, room, strict=True))
                else:
                    sc = -sum(a * (e - c) ** 2 for a, c, e in zip(w, u, room, strict=True))
                if pr > best_priority or sc > best_score + EPS:
                    best, best_score, best_priority = k, sc, pr
            core.work += len(open_kinds)
            if best < 0:
                break
            x = firsts[best] + placed_of[best]
            st.put(x, b)
            placed_of[best] += 1
            left[best] -= 1
            for r in range(dims):
                remaining[r] -= unit[best][r]
            if not left[best]:
                open_kinds.remove(best)
                if not open_kinds:
                    break
    return st


# --- local search: empty a bin, or place what is left over ---------------------------------------


class _Pool:
    """Items without a bin, pushed into bins by a tabu search.

    After Buljubasic and Vasquez's consistent neighbourhood search: put a pool item where
    it fits, else swap it (or two of them) for one or two items of a bin. The search
    minimises the pool's cost, the sum of its items' squared shares, so the pool fills with
    small items, which go in more easily. A tabu tenure stops an item from going straight
    back to the bin it just left, and a moved-in item from leaving at once.
    """

    def __init__(self, core: _Core, st: _State, rng: random.Random) -> None:
        self.core = core
        self.st = st
        self.rng = rng
        self.cost = [w * w for w in core.weight]
        # with no rules and no headroom, the size check alone decides
        self.simple = st.rules is None and not any(core.head)
        self.allowed: list[set[int] | None] = [
            set(e) if e is not None else None for e in core.eligible
        ]

    def run(
        self,
        pool: list[int],
        bins: Sequence[int],
        budget: int,
        patience: int,
        spare: Sequence[int] = (),
    ) -> bool:
        """Try to place every item of `pool`; True when the pool is empty.

        The search moves items between the pool and `bins`; whenever what is left in the
        pool fits into the empty `spare` bins, it goes there and the search is done.
        On failure the state keeps its moves: the caller restores it if it wants.
        """
        core, st = self.core, self.st
        cost = self.cost
        bins = list(bins)
        enter: dict[tuple[int, int], int] = {}
        leave: dict[int, int] = {}
        it = 0
        best = math.inf
        stale = 0
        start = core.work
        while True:
            it += 1
            self._insert(pool, bins, enter, it)
            if not pool or (spare and self._into_spare(pool, spare)):
                return True
            total = sum(cost[x] for x in pool)
            if total < best - EPS:
                best = total
                stale = 0
            else:
                stale += 1
            if stale > patience or core.work - start > budget:
                return False
            move = self._best_move(pool, bins, enter, leave, it)
            if move is None:
                return False
            ins, b, outs = move
            for y in outs:
                st.take(y)
                enter[(y, b)] = it + 4 + self.rng.randrange(8)
            for x in ins:
                st.put(x, b)
                leave[x] = it + 2
                pool.remove(x)
            pool.extend(outs)

    def _into_spare(self, pool: list[int], spare: Sequence[int]) -> bool:
        """Put the whole pool into the spare bins if it fits (searched exhaustively, bounded)."""
        core, st = self.core, self.st
        size, kind_of = core.size, core.kind_of
        for r in range(core.dims):
            room = sum(st.res[b][r] for b in spare)
            if sum(size[kind_of[x]][r] for x in pool) > room + EPS:
                return False
        order = sorted(pool, key=lambda x: (-self.cost[x], x))
        nodes = 0

        def go(i: int) -> bool:
            nonlocal nodes
            if i == len(order):
                return True
            nodes += 1
            if nodes > 2000:
                return False
            x = order[i]
            tried_empty = False
            for b in spare:
                if not st.held[b]:
                    # a second empty spare bin is no different from the first
                    if tried_empty and st.rules is None:
                        continue
                    tried_empty = True
                if st.can(x, b):
                    st.put(x, b)
                    if go(i + 1):
                        return True
                    st.take(x)
            return False

        done = go(0)
        core.work += nodes * len(spare)
        if done:
            pool.clear()
        return done

    def _insert(
        self, pool: list[int], bins: list[int], enter: dict[tuple[int, int], int], it: int
    ) -> None:
        """Put every pool item that fits somewhere into the bin it leaves least room in."""
        core, st = self.core, self.st
        cost = self.cost
        weight = core.weight
        kind_of = core.kind_of
        scale = core.scale
        pool.sort(key=lambda x: (-cost[x], x))
        slack = {b: sum(r / c for r, c in zip(st.res[b], scale, strict=True)) for b in bins}
        rest = []
        for x in pool:
            allowed = self.allowed[kind_of[x]]
            wx = weight[x] - EPS
            target, tight = -1, math.inf
            for b in bins:
                sb = slack[b]
                # the room summed over dimensions must hold the item's summed size
                if sb < wx or sb >= tight:
                    continue
                if allowed is not None and b not in allowed:
                    continue
                if enter.get((x, b), 0) > it:
                    continue
                if st.can(x, b):
                    target, tight = b, sb
            core.work += len(bins)
            if target >= 0:
                st.put(x, target)
                slack[target] -= weight[x]
            else:
                rest.append(x)
        pool[:] = rest

    def _best_move(
        self,
        pool: list[int],
        bins: list[int],
        enter: dict[tuple[int, int], int],
        leave: dict[int, int],
        it: int,
    ) -> tuple[tuple[int, ...], int, tuple[int, ...]] | None:
        """The swap that lowers the pool's cost most (or raises it least), not tabu.

        Moves: one pool item in for one or two items out, or two pool items in for one out.
        A move is only looked at closely when the bin's summed room plus the summed size of
        what leaves can hold the summed size of what enters.
        """
        core, st = self.core, self.st
        size = core.size
        kind_of = core.kind_of
        weight = core.weight
        cost = self.cost
        scale = core.scale
        allowed = self.allowed
        rules = st.rules
        rnd = self.rng.random
        simple = self.simple
        moves: list[tuple[float, tuple[int, ...], int, tuple[int, ...]]] = []
        # moves scoring at or above `cut` are not kept: with no rules only the best one is
        # needed, else the best MOVES_TRIED (the others are dropped as the list grows)
        cut = math.inf
        # the heaviest pool items only: they are the hard ones, and it bounds the work
        pool = sorted(pool, key=lambda x: (-cost[x], x))[:ENTER_MAX]
        entering: list[tuple[tuple[int, ...], Vector, float, float]] = [
            ((x,), size[kind_of[x]], weight[x], cost[x]) for x in pool
        ]
        n = len(pool)
        if n <= PAIR_POOL:
            for i in range(n):
                x1 = pool[i]
                s1 = size[kind_of[x1]]
                for j in range(i + 1, n):
                    x2 = pool[j]
                    both = tuple(a + c for a, c in zip(s1, size[kind_of[x2]], strict=True))
                    entering.append(((x1, x2), both, weight[x1] + weight[x2], cost[x1] + cost[x2]))
        for b in bins:
            held = st.held[b]
            if not held:
                continue
            core.work += len(held)
            movable = [y for y in held if leave.get(y, 0) <= it]
            if not movable:
                continue
            ws = sorted((weight[y] for y in movable), reverse=True)
            top1 = ws[0]
            top2 = top1 + ws[1] if len(ws) > 1 else top1
            res = st.res[b]
            slack = sum(r / c for r, c in zip(res, scale, strict=True))
            for ins, sx, wx, cx in entering:
                need_w = wx - slack - EPS
                if need_w > (top2 if len(ins) == 1 else top1):
                    continue
                barred = False
                # kinds entering that the rules refuse on b as it is: a move must take out
                # something they clash with (same constraint group, same port)
                clash: list[int] = []
                for x in ins:
                    kx = kind_of[x]
                    al = allowed[kx]
                    if (al is not None and b not in al) or enter.get((x, b), 0) > it:
                        barred = True
                        break
                    if rules is not None:
                        if not rules.static_ok(kx, b):
                            barred = True
                            break
                        if not rules.allows(kx, b):
                            clash.append(kx)
                if barred:
                    continue
                core.work += len(movable)
                # what b lacks for the entering items, keeping their headroom and that of
                # what it holds (which may fall if the item with the most leaves: rare)
                h = max(core.head[kind_of[x]] for x in ins)
                keep = st.keep[b] if h <= st.hmax[b] else core.reserve(h, b)
                lack = [a - r + k for a, r, k in zip(sx, res, keep, strict=True)]
                for y in movable:
                    if weight[y] < need_w:
                        continue
                    if clash and not all(rules.related(kc, kind_of[y]) for kc in clash):  # type: ignore[union-attr]
                        continue
                    sc = cost[y] - cx
                    if sc >= cut:
                        continue
                    ok = True
                    for a, c in zip(lack, size[kind_of[y]], strict=True):
                        if a > c + EPS:
                            ok = False
                            break
                    if ok:
                        moves.append((sc + rnd() * 1e-7, ins, b, (y,)))
                        cut = self._cut(moves, cut)
                m = len(movable)
                if len(ins) > 1 or m < 2 or top2 < need_w:
                    continue
                core.work += m * (m - 1) // 2
                for i in range(m):
                    y1 = movable[i]
                    s1 = size[kind_of[y1]]
                    w1 = weight[y1] - need_w
                    c1 = cost[y1] - cx
                    for j in range(i + 1, m):
                        y2 = movable[j]
                        if w1 + weight[y2] < 0:
                            continue
                        if clash and not all(
                            rules.related(kc, kind_of[y1]) or rules.related(kc, kind_of[y2])  # type: ignore[union-attr]
                            for kc in clash
                        ):
                            continue
                        sc = c1 + cost[y2]
                        if sc >= cut:
                            continue
                        ok = True
                        for a, c, e in zip(lack, s1, size[kind_of[y2]], strict=True):
                            if a > c + e + EPS:
                                ok = False
                                break
                        if ok:
                            moves.append((sc + rnd() * 1e-7, ins, b, (y1, y2)))
                            cut = self._cut(moves, cut)
        if not moves:
            return None
        if simple:
            _, ins, b, outs = min(moves, key=lambda m: m[0])
            return ins, b, outs
        moves.sort(key=lambda m: m[0])
        for _, ins, b, outs in moves[:MOVES_TRIED]:
            if self._swap_ok(ins, b, outs):
                return ins, b, outs
        return None

    def _cut(
        self, moves: list[tuple[float, tuple[int, ...], int, tuple[int, ...]]], cut: float
    ) -> float:
        """The score a move must beat to be kept; trims `moves` when it grows."""
        if self.simple:
            return min(cut, moves[-1][0])
        if len(moves) >= 4 * MOVES_TRIED:
            moves.sort(key=lambda m: m[0])
            del moves[MOVES_TRIED:]
            return moves[-1][0]
        return cut

    def _swap_ok(self, ins: tuple[int, ...], b: int, outs: tuple[int, ...]) -> bool:
        """Whether `ins` may replace `outs` in bin b (headroom and rules), tried for real."""
        st = self.st
        self.core.work += 8 * (len(ins) + len(outs))
        for y in outs:
            st.take(y)
        done = []
        ok = True
        for x in ins:
            if not st.can(x, b):
                ok = False
                break
            st.put(x, b)
            done.append(x)
        for x in done:
            st.take(x)
        for y in outs:
            st.put(y, b)
        return ok


def _snapshot(st: _State) -> list[int]:
    return list(st.where)


def _reduce(core: _Core, st: _State, lb: int, budget: int, rng: random.Random) -> _State:
    """Use one bin fewer, again and again, until the bound or the budget is reached.

    Takes the items of three light bins into a pool and searches for a way to fit the
    pool into two bins (of those, or bigger idle ones), swapping items with the bins that
    stay in use (consistent neighbourhood search, Buljubasic and Vasquez 2016).
    """
    spent0 = core.work
    attempt = 0
    while st.used > lb and core.work - spent0 < budget:
        used = [b for b in range(core.nbins) if st.held[b]]
        # the bins holding least are the easiest to empty (whatever their size)
        load = {b: sum(core.weight[x] for x in st.held[b]) for b in used}
        light = sorted(used, key=lambda b: (load[b], b))
        take = min(3, len(used))
        if attempt == 0:
            victims = light[:take]
        else:
            victims = [light[0]] + rng.sample(light[1 : 2 * take + 2], take - 1)
        attempt += 1
        # the pool has to fit into one bin fewer than the victims: the biggest of them, or
        # bigger bins that are not in use (when bins differ, a big one may replace two)
        idle = [b for b in range(core.nbins) if not st.held[b]]
        chosen = set(victims)
        spare = sorted(victims + idle, key=lambda b: (-round(core.room[b], 9), b not in chosen, b))
        if attempt > 1 and len(spare) > take - 1:
            # now and then other spare bins: the biggest need not suit the rules best
            spare = rng.sample(spare[: 2 * take + 2], take - 1)
        else:
            spare = spare[: take - 1]
        saved = _snapshot(st)
        pool = [x for b in victims for x in st.held[b]]
        for x in pool:
            st.take(x)
        others = [b for b in used if b not in victims]
        left = budget - (core.work - spent0)
        search = _Pool(core, st, rng)
        if search.run(pool, others, min(left, budget // 3 + 1), PATIENCE, spare):
            attempt = 0
        else:
            st = core.rebuild(saved)
    return st


def _repair(core: _Core, st: _State, budget: int, rng: random.Random) -> _State:
    """Place items left over by a constructive pass, moving or swapping others to make room."""
    pool = st.unplaced()
    if not pool:
        return st
    saved = _snapshot(st)
    before = len(pool)
    _Pool(core, st, rng).run(pool, range(core.nbins), budget, patience=60)
    if len(st.unplaced()) > before:
        return core.rebuild(saved)
    return st


# --- exhaustive search, for small problems ---------------------------------------------------


def _exhaustive(core: _Core, nodes: int, max_bins: int | None = None) -> tuple[_State | None, bool]:
    """Depth-first search for a placement of every item in at most `max_bins` bins.

    Returns (state, proven): proven is True when the search finished, so that None means
    no such placement exists. Items of one kind go into bins in non-decreasing order (they
    are interchangeable), and of empty bins that nothing tells apart only one is tried.
    """
    st = core.state()
    order = _items_in(core, _Orders(core)["max"])
    n = len(order)
    kind_of = core.kind_of
    limit = core.nbins if max_bins is None else max_bins
    # empty bins that nothing tells apart form a class; classes biggest first
    classes: dict[object, list[int]] = {}
    for b in sorted(range(core.nbins), key=lambda b: (-core.room[b], b)):
        classes.setdefault(core.signature(b), []).append(b)
    for members in classes.values():
        members.sort()
    opened: set[int] = set()
    held = st.held
    count = 0
    dims = range(core.dims)
    # what the items from the i-th on need, per dimension, against the room that the bins
    # in use have left plus as many empty bins as may still open, each as big as the biggest
    after = [[0.0] * core.dims for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        size = core.size[kind_of[order[i]]]
        after[i] = [a + s for a, s in zip(after[i + 1], size, strict=True)]
    biggest = [max((f[r] for f in core.free), default=0.0) for r in dims]
    in_use = [0.0] * core.dims

    def room_left(opened: int) -> list[float]:
        spare = limit - opened
        return [u + spare * g for u, g in zip(in_use, biggest, strict=True)]

    def put(x: int, b: int) -> None:
        fresh = not held[b]
        size = core.size[kind_of[x]]
        for r in dims:
            in_use[r] += (st.res[b][r] if fresh else 0.0) - size[r]
        st.put(x, b)
        opened.add(b)

    def take(x: int) -> None:
        b = st.where[x]
        size = core.size[kind_of[x]]
        st.take(x)
        last = not held[b]
        for r in dims:
            in_use[r] += size[r] - (st.res[b][r] if last else 0.0)
        if last:
            opened.discard(b)

    def go(i: int) -> bool | None:
        nonlocal count
        if i == n:
            return True
        count += 1
        if count > nodes:
            return None
        for need, room in zip(after[i], room_left(st.used), strict=True):
            if need > room + EPS:
                return False
        x = order[i]
        lo = st.where[order[i - 1]] if i and kind_of[order[i - 1]] == kind_of[x] else 0
        # bins in use first, then one empty bin of each class, biggest first
        cand = sorted(b for b in opened if b >= lo)
        if st.used < limit:
            for members in classes.values():
                for b in members:
                    if b >= lo and not held[b]:
                        cand.append(b)
                        break
        for b in cand:
            if st.can(x, b):
                put(x, b)
                got = go(i + 1)
                if got is None:
                    return None
                if got:
                    return True
                take(x)
        return False

    found = go(0)
    core.work += count
    if found:
        return st, True
    return None, found is False


# --- the entry point --------------------------------------------------------------------------


def _rank(st: _State) -> tuple[int, int]:
    return (sum(1 for b in st.where if b < 0), st.used)


def pack(
    problem: Problem,
    rules: Rules | None = None,
    *,
    effort: str = "fast",
    budget: int | None = None,
    seed: int = 0,
    lower: int | None = None,
    order: str = "max",
) -> Packing:
    """Place every item into a bin, using as few bins as the effort allows.

    quick: first fit decreasing alone (a plan's search steps, where a miss is cheap).
    fast: first fit decreasing; only when items are left over, further orders, best fit, a
    repair search and (on small problems) an exhaustive search, before giving up on them.
    thorough: several constructive heuristics, the best kept, then a local search that
    empties bins, until the lower bound is reached or the budget is spent.

    order: the measure of size that the first pass sorts by (one of ORDERS); the other
    measures follow it. Which measure packs a cluster best varies with its shapes, so a
    search that places many times learns it once and leads with it.
    """
    if effort not in ("quick", "fast", "thorough"):
        raise ValueError(f"effort must be 'quick', 'fast' or 'thorough', not {effort!r}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    core = _Core(problem, rules)
    if budget is None:
        budget = THOROUGH_BUDGET if effort == "thorough" else FAST_BUDGET
    rng = random.Random(seed)
    if lower is None:
        lower = vector_lower_bound(
            [k.size for k in core.kinds], [k.count for k in core.kinds], core.free
        )
    orders = _Orders(core)
    bins = _bin_order(core)

    best: _State | None = None
    best_name = ""

    def consider(st: _State, name: str) -> _State:
        """Keep st when it beats the best so far; returns the best."""
        nonlocal best, best_name
        if best is None or _rank(st) < _rank(best):
            best, best_name = st, name
        assert best is not None
        return best

    def current() -> _State:
        assert best is not None
        return best

    def reached(st: _State) -> bool:
        return _rank(st) == (0, lower)

    proven = False  # that no placement of every item exists, when some are left over
    first = consider(_first_fit(core, orders[order], bins), f"ffd-{order}")
    if effort == "quick":
        proven = _hopeless(core)
    elif effort == "fast":
        if _rank(first)[0]:
            proven = _fallbacks(core, orders, bins, budget, rng, consider, current, order)
    elif not reached(first):
        done = _constructive(
            core, orders, bins, budget, lambda st, n: reached(consider(st, n)), order
        )
        if not done:
            if _rank(current())[0]:
                proven = _fallbacks(
                    core, orders, bins, budget // 2, rng, consider, current, order, again=False
                )
            optimal = False
            # small problems: search exhaustively for one bin fewer, while it succeeds; a
            # finished search that finds none proves the bins in use are the fewest
            while core.nitems <= EXACT_MAX_ITEMS and not _rank(current())[0]:
                if reached(current()):
                    break
                found, optimal = _exhaustive(core, EXACT_FEWER_NODES, current().used - 1)
                if found is None:
                    break
                consider(found, "exhaustive")
            if not optimal and not _rank(current())[0] and not reached(current()):
                left = max(0, budget - core.work)
                st = _reduce(core, core.rebuild(current().where), lower, left, rng)
                consider(st, best_name + "+reduce")
    assert best is not None
    where = tuple(best.where)
    by_kind: list[list[int]] = [[] for _ in core.kinds]
    for x, b in enumerate(where):
        by_kind[core.kind_of[x]].append(b)
    return Packing(
        proven=proven or not _rank(best)[0],
        where=where,
        kind_of=tuple(core.kind_of),
        bins_used=best.used,
        lower_bound=lower,
        strategy=best_name,
        by_kind=tuple(tuple(v) for v in by_kind),
    )


def _constructive(
    core: _Core,
    orders: _Orders,
    bins: list[int],
    budget: int,
    consider: Callable[[_State, str], bool],
    done: str = "max",
) -> bool:
    """The constructive heuristics, cheapest first; stops once one reaches the bound.

    `done`: the order whose first fit has run already."""
    names = [n for n in _Orders.NAMES if n != done]
    if orders.headroom:
        names += ["head-" + n for n in _Orders.NAMES if "head-" + n != done]
    if orders.prioritised:
        names += ["plain-" + n for n in _Orders.NAMES if "plain-" + n != done]
    for name in names:
        if consider(_first_fit(core, orders[name], bins), f"ffd-{name}"):
            return True
    best_fit_cost = core.nitems * min(core.nbins, core.nitems)
    for name in ("max", "sum", "l2", "weighted"):
        if core.work + best_fit_cost > budget // 4:
            break
        if consider(_best_fit(core, orders[name], bins), f"bfd-{name}"):
            return True
    bin_centric_cost = len(core.kinds) * min(core.nbins, core.nitems) * 4
    for score in ("dot", "norm"):
        if core.work + bin_centric_cost > budget // 2:
            break
        if consider(_bin_centric(core, bins, score), f"bin-{score}"):
            return True
    return False


def _hopeless(core: _Core) -> bool:
    """True when the items provably cannot all be placed: more volume than all bins hold."""
    for r in range(core.dims):
        need = sum(core.size[k][r] * kind.count for k, kind in enumerate(core.kinds))
        if need > sum(f[r] for f in core.free) + EPS:
            return True
    return any(kind.count and core.eligible[k] == [] for k, kind in enumerate(core.kinds))


def _fallbacks(
    core: _Core,
    orders: _Orders,
    bins: list[int],
    budget: int,
    rng: random.Random,
    consider: Callable[[_State, str], _State],
    best: Callable[[], _State],
    done: str = "max",
    again: bool = True,
) -> bool:
    """What the fast mode tries before it says that items do not fit; True when proven.

    Other orders of first fit, best fit when it is cheap, on small problems an exhaustive
    search, and a repair search when few items are left over. Returns True when no
    placement of every item exists: the volume is too large, or the exhaustive search
    finished without finding one.

    When the first fit left only a few items over, the repair runs on it first: mending
    a near miss costs a fraction of five more passes over 25,000 instances, and it is what
    places the last few of them most often. It runs again at the end only on a better
    placement that another pass found.
    """
    if _hopeless(core):
        return True
    repaired: _State | None = None
    if again and 0 < _rank(best())[0] <= REPAIR_MAX_POOL:
        repaired = best()
        st = _repair(core, core.rebuild(repaired.where), budget, rng)
        if not _rank(consider(st, "repair"))[0]:
            return False
    if not again:  # the constructive heuristics have run already
        names = []
    else:
        names = [
            n
            for n in ("max", "sum", "weighted", "l2")
            + (("plain-max", "plain-sum") if orders.prioritised else ())
            if n != done
        ]
    for name in names:
        st = _first_fit(core, orders[name], bins)
        if not _rank(consider(st, f"ffd-{name}"))[0]:
            return False
    if again and core.nitems * min(core.nbins, core.nitems) <= budget:
        for name in ("max", "sum"):
            st = _best_fit(core, orders[name], bins)
            if not _rank(consider(st, f"bfd-{name}"))[0]:
                return False
    if core.nitems <= EXACT_MAX_ITEMS:
        found, proven = _exhaustive(core, EXACT_NODES)
        if found is not None:
            consider(found, "exhaustive")
            return False
        if proven:
            return True
    left = best()
    if left is not repaired and _rank(left)[0] <= REPAIR_MAX_POOL:
        st = _repair(core, core.rebuild(left.where), budget, rng)
        consider(st, "repair")
    return False
