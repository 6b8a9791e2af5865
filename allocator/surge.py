"""How many extra instances a Marathon rolling upgrade starts (upgradeStrategy)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

from allocator.model import Agent, Demand


def surge_instances(
    instances: int, minimum_health_capacity: float, maximum_over_capacity: float
) -> int:
    """Extra instances at the peak of a deploy of `instances`.

    Marathon runs up to floor(n × (1 + maximumOverCapacity)) instances, and one more when
    that equals ceil(n × minimumHealthCapacity): it must start a new one before it may stop
    an old one. Its defaults (1 and 1) double an app for the length of the deploy.
    """
    if instances <= 0:
        return 0
    peak = math.floor(instances * (1 + maximum_over_capacity) + 1e-9)
    if peak == math.ceil(instances * minimum_health_capacity - 1e-9):
        peak += 1
    return max(0, peak - instances)


def mean_agent(agents: Sequence[Agent]) -> tuple[float, float, float]:
    """The average agent's size, that deploys' costs are measured in."""
    if not agents:
        return (1.0, 1.0, 1.0)
    n = len(agents)
    return (
        sum(a.cpus for a in agents) / n or 1.0,
        sum(a.mem for a in agents) / n or 1.0,
        sum(a.disk for a in agents) / n or 1.0,
    )


def surge_rank(demand: Demand, extra: int, mean: tuple[float, float, float]) -> tuple[float, str]:
    """Sort key of a deploy's surge, most expensive first: its extra instances times the
    largest share of the average agent that one instance takes."""
    share = max(s / m for s, m in zip(demand.size, mean, strict=True))
    return (-extra * share, demand.key)


def surge_demand(demand: Demand, extra: int) -> Demand:
    """The extra instances of a deploy of `demand`, counted with it under its constraints."""
    return replace(
        demand,
        key=f"surge:{demand.key}",
        count=extra,
        group=demand.constraint_group,
        label=f"{demand.name} during a deploy",
    )


def largest_surges(
    deploys: Iterable[tuple[Demand, int]], mean: tuple[float, float, float], n: int
) -> list[Demand]:
    """The surge of the n most expensive deploys (demand, extra instances) running at once."""
    ranked = heapq.nsmallest(
        max(0, n),
        ((surge_rank(d, extra, mean), d, extra) for d, extra in deploys if extra > 0),
        key=lambda r: r[0],
    )
    return [surge_demand(d, extra) for _, d, extra in ranked]
