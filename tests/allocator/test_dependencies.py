"""The call graph: cycles named, deploy order, impact, load carried by fan-out."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.dependencies import (
    CycleError,
    Edge,
    check_calls,
    deploy_order,
    graph,
    impact,
    load_factors,
)


def _g(*edges: Edge, extra: tuple[str, ...] = ()) -> object:
    names = {e.caller for e in edges} | {e.callee for e in edges} | set(extra)
    return graph(sorted(names), edges)


def test_a_call_closing_a_cycle_is_refused_with_the_cycle_named() -> None:
    g = _g(Edge("a", "b"), Edge("b", "c"))
    with pytest.raises(CycleError) as caught:
        check_calls(g, "c", [Edge("c", "a")])
    assert caught.value.cycle == ["c", "a", "b", "c"]
    assert "c → a → b → c" in str(caught.value)
    assert "allow_cycle" in str(caught.value)


def test_an_allowed_call_may_close_a_cycle_and_orders_nothing() -> None:
    g = _g(Edge("a", "b"), Edge("b", "c"))
    check_calls(g, "c", [Edge("c", "a", allow_cycle=True)])
    g2 = _g(Edge("a", "b"), Edge("b", "c"), Edge("c", "a", allow_cycle=True))
    assert deploy_order(g2) == [["c"], ["b"], ["a"]]
    # and a later plain call through it is judged without it
    check_calls(g2, "a", [Edge("a", "b"), Edge("a", "c")])


def test_the_cycle_named_is_the_shortest_and_old_cycles_elsewhere_do_not_block() -> None:
    g = _g(Edge("a", "b"), Edge("b", "c"), Edge("c", "d"), Edge("b", "d"), Edge("x", "y"))
    g.add_edge("y", "x", fan_out=1.0, allow_cycle=False)  # saved before cycles were refused
    with pytest.raises(CycleError) as caught:
        check_calls(g, "d", [Edge("d", "a")])
    assert caught.value.cycle == ["d", "a", "b", "d"]
    check_calls(g, "a", [Edge("a", "c")])  # x ⇄ y is not this change's fault
    with pytest.raises(CycleError):
        check_calls(g, "q", [Edge("q", "q")])


def test_replacing_calls_drops_the_old_ones_before_judging() -> None:
    g = _g(Edge("a", "b"), Edge("b", "c"))
    check_calls(g, "b", [])  # b no longer calls c
    check_calls(graph("abc", [Edge("a", "b")]), "c", [Edge("c", "a")])


def test_deploy_order_puts_callees_first_and_a_legacy_cycle_together() -> None:
    g = _g(
        Edge("web", "cart"),
        Edge("web", "pricing"),
        Edge("cart", "pricing"),
        Edge("pricing", "db"),
        extra=("batch",),
    )
    assert deploy_order(g) == [["batch", "db"], ["pricing"], ["cart"], ["web"]]
    assert deploy_order(g, only=["web", "db"]) == [["db"], ["web"]]
    g.add_edge("db", "cart", fan_out=1.0, allow_cycle=False)  # legacy cycle cart→pricing→db→cart
    assert deploy_order(g) == [["batch", "cart", "db", "pricing"], ["web"]]


def test_impact_upstream_and_downstream_nearest_first() -> None:
    g = _g(Edge("web", "cart"), Edge("cart", "pricing"), Edge("web", "pricing"), Edge("app", "web"))
    found = impact(g, "pricing")
    assert found.upstream == {"cart": 1, "web": 1, "app": 2}
    assert found.downstream == {}
    assert impact(g, "app").downstream == {"web": 1, "cart": 2, "pricing": 2}


def test_load_flows_along_calls_by_each_callers_share() -> None:
    chain = _g(Edge("a", "b", fan_out=2), Edge("b", "c", fan_out=0.5))
    # an only caller's growth is its callee's, whatever the fan-out
    assert load_factors(chain, {"a": 3}) == {"a": 3, "b": 3, "c": 3}
    diamond = _g(Edge("a", "b"), Edge("a", "c"), Edge("b", "d"), Edge("c", "d"))
    # d hears of each request to a twice, before and after: it doubles, not triples
    assert load_factors(diamond, {"a": 2}) == {"a": 2, "b": 2, "c": 2, "d": 2}
    # an explicit factor above what flows in is kept; below it is raised
    assert load_factors(diamond, {"a": 2, "d": 4})["d"] == 4
    assert load_factors(diamond, {"a": 2, "d": 1.5})["d"] == 2
    # shrinking a caller frees nothing downstream
    assert load_factors(chain, {"a": 0.5}) == {"a": 0.5}
    # two callers of d: web sends 3 of d's 4 shares (load 3 × fan-out 1), batch 1 of them
    join = _g(Edge("web", "d"), Edge("batch", "d"))
    assert load_factors(join, {"web": 3}, {"web": 3, "batch": 1}) == {"web": 3, "d": 2.5}
    # fan-out weighs the share: batch sends 3 requests per request of its own
    join = _g(Edge("web", "d"), Edge("batch", "d", fan_out=3))
    assert load_factors(join, {"web": 3}, {"web": 1, "batch": 1}) == {"web": 3, "d": 1.5}


def _exactly(got: dict[str, float], want: dict[str, Fraction]) -> None:
    """Factors as the README's rule gives them, to the last bit a float can hold."""
    assert set(got) == set(want)
    for name, f in want.items():
        assert got[name] == pytest.approx(float(f), rel=1e-12, abs=0), name


