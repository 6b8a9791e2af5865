from datetime import UTC, datetime, timedelta

import pytest

from allocator.surge import surge_instances
from allocator.windows import Window, distinct_sets, intervals_from

T0 = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    "n, mhc, moc, extra",
    [
        (3, 1.0, 1.0, 3),  # Marathon's defaults double an app
        (3, 1.0, 0.0, 1),  # no over-capacity: it must still start one before stopping one
        (3, 0.5, 0.0, 0),  # may stop first: no surge
        (4, 0.5, 0.5, 2),
        (1, 1.0, 1.0, 1),
        (0, 1.0, 1.0, 0),
        (10, 0.0, 0.0, 0),
        (10, 1.0, 0.1, 1),
    ],
)
def test_surge_follows_marathons_rule(n: int, mhc: float, moc: float, extra: int) -> None:
    assert surge_instances(n, mhc, moc) == extra


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_intervals_sweep_the_boundaries_from_now() -> None:
    windows = [Window(1, h(-5), h(2)), Window(2, h(1), h(3)), Window(3, h(-9), h(-1))]
    got = intervals_from(T0, windows)
    assert [(i.start, i.end, set(i.active)) for i in got] == [
        (h(0), h(1), {1}),
        (h(1), h(2), {1, 2}),
        (h(2), h(3), {2}),
        (h(3), None, set()),
    ]
    assert distinct_sets(got) == [frozenset({1, 2})]


def test_a_reservation_ending_at_t_does_not_count_at_t() -> None:
    got = intervals_from(T0, [Window(1, h(-1), h(0)), Window(2, h(0), h(1))])
    assert got[0].active == frozenset({2})


def test_disjoint_windows_are_checked_separately() -> None:
    got = intervals_from(T0, [Window(1, h(1), h(2)), Window(2, h(3), h(4))])
    assert distinct_sets(got) == [frozenset({1}), frozenset({2})]
