"""Quality of the placement core on the public vector bin packing sets.

Runs `allocator.pack.solve` (what `python -m allocator.pack` runs: the core that
`placement.place()` uses, here with d dimensions and no rules) in thorough mode on every
instance with a proven optimum and prints, per set: instances, mean bins used ÷ OPT,
share solved optimally, the same for the best of all heuristics of Mommessin et al.
(`best_overall`), and the time.

    .venv/bin/python -m bench.vector_packing [--set Panigrahy] [--limit N] [--jobs 2]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import statistics
import tarfile
import time
from collections import defaultdict
from dataclasses import dataclass

from allocator.pack import VectorInstance, parse_vbp
from allocator.pack import solve as solve_vbp

DATA = os.environ.get("BERTH_VBP_DATA", "/work/shared/benchmarks/vector-packing")
SETS = ("Panigrahy", "New", "Triplet")


@dataclass(frozen=True)
class Instance:
    set: str
    name: str
    dims: int
    capacity: tuple[int, ...]
    sizes: tuple[tuple[int, ...], ...]
    counts: tuple[int, ...]
    lb: int
    opt: int
    best_overall: int


def load(set_name: str) -> list[Instance]:
    """The set's instances that have a proven optimum, in the summary's order."""
    with open(os.path.join(DATA, f"{set_name}_summary_known.csv")) as f:
        rows = {r["instance_name"]: r for r in csv.DictReader(f, delimiter="\t")}
    out = []
    with tarfile.open(os.path.join(DATA, f"{set_name}_instances.tar.gz")) as tar:
        for member in tar.getmembers():
            if not member.name.endswith(".vbp"):
                continue
            name = os.path.basename(member.name)[: -len(".vbp")]
            row = rows.get(name)
            if row is None or int(row["OPT"]) < 0:
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            vbp = parse_vbp(io.TextIOWrapper(handle).read())
            out.append(
                Instance(
                    set_name,
                    name,
                    vbp.dims,
                    vbp.capacity,
                    vbp.sizes,
                    vbp.counts,
                    int(row["LB"]),
                    int(row["OPT"]),
                    int(row["best_overall"]),
                )
            )
    order = {name: i for i, name in enumerate(rows)}
    out.sort(key=lambda inst: order[inst.name])
    return out


def solve(inst: Instance, budget: int | None = None) -> dict[str, object]:
    """Pack one instance; enough bins are offered for every item to have its own."""
    start = time.perf_counter()
    packing, lb = solve_vbp(VectorInstance(inst.capacity, inst.sizes, inst.counts), budget=budget)
    if packing.unplaced:
        raise AssertionError(f"{inst.name}: {packing.unplaced} items left over")
    return {
        "set": inst.set,
        "name": inst.name,
        "used": packing.bins_used,
        "lb": lb,
        "paper_lb": inst.lb,
        "opt": inst.opt,
        "best_overall": inst.best_overall,
        "strategy": packing.strategy,
        "seconds": time.perf_counter() - start,
    }


def _solve(args: tuple[Instance, int | None]) -> dict[str, object]:
    return solve(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=SETS, action="append", help="default: all three")
    parser.add_argument("--limit", type=int, default=0, help="first N instances of each set")
    parser.add_argument("--every", type=int, default=1, help="every Nth instance (a sample)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--budget", type=int, default=None, help="work units per instance")
    parser.add_argument("--class", dest="klass", default="", help="only names starting so")
    parser.add_argument("--verbose", action="store_true", help="one line per instance")
    args = parser.parse_args()
    sets = args.set or list(SETS)
    print(
        f"{'set':<10} {'with OPT':>8} {'used/OPT':>9} {'optimal':>8} "
        f"{'best_overall/OPT':>16} {'b_o optimal':>11} {'LB=OPT':>7} {'time':>8}"
    )
    summary: dict[str, dict[str, float]] = {}
    for set_name in sets:
        instances = [i for i in load(set_name) if i.name.startswith(args.klass)]
        instances = instances[:: args.every]
        if args.limit:
            instances = instances[: args.limit]
        start = time.perf_counter()
        jobs = [(i, args.budget) for i in instances]
        if args.jobs > 1:
            with multiprocessing.Pool(args.jobs) as pool:
                results = pool.map(_solve, jobs, chunksize=1)
        else:
            results = [_solve(j) for j in jobs]
        elapsed = time.perf_counter() - start
        by_class: dict[str, list[dict[str, object]]] = defaultdict(list)
        for r in results:
            by_class[str(r["name"]).split("_")[0]].append(r)
            if args.verbose:
                print(
                    f"  {r['name']:<22} used {r['used']:>4} opt {r['opt']:>4} "
                    f"bo {r['best_overall']:>4} lb {r['lb']:>4} paper-lb {r['paper_lb']:>4} "
                    f"{r['strategy']:<24} {float(r['seconds']):.2f}s"  # type: ignore[arg-type]
                )
        summary[set_name] = _figures(results) | {"seconds": round(elapsed, 1)}
        for label, rows in [*sorted(by_class.items()), (set_name, results)]:
            print(
                _line(
                    label if label != set_name else f"{set_name} all",
                    rows,
                    elapsed if label == set_name else None,
                )
            )
    print(json.dumps({"bench": "vector_packing", "every": args.every, "sets": summary}))


def _figures(rows: list[dict[str, object]]) -> dict[str, float]:
    """The set's figures for bench.all: mean used/OPT and best_overall/OPT, share optimal."""
    used = statistics.fmean(int(r["used"]) / int(r["opt"]) for r in rows)  # type: ignore[call-overload]
    bo = statistics.fmean(int(r["best_overall"]) / int(r["opt"]) for r in rows)  # type: ignore[call-overload]
    return {
        "instances": len(rows),
        "used_over_opt": round(used, 4),
        "best_overall_over_opt": round(bo, 4),
        "optimal": round(sum(r["used"] == r["opt"] for r in rows) / len(rows), 4),
    }


def _line(label: str, rows: list[dict[str, object]], elapsed: float | None) -> str:
    n = len(rows)
    ratio = statistics.fmean(int(r["used"]) / int(r["opt"]) for r in rows)  # type: ignore[call-overload]
    optimal = sum(r["used"] == r["opt"] for r in rows) / n
    bo = statistics.fmean(int(r["best_overall"]) / int(r["opt"]) for r in rows)  # type: ignore[call-overload]
    bo_opt = sum(r["best_overall"] == r["opt"] for r in rows) / n
    lb_opt = sum(r["lb"] == r["opt"] for r in rows) / n
    cpu = sum(float(r["seconds"]) for r in rows)  # type: ignore[arg-type]
    when = f"{elapsed:7.1f}s" if elapsed is not None else f"{cpu:6.1f}cs"
    return (
        f"{label:<10} {n:>8} {ratio:>9.4f} {optimal:>8.1%} {bo:>16.4f} {bo_opt:>11.1%} "
        f"{lb_opt:>7.1%} {when:>8}"
    )


if __name__ == "__main__":
    main()
