"""What tasks really use: seeded per-app profiles, and the agents' /monitor/statistics.

berth learns real utilisation from each agent's `GET /monitor/statistics`
(cumulative CPU seconds and resident memory per executor). For its
recommendations to be testable the simulator must know the truth behind those
figures, so usage is a pure function of the app's profile and the simulator's
clock, never of when or how often somebody reads it:

* CPU is piecewise constant per minute of simulator time (UTC minutes since
  the epoch): `base + (peak - base) * daily(t)`, times `1 ± noise`, times the
  spike factor inside spike blocks, capped at the task's `cpus_limit` (CFS
  quota). Every instance of an app uses the same rate, as behind a balancer.
  The counters are the exact integral of that rate since the task started, so
  a new task id starts from zero and a task's counters never go backwards.
* Memory ramps from `start` to `plateau` over `ramp_minutes` after the task
  started, with a small per-minute wobble, never above `mem_limit_bytes`.

The truth (`truth()`) is computed from the same functions: p50/p90/max of the
per-minute CPU rates over a window, and the peak memory of the app's tasks
that ran in it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

MINUTE = 60.0
MIB = 1024 * 1024
CFS_PERIOD = 0.1  # seconds; Mesos' cgroups CPU quota period
SYSTEM_SHARE = 0.2  # share of CPU time counted as system time
MEM_WOBBLE = 0.02  # ± relative per-minute wobble of resident memory
MASK = (1 << 64) - 1
DEMAND_CACHE = 1_000_000  # (app, minute) rates kept; ~100 MB at most


def _mix(value: int) -> int:
    """splitmix64's finaliser: a fast, well-spread hash, so noise costs no Random()."""
    value = (value + 0x9E3779B97F4A7C15) & MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK
    return value ^ (value >> 31)


def _uniform(key: int, minute: int, salt: int) -> float:
    """A deterministic number in [0, 1) for (app, minute, purpose)."""
    return _mix(key ^ _mix(minute * 8 + salt)) / 2.0**64


def _key(seed: int, app_id: str) -> int:
    value = seed & MASK
    for byte in app_id.encode("utf-8"):
        value = _mix(value ^ byte)
    return value


@dataclass
class Spikes:
    """Bursts: blocks of `minutes` in which CPU is `factor` times higher, `per_day` of them
    on average."""

    per_day: float = 2.0
    factor: float = 2.0
    minutes: int = 5


@dataclass
class CpuProfile:
    """CPU in cpus per instance: `base` at night, `peak` at `peak_hour` (UTC)."""

    base: float = 0.1
    peak: float = 0.3
    peak_hour: float = 15.0
    noise: float = 0.1
    spikes: Spikes = field(default_factory=Spikes)


@dataclass
class MemProfile:
    """Resident memory in MiB per instance: `start` after launch, `plateau` after the ramp."""

    start: float = 128.0
    plateau: float = 256.0
    ramp_minutes: float = 30.0


@dataclass
class Profile:
    cpu: CpuProfile = field(default_factory=CpuProfile)
    mem: MemProfile = field(default_factory=MemProfile)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: Any, base: Profile | None = None) -> Profile:
        """A profile from JSON; fields left out keep `base`'s values (a partial update).

        Raises ValueError naming the first bad field.
        """
        if not isinstance(body, dict) or set(body) - {"cpu", "mem"}:
            raise ValueError("a usage profile is an object with 'cpu' and/or 'mem'")
        current = (base or cls()).to_json()
        cpu_in = body.get("cpu", {})
        mem_in = body.get("mem", {})
        if not isinstance(cpu_in, dict) or not isinstance(mem_in, dict):
            raise ValueError("'cpu' and 'mem' are objects")
        spikes_in = cpu_in.get("spikes", {})
        if not isinstance(spikes_in, dict):
            raise ValueError("'cpu.spikes' is an object")
        spikes = _fields("cpu.spikes", {**current["cpu"]["spikes"], **spikes_in}, Spikes)
        cpu_fields = {**current["cpu"], **{k: v for k, v in cpu_in.items() if k != "spikes"}}
        cpu_fields.pop("spikes", None)
        cpu = CpuProfile(**_numbers("cpu", cpu_fields, CpuProfile), spikes=Spikes(**spikes))
        mem = MemProfile(**_numbers("mem", {**current["mem"], **mem_in}, MemProfile))
        if cpu.peak < cpu.base:
            raise ValueError("cpu.peak must not be below cpu.base")
        if not 0 <= cpu.noise < 1:
            raise ValueError("cpu.noise is a fraction in [0, 1)")
        if cpu.spikes.minutes < 1 or cpu.spikes.factor < 1 or cpu.spikes.per_day < 0:
            raise ValueError("cpu.spikes needs minutes >= 1, factor >= 1, per_day >= 0")
        return cls(cpu, mem)


