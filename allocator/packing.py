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
THOROUGH_BUDGET = 6_000_000
# The exhaustive fallback only runs on problems this small, so "does not fit" is proven.
EXACT_MAX_ITEMS = 40
EXACT_NODES = 60_000


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


@dataclass(frozen=True)
class Packing:
    """Where every item went: `where[item]` is a bin index, or -1 when it has none."""

    where: tuple[int, ...]
    kind_of: tuple[int, ...]
    bins_used: int
    lower_bound: int
    strategy: str = ""
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
        self.rules = rules
        # sizes in shares of the largest bin, per dimension
        scale = [max((f[r] for f in self.free), default=0.0) for r in range(self.dims)]
        self.scale = [s if s > 0 else 1.0 for s in scale]
        self.unit: list[Vector] = [
            tuple(s / c for s, c in zip(size, self.scale, strict=True)) for size in self.size
        ]
        self.weight = [sum(u) for u in self.unit]
        self._reserve: dict[tuple[float, int], Vector] = {}
        self.eligible: list[Sequence[int] | None] = [
            rules.eligible(k) if rules is not None else None for k in range(len(self.kinds))
        ]
        self.work = 0  # units of work spent, for budgets

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


def _kind_orders(core: _Core) -> dict[str, list[int]]:
    """Orders of kinds, biggest first by several measures of "big" (all with ties by index)."""
    unit = core.unit
    n = len(unit)
    demand = [0.0] * core.dims
    for k, kind in enumerate(core.kinds):
        for r, u in enumerate(unit[k]):
            demand[r] += u * kind.count
    top = max(demand, default=0.0) or 1.0
    w = [d / top for d in demand]

    def order(measure: Callable[[int], float]) -> list[int]:
        return sorted(range(n), key=lambda k: (-core.kinds[k].priority, -measure(k), k))

    return {
        "max": order(lambda k: max(unit[k], default=0.0)),
        "sum": order(lambda k: sum(unit[k])),
        "l2": order(lambda k: sum(u * u for u in unit[k])),
        "weighted": order(lambda k: sum(a * b for a, b in zip(w, unit[k], strict=True))),
        "product": order(lambda k: math.prod(u + 0.01 for u in unit[k])),
        "maxsum": order(lambda k: max(unit[k], default=0.0) + sum(unit[k]) / max(core.dims, 1)),
    }


