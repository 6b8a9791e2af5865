"""`python -m allocator.pack FILE.vbp`: pack one vector bin packing instance, print JSON.

For benchmarks and for anyone who wants to check the packer against published optima
without going through the ledger: the instance is read in VPSolver's `.vbp` format
(../shared/benchmarks/vector-packing/README.md) and packed by `allocator.packing.pack`,
the core that `allocator.placement.place()` runs for every capacity verdict. Items are
numbered in file order, each copy of an item type its own item.

Output on stdout: {"agents": N, "lower_bound": L, "placement": [[item, ...], ...],
"unplaced": [item, ...], "strategy": "..."}; exit status 0 when every item is placed,
1 when some item is larger than a bin, 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from allocator.bounds import vector_lower_bound
from allocator.packing import Kind, Packing, Problem, pack

MAX_ITEMS = 1_000_000  # a bigger file is a mistake, not a cluster


@dataclass(frozen=True)
class VectorInstance:
    capacity: tuple[float, ...]
    sizes: tuple[tuple[float, ...], ...]
    counts: tuple[int, ...]

    @property
    def dims(self) -> int:
        return len(self.capacity)


class FormatError(ValueError):
    """The text is not a `.vbp` instance; the message says where it went wrong."""


def _number(token: str, line: int) -> float:
    try:
        value = float(token)
    except ValueError:
        raise FormatError(f"line {line}: {token!r} is not a number") from None
    # negative sizes are taken as given: some published instances (Caprara's triplets,
    # class C) hold a few, and their optima were computed with them
    if value != value or value in (float("inf"), float("-inf")):
        raise FormatError(f"line {line}: {token!r} must be a finite number")
    return int(value) if value.is_integer() else value


def parse_vbp(text: str) -> VectorInstance:
    """A VPSolver `.vbp` text: d, then d capacities, then m, then m lines of d sizes and q."""
    rows = [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(rows) < 3:
        raise FormatError("expected at least 3 lines: d, the capacities, m")
    (n0, head), (n1, caps), (n2, types) = rows[:3]
    if len(head) != 1 or len(types) != 1:
        raise FormatError(f"lines {n0} and {n2} must hold one number each (d and m)")
    dims, m = int(_number(head[0], n0)), int(_number(types[0], n2))
    if dims < 1:
        raise FormatError(f"line {n0}: d must be at least 1")
    if len(caps) != dims:
        raise FormatError(f"line {n1}: expected {dims} capacities, found {len(caps)}")
    capacity = tuple(_number(t, n1) for t in caps)
    if len(rows) - 3 < m:
        raise FormatError(f"expected {m} item types, found {len(rows) - 3}")
    sizes, counts = [], []
    for n, row in rows[3 : 3 + m]:
        if len(row) != dims + 1:
            raise FormatError(f"line {n}: expected {dims} sizes and a quantity")
        sizes.append(tuple(_number(t, n) for t in row[:dims]))
        q = _number(row[dims], n)
        if not float(q).is_integer() or q < 0:
            raise FormatError(f"line {n}: the quantity {row[dims]!r} must be a whole number ≥ 0")
        counts.append(int(q))
    if sum(counts) > MAX_ITEMS:
        raise FormatError(f"{sum(counts)} items in all; at most {MAX_ITEMS:,} are packed")
    return VectorInstance(capacity, tuple(sizes), tuple(counts))


def solve(
    inst: VectorInstance, *, effort: str = "thorough", budget: int | None = None
) -> tuple[Packing, int]:
    """The packing and the lower bound; one bin is offered per item, so all that fit go in."""
    kinds = [Kind(size=s, count=n) for s, n in zip(inst.sizes, inst.counts, strict=True)]
    nbins = max(1, sum(inst.counts))
    problem = Problem(free=[inst.capacity] * nbins, kinds=kinds)
    fitting = [
        (s, n)
        for s, n in zip(inst.sizes, inst.counts, strict=True)
        if all(x <= c for x, c in zip(s, inst.capacity, strict=True))
    ]
    lower = vector_lower_bound([s for s, _ in fitting], [n for _, n in fitting], [inst.capacity])
    return pack(problem, effort=effort, budget=budget, lower=lower), lower


def answer(inst: VectorInstance, packing: Packing, lower: int) -> dict[str, object]:
    """Bins renumbered 0… in order of first use; items numbered in file order."""
    bins: dict[int, list[int]] = {}
    unplaced: list[int] = []
    item = 0
    for k, count in enumerate(inst.counts):
        where = packing.by_kind[k] if k < len(packing.by_kind) else ()
        for j in range(count):
            b = where[j] if j < len(where) else -1
            (unplaced if b < 0 else bins.setdefault(b, [])).append(item)
            item += 1
    placement = [sorted(items) for items in bins.values()]
    placement.sort(key=lambda items: items[0])
    return {
        "agents": len(placement),
        "lower_bound": lower,
        "placement": placement,
        "unplaced": unplaced,
        "strategy": packing.strategy,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m allocator.pack", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("file", help="a .vbp instance, or - for stdin")
    parser.add_argument(
        "--effort",
        choices=("fast", "thorough"),
        default="thorough",
        help="thorough (default): as few agents as the budget allows, as plans use; "
        "fast: the ledger's quick verdict",
    )
    parser.add_argument("--budget", type=int, default=None, help="work units (candidate checks)")
    args = parser.parse_args(argv)
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        inst = parse_vbp(text)
    except (OSError, UnicodeDecodeError, FormatError) as e:
        print(f"allocator.pack: {args.file}: {e}", file=sys.stderr)
        return 2
    packing, lower = solve(inst, effort=args.effort, budget=args.budget)
    result = answer(inst, packing, lower)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 1 if result["unplaced"] else 0


if __name__ == "__main__":
    sys.exit(main())
