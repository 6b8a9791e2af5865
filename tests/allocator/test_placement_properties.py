"""Properties of place() on generated clusters, checked by code that shares nothing with it.

What is guaranteed, and so tested:
- whatever is placed respects every agent's room (after the headroom of every instance it
  holds), host ports (inside the agent's ranges, never twice on one agent) and every
  constraint; every instance is either placed or explained;
- the same input, in any order, gives the same placement;
- removing a demand never turns "fits" into a *proven* "does not fit" (`proven`: no
  placement exists at all). A heuristic "does not fit" after a removal is possible in
  principle on large problems (bin packing has such anomalies; the fast mode's fallbacks
  make them rare), but not on problems the exhaustive fallback settles, where the verdict
  is proven. The exception is GROUP_BY shared across demands: its limit per value falls
  with the group's total, so removing a demand of such a group is left out.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.bounds import Volume, lower_bound, volume_bound
from allocator.model import Agent, Demand
from allocator.placement import place
from tests.allocator.generated import agents, broken, demands


@settings(max_examples=200, deadline=None)
@given(agents(), demands())
def test_what_is_placed_keeps_every_rule(cluster: list[Agent], asked: list[Demand]) -> None:
    p = place(cluster, asked)
    assert broken(cluster, asked, p) == []
    assert p.lower_bound == lower_bound(cluster, asked)
    if p.fits:
        assert p.lower_bound <= p.agents_used


@settings(max_examples=60, deadline=None)
@given(agents(), demands())
def test_thorough_keeps_every_rule_too(cluster: list[Agent], asked: list[Demand]) -> None:
    p = place(cluster, asked, effort="thorough", budget=50_000)
    assert broken(cluster, asked, p) == []
    if p.fits:
        assert p.lower_bound <= p.agents_used


@settings(max_examples=150, deadline=None)
@given(agents(), demands(group_by=False), st.data())
def test_removing_a_demand_never_proves_that_the_rest_does_not_fit(
    cluster: list[Agent], asked: list[Demand], data: st.DataObject
) -> None:
    if len(asked) < 2 or not place(cluster, asked).fits:
        return
    gone = data.draw(st.integers(0, len(asked) - 1))
    rest = place(cluster, asked[:gone] + asked[gone + 1 :])
    assert rest.fits or not rest.proven


@settings(max_examples=100, deadline=None)
@given(agents(), demands(), st.randoms(use_true_random=False))
def test_the_same_input_in_any_order_gives_the_same_placement(
    cluster: list[Agent], asked: list[Demand], rnd: object
) -> None:
    shuffled_agents, shuffled_demands = list(cluster), list(asked)
    rnd.shuffle(shuffled_agents)  # type: ignore[attr-defined]
    rnd.shuffle(shuffled_demands)  # type: ignore[attr-defined]
    first = place(cluster, asked)
    assert place(cluster, asked) == first
    assert place(shuffled_agents, shuffled_demands) == first


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(*[st.sampled_from([0.0, 1.0, 2.5, 4.0, 8.0])] * 3), max_size=8),
    st.lists(st.sampled_from([0.0, 0.5, 3.0, 7.0, 20.0, 40.0, 100.0]), min_size=3, max_size=3),
)
def test_the_kept_volume_bound_is_the_volume_bound(
    bins: list[tuple[float, float, float]], need: list[float]
) -> None:
    """The standing placement asks the volume bound after every write, from capacities
    sorted once: it must say what sorting them again would."""
    assert Volume(bins)(need) == volume_bound(need, bins)