def _items_in(core: _Core, kinds: Sequence[int]) -> list[int]:
    """Item ids of the kinds, kind after kind."""
    first = [0] * (len(core.kinds) + 1)
    for k, kind in enumerate(core.kinds):
        first[k + 1] = first[k] + kind.count
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
        # exclusive end of each node's range of leaves
        self.end = [0] * (2 * size)
        for node in range(size, 2 * size):
            self.end[node] = node - size + 1
        for node in range(size - 1, 0, -1):
            self.end[node] = self.end[2 * node + 1]

    def _leaf(self, h: float, b: int) -> Vector:
        st = self.st
        keep = st.keep[b] if h <= st.hmax[b] else st.core.reserve(h, b)
        return tuple(r - k for r, k in zip(st.res[b], keep, strict=True))

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
                new = tuple(map(max, tree[2 * i], tree[2 * i + 1]))
                if new == tree[i]:
                    break
                tree[i] = new
                i //= 2

    def first(self, x: int, start: int) -> int:
        """Position (>= start) of the first bin that can take item x, or -1."""
        st = self.st
        core = st.core
        k = core.kind_of[x]
        tree = self._level(core.head[k])
        need = tuple(s - EPS for s in core.size[k])
        end = self.end
        size = self.size
        rules = st.rules
        order = self.order
        stack = [1]
        work = 0
        while stack:
            node = stack.pop()
            if end[node] <= start:
                continue
            work += 1
            m = tree[node]
            ok = True
            for a, s in zip(m, need, strict=True):
                if a < s:
                    ok = False
                    break
            if not ok:
                continue
            if node >= size:
                i = node - size
                if i < start:
                    continue
                if rules is None or rules.allows(k, order[i]):
                    core.work += work
                    return i
                continue
            stack.append(2 * node + 1)
            stack.append(2 * node)
        core.work += work
        return -1


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
        if eligible is not None and len(eligible) * 2 < core.nbins:
            # few bins allowed: walk them in bin order rather than search the tree
            allowed = sorted(eligible, key=lambda b: pos[b])
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
        allowed_set = set(eligible) if eligible is not None else None
        start = 0
        for x in items:
            while True:
                i = tree.first(x, start)
                if i < 0 or allowed_set is None or tree.order[i] in allowed_set:
                    break
                start = i + 1
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
    """Items without a bin, and moves that push them into bins: put, or swap out smaller ones.

    The search minimises the pool's weight (its items' summed shares); a tabu tenure stops an
    item from going straight back to the bin it just left.
    """

    def __init__(self, core: _Core, st: _State, rng: random.Random) -> None:
        self.core = core
        self.st = st
        self.rng = rng

    def run(self, pool: list[int], bins: Sequence[int], budget: int, patience: int) -> bool:
        """Try to place every item of `pool` into `bins`; True when the pool is empty.

        On failure the state keeps its moves: the caller restores it if it wants.
        """
        core, st = self.core, self.st
        weight = core.weight
        kind_of = core.kind_of
        bins = list(bins)
        tabu: dict[tuple[int, int], int] = {}
        it = 0
        best = math.inf
        stale = 0
        spent_at_start = core.work
        while pool:
            it += 1
            if core.work - spent_at_start > budget or stale > patience:
                return False
            # 1. items that fit somewhere as they are: the tightest bin
            pool.sort(key=lambda x: (-weight[x], x))
            rest = []
            for x in pool:
                k = kind_of[x]
                allowed = core.eligible[k]
                cand = bins if allowed is None else [b for b in bins if b in set(allowed)]
                target, tight = -1, math.inf
                for b in cand:
                    if st.can(x, b):
                        sl = _slack(core, st, x, b)
                        if sl < tight:
                            target, tight = b, sl
                core.work += len(cand)
                if target >= 0:
                    st.put(x, target)
                    tabu[(x, target)] = it + 3
                else:
                    rest.append(x)
            pool[:] = rest
            if not pool:
                return True
            total = sum(weight[x] for x in pool)
            if total < best - EPS:
                best = total
                stale = 0
            else:
                stale += 1
            # 2. the best swap: one pool item in, one or two lighter items out
            move = self._best_swap(pool, bins, tabu, it)
            if move is None:
                return False
            x, b, out = move
            for y in out:
                st.take(y)
                tabu[(y, b)] = it + 7 + self.rng.randrange(5)
            st.put(x, b)
            pool.remove(x)
            pool.extend(out)
        return True

    def _best_swap(
        self, pool: list[int], bins: list[int], tabu: dict[tuple[int, int], int], it: int
    ) -> tuple[int, int, tuple[int, ...]] | None:
        core, st = self.core, self.st
        weight = core.weight
        size = core.size
        kind_of = core.kind_of
        rules = st.rules
        best: tuple[float, int, int, int, tuple[int, ...]] | None = None
        for x in pool:
            kx = kind_of[x]
            sx = size[kx]
            wx = weight[x]
            allowed = core.eligible[kx]
            allowed_set = set(allowed) if allowed is not None else None
            for b in bins:
                if allowed_set is not None and b not in allowed_set:
                    continue
                if tabu.get((x, b), 0) > it:
                    continue
                held = st.held[b]
                if not held:
                    continue
                res = st.res[b]
                # what the bin lacks for x, per dimension (headroom: see the final check)
                lack = [s - r for s, r in zip(sx, res, strict=True)]
                core.work += len(held)
                singles = []
                for y in held:
                    wy = weight[y]
                    if wy >= wx + EPS:
                        continue
                    sy = size[kind_of[y]]
                    singles.append(y)
                    if all(a <= c + EPS for a, c in zip(lack, sy, strict=True)):
                        sc = wy - wx
                        if best is None or (sc, x, b, y) < best[:4]:
                            if self._swap_ok(x, b, (y,)):
                                best = (sc, x, b, y, (y,))
                if best is not None and best[0] < -0.5 * wx:
                    continue
                # pairs of lighter items
                m = len(singles)
                if m < 2 or m > 12:
                    continue
                core.work += m * (m - 1) // 2
                for i in range(m):
                    y1 = singles[i]
                    s1 = size[kind_of[y1]]
                    w1 = weight[y1]
                    for j in range(i + 1, m):
                        y2 = singles[j]
                        sc = w1 + weight[y2] - wx
                        if sc >= -EPS and not (sc < EPS and best is None):
                            pass
                        if best is not None and sc >= best[0]:
                            continue
                        s2 = size[kind_of[y2]]
                        if all(a <= c1 + c2 + EPS for a, c1, c2 in zip(lack, s1, s2, strict=True)):
                            if self._swap_ok(x, b, (y1, y2)):
                                best = (sc, x, b, min(y1, y2), (y1, y2))
        if best is None:
            return None
        _, x, b, _, out = best
        # tabu means: out items may not re-enter b for a while; rules were checked already
        del rules
        return x, b, out

    def _swap_ok(self, x: int, b: int, out: tuple[int, ...]) -> bool:
        """Whether x may replace `out` in bin b (headroom and rules), tried for real."""
        st = self.st
        for y in out:
            st.take(y)
        ok = st.can(x, b)
        for y in out:
            st.put(y, b)
        return ok


