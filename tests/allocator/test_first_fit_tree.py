"""The segment tree under first fit finds the bin a plain scan finds.

Every placement's speed rests on `Tree.first`: from a start position, the first bin in
order with room for an item (after the headroom of what the bin holds and of the item).
The walk starts at a leaf and climbs, and backs out of subtrees whose per-dimension
maximum promises room that no single bin has; a mistake there places an item on a
later bin than first fit would (more agents) or on one without room. Checked against a
scan of the bins, in two, three (the fast path) and four dimensions, with headroom.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.packing import ORDERS, Kind, Problem, pack
from allocator.packing.core import Core
from allocator.packing.first_fit import Tree


@st.composite
def states(draw: st.DrawFn) -> tuple[Core, list[int], list[tuple[int, int]]]:
    dims = draw(st.sampled_from([2, 3, 3, 4]))
    nbins = draw(st.integers(1, 40))
    sizes = st.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0, 8.0])
    free = [
        tuple(draw(st.sampled_from([4.0, 8.0, 10.0, 16.0])) for _ in range(dims))
        for _ in range(nbins)
    ]
    kinds = [
        Kind(
            size=tuple(draw(sizes) for _ in range(dims)),
            count=draw(st.integers(1, 6)),
            headroom=draw(st.sampled_from([0.0, 0.0, 0.1, 0.25])),
        )
        for _ in range(draw(st.integers(1, 6)))
    ]
    core = Core(Problem(free=free, kinds=kinds), None)
    order = draw(st.permutations(range(nbins)))
    # some items already put, first fit or not: the tree must follow any state
    puts = draw(
        st.lists(st.tuples(st.integers(0, core.nitems - 1), st.integers(0, nbins - 1)), max_size=30)
    )
    return core, list(order), puts


@settings(max_examples=300, deadline=None)
@given(states(), st.data())
def test_first_is_the_first_bin_with_room(
    case: tuple[Core, list[int], list[tuple[int, int]]], data: st.DataObject
) -> None:
    core, order, puts = case
    state = core.state()
    tree = Tree(state, order)
    for item in range(core.nitems):  # one level per headroom, made before the puts
        tree.first(item, 0)
    for x, b in puts:
        if state.where[x] < 0 and state.fits(x, b):
            state.put(x, b)
            tree.update(b)
    x = data.draw(st.integers(0, core.nitems - 1))
    start = data.draw(st.integers(0, len(order) - 1))
    expected = next(
        (i for i in range(start, len(order)) if state.fits(x, order[i])),
        -1,
    )
    assert tree.first(x, start) == expected


def test_the_first_pass_goes_by_the_order_asked_for() -> None:
    problem = Problem(free=[(10.0, 10.0)] * 4, kinds=[Kind((6.0, 1.0), 2), Kind((1.0, 5.0), 3)])
    for order in ("max", "sum", "plain-l2"):
        got = pack(problem, effort="quick", order=order)
        assert got.strategy == f"ffd-{order}" and got.unplaced == 0
    assert "weighted" in ORDERS and "head-max" in ORDERS
    with pytest.raises(ValueError, match="order must be one of"):
        pack(problem, order="largest")
