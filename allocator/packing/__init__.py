"""Packing vectors into bins: the n-dimensional core of placement.

`allocator.placement.place()` runs it with three resources (cpus, mem, disk) and rules
for ports and constraints; the vector-packing benchmark runs the very same code with
3..10 dimensions and no rules. Modules: `core` (values, one packing in progress),
`orders`, `first_fit` (and the other constructive passes), `local_search`, `exact`
(exhaustive search and the CP-SAT model), `portfolio` (`pack()`, which runs them).
"""

from allocator.packing.core import Kind, Packing, Problem, Rules, Vector
from allocator.packing.exact import Exact
from allocator.packing.orders import ORDERS
from allocator.packing.portfolio import FAST_BUDGET, THOROUGH_BUDGET, pack, pack_exact

__all__ = [
    "Exact",
    "pack_exact",
    "FAST_BUDGET",
    "ORDERS",
    "THOROUGH_BUDGET",
    "Kind",
    "Packing",
    "Problem",
    "Rules",
    "Vector",
    "pack",
]
