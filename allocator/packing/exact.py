"""Exact searches: a placement, or the proof that there is none.

`exhaustive` is a depth-first search for small problems (the fast effort's last resort);
`cp_sat` models the whole problem for OR-Tools CP-SAT (a verdict's escalation, within a
time budget).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from allocator.constraints import AgentRules
from allocator.model import EPS
from allocator.packing.core import Core, State
from allocator.packing.orders import Orders, items_in

# The exhaustive fallback only runs on problems this small, so "does not fit" is proven.
EXACT_MAX_ITEMS = 60
EXACT_NODES = 60_000
# ... and in thorough mode, for a placement on one bin fewer, this many (it runs more often).
EXACT_FEWER_NODES = 20_000


def exhaustive(core: Core, nodes: int, max_bins: int | None = None) -> tuple[State | None, bool]:
    """Depth-first search for a placement of every item in at most `max_bins` bins.

    Returns (state, proven): proven is True when the search finished, so that None means
    no such placement exists. Items of one kind go into bins in non-decreasing order (they
    are interchangeable), and of empty bins that nothing tells apart only one is tried.
    """
    st = core.state()
    order = items_in(core, Orders(core)["max"])
    n = len(order)
    kind_of = core.kind_of
    limit = core.nbins if max_bins is None else max_bins
    # empty bins that nothing tells apart form a class; classes biggest first
    classes: dict[object, list[int]] = {}
    for b in sorted(range(core.nbins), key=lambda b: (-core.room[b], b)):
        classes.setdefault(core.signature(b), []).append(b)
    for members in classes.values():
        members.sort()
    opened: set[int] = set(core.fixed_bins)  # bins with fixed items are in use from the start
    held = st.held
    count = 0
    dims = range(core.dims)
    # what the items from the i-th on need, per dimension, against the room that the bins
    # in use have left plus as many empty bins as may still open, each as big as the biggest
    after = [[0.0] * core.dims for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        size = core.size[kind_of[order[i]]]
        after[i] = [a + s for a, s in zip(after[i + 1], size, strict=True)]
    biggest = [max((f[r] for f in core.free), default=0.0) for r in dims]
    in_use = [sum(st.res[b][r] for b in opened) for r in dims]

    def room_left(opened: int) -> list[float]:
        spare = limit - opened
        return [u + spare * g for u, g in zip(in_use, biggest, strict=True)]

    def put(x: int, b: int) -> None:
        fresh = not held[b]
        size = core.size[kind_of[x]]
        for r in dims:
            in_use[r] += (st.res[b][r] if fresh else 0.0) - size[r]
        st.put(x, b)
        opened.add(b)

    def take(x: int) -> None:
        b = st.where[x]
        size = core.size[kind_of[x]]
        st.take(x)
        last = not held[b]
        for r in dims:
            in_use[r] += size[r] - (st.res[b][r] if last else 0.0)
        if last:
            opened.discard(b)

    def go(i: int) -> bool | None:
        nonlocal count
        if i == n:
            return True
        count += 1
        if count > nodes:
            return None
        for need, room in zip(after[i], room_left(st.used), strict=True):
            if need > room + EPS:
                return False
        x = order[i]
        lo = st.where[order[i - 1]] if i and kind_of[order[i - 1]] == kind_of[x] else 0
        # bins in use first, then one empty bin of each class, biggest first
        cand = sorted(b for b in opened if b >= lo)
        if st.used < limit:
            for members in classes.values():
                for b in members:
                    if b >= lo and not held[b]:
                        cand.append(b)
                        break
        for b in cand:
            if st.can(x, b):
                put(x, b)
                got = go(i + 1)
                if got is None:
                    return None
                if got:
                    return True
                take(x)
        return False

    found = go(0)
    core.work += count
    if found:
        return st, True
    return None, found is False


# --- CP-SAT: the exact search behind a verdict ------------------------------------------------

# CP-SAT holds one integer per (kind, bin); past this many the model is not worth building
# within a verdict's budget
CP_SAT_MAX_VARIABLES = 60_000
# sizes are scaled to integers: thousandths (cpus) and MiB are exact in this unit
_SCALE = 1000


@dataclass(frozen=True)
class Exact:
    """What the exact search found: a placement (`where`, per item, as in a State), the
    proof that none exists (`infeasible`), or neither within its time ("unknown")."""

    status: str  # "found", "infeasible" or "unknown"
    where: tuple[int, ...] | None = None
    moved: int = 0  # items placed off the bins `prefer` gave them
    seconds: float = 0.0
    why: str = ""  # for "unknown": too big to model, or out of time
    # with bin costs: the cost of the bins used, the best bound the search proved on it,
    # and whether it proved the cost the least (in the units of `costs`)
    cost: int = 0
    cost_bound: int = 0
    optimal: bool = False


def _scaled(value: float, up: bool) -> int:
    """An integer in thousandths; when the value is not one, rounded so that the model is a
    relaxation (sizes down, room up): its "infeasible" proves the real problem infeasible,
    and what it finds is checked for real before it is used."""
    x = value * _SCALE
    n = round(x)
    if abs(x - n) <= 1e-6:
        return n
    return math.ceil(x) if up else math.floor(x)


def cp_sat(
    core: Core,
    rules: AgentRules | None,
    seconds: float,
    *,
    prefer: Sequence[Sequence[int]] = (),
    hint: Sequence[int] | None = None,
    workers: int = 2,
    costs: Sequence[int] = (),
    chains: Sequence[Sequence[int]] = (),
) -> Exact:
    """Search for a placement of every item with OR-Tools CP-SAT, within `seconds`.

    The model counts items per (kind, bin): resources per bin after headroom (a bin holding
    an item of headroom h keeps h of its total free), host ports (one item per port and
    bin, only where the bin's ranges hold it), static constraints, counted constraints
    (UNIQUE, MAX_PER, GROUP_BY: at most `limit` per value of the field) and CLUSTER
    without a value (one value for all). Fixed items stay in their bins. `prefer` (per
    kind, one bin per item, e.g. where its tasks run now) makes the search keep as many
    items there as it can: the number moved is minimised. `hint` (a `where`) seeds it.
    A placement found is checked item by item against the real sizes and rules.

    `costs` (per bin, integers; 0 for a bin that is there anyway) turn it into variable-
    sized bin packing with costs: the bins with a cost are bought only if used, and the
    cost of those used is minimised (a plan's cheapest mix of machines). `chains` list
    bins that are bought in their order (the first k agents of a shape), which also
    keeps the search from trying every permutation of identical bins.
    """
    start = time.perf_counter()
    kinds = core.kinds
    nk = len(kinds)
    fixed: list[dict[int, int]] = [{} for _ in range(nk)]
    for x, b in core.fixed.items():
        k = core.kind_of[x]
        fixed[k][b] = fixed[k].get(b, 0) + 1
    allowed: list[list[int]] = []
    for k in range(nk):
        if not kinds[k].count:
            allowed.append([])
        elif rules is None:
            allowed.append(list(range(core.nbins)))
        else:
            allowed.append([b for b in range(core.nbins) if rules.static_ok(k, b) or b in fixed[k]])
    if sum(len(a) for a in allowed) > CP_SAT_MAX_VARIABLES:
        return Exact("unknown", seconds=time.perf_counter() - start, why="too big to model")
    from ortools.sat.python import cp_model  # a few hundred ms to import: only when needed

    model = cp_model.CpModel()
    n: dict[tuple[int, int], Any] = {}
    by_bin: dict[int, list[int]] = {}
    for k, kind in enumerate(kinds):
        for b in allowed[k]:
            n[k, b] = model.new_int_var(fixed[k].get(b, 0), kind.count, f"n{k}_{b}")
            by_bin.setdefault(b, []).append(k)
        if kind.count:
            model.add(sum(n[k, b] for b in allowed[k]) == kind.count)
    size = [[_scaled(s, up=False) for s in core.size[k]] for k in range(nk)]
    levels = sorted({h for h in core.head if h > 0})
    # the items that stay in each bin (fixed ones, or with `prefer` the tasks that run
    # there now): headroom never moves them, but a bin they fill past its headroom takes
    # nothing new (as State.fits has it) unless enough of them leave for its headroom to
    # hold again
    stay: dict[tuple[int, int], int] = {}
    for x, b in core.fixed.items():
        key = (core.kind_of[x], b)
        stay[key] = stay.get(key, 0) + 1
    if not core.fixed:
        for k, bins_of in enumerate(prefer[:nk]):
            for b in bins_of[: kinds[k].count]:
                stay[k, b] = stay.get((k, b), 0) + 1
    closed = _past_headroom(core, stay)
    for b, ks in by_bin.items():
        loads = [sum(n[k, b] * size[k][r] for k in ks) for r in range(core.dims)]
        for r in range(core.dims):
            model.add(loads[r] <= _scaled(core.free[b][r], up=True))
        newcomer = None
        if b in closed:
            # no newcomer: only its own stay (past headroom); a newcomer: headroom again
            newcomer = model.new_bool_var(f"new{b}")
            for k in ks:
                model.add(n[k, b] <= stay.get((k, b), 0)).only_enforce_if(newcomer.Not())
        for h in levels:
            heavy = [k for k in ks if core.head[k] >= h]
            if not heavy:
                continue
            holds = model.new_bool_var(f"h{b}_{h}")
            for k in heavy:
                model.add(n[k, b] <= kinds[k].count * holds)
            when = [holds] if newcomer is None else [holds, newcomer]
            for r in range(core.dims):
                room = core.free[b][r] - h * core.total[b][r]
                model.add(loads[r] <= _scaled(room, up=True)).only_enforce_if(when)
    if rules is not None:
        _rules(model, n, by_bin, nk, rules)
    moved: list[Any] = []
    for k, bins_of in enumerate(prefer[:nk]):
        want: dict[int, int] = {}
        for b in bins_of[: kinds[k].count]:
            want[b] = want.get(b, 0) + 1
        for b, w in want.items():
            gone = model.new_int_var(0, w, f"m{k}_{b}")
            if (k, b) in n:
                model.add(gone >= w - n[k, b])
            else:
                model.add(gone == w)
            moved.append(gone)
    if moved:
        model.minimize(sum(moved))
    bought: dict[int, Any] = {}
    for b, price in enumerate(costs[: core.nbins]):
        if price > 0 and b in by_bin:
            bought[b] = model.new_bool_var(f"buy{b}")
            for k in by_bin[b]:
                model.add(n[k, b] <= kinds[k].count * bought[b])
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            if a in bought and b in bought:
                model.add(bought[a] >= bought[b])
    if bought and not moved:
        model.minimize(sum(costs[b] * v for b, v in bought.items()))
    if hint is not None:
        counts: dict[tuple[int, int], int] = {}
        for x, b in enumerate(hint):
            if b >= 0:
                key = (core.kind_of[x], b)
                counts[key] = counts.get(key, 0) + 1
        for key, v in n.items():
            model.add_hint(v, counts.get(key, 0))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, seconds - (time.perf_counter() - start))
    solver.parameters.num_workers = max(1, workers)
    solver.parameters.random_seed = 1
    status = solver.solve(model)
    spent = time.perf_counter() - start
    if status == cp_model.INFEASIBLE:
        return Exact("infeasible", seconds=spent)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Exact("unknown", seconds=spent, why="out of time")
    counts = {key: solver.value(v) for key, v in n.items()}
    where = _items(core, counts, prefer)
    if not _valid(core, where, prefer):
        return Exact("unknown", seconds=spent, why="rounding")
    gone = round(solver.objective_value) if moved else 0
    if bought and not moved:
        return Exact(
            "found",
            where=where,
            seconds=spent,
            cost=round(solver.objective_value),
            cost_bound=math.ceil(solver.best_objective_bound - 1e-6),
            optimal=status == cp_model.OPTIMAL,
        )
    return Exact("found", where=where, moved=gone, seconds=spent)


def _past_headroom(core: Core, stay: Mapping[tuple[int, int], int]) -> set[int]:
    """The bins whose staying items already take more than the headroom they ask leaves."""
    load = [[0.0] * core.dims for _ in range(core.nbins)]
    head = [0.0] * core.nbins
    for (k, b), count in stay.items():
        for r, v in enumerate(core.size[k]):
            load[b][r] += v * count
        head[b] = max(head[b], core.head[k])
    return {
        b
        for b in range(core.nbins)
        if head[b] > 0
        and any(
            load[b][r] > core.free[b][r] - head[b] * core.total[b][r] + EPS
            for r in range(core.dims)
        )
    }


def _rules(
    model: Any,
    n: Mapping[tuple[int, int], Any],
    by_bin: Mapping[int, list[int]],
    nk: int,
    rules: AgentRules,
) -> None:
    """Host ports, counted constraints and CLUSTER, as linear constraints on the counts."""
    kinds_of_port: dict[int, set[int]] = {}
    for k in range(nk):
        for p in rules.ports(k):
            kinds_of_port.setdefault(p, set()).add(k)
    for ks in kinds_of_port.values():
        for b, here in by_bin.items():
            vs = [n[k, b] for k in here if k in ks]
            if vs:
                model.add(sum(vs) <= 1)
    # per counter key: the field, the smallest limit of its kinds, and the kinds
    limits: dict[tuple[str, str, str], tuple[str, int, set[int]]] = {}
    clusters: dict[tuple[str, str, str], tuple[str, set[int]]] = {}
    for k in range(nk):
        for key, field_name, limit in rules.counted(k):
            got = limits.get(key)
            if got is None:
                limits[key] = (field_name, limit, {k})
            else:
                limits[key] = (field_name, min(limit, got[1]), got[2] | {k})
        for key, field_name in rules.clustered(k):
            clusters.setdefault(key, (field_name, set()))[1].add(k)
    for field_name, limit, ks in limits.values():
        per_value: dict[str, list[Any]] = {}
        for (k, b), v in n.items():
            value = rules.value(field_name, b)
            if k in ks and value is not None:
                per_value.setdefault(value, []).append(v)
        for vs in per_value.values():
            model.add(sum(vs) <= limit)
    for key, (field_name, ks) in clusters.items():
        values = sorted({rules.value(field_name, b) for (k, b) in n if k in ks} - {None}, key=str)
        pick = {v: model.new_bool_var(f"c{key}{v}") for v in values}
        if pick:
            model.add_exactly_one(pick.values())
        for (k, b), v in n.items():
            if k not in ks:
                continue
            value = rules.value(field_name, b)
            if value is None:
                model.add(v == 0)
            else:
                model.add(v == 0).only_enforce_if(pick[value].Not())


def _items(
    core: Core, counts: Mapping[tuple[int, int], int], prefer: Sequence[Sequence[int]]
) -> tuple[int, ...]:
    """Each item's bin from the counts per (kind, bin): fixed items in theirs, then items
    in the bins `prefer` gives them while the counts allow, then the rest in turn."""
    where = [-1] * core.nitems
    left = dict(counts)
    for x, b in core.fixed.items():
        where[x] = b
        left[core.kind_of[x], b] -= 1
    for k in range(len(core.kinds)):
        items = [x for x in range(core.first[k], core.first[k + 1]) if where[x] < 0]
        wanted = list(prefer[k]) if k < len(prefer) else []
        rest = []
        for x in items:
            j = x - core.first[k]
            b = wanted[j] if j < len(wanted) else -1
            if b >= 0 and left.get((k, b), 0) > 0:
                where[x] = b
                left[k, b] -= 1
            else:
                rest.append(x)
        spare = [b for (kk, b), c in sorted(left.items()) if kk == k for _ in range(c)]
        for x, b in zip(rest, spare, strict=False):
            where[x] = b
    return tuple(where)


def _valid(core: Core, where: Sequence[int], prefer: Sequence[Sequence[int]]) -> bool:
    """Whether every item can go where `where` says, put one by one for real: those that
    stay where `prefer` has them first (headroom does not move them), then the others."""
    st = core.state()
    staying, moving = [], []
    for x, b in enumerate(where):
        if x in core.fixed:
            continue
        k = core.kind_of[x]
        j = x - core.first[k]
        wanted = prefer[k] if k < len(prefer) else ()
        (staying if j < len(wanted) and wanted[j] == b else moving).append((x, b))
    for x, b in staying:
        if not st.can_stay(x, b):
            return False
        st.put(x, b)
    for x, b in moving:
        if b < 0 or not st.can(x, b):
            return False
        st.put(x, b)
    return True
