"""Usage from the agents' counters, as per-instance figures per minute and per hour. Pure.

An agent's `/monitor/statistics` gives, per executor (one per Marathon task), CPU seconds
counted since the task's container started and its resident memory now. A CPU *rate* needs
two readings of the same task: (cpu seconds after − before) / (timestamp after − before).
The first reading of a task gives none, and so does a pair whose counter went backwards
(the container restarted under the same id) or whose rate is beyond what the task's CPU
limit allows (a counter reset between readings that still looks forward): a missing rate is
left out, never read as zero, so a task killed or restarted mid-window leaves a gap and not
a false trough in the figures the recommendations are drawn from.

Recommendations are per instance (an allocation's cpus and mem are per instance), so what
is kept per allocation per minute is the mean and the max *per instance* and the number of
instances, not sums.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# a rate needs readings at least this far apart: closer, jitter in the timestamps dominates
MIN_INTERVAL_SECONDS = 1.0
# CFS cannot give a task more than its limit; beyond this factor (plus a little), a counter
# must have been reset between the readings
LIMIT_SLACK = 1.5


@dataclass(frozen=True)
class ExecutorReading:
    """One executor's entry of one agent's `/monitor/statistics`."""

    agent_id: str
    task_id: str  # Marathon's task id: `executor_id` (or `source`) of the entry
    timestamp: float  # seconds since the epoch, the agent's clock
    cpu_seconds: float  # cpus_user_time_secs + cpus_system_time_secs
    rss_bytes: int | None
    cpus_limit: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.agent_id, self.task_id)


def cpu_rate(before: ExecutorReading | None, after: ExecutorReading) -> float | None:
    """CPUs used between two readings of one task; None when they cannot tell (see above)."""
    if before is None or before.key != after.key:
        return None
    interval = after.timestamp - before.timestamp
    used = after.cpu_seconds - before.cpu_seconds
    if interval < MIN_INTERVAL_SECONDS or used < 0 or not math.isfinite(used):
        return None
    rate = used / interval
    if after.cpus_limit and rate > after.cpus_limit * LIMIT_SLACK + 0.1:
        return None
    return rate


@dataclass(frozen=True)
class InstanceSample:
    """One task of an allocation in one sampling round."""

    task_id: str
    cpus: float | None  # None: no rate this round (first seen, restarted)
    rss_bytes: int | None


@dataclass(frozen=True)
class MinutePoint:
    """An allocation's usage in one minute, per instance.

    `cpu_instances` counts the samples with a rate (what cpu_mean averages over);
    `instances` the samples with a memory figure. Several rounds in one minute (an interval
    under 60 s) merge with `merged`.
    """

    instances: int
    cpu_instances: int
    cpu_mean: float
    cpu_max: float
    mem_mean_bytes: float
    mem_max_bytes: int

    def merged(self, other: MinutePoint) -> MinutePoint:
        cpu_n = self.cpu_instances + other.cpu_instances
        mem_n = self.instances + other.instances
        return MinutePoint(
            instances=max(self.instances, other.instances),
            cpu_instances=cpu_n,
            cpu_mean=(
                (self.cpu_mean * self.cpu_instances + other.cpu_mean * other.cpu_instances) / cpu_n
                if cpu_n
                else 0.0
            ),
            cpu_max=max(self.cpu_max, other.cpu_max),
            mem_mean_bytes=(
                (self.mem_mean_bytes * self.instances + other.mem_mean_bytes * other.instances)
                / mem_n
                if mem_n
                else 0.0
            ),
            mem_max_bytes=max(self.mem_max_bytes, other.mem_max_bytes),
        )


def minute_point(samples: Iterable[InstanceSample]) -> MinutePoint | None:
    """The round's samples of one allocation as one point; None when nothing was measured."""
    samples = list(samples)
    rates = [s.cpus for s in samples if s.cpus is not None]
    mems = [s.rss_bytes for s in samples if s.rss_bytes is not None]
    if not rates and not mems:
        return None
    return MinutePoint(
        instances=len(mems),
        cpu_instances=len(rates),
        cpu_mean=sum(rates) / len(rates) if rates else 0.0,
        cpu_max=max(rates, default=0.0),
        mem_mean_bytes=sum(mems) / len(mems) if mems else 0.0,
        mem_max_bytes=max(mems, default=0),
    )


def weighted_percentile(samples: Sequence[tuple[float, float]], q: float) -> float:
    """The q-quantile (0..1) of (value, weight) pairs: the smallest value whose cumulative
    weight reaches q of the total (no interpolation: a recommendation is a value seen)."""
    pairs = sorted((v, w) for v, w in samples if w > 0)
    if not pairs:
        return 0.0
    total = sum(w for _, w in pairs)
    target = q * total
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= target - 1e-12:
            return value
    return pairs[-1][0]


@dataclass(frozen=True)
class HourAggregate:
    """An allocation's hour: per-instance CPU quantiles over its minutes (each minute's
    per-instance mean, weighted by the instances it averages), the highest per-instance
    CPU and memory, the instance-minutes measured and the most instances seen."""

    samples: int
    tasks: int
    cpu_p50: float
    cpu_p90: float
    cpu_p99: float
    cpu_max: float
    mem_p99_bytes: int
    mem_max_bytes: int


def hour_aggregate(points: Sequence[MinutePoint]) -> HourAggregate | None:
    if not points:
        return None
    cpu = [(p.cpu_mean, float(p.cpu_instances)) for p in points if p.cpu_instances]
    mem = [(float(p.mem_max_bytes), float(p.instances)) for p in points if p.instances]
    return HourAggregate(
        samples=sum(p.cpu_instances for p in points),
        tasks=max(p.instances for p in points),
        cpu_p50=weighted_percentile(cpu, 0.50),
        cpu_p90=weighted_percentile(cpu, 0.90),
        cpu_p99=weighted_percentile(cpu, 0.99),
        cpu_max=max((p.cpu_max for p in points if p.cpu_instances), default=0.0),
        mem_p99_bytes=int(weighted_percentile(mem, 0.99)),
        mem_max_bytes=max(p.mem_max_bytes for p in points),
    )
