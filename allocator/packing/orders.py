"""Orders of items (biggest first, by several measures of "big") and of bins."""

from __future__ import annotations

import math
from collections.abc import Sequence

from allocator.packing.core import Core


class Orders:
    """Orders of kinds, biggest first by several measures of "big", computed when first asked.

    Kinds of higher priority come first, then those with more headroom, except in the
    "plain-" orders (size alone) and the "head-" ones (headroom before priority); ties go by
    index.
    """

    NAMES = ("max", "sum", "l2", "weighted", "product", "maxsum")

    def __init__(self, core: Core) -> None:
        self.core = core
        self.cache: dict[str, list[int]] = {}
        self.prioritised = any(k.priority != core.kinds[0].priority for k in core.kinds)
        self.headroom = any(h != core.head[0] for h in core.head)

    def __getitem__(self, name: str) -> list[int]:
        got = self.cache.get(name)
        if got is None:
            got = self.cache[name] = self._order(name)
        return got

    def _order(self, name: str) -> list[int]:
        core = self.core
        unit = core.unit
        plain = name.startswith("plain-")
        headfirst = name.startswith("head-")
        name = name.removeprefix("plain-").removeprefix("head-")
        if name == "max":
            measure = [max(u, default=0.0) for u in unit]
        elif name == "sum":
            measure = [sum(u) for u in unit]
        elif name == "l2":
            measure = [sum(v * v for v in u) for u in unit]
        elif name == "weighted":
            # weights: what all items together ask of each dimension (Panigrahy et al.)
            demand = [0.0] * core.dims
            for k, kind in enumerate(core.kinds):
                for r, v in enumerate(unit[k]):
                    demand[r] += v * kind.count
            top = max(demand, default=0.0) or 1.0
            w = [d / top for d in demand]
            measure = [sum(a * b for a, b in zip(w, u, strict=True)) for u in unit]
        elif name == "product":
            measure = [math.prod(v + 0.01 for v in u) for u in unit]
        elif name == "maxsum":
            measure = [max(u, default=0.0) + sum(u) / max(core.dims, 1) for u in unit]
        else:
            raise KeyError(name)
        kinds = core.kinds
        head = core.head
        if plain:
            return sorted(range(len(unit)), key=lambda k: (-measure[k], k))
        if headfirst:
            return sorted(
                range(len(unit)), key=lambda k: (-head[k], -kinds[k].priority, -measure[k], k)
            )
        # more headroom first within a priority: first fit then gathers such items on the
        # first bins, and only those bins keep the headroom free
        return sorted(
            range(len(unit)), key=lambda k: (-kinds[k].priority, -head[k], -measure[k], k)
        )


# every order first fit may go by: the measures alone, headroom first, priority ignored
ORDERS = (
    Orders.NAMES
    + tuple(f"head-{n}" for n in Orders.NAMES)
    + tuple(f"plain-{n}" for n in Orders.NAMES)
)


def items_in(core: Core, kinds: Sequence[int]) -> list[int]:
    """Ids of the items of the kinds that may move, kind after kind (the fixed ones are
    each kind's first, and in their bins from the start)."""
    first, nfixed = core.first, core.nfixed
    out: list[int] = []
    for k in kinds:
        out.extend(range(first[k] + nfixed[k], first[k + 1]))
    return out


def bin_order(core: Core) -> list[int]:
    """Bins biggest first (fewer bins for the same items), ties by index."""
    unit = [sum(f / s for f, s in zip(free, core.scale, strict=True)) for free in core.free]
    return sorted(range(core.nbins), key=lambda b: (-unit[b], b))
