"""Local search: empty a bin (to use fewer), or place what a constructive pass left over."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from allocator.model import EPS
from allocator.packing.core import Core, State, Vector

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


class Pool:
    """Items without a bin, pushed into bins by a tabu search.

    After Buljubasic and Vasquez's consistent neighbourhood search: put a pool item where
    it fits, else swap it (or two of them) for one or two items of a bin. The search
    minimises the pool's cost, the sum of its items' squared shares, so the pool fills with
    small items, which go in more easily. A tabu tenure stops an item from going straight
    back to the bin it just left, and a moved-in item from leaving at once.
    """

    def __init__(self, core: Core, st: State, rng: random.Random) -> None:
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
        fixed = core.fixed
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
            movable = [y for y in held if leave.get(y, 0) <= it and y not in fixed]
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


def snapshot(st: State) -> list[int]:
    return list(st.where)


def reduce(core: Core, st: State, lb: int, budget: int, rng: random.Random) -> State:
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
        # a bin holding a fixed item cannot be emptied
        light = sorted((b for b in used if b not in core.fixed_bins), key=lambda b: (load[b], b))
        take = min(3, len(light))
        if take < 2:
            break
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
        saved = snapshot(st)
        pool = [x for b in victims for x in st.held[b]]
        for x in pool:
            st.take(x)
        others = [b for b in used if b not in victims]
        left = budget - (core.work - spent0)
        search = Pool(core, st, rng)
        if search.run(pool, others, min(left, budget // 3 + 1), PATIENCE, spare):
            attempt = 0
        else:
            st = core.rebuild(saved)
    return st


def repair(core: Core, st: State, budget: int, rng: random.Random) -> State:
    """Place items left over by a constructive pass, moving or swapping others to make room."""
    pool = st.unplaced()
    if not pool:
        return st
    saved = snapshot(st)
    before = len(pool)
    Pool(core, st, rng).run(pool, range(core.nbins), budget, patience=60)
    if len(st.unplaced()) > before:
        return core.rebuild(saved)
    return st
