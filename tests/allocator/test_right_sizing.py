"""Rates from the agents' counters and the right-sizing recommendation: pure functions."""

from __future__ import annotations

import pytest

from allocator.right_sizing import (
    JavaHeap,
    ObservedUsage,
    RightSizingSettings,
    confidence,
    recommend,
)
from allocator.usage import (
    ExecutorReading,
    InstanceSample,
    MinutePoint,
    cpu_rate,
    hour_aggregate,
    minute_point,
    weighted_percentile,
)


def reading(task: str, ts: float, cpu: float, rss: int = 100, limit: float | None = 1.1):
    return ExecutorReading("a1", task, ts, cpu, rss, limit)


def test_rate_is_the_counter_delta_over_the_timestamp_delta() -> None:
    assert cpu_rate(reading("t", 1000, 10), reading("t", 1060, 40)) == pytest.approx(0.5)


def test_no_rate_for_a_first_reading_a_restart_a_huge_jump_or_a_tiny_interval() -> None:
    assert cpu_rate(None, reading("t", 1060, 40)) is None
    assert cpu_rate(reading("t", 1000, 500), reading("t", 1060, 3)) is None  # went backwards
    assert cpu_rate(reading("t", 1000, 10), reading("t", 1060, 10_000)) is None  # > limit
    assert cpu_rate(reading("t", 1000, 10), reading("t", 1000.2, 10.1)) is None
    assert cpu_rate(reading("t", 1000, 10), reading("u", 1060, 40)) is None  # another task


def test_a_minute_point_is_per_instance_and_leaves_missing_rates_out() -> None:
    p = minute_point(
        [
            InstanceSample("t1", 0.5, 300),
            InstanceSample("t2", None, 500),  # restarted: memory, no rate
            InstanceSample("t3", 0.3, 100),
        ]
    )
    assert p is not None
    assert (p.instances, p.cpu_instances) == (3, 2)
    assert p.cpu_mean == pytest.approx(0.4) and p.cpu_max == 0.5
    assert p.mem_max_bytes == 500 and p.mem_mean_bytes == pytest.approx(300)
    assert minute_point([]) is None
    merged = p.merged(MinutePoint(1, 1, 1.0, 1.0, 900, 900))
    assert merged.cpu_instances == 3 and merged.cpu_mean == pytest.approx(0.6)
    assert merged.mem_max_bytes == 900


def test_hour_aggregate_quantiles_are_weighted_by_instances() -> None:
    points = [MinutePoint(2, 2, 0.1, 0.2, 100, 120)] * 9 + [MinutePoint(2, 2, 1.0, 1.2, 100, 400)]
    agg = hour_aggregate(points)
    assert agg is not None
    assert agg.cpu_p50 == 0.1 and agg.cpu_p90 == 0.1 and agg.cpu_p99 == 1.0
    assert agg.cpu_max == 1.2 and agg.mem_max_bytes == 400 and agg.samples == 20
    assert weighted_percentile([(1.0, 1), (2.0, 1), (3.0, 2)], 0.5) == 2.0


def usage(cpus: list[float], peak: float | None, hours: float) -> ObservedUsage:
    return ObservedUsage([(c, 1.0) for c in cpus], peak, hours)


def test_cpu_p90_and_memory_peak_plus_the_margin() -> None:
    rec = recommend(usage([0.1] * 90 + [0.4] * 10, 600.0, 24))
    assert rec is not None
    assert rec.cpus == pytest.approx(0.115) and rec.cpu_bound_by == "usage"
    assert rec.mem_mib == 690 and rec.mem_bound_by == "usage"
    assert rec.confidence == 1.0


def test_floors() -> None:
    rec = recommend(usage([0.001] * 100, 40.0, 24))
    assert rec is not None
    assert (rec.cpus, rec.cpu_bound_by) == (0.025, "floor")
    assert (rec.mem_mib, rec.mem_bound_by) == (250, "floor")


def test_java_memory_never_renders_a_heap_below_the_one_in_use() -> None:
    settings = RightSizingSettings()
    rec = recommend(usage([0.5] * 100, 3000.0, 24), settings, JavaHeap(share=0.75))
    assert rec is not None and rec.mem_bound_by == "jvm_heap"
    # the rendered heap (0.75 × mem) holds the peak less the JVM's own memory
    assert rec.mem_mib * 0.75 >= 3000 - settings.jvm_overhead_mib
    fixed = recommend(usage([0.5] * 100, 300.0, 24), settings, JavaHeap(fixed_xmx_mib=2048))
    assert fixed is not None and fixed.mem_mib == 2048 + 128
    assert fixed.mem_bound_by == "jvm_heap"


def test_no_recommendation_for_twenty_minutes_and_confidence_grows_with_hours() -> None:
    assert recommend(usage([0.5] * 20, 500.0, 20 / 60)) is None
    assert recommend(usage([], 500.0, 30)) is None  # memory only: no CPU figure
    assert confidence(20 / 60) == 0.0
    assert confidence(1) == pytest.approx(0.204, abs=0.001)
    assert confidence(6) == 0.5 and confidence(24) == 1.0 and confidence(100) == 1.0
