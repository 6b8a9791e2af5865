"""Run every benchmark of bench/ with bounded settings and write bench/RESULTS.md.

Each benchmark prints its figures and ends with one JSON line; this collects those lines
into one table with the machine it ran on, the date, each figure's target and its ratio to
the published anchors: the proven optima of the vector bin packing sets and the best of
all heuristics there (best_overall), and Nomad's 3,750 placements/s.

    make bench         # or: .venv/bin/python -m bench.all [--every 40] [--load-seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "RESULTS.md"
NOMAD_PLACEMENTS_PER_S = 3750  # Nomad's published placements per second: the anchor of issue 6/6


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _postgres_version() -> str:
    try:
        from sqlalchemy import create_engine, text

        url = os.environ.get(
            "BERTH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        engine = create_engine(url)
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
        return "PostgreSQL " + version.split()[0]
    except Exception:  # noqa: BLE001 - the table says it could not tell
        return "PostgreSQL (version unknown)"


def _run(module: str, args: list[str], timeout: float) -> tuple[dict[str, Any] | None, str, float]:
    """Run one benchmark; its figures (the last JSON line), its output and how long it took."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        output = stdout + (f"\n[exit {proc.returncode}]\n{stderr[-3000:]}" * bool(proc.returncode))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # its finally blocks drop the databases it made
        try:
            stdout, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
        output = f"{stdout}\n[stopped after {timeout:.0f} s]"
    figures = None
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict) and "bench" in parsed:
                figures = parsed
                break
    return figures, output, time.monotonic() - start


