"""Marathon's placement constraints and host ports as rules the packing core asks.

One module per family: `static` (decided by the agent alone: a mask per demand),
`rules` (counted per agent or attribute value as instances are placed: UNIQUE, MAX_PER,
GROUP_BY, CLUSTER without a value) and `ports` (host ports). Constraints arrive parsed
(`allocator.model.Constraint`).
"""

from allocator.constraints.ports import PORTS_BLOCKED, PortIndex, ports_ok
from allocator.constraints.rules import AgentRules, group_totals
from allocator.constraints.static import matches, static_reason

__all__ = [
    "PORTS_BLOCKED",
    "AgentRules",
    "PortIndex",
    "group_totals",
    "matches",
    "ports_ok",
    "static_reason",
]
