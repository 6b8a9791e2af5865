"""`pack()`: the heuristics of each effort, cheapest first, until the bound or the budget.

Everything is deterministic: ties fall to the lower index and the only randomness comes
from a `random.Random` with a fixed seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from allocator.bounds import vector_lower_bound
from allocator.constraints import AgentRules
from allocator.model import EPS
from allocator.packing.core import Core, Packing, Problem, Rules, State
from allocator.packing.exact import (
    EXACT_FEWER_NODES,
    EXACT_MAX_ITEMS,
    EXACT_NODES,
    Exact,
    cp_sat,
    exhaustive,
)
from allocator.packing.first_fit import best_fit, bin_centric, first_fit
from allocator.packing.local_search import REPAIR_MAX_POOL, reduce, repair
from allocator.packing.orders import ORDERS, Orders, bin_order

# Work units (roughly: one capacity check of one item against one bin) per effort.
FAST_BUDGET = 400_000
THOROUGH_BUDGET = 2_000_000


def _rank(st: State) -> tuple[int, int]:
    return (sum(1 for b in st.where if b < 0), st.used)


def pack(
    problem: Problem,
    rules: Rules | None = None,
    *,
    effort: str = "fast",
    budget: int | None = None,
    seed: int = 0,
    lower: int | None = None,
    order: str = "max",
    exhaustive_search: bool = True,
) -> Packing:
    """Place every item into a bin, using as few bins as the effort allows.

    quick: first fit decreasing alone (a plan's search steps, where a miss is cheap).
    fast: first fit decreasing; only when items are left over, further orders, best fit, a
    repair search and (on small problems) an exhaustive search, before giving up on them.
    thorough: several constructive heuristics, the best kept, then a local search that
    empties bins, until the lower bound is reached or the budget is spent.

    order: the measure of size that the first pass sorts by (one of ORDERS); the other
    measures follow it. Which measure packs a cluster best varies with its shapes, so a
    search that places many times learns it once and leads with it.

    exhaustive_search: False leaves out the depth-first search on small problems, for a
    caller that runs the exact search (CP-SAT) next, which does its job much faster.
    """
    if effort not in ("quick", "fast", "thorough"):
        raise ValueError(f"effort must be 'quick', 'fast' or 'thorough', not {effort!r}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    core = Core(problem, rules)
    core.exhaustive = exhaustive_search
    if budget is None:
        budget = THOROUGH_BUDGET if effort == "thorough" else FAST_BUDGET
    rng = random.Random(seed)
    if lower is None:
        lower = vector_lower_bound(
            [k.size for k in core.kinds], [k.count for k in core.kinds], core.free
        )
    orders = Orders(core)
    bins = bin_order(core)

    best: State | None = None
    best_name = ""

    def consider(st: State, name: str) -> State:
        """Keep st when it beats the best so far; returns the best."""
        nonlocal best, best_name
        if best is None or _rank(st) < _rank(best):
            best, best_name = st, name
        assert best is not None
        return best

    def current() -> State:
        assert best is not None
        return best

    def reached(st: State) -> bool:
        return _rank(st) == (0, lower)

    proven = False  # that no placement of every item exists, when some are left over
    first = consider(first_fit(core, orders[order], bins), f"ffd-{order}")
    if effort == "quick":
        proven = hopeless(core)
    elif effort == "fast":
        if _rank(first)[0]:
            proven = _fallbacks(core, orders, bins, budget, rng, consider, current, order)
    elif not reached(first):
        done = _constructive(
            core, orders, bins, budget, lambda st, n: reached(consider(st, n)), order
        )
        if not done:
            if _rank(current())[0]:
                proven = _fallbacks(
                    core, orders, bins, budget // 2, rng, consider, current, order, again=False
                )
            optimal = False
            # small problems: search exhaustively for one bin fewer, while it succeeds; a
            # finished search that finds none proves the bins in use are the fewest
            while core.exhaustive and core.nitems <= EXACT_MAX_ITEMS and not _rank(current())[0]:
                if reached(current()):
                    break
                found, optimal = exhaustive(core, EXACT_FEWER_NODES, current().used - 1)
                if found is None:
                    break
                consider(found, "exhaustive")
            if not optimal and not _rank(current())[0] and not reached(current()):
                left = max(0, budget - core.work)
                st = reduce(core, core.rebuild(current().where), lower, left, rng)
                consider(st, best_name + "+reduce")
    assert best is not None
    return _packing(core, best.where, proven or not _rank(best)[0], lower, best_name)


def _packing(core: Core, where: Sequence[int], proven: bool, lower: int, strategy: str) -> Packing:
    by_kind: list[list[int]] = [[] for _ in core.kinds]
    for x, b in enumerate(where):
        by_kind[core.kind_of[x]].append(b)
    return Packing(
        proven=proven,
        where=tuple(where),
        kind_of=tuple(core.kind_of),
        bins_used=len({b for b in where if b >= 0}),
        lower_bound=lower,
        strategy=strategy,
        by_kind=tuple(tuple(v) for v in by_kind),
    )


def pack_exact(
    problem: Problem,
    rules: AgentRules | None,
    seconds: float,
    *,
    start: Packing | None = None,
    prefer: Sequence[Sequence[int]] = (),
    lower: int = 0,
    costs: Sequence[int] = (),
    chains: Sequence[Sequence[int]] = (),
) -> tuple[Packing | None, Exact]:
    """The exact search (CP-SAT) for a packing of every item, seeded with `start`.

    Returns the packing found (None when none was) and what the search says: "found",
    "infeasible" (proven: no packing of every item exists) or "unknown" (out of time, or
    too big to model). `prefer`: per kind, the bins its items should stay in if they can
    (the number of items moved off them is minimised).
    """
    core = Core(problem, rules)
    found = cp_sat(
        core,
        rules,
        seconds,
        prefer=prefer,
        hint=start.where if start else None,
        costs=costs,
        chains=chains,
    )
    if found.where is None:
        return None, found
    return _packing(core, found.where, True, lower, "exact"), found


def _constructive(
    core: Core,
    orders: Orders,
    bins: list[int],
    budget: int,
    consider: Callable[[State, str], bool],
    done: str = "max",
) -> bool:
    """The constructive heuristics, cheapest first; stops once one reaches the bound.

    `done`: the order whose first fit has run already."""
    names = [n for n in Orders.NAMES if n != done]
    if orders.headroom:
        names += ["head-" + n for n in Orders.NAMES if "head-" + n != done]
    if orders.prioritised:
        names += ["plain-" + n for n in Orders.NAMES if "plain-" + n != done]
    for name in names:
        if consider(first_fit(core, orders[name], bins), f"ffd-{name}"):
            return True
    best_fit_cost = core.nitems * min(core.nbins, core.nitems)
    for name in ("max", "sum", "l2", "weighted"):
        if core.work + best_fit_cost > budget // 4:
            break
        if consider(best_fit(core, orders[name], bins), f"bfd-{name}"):
            return True
    bin_centric_cost = len(core.kinds) * min(core.nbins, core.nitems) * 4
    for score in ("dot", "norm"):
        if core.work + bin_centric_cost > budget // 2:
            break
        if consider(bin_centric(core, bins, score), f"bin-{score}"):
            return True
    return False


def hopeless(core: Core) -> bool:
    """True when the items provably cannot all be placed: more volume than all bins hold."""
    for r in range(core.dims):
        need = sum(core.size[k][r] * kind.count for k, kind in enumerate(core.kinds))
        if need > sum(f[r] for f in core.free) + EPS:
            return True
    return any(kind.count and core.eligible[k] == [] for k, kind in enumerate(core.kinds))


def _fallbacks(
    core: Core,
    orders: Orders,
    bins: list[int],
    budget: int,
    rng: random.Random,
    consider: Callable[[State, str], State],
    best: Callable[[], State],
    done: str = "max",
    again: bool = True,
) -> bool:
    """What the fast mode tries before it says that items do not fit; True when proven.

    Other orders of first fit, best fit when it is cheap, on small problems an exhaustive
    search, and a repair search when few items are left over. Returns True when no
    placement of every item exists: the volume is too large, or the exhaustive search
    finished without finding one.

    When the first fit left only a few items over, the repair runs on it first: mending
    a near miss costs a fraction of five more passes over 25,000 instances, and it is what
    places the last few of them most often. It runs again at the end only on a better
    placement that another pass found.
    """
    if hopeless(core):
        return True
    repaired: State | None = None
    if again and 0 < _rank(best())[0] <= REPAIR_MAX_POOL:
        repaired = best()
        st = repair(core, core.rebuild(repaired.where), budget, rng)
        if not _rank(consider(st, "repair"))[0]:
            return False
    if not again:  # the constructive heuristics have run already
        names = []
    else:
        names = [
            n
            for n in ("max", "sum", "weighted", "l2")
            + (("plain-max", "plain-sum") if orders.prioritised else ())
            if n != done
        ]
    for name in names:
        st = first_fit(core, orders[name], bins)
        if not _rank(consider(st, f"ffd-{name}"))[0]:
            return False
    if again and core.nitems * min(core.nbins, core.nitems) <= budget:
        for name in ("max", "sum"):
            st = best_fit(core, orders[name], bins)
            if not _rank(consider(st, f"bfd-{name}"))[0]:
                return False
    if core.exhaustive and core.nitems <= EXACT_MAX_ITEMS:
        found, proven = exhaustive(core, EXACT_NODES)
        if found is not None:
            consider(found, "exhaustive")
            return False
        if proven:
            return True
    left = best()
    if left is not repaired and _rank(left)[0] <= REPAIR_MAX_POOL:
        st = repair(core, core.rebuild(left.where), budget, rng)
        consider(st, "repair")
    return False