def _rows(name: str, f: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, figure, value, target, anchor and ratio) rows of one benchmark's figures."""
    if name == "ports":
        return [
            (
                "bench.ports",
                f"ms per allocation, empty / {f['held']:,} ports held (median)",
                f"{f['median_empty_ms']:.2f} / {f['median_full_ms']:.2f}; ratio {f['ratio']:.2f}",
                "ratio ≤ 2",
                "–",
            )
        ]
    if name == "render_throughput":
        return [
            (
                "bench.render_throughput",
                "req/s render vs bare read (p99 ms)",
                f"{f['rps_render']:.0f} vs {f['rps_bare']:.0f} ({f['p99_render_ms']:.0f} vs "
                f"{f['p99_bare_ms']:.0f}); ratio {f['ratio']:.2f}",
                "ratio ≥ 0.5",
                "–",
            )
        ]
    if name == "placement_speed":
        ips = f["instances_per_s"]
        return [
            (
                "bench.placement_speed",
                f"instances placed per s ({f['instances']:,} on {f['agents']:,} agents, "
                "ports and UNIQUE)",
                f"{ips:,} ({f['seconds']:.2f} s; {f['agents_used']} agents, bound "
                f"{f['lower_bound']})",
                "≥ 3,750",
                f"Nomad 3,750/s: ×{ips / NOMAD_PLACEMENTS_PER_S:.2f}",
            )
        ]
    if name == "vector_packing":
        out = []
        for set_name, s in f["sets"].items():
            out.append(
                (
                    "bench.vector_packing",
                    f"{set_name}: agents used ÷ OPT, mean ({s['instances']} instances, "
                    f"every {f['every']}th)",
                    f"{s['used_over_opt']:.4f} ({s['optimal']:.1%} optimal)",
                    "≤ best_overall",
                    f"best_overall ÷ OPT {s['best_overall_over_opt']:.4f}: ×"
                    f"{s['used_over_opt'] / s['best_overall_over_opt']:.4f}",
                )
            )
        return out
    if name == "cluster_quality":
        used = f.get("used_over_bound", {})
        value = ", ".join(f"{k} {v:.4f}" for k, v in used.items())
        rows = [
            (
                "bench.cluster_quality",
                f"agents used ÷ lower bound ({f['large_cases']} clusters of 50-400 agents)",
                value,
                "close to 1",
                "–",
            )
        ]
        if "proven_optimal" in f:
            zero = ", ".join(f"{k} {v}/{f['proven_optimal']}" for k, v in f["zero_gap"].items())
            rows.append(
                (
                    "bench.cluster_quality",
                    "small cases at the CP-SAT optimum",
                    zero,
                    "all",
                    "CP-SAT proven optimum",
                )
            )
        return rows
    if name == "plans":
        slow = f["slowest"]
        every = "; ".join(
            f"{p['plan']}: {p['seconds']:.2f} s, {p['extra_agents']} extra" for p in f["plans"]
        )
        return [
            (
                "bench.plans",
                f"slowest plan, {f['services']:,} services on {f['agents']:,} agents "
                "(s; placements tried; ÷ one first-fit pass)",
                f"{slow['plan']}: {slow['seconds']:.2f} s, {slow['extra_agents']} extra agents "
                f"(bound {slow['lower_bound']}); {slow['placements']} placements; "
                f"×{slow['placements_worth']} one pass; "
                f"{'monotone' if f['monotone'] else 'NOT monotone'}",
                "≤ 10 s",
                every,
            )
        ]
    if name == "plans_api":
        http = f["http"]
        value = "; ".join(
            f"{label}: {h['seconds']:.2f} s, {h['extra_agents']} extra" for label, h in http.items()
        )
        return [
            (
                "bench.plans_api",
                f"POST /plans over HTTP, {f['services']:,} services on {f['agents']:,} agents "
                "(gunicorn, PostgreSQL)",
                value,
                "≤ 10 s",
                f"PUT of one allocation, checked: {f['writes']['put_allocation_s']:.2f} s",
            )
        ]
    if name == "verdict_quality":
        n = f["cases"]
        return [
            (
                "bench.verdict_quality",
                f"last PUT at the CP-SAT-proven optimum, through the API ({n} clusters, "
                f"{f['ffd_misses']} where first fit decreasing misses it)",
                f"accepted {f['accepted']}/{n}; with one agent fewer refused {f['refused']} "
                f"(+{f['refused_earlier']} refused an earlier PUT); p50 {f['p50_s']:.3f} s, "
                f"max {f['max_s']:.3f} s",
                f"≥ 98% accepted, all refused, max ≤ {f['budget_s'] + 0.5:g} s",
                f"levels {f['levels']}",
            )
        ]
    if name == "plan_minimality":
        n = f["cases"]
        mix = f.get("mix") or {}
        if "skipped" in mix:
            mixed = f"mix skipped: {mix['skipped']}"
        elif mix:
            mixed = (
                f"cheapest mix (agent_shapes): cost ≤ 1.05 × optimum {mix['within_5pct']}/"
                f"{mix['cases']}, below {mix['below']}, errors {mix['other']}, mean found ÷ "
                f"optimum {mix['mean_ratio']} (target ≥ 90% within 5%, none below)"
            )
        else:
            mixed = "mix not run"
        return [
            (
                "bench.plan_minimality",
                f"POST /plans extra_agents at the CP-SAT-proven optimum, through the API ({n} "
                f"clusters of 3-10 agents, {f['ffd_misses']} where first fit decreasing misses "
                f"it, {f['above_bound']} above berth's own bound)",
                f"equal {f['equal']}/{n}; above {f['above']} ({f['above_proven_false']} saying "
                f"proven false); below {f['below']}; p50 {f['p50_s']:.3f} s, "
                f"max {f['max_s']:.3f} s",
                "≥ 95% equal, none below, every one above unproven",
                mixed,
            )
        ]
    if name == "usage_accuracy":
        return [
            (
                "bench.usage_accuracy",
                f"recommendations within {f['tolerance']:.0%} of the truth's, "
                f"{f['allocations']} demo services, {f['simulated_hours']:g} simulated h, "
                f"a round every {f['sample_every_minutes']} simulated min",
                f"{f['share_within']:.1%} (max error cpu {f['cpu_error_max']}, "
                f"mem {f['mem_error_max']})",
                f"≥ {f['target_share']:.0%}",
                f"{f['rounds']} rounds in {f['wall_seconds']} s",
            )
        ]
    if name == "usage_sampling_cost":
        return [
            (
                "bench.usage_sampling_cost",
                f"sampling round, {f['agents']:,} agents / {f['tasks']:,} tasks over loopback "
                "(median / worst s); growth a day",
                f"{f['round_seconds_median']:.2f} / {f['round_seconds_worst']:.2f} s; "
                f"{f['rows_per_day']:,} rows, {f['mib_per_day']} MiB a day",
                f"≤ {f['target_seconds']:g} s",
                f"PostgreSQL {f['minute_row_bytes']} B a minute row; {f['mib_bound']} MiB kept",
            )
        ]
    if name == "write_cost":
        return [
            (
                "bench.write_cost",
                "fit-checked PUT, in-process, p50 ms: 100 services / 20 agents vs 5,000 / 1,000",
                f"{f['p50_small_ms']:.1f} vs {f['p50_large_ms']:.1f} (p90 "
                f"{f['p90_large_ms']:.1f}); ratio {f['ratio']:.2f}",
                "ratio ≤ 2, large ≤ 50 ms",
                f"placing the large cluster afresh: {f['afresh_ms']} ms",
            )
        ]
    if name == "load":
        routes = "; ".join(
            f"{k} {r['rps']:.1f}/s p50 {r['p50_ms']:.0f} p99 {r['p99_ms']:.0f}"
            for k, r in f["routes"].items()
        )
        return [
            (
                "bench.load",
                f"req/s, {f['clients']} clients, gunicorn {f['workers']} workers, "
                f"{f['seconds']:g} s (p50 / p99 ms)",
                f"{f['requests_per_second']:.1f} ({f['p50_ms']:.0f} / {f['p99_ms']:.0f}); "
                f"5xx {f['errors_5xx']}; checks {'ok' if f['checks_ok'] else 'FAILED'}",
                "no 5xx, checks ok",
                routes,
            ),
            (
                "bench.load",
                "fit-checked writes/s to one cluster (5,000 allocations, 1,000 agents), "
                "writes alone; in the mix",
                f"{f['writes_per_second']:.1f}; {f['writes_per_second_mixed']:.1f}",
                "≥ 100",
                "–",
            ),
        ]
    figures = {k: v for k, v in f.items() if k != "bench" and not isinstance(v, dict | list)}
    value = ", ".join(f"{k} {v}" for k, v in figures.items())
    return [(f"bench.{name}", "figures", value or json.dumps(f), f.get("target", "–"), "–")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=40, help="vector packing: every Nth")
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--render-seconds", type=float, default=5.0)
    parser.add_argument("--only", action="append", help="run only these (e.g. ports)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()

    every = ["--every", str(args.every)]
    # (label, module, arguments, timeout in s); the vector packing sets run one by one, so
    # that one set failing to load does not cost the others
    plan: list[tuple[str, str, list[str], float]] = [
        ("ports", "ports", [], 900),
        ("render_throughput", "render_throughput", ["--seconds", str(args.render_seconds)], 600),
        ("placement_speed", "placement_speed", [], 900),
        *(
            (f"vector_packing {s}", "vector_packing", [*every, "--set", s], 1200)
            for s in ("Panigrahy", "New", "Triplet")
        ),
    ]
    quality = ["--small", "40", "--large", "5", "--seconds", "5"]
    plan.append(("cluster_quality", "cluster_quality", quality, 1200))
    plan.append(("verdict_quality", "verdict_quality", ["--cases", "60"], 2400))
    plan.append(("write_cost", "write_cost", ["--writes", "200"], 1200))
    plan.append(("plans", "plans", [], 900))
    plan.append(("plans_api", "plans_api", ["--no-profile"], 900))
    plan.append(("plan_minimality", "plan_minimality", [], 900))
    plan.append(("usage_accuracy", "usage_accuracy", ["--hours", "24"], 900))
    plan.append(("usage_sampling_cost", "usage_sampling_cost", [], 1200))
    load = ["--seconds", str(args.load_seconds)]
    plan.append(("load", "load", load, args.load_seconds + 900))
    if args.only:
        plan = [p for p in plan if p[1] in args.only or p[0] in args.only]

    started = datetime.now(UTC)
    results: list[tuple[str, str, dict[str, Any] | None, str, float]] = []
    for label, module, bench_args, timeout in plan:
        print(f"running bench.{module} {' '.join(bench_args)}", file=sys.stderr, flush=True)
        figures, output, seconds = _run(f"bench.{module}", bench_args, timeout)
        print(output, file=sys.stderr, flush=True)
        results.append((label, module, figures, output, seconds))

    machine = (
        f"{os.cpu_count()} cores, {_cpu_model()}, {platform.machine()}, Python "
        f"{platform.python_version()}, {_postgres_version()}"
    )
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m bench.all` (`make bench`) on {started:%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine}.",
        "",
        "| benchmark | figure | value | target | anchor and ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, module, figures, _, _ in results:
        if figures is None:
            lines.append(f"| bench.{label} | – | no figures (see its output below) | – | – |")
            continue
        for row in _rows(module, figures):
            lines.append("| " + " | ".join(str(c).replace("|", "/") for c in row) + " |")
    lines += ["", "Ratios: vector packing is agents used ÷ OPT divided by best_overall ÷ OPT of"]
    lines += [
        "the published summaries (below 1: better than the best published heuristic); placement",
        "speed is instances per second divided by Nomad's 3,750 placements/s.",
        "",
        "## Output of each benchmark",
        "",
    ]
    for (_, module, bench_args, _), (_, _, _, output, seconds) in zip(plan, results, strict=True):
        lines += [
            f"### bench.{module} {' '.join(bench_args)} ({seconds:.0f} s)",
            "",
            "```",
            output.strip(),
            "```",
            "",
        ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines[: lines.index("## Output of each benchmark")]))
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
