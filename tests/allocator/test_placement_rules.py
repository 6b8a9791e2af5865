"""place() and lower_bound(): every constraint operator, ports, headroom, reasons, bounds."""

from __future__ import annotations

from collections import Counter

import pytest

from allocator.bounds import lower_bound
from allocator.model import Agent, Demand, Placement
from allocator.placement import place

RANGE = ((31000, 32000),)


def agent(n: int, cpus: float = 4, mem: float = 8192, ports=RANGE, **attrs: str) -> Agent:
    return Agent(f"id-{n}", f"agent-{n}", cpus, mem, 10_000, ports, attrs)


def cluster(n: int = 4, **kw: object) -> list[Agent]:
    racks = ["r1", "r2"]
    zones = ["a", "b", "c"]
    return [
        agent(i, rack=racks[i % 2], zone=zones[i % 3], **kw)  # type: ignore[arg-type]
        for i in range(1, n + 1)
    ]


def values(p: Placement, key: str, agents: list[Agent], attr: str) -> Counter[str]:
    by_id = {a.id: a for a in agents}
    return Counter(
        by_id[i].hostname if attr == "hostname" else by_id[i].attributes[attr]
        for i in p.assignments[key]
    )


# --- constraint operators -----------------------------------------------------------------


def test_unique_hostname_and_unique_attribute() -> None:
    agents = cluster(4)
    p = place(agents, [Demand("w", 4, 0.1, 64, constraints=(("hostname", "UNIQUE"),))])
    assert p.fits and set(values(p, "w", agents, "hostname").values()) == {1}
    p = place(agents, [Demand("w", 2, 0.1, 64, constraints=(("rack", "UNIQUE"),))])
    assert p.fits and values(p, "w", agents, "rack") == Counter({"r1": 1, "r2": 1})
    p = place(agents, [Demand("w", 3, 0.1, 64, constraints=(("rack", "UNIQUE"),))])
    assert not p.fits and len(p.unplaced) == 1
    assert "constraint UNIQUE rack" in p.unplaced[0].reason


def test_max_per() -> None:
    agents = cluster(6)
    p = place(agents, [Demand("m", 6, 0.1, 64, constraints=(("rack", "MAX_PER", "3"),))])
    assert p.fits and values(p, "m", agents, "rack") == Counter({"r1": 3, "r2": 3})
    p = place(agents, [Demand("m", 7, 0.1, 64, constraints=(("rack", "MAX_PER", "3"),))])
    assert [u.index for u in p.unplaced] == [7]


def test_group_by_spreads_over_the_values_the_agents_have() -> None:
    agents = cluster(6)  # zones a, b, c twice each
    p = place(agents, [Demand("g", 6, 0.1, 64, constraints=(("zone", "GROUP_BY"),))])
    assert p.fits and values(p, "g", agents, "zone") == Counter({"a": 2, "b": 2, "c": 2})
    # with a value: spread over that many, so at most ceil(6 / 2) = 3 per zone
    p = place(agents, [Demand("g", 6, 0.1, 64, constraints=(("zone", "GROUP_BY", "2"),))])
    assert p.fits and max(values(p, "g", agents, "zone").values()) <= 3


def test_cluster_with_and_without_a_value() -> None:
    agents = cluster(4)
    p = place(agents, [Demand("c", 3, 0.1, 64, constraints=(("rack", "CLUSTER", "r2"),))])
    assert p.fits and set(values(p, "c", agents, "rack")) == {"r2"}
    p = place(agents, [Demand("c", 4, 0.1, 64, constraints=(("rack", "CLUSTER"),))])
    assert p.fits and len(values(p, "c", agents, "rack")) == 1


def test_cluster_without_a_value_picks_a_value_that_holds_the_whole_group() -> None:
    # r1 has one big agent, r2 two small ones; 3 instances of 3 cpus fit in r2 only if
    # spread... they fit nowhere but on r1's big agent plus: make r2 the only fit
    agents = [
        agent(1, cpus=16, rack="r1"),
        agent(2, cpus=4, rack="r2"),
        agent(3, cpus=4, rack="r2"),
        agent(4, cpus=4, rack="r2"),
    ]
    d = Demand("c", 3, 3, 64, ports=(31001,), constraints=(("rack", "CLUSTER"),))
    p = place(agents, [d])
    assert p.fits and set(values(p, "c", agents, "rack")) == {"r2"}


def test_like_unlike_is() -> None:
    agents = cluster(4)
    p = place(agents, [Demand("l", 2, 0.1, 64, constraints=(("zone", "LIKE", "[ab]"),))])
    assert set(values(p, "l", agents, "zone")) <= {"a", "b"}
    p = place(agents, [Demand("u", 2, 0.1, 64, constraints=(("zone", "UNLIKE", "a"),))])
    assert "a" not in values(p, "u", agents, "zone")
    p = place(agents, [Demand("i", 2, 0.1, 64, constraints=(("hostname", "IS", "agent-3"),))])
    assert p.assignments["i"] == ("id-3", "id-3")
    p = place(agents, [Demand("i", 1, 0.1, 64, constraints=(("zone", "IS", "z"),))])
    assert not p.fits and "constraint IS zone z" in p.unplaced[0].reason