def _fields(where: str, values: dict[str, Any], kind: type) -> dict[str, Any]:
    out = _numbers(where, values, kind)
    out["minutes"] = int(out["minutes"])
    return out


def _numbers(where: str, values: dict[str, Any], kind: type) -> dict[str, Any]:
    names = {f for f in kind.__dataclass_fields__ if f != "spikes"}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {where} fields: {', '.join(sorted(unknown))}")
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{where}.{name} must be a non-negative number")
    return {name: float(value) for name, value in values.items()}


def default_profile(seed: int, app_id: str, cpus: float, mem_mib: float) -> Profile:
    """An app's profile when none was set: it uses 20–60% of what it asks, seeded by its id."""
    key = _key(seed, app_id)
    cpu_share = 0.2 + 0.4 * _uniform(key, 0, 1)
    mem_share = 0.2 + 0.4 * _uniform(key, 0, 2)
    return sized_profile(key, cpus, mem_mib, cpu_share, mem_share)


def sized_profile(
    key: int, cpus: float, mem_mib: float, cpu_share: float, mem_share: float
) -> Profile:
    """A profile whose daily peak CPU and memory plateau are shares of what the app asks."""
    peak = cpus * cpu_share
    plateau = mem_mib * mem_share
    return Profile(
        CpuProfile(
            base=round(peak * (0.25 + 0.35 * _uniform(key, 0, 3)), 4),
            peak=round(peak, 4),
            peak_hour=round(13 + 5 * _uniform(key, 0, 4), 2),
            noise=0.08,
            spikes=Spikes(per_day=float(1 + round(3 * _uniform(key, 0, 5))), factor=1.3, minutes=5),
        ),
        MemProfile(
            start=round(plateau * 0.55, 1),
            plateau=round(plateau, 1),
            ramp_minutes=round(20 + 100 * _uniform(key, 0, 6)),
        ),
    )


@dataclass
class Counters:
    """One task's cumulative CPU seconds up to `at`, kept so reads integrate only what is new."""

    at: float
    cpu: float = 0.0
    throttled: float = 0.0


