"""The cheapest mix of machines: never below the true optimum, its bound never above it, and
the optimum itself when it says proven, checked against a brute force over every mix."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator.machine_mix import PricedShape, cheapest_mix, mix_agents
from allocator.model import Agent, AgentShape, Demand
from allocator.placement import place

SHAPES = (
    PricedShape("small", AgentShape(4, 8192, 10_000), 1.0),
    PricedShape("big", AgentShape(8, 16384, 10_000), 1.5),
    PricedShape("memory", AgentShape(2, 16384, 10_000), 0.9),
    PricedShape("cpu", AgentShape(8, 4096, 10_000), 1.1),
)


def _optimum(
    agents: list[Agent], demands: list[Demand], shapes: list[PricedShape], most: float
) -> float:
    """The least cost of a mix with which every instance is placed: every mix that costs
    at most `most`, cheapest first, each settled by placement or the exact search."""

    def cost(c: tuple[int, ...]) -> float:
        return sum(n * p.cost for n, p in zip(c, shapes, strict=True))

    need = [sum(d.size[r] * d.count for d in demands) for r in range(3)]

    def roomy(c: tuple[int, ...]) -> bool:  # a mix without the room in total cannot fit
        pool = [*agents, *mix_agents(shapes, list(c))]
        return all(sum(a.size[r] for a in pool) >= need[r] - 1e-9 for r in range(3))

    ranges = [range(int(most / p.cost + 1e-9) + 1) for p in shapes]
    mixes = sorted(
        (c for c in itertools.product(*ranges) if cost(c) <= most + 1e-9 and roomy(c)),
        key=cost,
    )
    for counts in mixes:
        pool = [*agents, *mix_agents(shapes, list(counts))]
        got = place(pool, demands)
        if not got.fits and not got.proven:
            got = place(pool, demands, effort="exact", seconds=10)
        if got.fits:
            return cost(counts)
        assert got.proven, "the brute force needs every mix settled"
    raise AssertionError(f"no mix fits within {most}, the cost of the mix found")


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Agent], list[Demand], list[PricedShape]]:
    agents = [Agent(f"a{i}", f"h{i}", 4, 8192, 10_000) for i in range(draw(st.integers(1, 3)))]
    demands = [
        Demand(
            key=f"s{k}",
            count=draw(st.integers(1, 5)),
            cpus=draw(st.sampled_from([0.5, 1.0, 1.5, 2.5])),
            mem=draw(st.sampled_from([512, 1024, 3072, 5000])),
        )
        for k in range(draw(st.integers(1, 4)))
    ]
    picked = draw(
        st.lists(st.sampled_from(range(len(SHAPES))), min_size=2, max_size=4, unique=True)
    )
    return agents, demands, [SHAPES[i] for i in picked]


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,  # the same cases in every run: CI reproduces what it reports
    suppress_health_check=list(HealthCheck),
)
@given(cases())
def test_the_mix_is_never_below_the_optimum_and_is_it_when_proven(
    case: tuple[list[Agent], list[Demand], list[PricedShape]],
) -> None:
    agents, demands, shapes = case
    got = cheapest_mix(agents, [demands], shapes, seconds=10)
    if got.cost is None:  # none makes it fit: not even three machines of every shape
        assert got.why_not
        pool = [*agents, *mix_agents(shapes, [3] * len(shapes))]
        assert not place(pool, demands, effort="exact", seconds=10).fits
        return
    best = _optimum(agents, demands, shapes, got.cost)
    # what it names really fits: the placement is on those machines
    pool = [*agents, *mix_agents(shapes, [got.counts[p.name] for p in shapes])]
    assert place(pool, demands, effort="exact", seconds=10).fits
    assert got.cost >= best - 1e-9
    assert got.lower_bound <= best + 1e-9
    if got.proven:
        assert abs(got.cost - best) < 1e-9
    assert got.gap >= 0


def test_a_mix_that_fits_as_it_is_buys_nothing() -> None:
    agents = [Agent("a0", "h0", 4, 8192, 10_000)]
    got = cheapest_mix(agents, [[Demand(key="s", count=2, cpus=1, mem=1024)]], list(SHAPES))
    assert got.cost == 0 and got.agents == 0 and got.proven


def test_no_mix_helps_an_instance_bigger_than_every_shape() -> None:
    agents = [Agent("a0", "h0", 4, 8192, 10_000)]
    huge = [Demand(key="s", count=1, cpus=64, mem=1024)]
    got = cheapest_mix(agents, [huge], list(SHAPES[:2]))
    assert got.cost is None and got.why_not


def test_instances_only_some_shapes_hold_are_bought_those_shapes() -> None:
    # the existing agent has disk to spare but no cpus: by volume the cheap diskless
    # machines would do, yet every instance needs disk, so only the dear one holds them
    agents = [Agent("a0", "h0", 1, 8192, 1_000_000)]
    demands = [Demand(key="s", count=6, cpus=2, mem=1024, disk=1000)]
    shapes = [
        PricedShape("diskless", AgentShape(16, 65536, 0), 1.0),
        PricedShape("with-disk", AgentShape(8, 32768, 100_000), 1.8),
    ]
    got = cheapest_mix(agents, [demands], shapes, seconds=5)
    assert got.counts == {"diskless": 0, "with-disk": 2} and got.cost == 3.6
    assert got.proven
