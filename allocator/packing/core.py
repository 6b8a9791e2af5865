"""The packing core's values and state: bins, kinds of items, rules, one packing in progress.

Bins may differ in size. Budgets are counted in units of work (candidate checks), not
seconds, so that the same input always yields the same output on any machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from allocator.model import EPS

Vector = tuple[float, ...]


@dataclass(frozen=True)
class Kind:
    """`count` identical items of one size.

    headroom: the share of its total size that a bin holding such an item keeps free,
    in every dimension. priority: kinds with a higher one are placed first (they have
    fewer places to go: constraints, ports).
    """

    size: Vector
    count: int
    headroom: float = 0.0
    priority: int = 0


@dataclass(frozen=True)
class Problem:
    """Bins (what each has free, and its whole size that headroom is a share of) and items."""

    free: Sequence[Vector]
    kinds: Sequence[Kind]
    total: Sequence[Vector] | None = None  # defaults to `free`
    # per kind, the bins of its first items, which stay there (tasks that run: Marathon
    # never moves them); placed before anything else, never taken out
    fixed: Sequence[Sequence[int]] = ()


class Rules(Protocol):
    """What besides size decides whether an item may go into a bin (ports, constraints).

    A Rules object holds the state of one packing in progress; `fresh()` gives an empty one.
    """

    def fresh(self) -> Rules: ...

    def eligible(self, kind: int) -> Sequence[int] | None:
        """The bins that static rules allow for `kind`, in bin order; None: all bins."""
        ...

    def allows(self, kind: int, b: int) -> bool: ...

    def add(self, kind: int, b: int) -> None: ...

    def remove(self, kind: int, b: int) -> None: ...

    def signature(self, b: int) -> object:
        """Equal for two bins that the rules treat alike while both are empty."""
        ...

    def static_ok(self, kind: int, b: int) -> bool:
        """Whether anything at all lets `kind` into bin b (what allows() says when b is empty
        and nothing related is placed)."""
        ...

    def related(self, kind: int, other: int) -> bool:
        """Whether taking an item of `other` out of a bin can make room, by the rules, for
        one of `kind` (one constraint group, a shared port)."""
        ...


@dataclass(frozen=True)
class Packing:
    """Where every item went: `where[item]` is a bin index, or -1 when it has none."""

    where: tuple[int, ...]
    kind_of: tuple[int, ...]
    bins_used: int
    lower_bound: int
    strategy: str = ""
    # the verdict is certain: every item placed, or no placement of every item exists
    proven: bool = False
    # the bins that each kind's items went to, in item order (-1: not placed)
    by_kind: tuple[tuple[int, ...], ...] = field(default=())

    @property
    def unplaced(self) -> int:
        return sum(1 for b in self.where if b < 0)


class State:
    """The bins' remaining room, what each holds, and the rules' state, kept in step."""

    def __init__(self, core: Core, rules: Rules | None) -> None:
        self.core = core
        self.res: list[list[float]] = [list(f) for f in core.free]
        self.hmax = [0.0] * core.nbins
        self.keep: list[Vector] = [core.zero] * core.nbins  # hmax × total, per bin
        self.held: list[list[int]] = [[] for _ in range(core.nbins)]
        self.where = [-1] * core.nitems
        self.rules = rules.fresh() if rules is not None else None
        self.used = 0

    def fits(self, x: int, b: int) -> bool:
        """Room for item x in bin b, the headroom of every item there (and x's) kept free."""
        core = self.core
        k = core.kind_of[x]
        h = core.head[k]
        keep = self.keep[b] if h <= self.hmax[b] else core.reserve(h, b)
        for r, s, kp in zip(self.res[b], core.size[k], keep, strict=True):
            if r - s < kp - EPS:
                return False
        return True

    def can(self, x: int, b: int) -> bool:
        if not self.fits(x, b):
            return False
        rules = self.rules
        return rules is None or rules.allows(self.core.kind_of[x], b)

    def can_stay(self, x: int, b: int) -> bool:
        """Whether item x, which is in bin b already (a task that runs), may stay there:
        room and rules, but not headroom, which is kept for what is placed anew (an agent
        whose tasks already eat into it takes nothing more, see `fits`)."""
        k = self.core.kind_of[x]
        for r, s in zip(self.res[b], self.core.size[k], strict=True):
            if r - s < -EPS:
                return False
        rules = self.rules
        return rules is None or rules.allows(k, b)

    def put(self, x: int, b: int) -> None:
        core = self.core
        k = core.kind_of[x]
        res = self.res[b]
        for r, s in enumerate(core.size[k]):
            res[r] -= s
        held = self.held[b]
        if not held:
            self.used += 1
        held.append(x)
        h = core.head[k]
        if h > self.hmax[b]:
            self.hmax[b] = h
            self.keep[b] = core.reserve(h, b)
        self.where[x] = b
        if self.rules is not None:
            self.rules.add(k, b)

    def take(self, x: int) -> int:
        """Take item x out of its bin; returns the bin."""
        core = self.core
        b = self.where[x]
        k = core.kind_of[x]
        res = self.res[b]
        for r, s in enumerate(core.size[k]):
            res[r] += s
        held = self.held[b]
        held.remove(x)
        if not held:
            self.used -= 1
        if core.head[k] and core.head[k] >= self.hmax[b]:
            h = max((core.head[core.kind_of[y]] for y in held), default=0.0)
            self.hmax[b] = h
            self.keep[b] = core.reserve(h, b) if h else core.zero
        self.where[x] = -1
        if self.rules is not None:
            self.rules.remove(k, b)
        return b

    def unplaced(self) -> list[int]:
        return [x for x, b in enumerate(self.where) if b < 0]

    def grow(self) -> None:
        """Room in `where` for the items of kinds added to the core since."""
        self.where.extend([-1] * (self.core.nitems - len(self.where)))

    def shrink(self) -> None:
        """Forget the items of kinds the core dropped (they hold no bin)."""
        del self.where[self.core.nitems :]


class Core:
    """The problem flattened for speed: one entry per item, sizes shared per kind."""

    def __init__(self, problem: Problem, rules: Rules | None) -> None:
        self.free: list[Vector] = [tuple(float(v) for v in f) for f in problem.free]
        total = problem.total if problem.total is not None else problem.free
        self.total: list[Vector] = [tuple(float(v) for v in t) for t in total]
        self.kinds: list[Kind] = list(problem.kinds)
        self.nbins = len(self.free)
        if self.kinds:
            self.dims = len(self.kinds[0].size)
        else:
            self.dims = len(self.free[0]) if self.free else 0
        self.zero: Vector = (0.0,) * self.dims
        self.size: list[Vector] = [tuple(float(v) for v in k.size) for k in self.kinds]
        self.head = [k.headroom for k in self.kinds]
        self.kind_of: list[int] = []
        for i, k in enumerate(self.kinds):
            self.kind_of.extend([i] * k.count)
        self.nitems = len(self.kind_of)
        self.first = [0] * (len(self.kinds) + 1)  # item ids of kind k: first[k]..first[k+1]-1
        for i, k in enumerate(self.kinds):
            self.first[i + 1] = self.first[i] + k.count
        # item → the bin it is fixed to, for items that may not move
        self.fixed: dict[int, int] = {}
        for k, bins in enumerate(problem.fixed):
            for j, b in enumerate(bins[: self.kinds[k].count]):
                self.fixed[self.first[k] + j] = b
        # per kind, how many of its first items are fixed
        self.nfixed = [
            min(len(problem.fixed[k]), kind.count) if k < len(problem.fixed) else 0
            for k, kind in enumerate(self.kinds)
        ]
        self.fixed_bins = frozenset(self.fixed.values())
        self.rules = rules
        # sizes in shares of the largest bin, per dimension
        scale = [max((f[r] for f in self.free), default=0.0) for r in range(self.dims)]
        self.scale = [s if s > 0 else 1.0 for s in scale]
        self.unit: list[Vector] = [
            tuple(s / c for s, c in zip(size, self.scale, strict=True)) for size in self.size
        ]
        # each bin's room in the same shares, summed over dimensions
        self.room = [
            max(EPS, sum(f / c for f, c in zip(free, self.scale, strict=True)))
            for free in self.free
        ]
        kind_weight = [sum(u) for u in self.unit]
        self.weight = [kind_weight[k] for k in self.kind_of]  # per item
        self._reserve: dict[tuple[float, int], Vector] = {}
        self.eligible: list[Sequence[int] | None] = [
            rules.eligible(k) if rules is not None else None for k in range(len(self.kinds))
        ]
        self.work = 0  # units of work spent, for budgets
        self.exhaustive = True  # small problems may be searched depth-first

    def add_kind(self, kind: Kind, eligible: Sequence[int] | None) -> int:
        """One more kind of items, numbered after every item so far; returns its index.

        For a standing placement that changes a demand at a time: scales and orders stay
        those of the problem it was made from."""
        k = len(self.kinds)
        size = tuple(float(v) for v in kind.size)
        if not self.dims:  # made with neither bins nor kinds: the first kind says
            self.dims = len(size)
            self.zero = (0.0,) * self.dims
            self.scale = [1.0] * self.dims
        self.kinds.append(kind)
        self.size.append(size)
        self.head.append(kind.headroom)
        self.kind_of.extend([k] * kind.count)
        self.nitems += kind.count
        self.first.append(self.nitems)
        self.nfixed.append(0)
        unit = tuple(s / c for s, c in zip(size, self.scale, strict=True))
        self.unit.append(unit)
        self.weight.extend([sum(unit)] * kind.count)
        self.eligible.append(eligible)
        return k

    def truncate_kinds(self, n: int) -> None:
        """Drop the kinds from index n on (undoes `add_kind`; their items hold no bin)."""
        if n >= len(self.kinds):
            return
        start = self.first[n]
        for x in range(start, self.nitems):
            self.fixed.pop(x, None)
        del self.kinds[n:], self.size[n:], self.head[n:], self.nfixed[n:]
        del self.unit[n:], self.eligible[n:], self.first[n + 1 :]
        del self.kind_of[start:], self.weight[start:]
        self.nitems = start

    def signature(self, b: int) -> object:
        """What tells bin b apart from others while it is empty: size and what rules see."""
        rules = self.rules
        told = rules.signature(b) if rules is not None else None
        return (self.free[b], self.total[b], told)

    def reserve(self, h: float, b: int) -> Vector:
        key = (h, b)
        got = self._reserve.get(key)
        if got is None:
            got = tuple(h * t for t in self.total[b])
            self._reserve[key] = got
        return got

    def state(self) -> State:
        """An empty packing, but for the fixed items."""
        st = State(self, self.rules)
        for x, b in self.fixed.items():
            st.put(x, b)
        return st

    def movable(self, x: int) -> bool:
        return x not in self.fixed

    def rebuild(self, where: Sequence[int]) -> State:
        st = self.state()
        for x, b in enumerate(where):
            if b >= 0 and x not in self.fixed:
                st.put(x, b)
        return st
