"""Constraints decided by the agent alone: IS, LIKE, UNLIKE, CLUSTER with a value, and a
counted operator on a field the agent lacks. Worked out once per demand, as a mask."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from allocator.model import Agent, Constraint


@lru_cache(maxsize=1024)
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:
        return None


def matches(pattern: str, value: str) -> bool:
    """Marathon's LIKE: the whole value matches the regular expression."""
    compiled = _pattern(pattern)
    return compiled is not None and compiled.fullmatch(value) is not None


def static_reason(agent: Agent, c: Constraint) -> str | None:
    """Why the agent can never take an instance under this constraint; None if it may."""
    value = agent.attribute(c.field)
    op, arg = c.operator, c.value
    if op == "IS":
        return None if value == arg else f"IS {c.field} {arg}"
    if op == "LIKE":
        ok = value is not None and matches(arg or "", value)
        return None if ok else f"LIKE {c.field} {arg}"
    if op == "UNLIKE":
        ok = value is None or not matches(arg or "", value)
        return None if ok else f"UNLIKE {c.field} {arg}"
    if op == "CLUSTER" and arg:
        return None if value == arg else f"CLUSTER {c.field} {arg}"
    if value is None:
        return f"{op} {c.field}" + (f" {arg}" if arg and op == "MAX_PER" else "")
    if op == "MAX_PER" and c.limit < 1:
        return f"MAX_PER {c.field} {arg}"
    return None


def allowed_agents(agents: Sequence[Agent], constraints: Sequence[Constraint]) -> list[int]:
    """The agents (by index) that every static part of the constraints lets in."""
    return [
        i
        for i, agent in enumerate(agents)
        if all(static_reason(agent, c) is None for c in constraints)
    ]


def barred_agents(agents: Sequence[Agent], constraints: Sequence[Constraint]) -> set[int]:
    """The agents (by index) that some static part of the constraints keeps out."""
    return {
        i
        for i, agent in enumerate(agents)
        if any(static_reason(agent, c) is not None for c in constraints)
    }
