"""Host port ranges and the choice of the lowest free port, block by block.

The search never looks at every port held in a cluster: the caller keeps a count of
held ports per block of BLOCK_SIZE ports, full blocks are skipped, and only the ports
of one candidate block at a time are examined.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

BLOCK_SIZE = 256
MIN_PORT = 1
MAX_PORT = 65535

_RANGE = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?\Z")


@dataclass(frozen=True, order=True)
class PortRange:
    """An inclusive range of host ports, `lo-hi`."""

    lo: int
    hi: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.lo <= port <= self.hi

    def __str__(self) -> str:
        return f"{self.lo}-{self.hi}" if self.lo != self.hi else str(self.lo)

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


def parse_range(text: str) -> PortRange:
    """`"31000-31999"` or `"8080"` → PortRange; ValueError with a readable message otherwise."""
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a port range like 31000-31999")
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) else lo
    if not (MIN_PORT <= lo <= MAX_PORT and MIN_PORT <= hi <= MAX_PORT):
        raise ValueError(f"'{text}': ports must lie in {MIN_PORT}-{MAX_PORT}")
    if lo > hi:
        raise ValueError(f"'{text}': the range starts after it ends")
    return PortRange(lo, hi)


def parse_ranges(texts: Iterable[str]) -> tuple[PortRange, ...]:
    """Sorted ranges; overlapping ranges are an error, since each port must be counted once."""
    ranges = sorted(parse_range(t) for t in texts)
    for before, after in zip(ranges, ranges[1:], strict=False):
        if after.lo <= before.hi:
            raise ValueError(f"ranges {before} and {after} overlap")
    return tuple(ranges)


def format_ranges(ranges: Iterable[PortRange]) -> str:
    return ", ".join(str(r) for r in ranges)


def in_ranges(ranges: Iterable[PortRange], port: int) -> bool:
    return any(port in r for r in ranges)


def capacity(ranges: Iterable[PortRange]) -> int:
    return sum(r.size for r in ranges)


def block_of(port: int) -> int:
    return port // BLOCK_SIZE


def candidate_blocks(ranges: Iterable[PortRange], used: Mapping[int, int]) -> Iterator[int]:
    """Blocks that touch the ranges, lowest first, skipping those known to be full."""
    seen: set[int] = set()
    for r in sorted(ranges):
        for block in range(block_of(r.lo), block_of(r.hi) + 1):
            if block in seen:
                continue
            seen.add(block)
            if used.get(block, 0) < BLOCK_SIZE:
                yield block


def lowest_free_in_block(
    ranges: Iterable[PortRange], block: int, taken: Collection[int]
) -> int | None:
    """The lowest port of `block` that lies in the ranges and is not taken."""
    start, end = block * BLOCK_SIZE, block * BLOCK_SIZE + BLOCK_SIZE - 1
    for r in sorted(ranges):
        for port in range(max(start, r.lo), min(end, r.hi) + 1):
            if port not in taken:
                return port
    return None


def subtract_ports(
    ranges: Iterable[tuple[int, int]], taken: Collection[int]
) -> tuple[tuple[int, int], ...]:
    """Ranges with the taken ports cut out, e.g. [31000-31999] less {31005} → two ranges."""
    out: list[tuple[int, int]] = []
    cuts = sorted(set(taken))
    for lo, hi in sorted(ranges):
        start = lo
        for port in cuts:
            if port < start or port > hi:
                continue
            if port > start:
                out.append((start, port - 1))
            start = port + 1
        if start <= hi:
            out.append((start, hi))
    return tuple(out)
