"""How many extra instances a Marathon rolling upgrade starts (upgradeStrategy)."""

from __future__ import annotations

import math


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
