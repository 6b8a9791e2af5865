"""The standing placement: a change placed into what is left, escalation when it has no room."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.model import Agent, Demand
from allocator.placement import place
from allocator.standing import Change, Standing
from allocator.verdict import AFTER_MOVES, DOES_NOT_FIT, FITS, NOT_PROVEN
from tests.allocator.generated import agents, broken, demands


def _agents(n: int, cpus: float = 4, mem: float = 8192) -> list[Agent]:
    return [Agent(f"a{i}", f"agent-{i}", cpus, mem, 0) for i in range(1, n + 1)]


def _standing(cluster: list[Agent], ds: list[Demand], running: dict | None = None) -> Standing:
    return Standing(cluster, [(frozenset(), ds)], running or {})


def _assignments(s: Standing) -> list[dict[str, tuple[str, ...]]]:
    return [dict(scene.placement().assignments) for scene in s.scenes]


def test_a_change_that_fits_what_is_left_is_placed_alone_and_undone_exactly() -> None:
    standing = _standing(_agents(3), [Demand("a", 2, 1, 2048), Demand("b", 1, 2, 4096)])
    before = _assignments(standing)
    standing.begin()
    got = standing.change([Change("c", Demand("c", 2, 1, 1024))], seconds=2)
    assert got.level == FITS and got.steps == ("standing",) and not got.escalated
    assert [len(h["c"]) for h in got.hints] == [2] and all(b >= 0 for b in got.hints[0]["c"])
    standing.undo()
    assert _assignments(standing) == before
    standing.begin()
    standing.change([Change("c", Demand("c", 2, 1, 1024))], seconds=2)
    standing.commit()
    assert set(_assignments(standing)[0]) == {"a", "b", "c"}


def test_a_change_removes_the_old_instances_first() -> None:
    standing = _standing(_agents(1, cpus=4), [Demand("a", 3, 1, 1024)])
    standing.begin()
    got = standing.change([Change("a", Demand("a", 4, 1, 1024))], seconds=2)
    assert got.level == FITS
    standing.commit()
    standing.begin()
    gone = standing.change([Change("a", None)], seconds=2)
    assert gone.level == FITS and _assignments(standing) == [{}]


# a cluster-shaped problem (Java and Node services on 7 agents of 8 cpus and 16 GiB) whose
# optimum, 7 agents, CP-SAT proves and no heuristic of the fast effort reaches
TIGHT = [
    (5, 0.35, 416, 1024),
    (3, 2.1, 6432, 0),
    (1, 2.1, 6176, 512),
    (2, 1.1, 1568, 512),
    (4, 1.1, 2208, 0),
    (4, 0.35, 1056, 1024),
    (5, 0.6, 544, 0),
    (5, 0.6, 1568, 1024),
    (6, 0.6, 544, 512),
    (5, 0.35, 288, 0),
    (4, 1.1, 3616, 0),
    (3, 0.6, 1056, 512),
    (5, 1.1, 1184, 0),
    (5, 1.1, 1568, 512),
    (5, 0.6, 1696, 0),
    (1, 2.1, 4128, 512),
]


def _tight(agents: int) -> tuple[list[Agent], list[Demand]]:
    cluster = [Agent(f"a{i}", f"agent-{i}", 8, 16384, 200_000) for i in range(agents)]
    items = [Demand(f"s{k:02d}", n, c, m, d) for k, (n, c, m, d) in enumerate(TIGHT)]
    return cluster, items


def test_escalation_finds_the_packing_the_heuristics_miss() -> None:
    cluster, items = _tight(7)
    assert not place(cluster, items, effort="fast").fits
    standing = _standing(cluster, items[:-1])
    standing.begin()
    got = standing.change([Change(items[-1].key, items[-1])], seconds=2)
    assert got.level == FITS and got.escalated and "exact" in got.steps, got
    standing.commit()
    assert all(scene.complete() for scene in standing.scenes)
    assert broken(cluster, items, standing.scenes[0].placement()) == []


def test_escalation_proves_one_agent_fewer_does_not_fit() -> None:
    cluster, items = _tight(6)
    standing = _standing(cluster, items[:-1])
    standing.begin()
    got = standing.change([Change(items[-1].key, items[-1])], seconds=2)
    assert got.level == DOES_NOT_FIT and got.proof, got
    standing.undo()


def test_one_agent_fewer_is_proven_not_to_fit() -> None:
    cluster = [Agent(f"a{i}", f"agent-{i}", 10, 10_000, 0) for i in range(2)]
    items = [Demand("five", 2, 5, 10), Demand("four", 2, 4, 10)]
    standing = _standing(cluster, items)
    standing.begin()
    got = standing.change([Change("three", Demand("three", 1, 3, 10, label="x"))], seconds=2)
    assert got.level == DOES_NOT_FIT and "at least 3 agents" in got.proof
    assert got.placement is not None
    [why] = got.placement.unplaced
    assert why.key == "three" and why.reason.startswith("x #1: needs 3 cpus")
    standing.undo()


def test_a_packing_that_needs_running_tasks_moved_says_which() -> None:
    # a big instance needs a whole agent; a small task runs on each of the two agents
    cluster = _agents(2, cpus=4)
    small = Demand("small", 2, 1, 1024)
    standing = _standing(cluster, [small], running={"small": ["a1", "a2"]})
    standing.begin()
    got = standing.change([Change("big", Demand("big", 1, 4, 1024))], seconds=2)
    assert got.level == AFTER_MOVES, got
    [move] = got.moves
    assert move.demand == "small" and move.source != move.target
    standing.undo()
    assert standing.moves == ()


def test_reasons_are_about_the_change_not_what_was_there() -> None:
    cluster = _agents(2, cpus=2)
    there = [Demand("x-t05", 2, 1.5, 1024), Demand("x-t12", 2, 0.5, 1024)]
    standing = _standing(cluster, there)
    standing.begin()
    got = standing.change([Change("x-t15", Demand("x-t15", 1, 1, 1024))], seconds=1)
    assert got.level == DOES_NOT_FIT and got.placement is not None
    assert {u.key for u in got.placement.unplaced} == {"x-t15"}
    standing.undo()


@settings(max_examples=60, deadline=None)
@given(agents(), demands(), st.data())
def test_after_any_writes_the_standing_placement_is_sound(
    cluster: list[Agent], asked: list[Demand], data: st.DataObject
) -> None:
    """Every write either keeps a sound, complete placement (when it is accepted) or leaves
    the standing placement exactly as it was (when it is refused)."""
    standing = _standing(cluster, [])
    live: dict[str, Demand] = {}
    for d in asked:
        new = d if data.draw(st.booleans()) else replace(d, count=d.count + 1)
        before = _assignments(standing)
        standing.begin()
        got = standing.change([Change(new.key, new)], seconds=0.5)
        if got.level in (FITS, AFTER_MOVES):
            standing.commit()
            live[new.key] = new
            [scene] = standing.scenes
            assert scene.complete()
            p = scene.placement()
            assert broken(cluster, list(live.values()), p) == []
            # never "fits" where a full search finds no packing
            assert place(cluster, list(live.values()), effort="exact", seconds=1).fits
        else:
            standing.undo()
            assert _assignments(standing) == before


# 15 services on 8 agents of 8 cpus, 16 GiB and 100 GB: no bound rules a packing out, and
# no search settles it in seconds (CP-SAT, minimising agents, has not closed it in 30 s)
UNSETTLED = [
    (4, 0.25, 384, 10240),
    (5, 0.5, 768, 2048),
    (3, 0.25, 1024, 0),
    (5, 1, 2560, 1024),
    (1, 1, 1024, 1024),
    (3, 0.5, 768, 0),
    (4, 2, 4608, 10240),
    (1, 0.5, 512, 0),
    (3, 0.5, 1024, 10240),
    (5, 0.25, 512, 0),
    (1, 1, 2176, 10240),
    (5, 2, 6144, 2048),
    (5, 2, 6400, 0),
    (3, 0.5, 1024, 512),
    (4, 1, 3072, 1024),
]


def test_a_verdict_the_budget_cannot_settle_is_not_proven_and_says_what_would() -> None:
    cluster = [Agent(f"a{i}", f"agent-{i}", 8, 16384, 100_000) for i in range(8)]
    items = [Demand(f"s{k:02d}", n, c + 0.1, m + 32, d) for k, (n, c, m, d) in enumerate(UNSETTLED)]
    standing = _standing(cluster, items[:-1])
    standing.begin()
    got = standing.change([Change(items[-1].key, items[-1])], seconds=0.3)
    assert got.level == NOT_PROVEN, got
    assert "BERTH_FIT_BUDGET_SECONDS" in got.proof and "one more agent" in got.proof
    assert got.seconds < 0.3 + 0.5
    standing.undo()


def test_a_group_by_share_that_shrinks_places_the_rest_of_its_group_again() -> None:
    # A and its surge spread over zones a, b, c (GROUP_BY: two of six per zone); when the
    # surge goes, A's share falls to one per zone: A may not stay two to a zone
    cluster = [
        Agent("a1", "h1", 4, 8192, 0, attributes={"zone": "a"}),
        Agent("a2", "h2", 4, 8192, 0, attributes={"zone": "b"}),
        Agent("a3", "h3", 2, 8192, 0, attributes={"zone": "c"}),
    ]
    spread = (("zone", "GROUP_BY"),)
    a = Demand("A", 3, 1, 100, constraints=spread)
    surge = Demand("surge:A", 3, 1, 100, constraints=spread, group="A")
    standing = _standing(cluster, [a, surge])
    other = Demand("surge:B", 2, 1, 100, constraints=(("zone", "IS", "c"),))
    standing.begin()
    got = standing.change([Change("surge:A", None), Change("surge:B", other)], seconds=1)
    # one of A per zone leaves zone c no room for B's two: it does not fit, proven
    assert got.level == DOES_NOT_FIT, got
    standing.undo()
    standing.begin()
    got = standing.change([Change("surge:A", None)], seconds=1)
    assert got.level == FITS
    assert broken(cluster, [a], standing.scenes[0].placement()) == []


def test_a_packing_handed_over_whole_is_taken_whole() -> None:
    # D runs on a3 and a1, but at its new size no longer fits on a3; the packing a re-pack
    # found (D on a1 and a4, E on a2) must come out as it was given, E included
    cluster = [Agent(f"a{i}", f"h{i}", 4, 8192, 0) for i in range(1, 5)]
    d, e = Demand("D", 2, 3, 100), Demand("E", 1, 3, 100)
    cluster[2] = Agent("a3", "h3", 2, 8192, 0)
    given = {"D": ["a1", "a4"], "E": ["a2"]}
    standing = Standing(cluster, [(frozenset(), [d, e])], {"D": ("a3", "a1")}, [given])
    [scene] = standing.scenes
    assert scene.complete() and dict(scene.placement().assignments) == {
        "D": ("a1", "a4"),
        "E": ("a2",),
    }


def test_an_over_commit_let_be_does_not_take_the_room_of_a_packing_handed_over() -> None:
    cluster = [Agent(f"a{i}", f"h{i}", 4, 8192, 0) for i in range(1, 4)]
    cluster.append(Agent("a4", "h4", 3, 8192, 0))
    b, c, d = Demand("B", 2, 2, 100), Demand("C", 1, 3, 100), Demand("D", 1, 2, 100)
    forced = Demand("F", 3, 2, 100)  # an admin's over-commit: one instance has no agent
    given = {"B": ["a1", "a2"], "C": ["a3"], "D": ["a4"], "F": ["a1", "a2"]}
    standing = Standing(cluster, [(frozenset(), [b, c, d, forced])], {}, [given])
    standing.begin()
    got = standing.change([Change("G", Demand("G", 1, 2, 100))], seconds=2, tolerate={"F"})
    [scene] = standing.scenes
    assert got.level == FITS and scene.complete(tolerate={"F"}), scene.missing
    assert len(scene.placement().assignments["F"]) == 2  # what it had, it keeps
    standing.undo()


def test_moves_are_counted_from_where_tasks_run_not_from_earlier_moves() -> None:
    cluster = [Agent(f"a{i}", f"h{i}", 4, 8192, 0) for i in range(1, 5)]
    small, other = Demand("small", 2, 1, 100), Demand("other", 2, 1, 100)
    running = {"small": ("a1", "a2"), "other": ("a3", "a4")}
    standing = Standing(cluster, [(frozenset(), [small, other])], running)
    standing.begin()
    first = standing.change([Change("big1", Demand("big1", 1, 4, 100))], seconds=2)
    assert first.level == AFTER_MOVES and len(first.moves) == 1
    standing.commit()
    standing.begin()
    second = standing.change([Change("big2", Demand("big2", 1, 4, 100))], seconds=2)
    assert second.level == AFTER_MOVES
    placed = standing.scenes[0].placement().assignments
    # every running task the packing puts elsewhere is listed, from where it runs
    for key, hosts in running.items():
        kept = Counter(placed[key])
        moved = [m for m in second.moves if m.demand == key]
        assert len(moved) == sum((Counter(hosts) - kept).values())
        for m in moved:
            assert m.source in hosts and m.target in kept
    standing.undo()


def test_no_agents_at_all_is_a_proven_refusal_not_an_error() -> None:
    standing = _standing([], [])
    standing.begin()
    got = standing.change([Change("a", Demand("a", 2, 1, 10))], seconds=0.5)
    assert got.level == DOES_NOT_FIT and "fits no agent at all" in got.proof
    standing.undo()


def test_a_task_that_runs_into_the_headroom_stays_and_its_agent_takes_nothing_new() -> None:
    # production keeps 10% of each agent free; Marathon knows nothing of it and filled a1
    cluster = [Agent("a1", "h1", 4, 8192, 0), Agent("a2", "h2", 4, 8192, 0)]
    busy = Demand("busy", 1, 3.8, 1024, headroom=0.1)
    standing = _standing(cluster, [busy], running={"busy": ["a1"]})
    assert dict(standing.scenes[0].placement().assignments) == {"busy": ("a1",)}
    standing.begin()
    got = standing.change([Change("new", Demand("new", 1, 0.1, 64, headroom=0.1))], seconds=1)
    assert got.level == FITS and got.moves == ()
    assert standing.scenes[0].placement().assignments["new"] == ("a2",)
    standing.undo()


def test_the_fewest_moves_make_room_and_tasks_past_the_headroom_are_not_made_to_move() -> None:
    # a1's task runs past the 10% headroom: it stays, and a1 takes nothing new; 2.5 cpus
    # fit on a2 or a3 once one small task moves over
    cluster = [Agent(f"a{i}", f"h{i}", 4, 8192, 0) for i in range(1, 4)]
    big = Demand("big", 1, 3.8, 100, headroom=0.1)
    small = Demand("small", 2, 1.0, 100, headroom=0.1)
    mid = Demand("mid", 1, 1.5, 100, headroom=0.1)
    running = {"big": ("a1",), "small": ("a2", "a2"), "mid": ("a3",)}
    standing = _standing(cluster, [big, small, mid], running)
    assert standing.scenes[0].complete()
    standing.begin()
    got = standing.change([Change("x", Demand("x", 1, 2.5, 100, headroom=0.1))], seconds=2)
    assert got.level == AFTER_MOVES, got
    [move] = got.moves
    assert move.demand in ("small", "mid")
    standing.undo()
