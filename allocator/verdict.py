"""How sure "it fits" is, when the standing placement has no room for a change.

The escalation, cheapest first, each step only when the one before found no packing:

1. a full re-pack around the tasks that run (they stay where they are): the fast
   heuristics, then the exact search (CP-SAT) within part of the budget;
2. a re-pack in which running tasks may move, by the exact search with the number of
   tasks moved as its objective (Marathon never moves a task to make room, so such a
   packing needs someone to move those tasks first);
3. the proof that no packing exists at all: a lower bound on the agents needed above the
   agents there are, or the exact search finishing without one.

The levels: `fits` (a packing as the cluster runs now), `fits_after_moves` (only if the
tasks listed move), `does_not_fit` (proven) and `not_proven` (the budget ran out first).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from allocator.model import Agent, Demand, Placement
from allocator.placement import place

FITS = "fits"
AFTER_MOVES = "fits_after_moves"
DOES_NOT_FIT = "does_not_fit"
NOT_PROVEN = "not_proven"
LEVELS = (FITS, AFTER_MOVES, NOT_PROVEN, DOES_NOT_FIT)  # from best to worst


def worst(levels: Sequence[str]) -> str:
    return max(levels, key=LEVELS.index, default=FITS)


def accepted(level: str) -> bool:
    return level in (FITS, AFTER_MOVES)


@dataclass(frozen=True)
class Move:
    """A running task that must move for the packing to hold (Marathon will not do it)."""

    demand: str
    label: str
    instance: int  # 1-based
    source: str  # agent id where it runs
    target: str  # agent id where the packing puts it


@dataclass(frozen=True)
class Settled:
    level: str
    placement: Placement  # the best packing found (with the unplaced and why, if any)
    moves: tuple[Move, ...] = ()
    proof: str = ""  # does_not_fit: what proves it; not_proven: what would settle it
    steps: tuple[str, ...] = ()  # what ran, e.g. ("re-pack", "exact", "exact with moves")
    seconds: float = 0.0


def moves_between(
    demands: Sequence[Demand], running: Mapping[str, Sequence[str]], p: Placement
) -> tuple[Move, ...]:
    """The running instances that `p` does not keep on the agent they run on, each with an
    agent `p` has room for it on (one its instances use that no running one stays on)."""
    out = []
    for d in sorted(demands, key=lambda d: d.key):
        now = list(running.get(d.key, ()))[: max(0, d.count)]
        free = Counter(p.assignments.get(d.key, ()))
        gone = []
        for j, source in enumerate(now):
            if free[source] > 0:
                free[source] -= 1
            else:
                gone.append((j, source))
        targets = list(free.elements())
        for (j, source), target in zip(gone, targets, strict=False):
            out.append(Move(d.key, d.name, j + 1, source, target))
    return tuple(out)


def settle(
    agents: Sequence[Agent],
    demands: Sequence[Demand],
    running: Mapping[str, Sequence[str]],
    *,
    seconds: float,
    clock: Callable[[], float] = time.perf_counter,
) -> Settled:
    """The level of one set of demands on the agents, within `seconds` (the exact searches
    stop when it runs out)."""
    start = clock()
    steps: list[str] = []

    def left() -> float:
        return max(0.05, seconds - (clock() - start))

    def done(level: str, p: Placement, proof: str = "", moves: tuple[Move, ...] = ()) -> Settled:
        return Settled(level, p, moves, proof, tuple(steps), round(clock() - start, 3))

    kept = list(demands)
    runs = any(running.get(d.key) for d in kept)
    steps.append("re-pack")
    # with tasks free to move as well, the exact search needs time of its own
    share = left() * (0.5 if runs else 1.0)
    here = place(agents, kept, effort="exact", pinned=running, seconds=share)
    if here.strategy.startswith("exact"):
        steps.append("exact")
    if here.fits:
        return done(FITS, here)
    if here.lower_bound > len(agents):
        need = (
            "more than any number of them: some instance fits no agent at all"
            if here.lower_bound >= 10**9
            else f"at least {here.lower_bound}"
        )
        return done(
            DOES_NOT_FIT,
            here,
            f"no packing exists: it needs {need} agents (by what the instances need in all "
            f"and those that cannot share an agent), and there are {len(agents)}",
        )
    if not runs:
        if here.proven:
            return done(DOES_NOT_FIT, here, "no packing exists: the exact search proved it")
        return done(NOT_PROVEN, here, _unsettled(here, len(agents), seconds))
    steps.append("exact with moves")
    anywhere = place(agents, kept, effort="exact", prefer=running, seconds=left())
    if anywhere.fits:
        return done(AFTER_MOVES, anywhere, moves=moves_between(kept, running, anywhere))
    if anywhere.proven:
        return done(
            DOES_NOT_FIT,
            here,
            "no packing exists, even with running tasks moved: the exact search proved it",
        )
    return done(NOT_PROVEN, here, _unsettled(here, len(agents), seconds))


def _unsettled(p: Placement, agents: int, seconds: float) -> str:
    return (
        f"not proven either way within {seconds:g} s: the best packing found leaves "
        f"{len(p.unplaced)} instances without an agent, and no bound rules a packing out "
        f"(at least {p.lower_bound} agents are needed, there are {agents}); one more agent, "
        f"or a longer budget (BERTH_FIT_BUDGET_SECONDS), would settle it"
    )
