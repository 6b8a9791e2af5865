"""Right-sizing: what one instance of an allocation should ask for, from the usage observed.
Pure: the ledger gathers the figures (ledger/usage.py), this decides.

The method follows the Kubernetes VPA recommender:

- CPU: the `cpu_percentile` (p90) of per-instance usage over the window, × (1 + margin);
- memory: the peak per-instance resident memory, × (1 + margin);
- never below the floors (0.025 cpus, 250 MiB);
- for Java services, never below what the heap berth renders needs. marathon/render.py
  gives the JVM `-Xmx = share × mem` (share 0.75 unless the environment says otherwise). The
  heap a service fills is at most its peak RSS less the JVM's own non-heap memory
  (`jvm_overhead_mib`: metaspace, code cache, threads), so memory must be at least
  (peak − overhead) / share: a smaller mem would render a smaller -Xmx than the heap in use
  and the JVM would die of OutOfMemoryError. An override's own fixed `-Xmx` does not follow
  mem: then memory must hold that heap plus the overhead;
- a confidence that grows with the hours observed: none (and no recommendation) below
  `min_hours`, then sqrt(hours / full_confidence_hours) up to 1 (1 h → 0.2, 6 h → 0.5,
  24 h → 1 with the defaults).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from allocator.usage import weighted_percentile

MIN_HEAP_MIB = 16  # marathon/render.py never renders a smaller -Xmx


@dataclass(frozen=True)
class RightSizingSettings:
    margin: float = 0.15
    cpu_percentile: float = 0.90
    cpu_floor: float = 0.025
    mem_floor_mib: float = 250.0
    min_hours: float = 1.0  # no recommendation on less (a service seen for 20 min gets none)
    full_confidence_hours: float = 24.0
    jvm_overhead_mib: float = 128.0  # the JVM's non-heap memory


@dataclass(frozen=True)
class JavaHeap:
    """How berth renders a Java service's heap (marathon/render.py)."""

    share: float = 0.75  # -Xmx = share × mem
    fixed_xmx_mib: float | None = None  # an -Xmx the overrides or defaults set themselves


@dataclass(frozen=True)
class ObservedUsage:
    """What was measured of one allocation, per instance."""

    cpu_samples: Sequence[tuple[float, float]]  # (cpus of one instance, weight)
    mem_peak_mib: float | None  # the highest resident memory of one instance
    hours_observed: float


@dataclass(frozen=True)
class Recommendation:
    cpus: float
    mem_mib: int
    cpu_percentile_value: float  # the observed p90 before margin and floors
    mem_peak_mib: float
    confidence: float
    hours_observed: float
    cpu_bound_by: str  # "usage" or "floor"
    mem_bound_by: str  # "usage", "floor" or "jvm_heap"


def confidence(hours: float, settings: RightSizingSettings = RightSizingSettings()) -> float:
    """0 below min_hours; then sqrt(hours / full_confidence_hours), at most 1."""
    if hours < settings.min_hours or settings.full_confidence_hours <= 0:
        return 0.0
    return round(min(1.0, math.sqrt(hours / settings.full_confidence_hours)), 3)


def jvm_floor_mib(peak_mib: float, java: JavaHeap, settings: RightSizingSettings) -> float:
    """The least mem whose rendered heap still holds what the JVM may have in use."""
    if java.fixed_xmx_mib is not None:
        return java.fixed_xmx_mib + settings.jvm_overhead_mib
    share = min(max(java.share, 0.05), 1.0)
    heap_in_use = max(float(MIN_HEAP_MIB), peak_mib - settings.jvm_overhead_mib)
    return heap_in_use / share


def recommend(
    usage: ObservedUsage,
    settings: RightSizingSettings = RightSizingSettings(),
    java: JavaHeap | None = None,
) -> Recommendation | None:
    """One instance's cpus and mem (MiB), or None without enough data: fewer hours than
    `min_hours`, no CPU rate or no memory figure at all."""
    conf = confidence(usage.hours_observed, settings)
    if conf <= 0 or not usage.cpu_samples or usage.mem_peak_mib is None:
        return None
    p = weighted_percentile(usage.cpu_samples, settings.cpu_percentile)
    cpus = p * (1 + settings.margin)
    cpu_bound = "usage"
    if cpus < settings.cpu_floor:
        cpus, cpu_bound = settings.cpu_floor, "floor"
    mem = usage.mem_peak_mib * (1 + settings.margin)
    mem_bound = "usage"
    if mem < settings.mem_floor_mib:
        mem, mem_bound = settings.mem_floor_mib, "floor"
    if java is not None:
        heap_floor = jvm_floor_mib(usage.mem_peak_mib, java, settings)
        if heap_floor > mem:
            mem, mem_bound = heap_floor, "jvm_heap"
    return Recommendation(
        cpus=math.ceil(cpus * 1000 - 1e-9) / 1000,
        mem_mib=math.ceil(mem - 1e-9),
        cpu_percentile_value=round(p, 4),
        mem_peak_mib=round(usage.mem_peak_mib, 1),
        confidence=conf,
        hours_observed=round(usage.hours_observed, 2),
        cpu_bound_by=cpu_bound,
        mem_bound_by=mem_bound,
    )
