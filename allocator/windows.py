"""Reservation windows: which reservations count together, at every instant from now on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Window:
    """A half-open window [starts_at, ends_at) of one reservation."""

    id: int
    starts_at: datetime
    ends_at: datetime

    def covers(self, t: datetime) -> bool:
        return self.starts_at <= t < self.ends_at


@dataclass(frozen=True)
class Interval:
    """A stretch of time [start, end) in which the same reservations are active."""

    start: datetime
    end: datetime | None  # None: for ever
    active: frozenset[int]


def intervals_from(now: datetime, windows: Iterable[Window]) -> list[Interval]:
    """Sweep the window boundaries from `now` on; every distinct stretch, in time order.

    A reservation ending at t does not count at t; expired ones never appear.
    """
    live = [w for w in windows if w.ends_at > now]
    points = sorted(
        {now, *(w.starts_at for w in live if w.starts_at > now), *(w.ends_at for w in live)}
    )
    out: list[Interval] = []
    for start, end in zip(points, [*points[1:], None], strict=True):
        active = frozenset(w.id for w in live if w.covers(start))
        if out and out[-1].active == active:
            out[-1] = Interval(out[-1].start, end, active)
        else:
            out.append(Interval(start, end, active))
    return out


def distinct_sets(intervals: Iterable[Interval]) -> list[frozenset[int]]:
    """The different sets of active reservations, each checked once; maximal sets suffice
    since a placement that fits a set also fits any subset of it."""
    sets = {i.active for i in intervals}
    return sorted(
        (s for s in sets if not any(s < other for other in sets)),
        key=lambda s: (len(s), sorted(s)),
    )