def test_an_agent_without_the_attribute_is_not_eligible() -> None:
    agents = [agent(1), agent(2, rack="r1")]
    for op in (("rack", "UNIQUE"), ("rack", "MAX_PER", "2"), ("rack", "GROUP_BY")):
        p = place(agents, [Demand("x", 1, 0.1, 64, constraints=(op,))])
        assert p.assignments["x"] == ("id-2",), op
    p = place(agents, [Demand("x", 1, 0.1, 64, constraints=(("rack", "UNLIKE", "r1"),))])
    assert p.assignments["x"] == ("id-1",)


def test_constraints_count_per_constraint_group() -> None:
    agents = cluster(4)
    unique = (("hostname", "UNIQUE"),)
    app = Demand("app", 3, 0.1, 64, constraints=unique, group="app")
    surge = Demand("app/surge", 1, 0.1, 64, constraints=unique, group="app")
    p = place(agents, [app, surge])
    assert p.fits and len({*p.assignments["app"], *p.assignments["app/surge"]}) == 4
    more = Demand("app/surge", 2, 0.1, 64, constraints=unique, group="app")
    assert not place(agents, [app, more]).fits
    # another group is counted on its own
    other = Demand("other", 4, 0.1, 64, constraints=unique)
    assert place(agents, [app, surge, other]).fits


# --- host ports ---------------------------------------------------------------------------


def test_instances_that_need_one_port_never_share_an_agent() -> None:
    agents = [agent(i, cpus=16, mem=65536) for i in range(1, 4)]
    d = [Demand("a", 2, 0.1, 64, ports=(31005, 31006)), Demand("b", 1, 0.1, 64, ports=(31006,))]
    p = place(agents, d)
    assert p.fits and len({*p.assignments["a"], *p.assignments["b"]}) == 3
    p = place(agents[:2], d)
    assert not p.fits and "host ports" in p.unplaced[0].reason


def test_a_port_outside_an_agents_free_ranges_cannot_go_there() -> None:
    holed = agent(1, ports=((31000, 31009), (31011, 32000)))  # 31010 is in use
    other = agent(2, cpus=1, mem=1024)
    p = place([holed, other], [Demand("p", 1, 0.5, 512, ports=(31010,))])
    assert p.assignments["p"] == ("id-2",)
    p = place([holed], [Demand("p", 1, 0.5, 512, ports=(31010,))])
    assert not p.fits and p.proven
    assert p.unplaced[0].reason == (
        "p #1: no agent is allowed (1 agents: its host ports are taken or outside the "
        "agent's ranges)"
    )
    assert not place([agent(1)], [Demand("p", 1, 0.5, 512, ports=(8080,))]).fits


# --- headroom ------------------------------------------------------------------------------


def test_headroom_is_a_share_of_the_agents_total_size() -> None:
    big = Agent("b", "agent-b", 4, 6000, 10_000, RANGE, {}, total_mem=10_000)
    assert place([big], [Demand("h", 1, 0.1, 4000, headroom=0.2)]).fits  # 4000 <= 6000 - 2000
    assert not place([big], [Demand("h", 1, 0.1, 4100, headroom=0.2)]).fits


def test_headroom_stays_free_whatever_else_the_agent_holds() -> None:
    one = [agent(1, mem=1000)]
    kept = Demand("prod", 1, 0.1, 700, headroom=0.2)
    other = Demand("test", 1, 0.1, 200)
    p = place(one, [kept, other])
    assert not p.fits  # 700 + 200 would leave 100 < 200 free
    assert place(one, [kept, Demand("test", 1, 0.1, 100)]).fits


# --- reasons in words ----------------------------------------------------------------------


def test_the_reason_names_the_need_and_the_closest_allowed_agent() -> None:
    no_port = ((31000, 31019), (31021, 32000))
    agents = [agent(i, ports=no_port) for i in range(1, 5)]
    agents += [agent(5), agent(6), agent(7, mem=2048), agent(8, ports=no_port)]
    order = Demand(
        "order/production", 3, 1, 4096, ports=(31020,), label="order-service (production)"
    )
    p = place(agents, [order])
    assert len(p.assignments["order/production"]) == 2
    [why] = p.unplaced
    assert why.index == 3
    assert why.reason == (
        "order-service (production) #3: needs 4096 MiB; the closest fit among the agents with "
        "port 31020 free, agent-7, has 2048 MiB free"
    )
    assert why.shortfall == {"cpus": 0.0, "mem": 2048.0, "disk": 0.0}