class UsageModel:
    """The profiles of one simulator and its tasks' counters; thread-safe."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._profiles: dict[str, Profile] = {}
        self._keys: dict[str, int] = {}
        self._counters: dict[str, Counters] = {}
        # every instance of an app wants the same per minute: computed once per app and minute
        self._demand: dict[tuple[str, int], float] = {}

    # --- profiles -------------------------------------------------------------------

    def set(self, app_id: str, profile: Profile) -> None:
        with self._lock:
            self._profiles[app_id] = profile
            self._demand.clear()

    def get(self, app_id: str, cpus: float = 1.0, mem_mib: float = 1024.0) -> Profile:
        """The app's profile; the first read of an app without one fixes its default."""
        with self._lock:
            profile = self._profiles.get(app_id)
            if profile is None:
                profile = self._profiles[app_id] = default_profile(self.seed, app_id, cpus, mem_mib)
            return profile

    def known(self) -> dict[str, Profile]:
        with self._lock:
            return dict(self._profiles)

    def key(self, app_id: str) -> int:
        key = self._keys.get(app_id)
        if key is None:
            key = self._keys[app_id] = _key(self.seed, app_id)
        return key

    # --- the functions --------------------------------------------------------------

    def cpu_demand(self, app_id: str, profile: Profile, minute: int) -> float:
        """Cpus the app's instances want in one minute, before the quota caps them."""
        cpu = profile.cpu
        key = self.key(app_id)
        hour = (minute % 1440 + 0.5) / 60
        daily = (1 + math.cos(2 * math.pi * (hour - cpu.peak_hour) / 24)) / 2
        rate = cpu.base + (cpu.peak - cpu.base) * daily
        wobble = _uniform(key, minute, 7) + _uniform(key, minute, 8) - 1  # triangular, ±1
        rate *= 1 + cpu.noise * wobble
        spikes = cpu.spikes
        block = minute // spikes.minutes
        if _uniform(key, block, 9) < spikes.per_day * spikes.minutes / 1440:
            rate *= spikes.factor
        return max(0.0, rate)

    def mem_bytes(
        self, app_id: str, profile: Profile, started: float, at: float, limit: int
    ) -> int:
        """Resident memory of a task started at `started`, at time `at`."""
        mem = profile.mem
        ramp = mem.ramp_minutes * MINUTE
        done = 1.0 if ramp <= 0 else min(1.0, max(0.0, at - started) / ramp)
        mib = mem.start + (mem.plateau - mem.start) * done
        wobble = 2 * _uniform(self.key(app_id), int(at // MINUTE), 10) - 1
        return min(limit, int(mib * (1 + MEM_WOBBLE * wobble) * MIB))

    def counters(
        self, task_id: str, app_id: str, profile: Profile, started: float, now: float, limit: float
    ) -> Counters:
        """The task's cumulative CPU (and throttled) seconds at `now`, never going back."""
        with self._lock:
            state = self._counters.get(task_id)
            if state is None:
                state = self._counters[task_id] = Counters(at=started)
            if now <= state.at:
                return Counters(state.at, state.cpu, state.throttled)
            t = state.at
            while t < now:
                minute = int(t // MINUTE)
                end = min(now, (minute + 1) * MINUTE)
                demand = self._demand.get((app_id, minute))
                if demand is None:
                    if len(self._demand) > DEMAND_CACHE:
                        self._demand.clear()
                    demand = self._demand[app_id, minute] = self.cpu_demand(app_id, profile, minute)
                used = min(demand, limit)
                state.cpu += used * (end - t)
                state.throttled += (demand - used) * (end - t)
                t = end
            state.at = now
            return Counters(state.at, state.cpu, state.throttled)

    def forget(self, running: Iterable[str]) -> None:
        """Drop the counters of tasks that are gone (their ids are never reused)."""
        keep = set(running)
        with self._lock:
            for task_id in [t for t in self._counters if t not in keep]:
                del self._counters[task_id]

    @property
    def tracked(self) -> int:
        return len(self._counters)


def statistics_entry(
    model: UsageModel,
    task: Any,
    framework_id: str,
    profile: Profile,
    now: float,
) -> dict[str, Any]:
    """One executor's entry of /monitor/statistics, in the agent's own shape.

    The command executor Marathon's tasks run under has the task's id as
    `executor_id` and `source`; the limits are the task's resources plus the
    executor's overhead, as the container's cgroups get them.
    """
    used = task.used
    cpus_limit = used.cpus / 1000
    mem_limit = int(used.mem / 1000 * MIB)
    counters = model.counters(task.id, task.app_id, profile, task.started_at, now, cpus_limit)
    rss = model.mem_bytes(task.app_id, profile, task.started_at, now, mem_limit)
    elapsed = max(0.0, now - task.started_at)
    periods = int(elapsed / CFS_PERIOD)
    throttled = counters.throttled
    anon = int(rss * 0.93)
    return {
        "executor_id": task.id,
        "executor_name": f"Command Executor (Task: {task.id})",
        "framework_id": framework_id,
        "source": task.id,
        "statistics": {
            "cpus_limit": float(cpus_limit),
            "cpus_nr_periods": periods,
            "cpus_nr_throttled": min(periods, int(throttled / CFS_PERIOD)),
            "cpus_system_time_secs": round(counters.cpu * SYSTEM_SHARE, 6),
            "cpus_throttled_time_secs": round(throttled, 6),
            "cpus_user_time_secs": round(counters.cpu * (1 - SYSTEM_SHARE), 6),
            "mem_anon_bytes": anon,
            "mem_file_bytes": rss - anon,
            "mem_limit_bytes": mem_limit,
            "mem_mapped_file_bytes": int(rss * 0.0015),
            "mem_rss_bytes": rss,
            "timestamp": round(float(now), 6),
        },
    }


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (the smallest value with at least `share` of them at or below)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def truth(
    model: UsageModel,
    app_id: str,
    profile: Profile,
    start: float,
    end: float,
    cpus_limit: float,
    tasks: Iterable[Any],
) -> dict[str, Any]:
    """What the app really used over [start, end): per-instance CPU rates per minute
    (p50, p90, max, capped at `cpus_limit`) and the peak resident memory of `tasks`
    (those of the app that ran in the window)."""
    first = int(start // MINUTE)
    last = max(first, math.ceil(end / MINUTE))
    rates = [
        min(cpus_limit, model.cpu_demand(app_id, profile, minute)) for minute in range(first, last)
    ]
    peak = 0
    for task in tasks:
        alive_from = max(start, task.started_at)
        alive_to = min(end, task.finished_at if task.finished_at is not None else end)
        if alive_to <= alive_from:
            continue
        mem_limit = int(task.used.mem / 1000 * MIB)
        minute = int(alive_from // MINUTE)
        while minute * MINUTE < alive_to:
            at = min(alive_to, max(alive_from, (minute + 1) * MINUTE - 1e-6))
            peak = max(peak, model.mem_bytes(app_id, profile, task.started_at, at, mem_limit))
            minute += 1
    return {
        "appId": app_id,
        "from": start,
        "to": end,
        "minutes": len(rates),
        "cpu_p50": round(percentile(rates, 0.5), 6),
        "cpu_p90": round(percentile(rates, 0.9), 6),
        "cpu_max": round(max(rates, default=0.0), 6),
        "cpu_mean": round(sum(rates) / len(rates), 6) if rates else 0.0,
        "mem_peak_bytes": peak,
        "mem_peak_mib": round(peak / MIB, 3),
    }
