"""Host ports as a placement rule: an instance needs each of its ports inside its agent's
free ranges and not bound by another instance there, so two instances that need one port
never share an agent."""

from __future__ import annotations

from collections.abc import Sequence

from allocator.model import Agent

PORTS_BLOCKED = "its host ports are taken or outside the agent's ranges"


def ports_ok(agent: Agent, ports: Sequence[int]) -> bool:
    """Every port lies in the agent's free ranges."""
    return all(any(lo <= p <= hi for lo, hi in agent.ports) for p in ports)


class PortIndex:
    """Which agents lack a port in their free ranges, without scanning every agent per port.

    Agents mostly offer one common range with a few ports cut out; the cut-outs (gaps inside
    the hull of all ranges) are indexed port by port when small, kept in a list when large.
    """

    SMALL_GAP = 64

    def __init__(self, agents: Sequence[Agent]) -> None:
        ranges = [r for a in agents for r in a.ports]
        self.lo = min((r[0] for r in ranges), default=1)
        self.hi = max((r[1] for r in ranges), default=0)
        self.count = len(agents)
        self.small: dict[int, list[int]] = {}
        self.large: list[tuple[int, int, int]] = []
        for i, agent in enumerate(agents):
            at = self.lo
            for lo, hi in sorted(agent.ports):
                if lo > at:
                    self._gap(at, lo - 1, i)
                at = max(at, hi + 1)
            if at <= self.hi:
                self._gap(at, self.hi, i)

    def _gap(self, lo: int, hi: int, agent: int) -> None:
        if hi - lo < self.SMALL_GAP:
            for p in range(lo, hi + 1):
                self.small.setdefault(p, []).append(agent)
        else:
            self.large.append((lo, hi, agent))

    def lacking(self, port: int) -> set[int]:
        """The agents whose free ranges do not hold `port`."""
        if port < self.lo or port > self.hi:
            return set(range(self.count))
        out = set(self.small.get(port, ()))
        out.update(i for lo, hi, i in self.large if lo <= port <= hi)
        return out