def test_reasons_for_cpus_constraints_and_no_agents() -> None:
    p = place([agent(1, cpus=2)], [Demand("c", 1, 3, 64, label="cruncher (test)")])
    assert p.unplaced[0].reason == (
        "cruncher (test) #1: needs 3 cpus; no agent is that large: the largest offers 2 cpus "
        "when empty (agent-1)"
    )
    assert p.unplaced[0].shortfall["cpus"] == 1
    p = place(
        [agent(1, mem=100)], [Demand("z", 1, 0.1, 500, constraints=(("zone", "LIKE", ".*"),))]
    )
    assert "constraint LIKE zone .*" in p.unplaced[0].reason
    p = place([], [Demand("n", 2, 0.1, 64)])
    assert [u.reason for u in p.unplaced] == [
        "n #1: there is no active agent",
        "n #2: there is no active agent",
    ]


def test_every_instance_is_placed_or_explained() -> None:
    agents = cluster(3, mem=4096)
    demands = [Demand("a", 4, 0.1, 2048), Demand("b", 3, 0.1, 3000)]
    p = place(agents, demands)
    for d in demands:
        missing = [u.index for u in p.unplaced if u.key == d.key]
        assert len(p.assignments[d.key]) + len(missing) == d.count
        assert missing == list(range(len(p.assignments[d.key]) + 1, d.count + 1))


# --- lower bound ---------------------------------------------------------------------------


def test_lower_bound_by_volume_uses_the_biggest_agents_first() -> None:
    agents = [agent(1, cpus=16), agent(2, cpus=4), agent(3, cpus=4), agent(4, cpus=4)]
    assert lower_bound(agents, [Demand("v", 10, 2, 64)]) == 2  # 16 + 4 >= 20
    assert lower_bound(agents, [Demand("v", 11, 2, 64)]) == 3  # 16 + 4 < 22
    assert lower_bound(agents, [Demand("v", 20, 2, 64)]) == 5  # 28 < 40: then 16-cpu ones


def test_lower_bound_counts_what_cannot_share_an_agent() -> None:
    agents = cluster(10)
    assert lower_bound(agents, [Demand("big", 5, 2.5, 64)]) == 5  # > half of 4 cpus each
    # no three fit together: 3 x 1.5 > 4, so 9 instances need 5 agents
    assert lower_bound(agents, [Demand("third", 9, 1.5, 64)]) == 5
    unique = (("hostname", "UNIQUE"),)
    assert lower_bound(agents, [Demand("u", 7, 0.1, 64, constraints=unique)]) == 7
    capped = (("hostname", "MAX_PER", "2"),)
    assert lower_bound(agents, [Demand("m", 7, 0.1, 64, constraints=capped)]) == 4
    assert lower_bound(agents, [Demand("p", 5, 0.1, 64, ports=(31001,))]) == 5
    assert lower_bound(agents, []) == 0


def test_lower_bound_never_exceeds_a_placement() -> None:
    agents = cluster(8)
    demands = [
        Demand("a", 5, 1.5, 3000, constraints=(("hostname", "UNIQUE"),)),
        Demand("b", 4, 2.5, 1000, ports=(31002,)),
        Demand("c", 6, 0.5, 5000),
    ]
    for effort in ("fast", "thorough"):
        p = place(agents, demands, effort=effort)
        assert p.fits and p.lower_bound <= p.agents_used


# --- effort, determinism -------------------------------------------------------------------


def test_thorough_uses_no_more_agents_than_fast() -> None:
    agents = cluster(12, cpus=8, mem=16384)
    demands = [Demand(f"s{i}", 1 + i % 3, 0.5 + (i % 5) * 0.7, 1024 + 613 * i) for i in range(14)]
    fast = place(agents, demands)
    thorough = place(agents, demands, effort="thorough")
    assert fast.fits and thorough.fits
    assert thorough.lower_bound <= thorough.agents_used <= fast.agents_used


def test_an_unknown_effort_is_refused() -> None:
    with pytest.raises(ValueError, match="effort"):
        place(cluster(1), [], effort="careful")


def test_the_order_of_the_input_does_not_matter() -> None:
    agents = cluster(6)
    demands = [
        Demand("a", 3, 1.5, 3000, constraints=(("rack", "MAX_PER", "2"),)),
        Demand("b", 2, 0.5, 6000, ports=(31005,)),
        Demand("c", 4, 1.0, 1000),
    ]
    p = place(agents, demands)
    assert p == place(agents[::-1], demands[::-1])
    assert p == place(list(agents), list(demands))


def test_proven_says_whether_a_does_not_fit_is_certain() -> None:
    assert place(cluster(2), [Demand("x", 3, 0.1, 64)]).proven  # it fits
    assert place(cluster(2), [Demand("x", 3, 3, 64)]).proven  # 9 cpus > 8 in all
    # 3 instances of 2.5 cpus on two 4-cpu agents: room in total, none found, exhaustively
    p = place(cluster(2, cpus=4), [Demand("x", 3, 2.5, 64)])
    assert not p.fits and p.proven


def test_an_instance_larger_than_any_agent_is_called_so() -> None:
    agents = cluster(3)
    biggest = max(a.mem for a in agents)
    got = place(agents, [Demand("huge", 1, 1, biggest + 1000)])
    (u,) = got.unplaced
    assert "no agent is that large" in u.reason
    assert f"offers {biggest:.0f} MiB when empty" in u.reason
    assert u.shortfall["mem"] > 0
