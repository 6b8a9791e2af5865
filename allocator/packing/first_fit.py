"""Constructive passes: first fit over a segment tree, best fit, bin-centric filling."""

from __future__ import annotations

import math
from collections.abc import Sequence

from allocator.model import EPS
from allocator.packing.core import Core, State, Vector
from allocator.packing.orders import items_in


class Tree:
    """Per headroom level, a max-tree over bins of the room each still offers, per dimension.

    Finds the first bin (in a given order) that has room without looking at every bin.
    """

    def __init__(self, st: State, order: Sequence[int]) -> None:
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


def first_fit(core: Core, kinds: Sequence[int], bins: Sequence[int]) -> State:
    """First fit in the given orders; identical items resume where the previous one went."""
    st = core.state()
    tree = Tree(st, bins)
    pos = tree.pos
    for k in kinds:
        count = core.kinds[k].count
        if not count:
            continue
        items = items_in(core, [k])
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


def _slack(core: Core, st: State, x: int, b: int) -> float:
    """How much room (in shares of the largest bin) bin b would have left after item x."""
    k = core.kind_of[x]
    return sum((r - s) / c for r, s, c in zip(st.res[b], core.size[k], core.scale, strict=True))


def best_fit(core: Core, kinds: Sequence[int], bins: Sequence[int]) -> State:
    """Best fit: each item into the open bin it leaves least room in; else the first empty bin."""
    st = core.state()
    opened: list[int] = []
    rank = {b: i for i, b in enumerate(bins)}
    fresh = list(bins)
    for x in items_in(core, kinds):
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


def bin_centric(core: Core, bins: Sequence[int], score: str) -> State:
    """Fill one bin at a time with the item that best matches the room it has left.

    "dot": the largest dot product of the item and the room, weighted by what is left to
    place per dimension (Panigrahy et al.); "norm": the smallest weighted distance between
    the room and the item.
    """
    st = core.state()
    # the fixed items of a kind are its first ones, and in their bins already
    left = [kind.count - n for kind, n in zip(core.kinds, core.nfixed, strict=True)]
    firsts = core.first
    placed_of = list(core.nfixed)
    unit = core.unit
    scale = core.scale
    dims = core.dims
    remaining = [0.0] * dims
    for k in range(len(core.kinds)):
        for r in range(dims):
            remaining[r] += unit[k][r] * left[k]
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