def _snapshot(st: _State) -> list[int]:
    return list(st.where)


def _reduce(core: _Core, st: _State, lb: int, budget: int, rng: random.Random) -> _State:
    """Empty bins one at a time: move a light bin's items into the others, swapping if need be."""
    spent0 = core.work
    tried: set[int] = set()
    while st.used > lb and core.work - spent0 < budget:
        used = [b for b in range(core.nbins) if st.held[b]]
        load = {
            b: sum(core.weight[x] for x in st.held[b]) / max(EPS, sum(core.free[b]) or 1.0)
            for b in used
        }
        candidates = sorted((b for b in used if b not in tried), key=lambda b: (load[b], b))
        if not candidates:
            break
        victim = candidates[0]
        tried.add(victim)
        saved = _snapshot(st)
        pool = list(st.held[victim])
        for x in pool:
            st.take(x)
        others = [b for b in used if b != victim]
        left = budget - (core.work - spent0)
        ok = _Pool(core, st, rng).run(pool, others, min(left, budget // 4 + 1), patience=40)
        if ok:
            tried.clear()
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


def _exhaustive(core: _Core, nodes: int) -> tuple[_State | None, bool]:
    """Depth-first search for a placement of every item: (state, proven).

    proven is True when the search finished: then None means no placement exists.
    Items of one kind go into bins in non-decreasing order (they are interchangeable).
    """
    st = core.state()
    order = _items_in(core, _kind_orders(core)["max"])
    n = len(order)
    kind_of = core.kind_of
    count = 0

    def go(i: int) -> bool | None:
        nonlocal count
        if i == n:
            return True
        count += 1
        if count > nodes:
            return None
        x = order[i]
        k = kind_of[x]
        lo = 0
        if i and kind_of[order[i - 1]] == k:
            lo = st.where[order[i - 1]]
        allowed = core.eligible[k]
        cand = range(lo, core.nbins) if allowed is None else [b for b in allowed if b >= lo]
        tried_empty: set[Vector] = set()
        for b in cand:
            if not st.held[b] and st.rules is None:
                # empty bins of one size are interchangeable when no rules tell them apart
                if core.free[b] in tried_empty:
                    continue
                tried_empty.add(core.free[b])
            if st.can(x, b):
                st.put(x, b)
                got = go(i + 1)
                if got is None:
                    return None
                if got:
                    return True
                st.take(x)
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
) -> Packing:
    """Place every item into a bin, using as few bins as the effort allows.

    fast: first fit decreasing; only when items are left over, further orders, best fit, a
    repair search and (on small problems) an exhaustive search, before giving up on them.
    thorough: several constructive heuristics, the best kept, then a local search that
    empties bins, until the lower bound is reached or the budget is spent.
    """
    if effort not in ("fast", "thorough"):
        raise ValueError(f"effort must be 'fast' or 'thorough', not {effort!r}")
    core = _Core(problem, rules)
    if budget is None:
        budget = FAST_BUDGET if effort == "fast" else THOROUGH_BUDGET
    rng = random.Random(seed)
    if lower is None:
        lower = vector_lower_bound(
            [k.size for k in core.kinds], [k.count for k in core.kinds], core.free
        )
    orders = _kind_orders(core)
    bins = _bin_order(core)

    best: _State | None = None
    best_name = ""

    def consider(st: _State, name: str) -> bool:
        """Keep st when it beats the best so far; True when nothing can beat it."""
        nonlocal best, best_name
        if best is None or _rank(st) < _rank(best):
            best, best_name = st, name
        assert best is not None
        return _rank(best) == (0, lower)

    done = consider(_first_fit(core, orders["max"], bins), "ffd-max")
    if effort == "fast":
        assert best is not None
        if _rank(best)[0]:
            done = _fallbacks(core, orders, bins, budget, rng, consider, lower)
    else:
        done = done or _constructive(core, orders, bins, budget, consider)
        assert best is not None
        if not done and _rank(best)[0]:
            st = _repair(core, core.rebuild(best.where), budget // 2, rng)
            done = consider(st, best_name + "+repair")
        if not done and not _rank(best)[0]:
            left = max(0, budget - core.work)
            st = _reduce(core, core.rebuild(best.where), lower, left, rng)
            consider(st, best_name + "+reduce")
    assert best is not None
    where = tuple(best.where)
    by_kind: list[list[int]] = [[] for _ in core.kinds]
    for x, b in enumerate(where):
        by_kind[core.kind_of[x]].append(b)
    return Packing(
        where=where,
        kind_of=tuple(core.kind_of),
        bins_used=best.used,
        lower_bound=lower,
        strategy=best_name,
        by_kind=tuple(tuple(v) for v in by_kind),
    )


def _constructive(
    core: _Core,
    orders: dict[str, list[int]],
    bins: list[int],
    budget: int,
    consider: Callable[[_State, str], bool],
) -> bool:
    """The constructive heuristics, cheapest first; stops once one reaches the bound."""
    for name in ("sum", "l2", "weighted", "product", "maxsum"):
        if consider(_first_fit(core, orders[name], bins), f"ffd-{name}"):
            return True
    nk = len(core.kinds)
    for name in ("max", "sum", "l2", "weighted"):
        if core.work > budget // 4:
            break
        if consider(_best_fit(core, orders[name], bins), f"bfd-{name}"):
            return True
    for score in ("dot", "norm"):
        if core.work + nk * min(core.nbins, core.nitems) > budget // 2:
            break
        if consider(_bin_centric(core, bins, score), f"bin-{score}"):
            return True
    return False


def _fallbacks(
    core: _Core,
    orders: dict[str, list[int]],
    bins: list[int],
    budget: int,
    rng: random.Random,
    consider: Callable[[_State, str], bool],
    lower: int,
) -> bool:
    """What the fast mode tries before it says that items do not fit."""
    del lower
    best_where: list[int] | None = None
    for name in ("sum", "weighted", "l2"):
        st = _first_fit(core, orders[name], bins)
        if consider(st, f"ffd-{name}") or not _rank(st)[0]:
            return True
    st = _best_fit(core, orders["max"], bins)
    if consider(st, "bfd-max") or not _rank(st)[0]:
        return True
    for name in ("max", "sum"):
        st = _repair(core, _first_fit(core, orders[name], bins), budget // 4, rng)
        if consider(st, f"ffd-{name}+repair") or not _rank(st)[0]:
            return True
    if core.nitems <= EXACT_MAX_ITEMS:
        st2, _proven = _exhaustive(core, EXACT_NODES)
        if st2 is not None:
            consider(st2, "exhaustive")
            return True
    del best_where
    return False
