"""Exhaustive search for small problems: a placement, or the proof that there is none."""

from __future__ import annotations

from allocator.model import EPS
from allocator.packing.core import Core, State
from allocator.packing.orders import Orders, items_in

# The exhaustive fallback only runs on problems this small, so "does not fit" is proven.
EXACT_MAX_ITEMS = 60
EXACT_NODES = 60_000
# ... and in thorough mode, for a placement on one bin fewer, this many (it runs more often).
EXACT_FEWER_NODES = 20_000


def exhaustive(core: Core, nodes: int, max_bins: int | None = None) -> tuple[State | None, bool]:
    """Depth-first search for a placement of every item in at most `max_bins` bins.

    Returns (state, proven): proven is True when the search finished, so that None means
    no such placement exists. Items of one kind go into bins in non-decreasing order (they
    are interchangeable), and of empty bins that nothing tells apart only one is tried.
    """
    st = core.state()
    order = items_in(core, Orders(core)["max"])
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