def test_load_is_weighed_by_each_callers_instances_as_the_readme_says() -> None:
    # a diamond: a (2 instances) calls b and c (fan-out 2); b (3) and c (1, fan-out 3)
    # call d, which hears 3×1 shares from b at b's factor and 1×3 from c at c's
    diamond = _g(
        Edge("a", "b"), Edge("a", "c", fan_out=2), Edge("b", "d"), Edge("c", "d", fan_out=3)
    )
    load = {"a": 2, "b": 3, "c": 1, "d": 4}
    _exactly(
        load_factors(diamond, {"a": 3, "c": 4}, load),
        {"a": Fraction(3), "b": Fraction(3), "c": Fraction(4), "d": Fraction(3 * 3 + 3 * 4, 6)},
    )
    # a chain carries the factor down whatever the fan-outs and instances
    chain = _g(Edge("a", "b", fan_out=2), Edge("b", "c", fan_out=0.5))
    _exactly(
        load_factors(chain, {"a": 1.25}, {"a": 7, "b": 2, "c": 9}),
        dict.fromkeys("abc", Fraction(5, 4)),
    )
    # a caller scaled down sends as much as it does now (factor 1 in the mean), never less
    join = _g(Edge("a", "b"), Edge("x", "b"))
    _exactly(
        load_factors(join, {"a": 0.5, "x": 3}, {"a": 2, "x": 1, "b": 1}),
        {"a": Fraction(1, 2), "x": Fraction(3), "b": Fraction(2 * 1 + 1 * 3, 3)},
    )
    # a callback edge (allowed to close a cycle) carries nothing back up
    callback = _g(Edge("web", "cart"), Edge("cart", "web", fan_out=5, allow_cycle=True))
    _exactly(load_factors(callback, {"cart": 2}, {"web": 3, "cart": 3}), {"cart": Fraction(2)})
    # a caller allocated nowhere in the environment (absent from the loads) weighs 0:
    # cart's only traffic is web's, so cart grows as web does, not (3×2 + 4×1) / 7
    unallocated = _g(Edge("web", "cart"), Edge("batch", "cart", fan_out=4))
    _exactly(
        load_factors(unallocated, {"web": 2}, {"web": 3, "cart": 2}),
        {"web": Fraction(2), "cart": Fraction(2)},
    )
    # with no loads at all every caller weighs 1 (× its fan-out)
    _exactly(
        load_factors(unallocated, {"web": 2}),
        {"web": Fraction(2), "cart": Fraction(2 * 1 + 1 * 4, 5)},
    )


def test_factors_stay_within_the_largest_explicit_one_on_deep_graphs() -> None:
    names = [f"s{i}" for i in range(40)]
    edges = [Edge(names[i], names[j]) for i in range(40) for j in range(i + 1, min(40, i + 4))]
    got = load_factors(graph(names, edges), {"s0": 3, "s1": 3, "s2": 3})
    assert max(got.values()) == 3


def test_allowed_cycle_edges_and_legacy_cycles_carry_no_load_around() -> None:
    g = _g(Edge("a", "b"), Edge("b", "a", allow_cycle=True, fan_out=5))
    assert load_factors(g, {"a": 2}) == {"a": 2, "b": 2}
    legacy = _g(Edge("x", "y"), Edge("y", "z"))
    legacy.add_edge("z", "y", fan_out=1.0, allow_cycle=False)
    got = load_factors(legacy, {"x": 2})
    assert got["y"] == 2 and "z" not in got  # into the cycle, not around it


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], list[Edge]]:
    n = draw(st.integers(2, 9))
    names = [f"s{i}" for i in range(n)]
    edges = []
    for i in range(n):
        for j in range(i + 1, n):
            if draw(st.booleans()):
                fan = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]))
                edges.append(Edge(names[i], names[j], fan))
    return names, edges


@settings(max_examples=80, deadline=None)
@given(dags(), st.data())
def test_factors_never_below_the_explicit_and_grow_with_them(
    dag: tuple[list[str], list[Edge]], data: st.DataObject
) -> None:
    names, edges = dag
    g = graph(names, edges)
    explicit = {
        n: data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])) for n in names[: len(names) // 2]
    }
    got = load_factors(g, explicit)
    for n in names:
        assert got.get(n, 1.0) >= explicit.get(n, 1.0) - 1e-9
    bigger = {**explicit, names[0]: explicit.get(names[0], 1.0) + 1}
    more = load_factors(g, bigger)
    for n in names:
        assert more.get(n, 1.0) >= got.get(n, 1.0) - 1e-9
    # every generation only calls into earlier generations
    order = {n: k for k, gen in enumerate(deploy_order(g)) for n in gen}
    assert all(order[e.callee] < order[e.caller] for e in edges)
