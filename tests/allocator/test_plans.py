"""Plans: the fewest extra agents, checked both ways, never fewer for more load."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.bounds import extra_by_rules
from allocator.model import Agent, AgentShape, Demand
from allocator.placement import place
from allocator.plans import extra_agents, place_every, plan, too_big

SHAPE = AgentShape(4, 8192, 10000, ports=((31000, 31999),))


def _agents(n: int, cpus: float = 4, mem: float = 8192) -> list[Agent]:
    return [Agent(f"a{i}", f"h{i}", cpus, mem, 10000, ports=((31000, 31999),)) for i in range(n)]


def _demand(key: str, count: int, cpus: float, mem: float = 512, **more: object) -> Demand:
    return Demand(key=key, count=count, cpus=cpus, mem=mem, **more)  # type: ignore[arg-type]


def test_fits_as_it_is_needs_no_agent() -> None:
    got = plan(_agents(3), [[_demand("web", 6, 1.0)]], SHAPE)
    assert got.extra_agents == 0 and got.fits_now and got.checks == ()
    assert got.tries == 1


def test_volume_bound_proves_k_minus_one() -> None:
    got = plan(_agents(3), [[_demand("web", 20, 1.0)]], SHAPE)
    # 20 cpus on 12: two more agents of 4 cpus by volume, and two suffice
    assert got.extra_agents == 2 and got.lower_bound == 2 and got.bottleneck == "cpus"
    fits, below = got.checks
    assert (fits.extra_agents, fits.fits, fits.by) == (2, True, "placement")
    assert (below.extra_agents, below.fits, below.proven, below.by) == (
        1,
        False,
        True,
        "volume bound",
    )
    assert len(got.unplaced) == 8 and "web" in got.unplaced[0].reason


def test_placement_proves_what_volume_cannot() -> None:
    # 2.5 cpus each: one per agent though the total (10) is under 12
    got = plan(_agents(3), [[_demand("big", 4, 2.5)]], SHAPE)
    assert got.lower_bound == 0 and got.extra_agents == 1
    assert got.checks[1].by == "placement" and got.checks[1].unplaced == 1


def test_host_ports_and_unique_hostnames_bound_the_answer() -> None:
    ported = _demand("api", 7, 0.1, ports=(31005,))
    got = plan(_agents(3), [[ported]], SHAPE)
    assert got.extra_agents == 4 and got.rule_bound == 4 and got.rule == "host port 31005"
    assert got.checks[1].by == "lower bound (host port 31005)"
    unique = _demand("u", 5, 0.1, constraints=(("hostname", "UNIQUE"),))
    assert extra_by_rules(_agents(3), [unique], SHAPE)[:2] == (2, "hostname UNIQUE of u")
    closed = AgentShape(4, 8192, 10000, ports=((32000, 32100),))
    hopeless = plan(_agents(3), [[ported]], closed)
    assert hopeless.extra_agents is None and "31005" in hopeless.why_not


def test_an_instance_bigger_than_the_shape_has_no_answer() -> None:
    got = plan(_agents(2), [[_demand("huge", 1, 6.0)]], SHAPE)
    assert got.extra_agents is None and got.final is None
    assert "huge" in got.why_not and "6" in got.why_not
    assert len(got.unplaced) == 1


def test_every_scenario_must_fit() -> None:
    base = [_demand("web", 8, 1.0)]
    reserved = _demand("reservation:1", 4, 1.0)
    got = plan(_agents(3), [base, [*base, reserved]], SHAPE)
    assert got.extra_agents == 0  # 8 cpus of 12 and 12 of 12 both fit
    tighter = plan(_agents(3), [base, [*base, replace(reserved, count=6)]], SHAPE)
    assert tighter.extra_agents == 1


# --- properties on generated clusters ------------------------------------------------------


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Agent], list[Demand]]:
    n = draw(st.integers(1, 5))
    agents = [
        Agent(
            f"a{i}",
            f"h{i}",
            draw(st.sampled_from([2.0, 4.0, 8.0])),
            draw(st.sampled_from([4096.0, 8192.0, 16384.0])),
            10000,
            ports=((31000, 31010),),
            attributes={"rack": f"r{i % 2}"},
        )
        for i in range(n)
    ]
    demands = []
    for k in range(draw(st.integers(1, 4))):
        constraints: tuple[tuple[str, ...], ...] = draw(
            st.sampled_from([(), (), (("hostname", "UNIQUE"),), (("rack", "GROUP_BY", "2"),)])
        )
        demands.append(
            Demand(
                key=f"d{k}",
                count=draw(st.integers(1, 3)),
                cpus=draw(st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0])),
                mem=draw(st.sampled_from([256.0, 1024.0, 2048.0, 3000.0])),
                ports=draw(st.sampled_from([(), (), (31000 + k,)])),
                constraints=constraints,
                headroom=draw(st.sampled_from([0.0, 0.0, 0.1])),
            )
        )
    return agents, demands


def _scaled(demands: list[Demand], factor: float) -> list[Demand]:
    return [replace(d, count=math.ceil(d.count * factor)) for d in demands]


GEN_SHAPE = AgentShape(
    8,
    16384,
    10000,
    ports=((31000, 31010),),
    attributes={"rack": "r0"},
    spread={"rack": ("r0", "r1")},
)


@settings(max_examples=25, deadline=None)
@given(clusters(), st.sampled_from([1.0, 1.5, 2.0, 3.0]))
def test_k_fits_and_k_minus_one_does_not(
    cluster: tuple[list[Agent], list[Demand]], factor: float
) -> None:
    agents, demands = cluster
    wanted = _scaled(demands, factor)
    got = plan(agents, [wanted], GEN_SHAPE)
    if got.extra_agents is None:
        return
    k = got.extra_agents
    assert place([*agents, *extra_agents(GEN_SHAPE, k)], wanted).fits
    if k > 0:
        assert not place([*agents, *extra_agents(GEN_SHAPE, k - 1)], wanted).fits
        assert [c.extra_agents for c in got.checks] == [k, k - 1]
    assert k >= got.lower_bound


@settings(max_examples=25, deadline=None)
@given(clusters())
def test_a_higher_factor_never_needs_fewer_agents(
    cluster: tuple[list[Agent], list[Demand]],
) -> None:
    agents, demands = cluster
    answers = [plan(agents, [_scaled(demands, f)], GEN_SHAPE) for f in (1.0, 1.5, 2.0, 3.0)]
    ks = [a.extra_agents for a in answers]
    known = [k for k in ks if k is not None]
    assert known == sorted(known), ks
    # once no number of agents helps, more load does not make it helpable
    if None in ks:
        assert all(k is None for k in ks[ks.index(None) :]), ks


def _tight() -> tuple[list[Agent], list[Demand]]:
    """Two agents of 10 cpus and items 5, 4, 3, 3, 3, 2: they fit exactly (5+3+2, 4+3+3),
    but first fit decreasing leaves the 2 over (5+4, 3+3+3)."""
    agents = [Agent(f"a{i}", f"h{i}", 10, 10_000, 10_000) for i in range(2)]
    sizes = {"a": (1, 5.0), "b": (1, 4.0), "c": (3, 3.0), "d": (1, 2.0)}
    demands = [_demand(k, n, c, mem=1) for k, (n, c) in sizes.items()]
    return agents, demands


def test_the_exact_search_finds_the_fit_placement_missed() -> None:
    agents, demands = _tight()
    assert not place(agents, demands, effort="quick").fits
    shape = AgentShape(10, 10_000, 10_000)
    # first fit alone says one agent more, and cannot say whether none would do
    guess = plan(agents, [demands], shape, effort="quick")
    assert guess.extra_agents == 1 and not guess.proven
    assert guess.checks[1].extra_agents == 0 and not guess.checks[1].proven
    # with time for the exact search: it fits as it is, proven by the packing found
    got = plan(agents, [demands], shape, effort="quick", seconds=5)
    assert got.extra_agents == 0 and got.fits_now and got.proven
    assert got.final is not None and got.final.fits and got.now.fits


def test_the_exact_search_proves_one_fewer_does_not_fit() -> None:
    agents, demands = _tight()
    # one more 2 makes 22 cpus on 20: the volume bound asks 1 extra agent of 10 cpus
    more = [*demands, _demand("e", 1, 2.0, mem=1)]
    # three items of 6 cpus cannot share an agent of 10; the volume bound (18 ≤ 20) says
    # nothing, first fit misses with 0 extra, the exact search proves it
    six = [_demand("six", 3, 6.0, mem=1)]
    got = plan(agents, [six], AgentShape(10, 10_000, 10_000), effort="quick", seconds=5)
    assert got.extra_agents == 1 and got.lower_bound == 0 and got.proven
    fits, below = got.checks
    assert (below.extra_agents, below.fits, below.proven) == (0, False, True)
    assert below.by == "exact search"
    bounded = plan(agents, [more], AgentShape(10, 10_000, 10_000), effort="quick", seconds=5)
    assert bounded.extra_agents == 1 and bounded.proven
    assert bounded.checks[1].by == "volume bound"


def test_too_big_names_the_first_resource_an_empty_agent_lacks_after_headroom() -> None:
    size = SHAPE.size()
    assert too_big(_demand("web", 1, 4.0, 8192), size) is None
    assert too_big(_demand("web", 1, 4.1, 8192), size) == 0
    assert too_big(_demand("web", 1, 1.0, 9000), size) == 1
    # a headroom of a quarter leaves 3 cpus of 4
    assert too_big(_demand("web", 1, 3.0, 512, headroom=0.25), size) is None
    assert too_big(_demand("web", 1, 3.1, 512, headroom=0.25), size) == 0


def test_place_every_tries_the_failing_scenario_first_and_stops_at_a_miss() -> None:
    small, big = [_demand("web", 2, 1.0)], [_demand("web", 20, 1.0)]
    pool = _agents(2)
    ok, p, which, tried = place_every(pool, [small, big, small], 1, "quick", "max")
    assert (ok, which, tried) == (False, 1, 1) and not p.fits
    ok, p, which, tried = place_every(pool, [small, big], 0, "quick", "max")
    assert (ok, which, tried) == (False, 1, 2)
    ok, p, which, tried = place_every(pool, [small, small], 1, "quick", "max")
    # all fit: the placement of the scenario tried first
    assert (ok, which, tried) == (True, 1, 2) and p.fits
