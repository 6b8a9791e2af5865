"""Mesos resource arithmetic: scalars in thousandths and port ranges.

Mesos keeps scalars with three decimal digits of fixed-point precision, so the
simulator does too: summing 0.1 cpus ten times must give exactly 1, or an agent
that is full by the book would look one float epsilon short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Range = tuple[int, int]

SCALE = 1000


def milli(value: float) -> int:
    """A scalar as Mesos stores it: thousandths, rounded."""
    return round(value * SCALE)


def number(value_milli: int) -> int | float:
    """A scalar for JSON: an int when whole, as in the captured Mesos state."""
    if value_milli % SCALE == 0:
        return value_milli // SCALE
    return value_milli / SCALE


def normalise(ranges: Iterable[Range]) -> tuple[Range, ...]:
    """Sorted, merged, non-overlapping ranges (adjacent ones joined, as Mesos prints them)."""
    out: list[list[int]] = []
    for begin, end in sorted(ranges):
        if begin > end:
            continue
        if out and begin <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([begin, end])
    return tuple((b, e) for b, e in out)


def from_ports(ports: Iterable[int]) -> tuple[Range, ...]:
    return normalise((p, p) for p in ports)


def subtract(ranges: Sequence[Range], removed: Sequence[Range]) -> tuple[Range, ...]:
    """`ranges` without `removed`, in one sweep over both sorted lists."""
    out: list[Range] = []
    cut = normalise(removed)
    first = 0
    for begin, end in normalise(ranges):
        cursor = begin
        while first < len(cut) and cut[first][1] < cursor:
            first += 1
        index = first
        while index < len(cut) and cut[index][0] <= end:
            cut_begin, cut_end = cut[index]
            if cut_begin > cursor:
                out.append((cursor, cut_begin - 1))
            cursor = max(cursor, cut_end + 1)
            index += 1
        if cursor <= end:
            out.append((cursor, end))
    return tuple(out)


def size(ranges: Sequence[Range]) -> int:
    return sum(end - begin + 1 for begin, end in ranges)


def contains(ranges: Sequence[Range], port: int) -> bool:
    return any(begin <= port <= end for begin, end in ranges)


def ports_in(ranges: Sequence[Range]) -> list[int]:
    return [p for begin, end in ranges for p in range(begin, end + 1)]


def format_ranges(ranges: Sequence[Range]) -> str:
    """Mesos' text form of a ranges value: `[31000-31000, 31005-31006]`."""
    return "[" + ", ".join(f"{b}-{e}" for b, e in normalise(ranges)) + "]"


def parse_ranges(text: str) -> tuple[Range, ...]:
    body = text.strip().strip("[]").strip()
    if not body:
        return ()
    out: list[Range] = []
    for part in body.split(","):
        begin, _, end = part.strip().partition("-")
        out.append((int(begin), int(end or begin)))
    return normalise(out)


@dataclass(frozen=True)
class Resources:
    """cpus, mem and disk in thousandths, and port ranges."""

    cpus: int = 0
    mem: int = 0
    disk: int = 0
    ports: tuple[Range, ...] = ()

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpus + other.cpus,
            self.mem + other.mem,
            self.disk + other.disk,
            normalise(self.ports + other.ports),
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpus - other.cpus,
            self.mem - other.mem,
            self.disk - other.disk,
            subtract(self.ports, other.ports),
        )

    def to_json(self) -> dict[str, int | float | str]:
        """The `{"disk", "mem", "gpus", "cpus", "ports"}` object of /master/state.

        `ports` is left out when there are none, as Mesos does.
        """
        out: dict[str, int | float | str] = {
            "disk": number(self.disk),
            "mem": number(self.mem),
            "gpus": 0,
            "cpus": number(self.cpus),
        }
        if self.ports:
            out["ports"] = format_ranges(self.ports)
        return out

    def to_protobuf(self, role: str = "*", extra: dict | None = None) -> list[dict]:
        """A list of protobuf `Resource` objects, as /master/slaves' `*_full` fields."""
        out: list[dict] = []
        for name, value in (("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)):
            if value:
                out.append(
                    {
                        "name": name,
                        "type": "SCALAR",
                        "scalar": {"value": number(value)},
                        "role": role,
                    }
                )
        if self.ports:
            out.append(
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": b, "end": e} for b, e in self.ports]},
                    "role": role,
                }
            )
        if extra:
            for resource in out:
                resource.update(extra)
        return out
