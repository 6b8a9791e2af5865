"""What-if plans through berth's HTTP API on 5,000 services and 1,000 agents: where the time goes.

bench.plans times the pure search (`allocator.plans.plan`) in-process; an operator waits
for the whole request: reading the cluster picture (every allocation of every
environment, its ports and constraints), the snapshot's agents, the factors and the call
graph, the deploy surge, the reservation windows, the search, and storing the plan and its
audit event. This bench builds that cluster for real and asks berth over HTTP:

- the simulator (`python -m simulator`, a subprocess) with 1,000 agents of
  bench.placement_speed's three shapes, racks and zones, offering ports [31000-38999]
  (without the other frameworks' load and ports that bench.placement_speed puts on some);
- a PostgreSQL database `bench_plans_api` (dropped and made again) seeded in-process
  through the ledger's use cases (create_cluster, create_environment, add_service,
  write_allocation, sync_cluster): one cluster, one production environment, 5,000
  services × 3 instances sized like bench.placement_speed.allocations, 1-2 host ports
  each handed out by berth, UNIQUE hostname, the calls of bench.plans.call_edges; 50
  edge services form team "storefront", every service carries tag "shop". The services
  go in callees first (a new service skips the cycle check: nobody calls it yet), and
  the allocations before the first sync (after it, each write places the whole cluster);
- berth under gunicorn (2 workers), asked as a client would (requests): a plan that fits
  as it is, team:storefront ×20 carried along the calls, every service ×1.5 (tag:shop),
  each with wall time, extra agents and placements tried; then one more service and its
  allocation, timed (and deleted);
- the same plans in-process through the Flask test client: the steps of the request timed
  on their own (plan(), picture(), _factors(), the schemas, commit, ...); cProfile of the
  request with plan() answered from that pass, so the profile is the ledger side alone;
  and the ledger side again with a snapshot holding 5,000 running apps and their 15,000
  tasks (built from berth's own render and placement and stored by store_snapshot: the
  simulator cannot start that many tasks in time), as a real cluster's snapshot would.

Figures vary by ±0.5 s between runs on a shared 2-core machine; the load average is printed.

    .venv/bin/python -m bench.plans_api [--services 5000] [--agents 1000] [--no-profile]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import json
import os
import platform
import pstats
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import api.plans
import ledger.capacity as capacity
import ledger.context
import ledger.plans
from allocator.placement import place
from app import create_app, upgrade_database
from bench.placement_speed import EXECUTOR, SHAPES, allocations
from bench.plans import TEAM_EVERY, TIERS, call_edges
from bench.servers import free_port, start_gunicorn, start_simulator_process
from ledger.allocations import write_allocation
from ledger.clusters import create_cluster, find_cluster
from ledger.context import Context, in_transaction
from ledger.environments import create_environment, find_environment
from ledger.renders import callees_in, render_input
from ledger.services import add_service
from ledger.sync import Reading, store_snapshot, sync_cluster
from ledger.tokens import create_token
from marathon.render import render

SERVER = os.environ.get(
    "BERTH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "bench_plans_api"
ROOT = Path(__file__).resolve().parent.parent
SIM_PORTS = (5090, 5099)
BERTH_PORTS = (8090, 8099)
PORTS = (31000, 38999)
CLUSTER, ENV = "east", "production"
BATCH = 500  # services or allocations per seeding transaction
PORT_NAMES = ("http", "dubbo")
NEW_AGENT = {"cpus": 16.0, "mem": 65536.0, "disk": 500_000.0}  # as bench.plans adds
# the machines a cheapest mix may buy (bench.plans.MACHINES): the common one among them
MACHINES = [
    {"name": "m16", **NEW_AGENT, "cost": 1.0},
    {"name": "m32", "cpus": 32.0, "mem": 131072.0, "disk": 1_000_000.0, "cost": 1.9},
    {"name": "c16", "cpus": 16.0, "mem": 32768.0, "disk": 500_000.0, "cost": 0.75},
]


def start_simulator(agents: int, seed: int = 90) -> tuple[subprocess.Popen[bytes], str]:
    """The simulator with no agents of its own, then `agents` of bench.placement_speed's
    shapes added over its control API (its built-in fleet has other shapes and only
    [31000-32000], too few ports for 7,500 host ports unique in the cluster)."""
    sim, url = start_simulator_process(0, seed, ports=SIM_PORTS)
    http = requests.Session()
    for i in range(agents):
        cpus, mem, disk = SHAPES[i % len(SHAPES)]
        r = http.post(
            f"{url}/_sim/agents",
            json={
                "cpus": cpus,
                "mem": mem,
                "disk": disk,
                "ports": f"[{PORTS[0]}-{PORTS[1]}]",
                "hostname": f"host-{i:04d}.dc1",
                "attributes": {"rack": f"rack-{i % 40:02d}", "zone": "abc"[i % 3]},
            },
            timeout=30,
        )
        r.raise_for_status()
    return sim, url


def fresh_database(name: str = DATABASE) -> str:
    """The PostgreSQL database `name`, dropped and made again, migrated; its URL."""
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    return url


def team_of(i: int, n: int) -> str:
    """Edge, BFF, domain or data tier by position; every 10th edge service is storefront."""
    edge = int(TIERS[0][1] * n)
    if i < edge and i % TEAM_EVERY == 0:
        return "storefront"
    return ("edge", "bff", "domain", "data")[
        next(t for t, (lo, hi) in enumerate(TIERS) if lo * n <= i < hi * n)
    ]


def seed(app: Flask, sim_url: str, n: int) -> tuple[str, dict[str, float]]:
    """The cluster, the environment, n services with allocations and call edges, a snapshot;
    returns an ops token and the seconds of each step."""
    ctx: Context = app.extensions["berth"].context(actor="bench")
    took: dict[str, float] = {}
    start = time.perf_counter()
    create_cluster(
        ctx,
        {
            "name": CLUSTER,
            "mesos_masters": [sim_url],
            "marathon_url": sim_url,
            "port_ranges": [f"{PORTS[0]}-{PORTS[1]}"],
        },
    )
    create_environment(ctx, {"name": ENV, "cluster": CLUSTER, "marathon_group": "/prod"})
    demands = allocations(n, PORTS, constraints=True)
    health = {"port": "http", "path": "/actuator/health", "protocol": "HTTP"}
    specs = []
    for i, d in enumerate(demands):
        names = PORT_NAMES[: len(d.ports)]
        specs.append(
            (
                {
                    "name": d.key.split("/")[0],
                    "runtime": "java" if i % 3 else "node",
                    "team": team_of(i, n),
                    "tags": ["shop"],
                    "ports": [{"name": p} for p in names],
                    "health_check": health,
                },
                {
                    "cpus": round(d.cpus - EXECUTOR[0], 6),
                    "mem": int(d.mem - EXECUTOR[1]),
                    "disk": int(d.disk),
                    "instances": d.count,
                    "constraints": [list(c) for c in d.constraints],
                },
            )
        )
    took["cluster"] = time.perf_counter() - start

    # callees first (each tier calls the next one down), through the use case
    calls: dict[str, list[dict[str, Any]]] = {}
    for e in call_edges(n):
        calls.setdefault(e.caller, []).append({"service": e.callee, "fan_out": e.fan_out})
    start = time.perf_counter()
    ordered = [{**s, "calls": calls.get(s["name"], [])} for s, _ in reversed(specs)]
    for at in range(0, n, BATCH):
        batch = ordered[at : at + BATCH]
        in_transaction(ctx, lambda session, b=batch: [add_service(ctx, session, s) for s in b])
    took["services"] = time.perf_counter() - start

    start = time.perf_counter()
    for at in range(0, n, BATCH):
        batch = specs[at : at + BATCH]
        in_transaction(
            ctx,
            lambda session, b=batch: [
                write_allocation(ctx, session, ENV, s["name"], a, check_fit=False) for s, a in b
            ],
        )
    took["allocations"] = time.perf_counter() - start

    start = time.perf_counter()
    sync_cluster(ctx, CLUSTER)
    took["sync"] = time.perf_counter() - start
    token = create_token(ctx, "bench-plans-api", "ops")
    return token, took


def requests_to_plan(now: datetime) -> list[tuple[str, dict[str, Any]]]:
    window = [(now + timedelta(days=1)).isoformat(), (now + timedelta(days=3)).isoformat()]
    base = {"environment": ENV, "window": window, "agent_shape": NEW_AGENT}
    return [
        ("fits: storefront x2", {**base, "scale": {"team:storefront": 2}}),
        (
            "team x20, propagate",
            {**base, "scale": {"team:storefront": 20}, "propagate": True},
        ),
        ("everything x1.5", {**base, "scale": {"tag:shop": 1.5}}),
        (
            "team x20, 3 machine shapes",
            {
                **base,
                "scale": {"team:storefront": 20},
                "propagate": True,
                "agent_shapes": MACHINES,
            },
        ),
    ]


class PlanSpy:
    """Stands in for `ledger.plans.plan`: runs the real search and keeps its answer, or, in
    replay, gives that answer back at once, so that a profile holds the ledger side alone."""

    def __init__(self) -> None:
        self.real = ledger.plans.plan
        self.answers: dict[str, Any] = {}
        self.label = ""
        self.replay = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.replay:
            return self.answers[self.label]
        self.answers[self.label] = self.real(*args, **kwargs)
        return self.answers[self.label]


# (owner, attribute, what it is): the steps of POST /plans timed on their own; a step's
# time leaves out the steps it calls, so that the steps and "the rest" add up to the whole
STEPS: tuple[tuple[Any, str, str], ...] = (
    (ledger.plans, "plan", "plan(): the search (allocator)"),
    (ledger.plans, "refresh_if_stale", "refresh_if_stale(): snapshot age"),
    (ledger.plans, "picture", "picture(): query + ORM load"),
    (capacity, "_agents", "  _agents(): snapshot agents"),
    (capacity, "_allocation_demand", "  _allocation_demand() x n"),
    (capacity, "_surge", "  _surge() in picture"),
    (ledger.plans, "_factors", "_factors(): all services"),
    (ledger.plans, "call_graph", "  call_graph()"),
    (ledger.plans, "_surge", "_surge() of the scaled"),
    (ledger.plans, "_scenarios", "_scenarios(): windows"),
    (ledger.plans, "_answer_view", "_answer_view()"),
    (ledger.context.Context, "audit", "ctx.audit(): audit row"),
    (Session, "flush", "Session.flush (all flushes)"),
    (Session, "commit", "Session.commit"),
    (api.plans.PlanIn, "load", "PlanIn.load: the request"),
    (api.plans.PlanOut, "dump", "PlanOut.dump: the response"),
)


class Steps:
    """Exclusive seconds of the STEPS while patched in (in this process only)."""

    def __init__(self) -> None:
        self.own: dict[str, float] = {}
        self.open: list[float] = []  # seconds of timed callees, per open step
        self.saved: list[tuple[Any, str, Any]] = []

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.open.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                inner = self.open.pop()
                self.own[name] = self.own.get(name, 0.0) + elapsed - inner
                if self.open:
                    self.open[-1] += elapsed

        return timed

    def __enter__(self) -> Steps:
        for owner, attr, name in STEPS:
            # a class's own attribute, or none (inherited): put back exactly that
            own = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr)
            self.saved.append((owner, attr, own))
            setattr(owner, attr, self._wrap(name, getattr(owner, attr)))
        return self

    def __exit__(self, *_: object) -> None:
        for owner, attr, own in reversed(self.saved):
            if own is None:
                delattr(owner, attr)
            else:
                setattr(owner, attr, own)
        self.saved.clear()


def split(
    client: Any, headers: dict[str, str], asked: list[tuple[str, dict[str, Any]]], spy: PlanSpy
) -> list[dict[str, float]]:
    """Each plan through the test client, its steps timed (no profiler)."""
    out = []
    for label, body in asked:
        spy.label = label
        with Steps() as steps:
            start = time.perf_counter()
            r = client.post("/api/v1/plans", json=body, headers=headers)
            total = time.perf_counter() - start
        assert r.status_code == 201, r.get_data(as_text=True)[:500]
        out.append({**steps.own, "total": total})
    return out


def split_table(title: str, labels: list[str], columns: list[dict[str, float]]) -> list[str]:
    names = [name for _, _, name in STEPS]
    lines = [title, f"{'':>34}" + "".join(f"{label[:20]:>22}" for label in labels)]
    for name in [*names, "the rest (Flask, auth, views)", "total"]:
        row = []
        for c in columns:
            if name.startswith("the rest"):
                v = c["total"] - sum(c.get(n, 0.0) for n in names)
            else:
                v = c.get(name, 0.0)
            row.append(f"{v:8.3f} s {v / c['total']:5.0%}      ")
        lines.append(f"{name:>34}" + "".join(f"{x:>22}" for x in row))
    ledger_side = [c["total"] - c.get(names[0], 0.0) for c in columns]
    lines.append(f"{'all but plan()':>34}" + "".join(f"{v:8.3f} s{'':13}" for v in ledger_side))
    return lines


def where(code: str) -> str:
    """A profile entry's file, short: relative to berth or to site-packages."""
    code = code.split("site-packages/")[-1]
    return code.removeprefix(str(ROOT) + "/")


def profile_lines(profiler: cProfile.Profile, top: int) -> list[str]:
    """berth's own functions (allocator/ aside) by cumulative time, then everything by own
    time (SQLAlchemy, psycopg, json: where the ledger side spends it)."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = [
        (ct, tt, nc, file, f"{where(file)}:{line}({func})")
        for (file, line, func), (_, nc, tt, ct, _) in stats.stats.items()  # type: ignore[attr-defined]
        if "/allocator/" not in file and not file.endswith("plans_api.py")
    ]
    total = max((r[0] for r in rows), default=0.0)
    ours = [
        r
        for r in rows
        if r[3].startswith(str(ROOT)) and ".venv" not in r[3] and r[0] < 0.99 * total
    ]
    out = [
        f"    {'cum s':>7} {'own s':>7} {'calls':>8}  berth's code "
        f"(whole request {total:.2f} s profiled)"
    ]
    for ct, tt, nc, _, name in sorted(ours, reverse=True)[:top]:
        out.append(f"    {ct:7.3f} {tt:7.3f} {nc:8d}  {name}")
    out.append(f"    {'cum s':>7} {'own s':>7} {'calls':>8}  everything, by own time")
    for ct, tt, nc, _, name in sorted(rows, key=lambda r: -r[1])[:top]:
        out.append(f"    {ct:7.3f} {tt:7.3f} {nc:8d}  {name}")
    return out


def running_reading(app: Flask) -> Reading:
    """The snapshot a sync would store if every allocation ran its instances: each app as
    berth renders it, its tasks where berth's placement puts them, the agents' used
    resources and ports with them (the simulator cannot start 15,000 tasks in time)."""
    ctx: Context = app.extensions["berth"].context(actor="bench")

    def work(session: Session) -> Reading:
        cluster = find_cluster(session, CLUSTER)
        pic = capacity.picture(session, cluster)
        assert pic.snapshot is not None
        placed = place(pic.agents, [d for _, d in pic.allocations])
        env = find_environment(session, ENV)
        callees = callees_in(session, env.id)
        agents = copy.deepcopy(pic.snapshot.agents)
        by_id = {a["id"]: a for a in agents}
        started = datetime.now(UTC).isoformat()
        apps = []
        for alloc, demand in pic.allocations:
            name = alloc.service.name
            image = f"registry.local/shop/{name}:1.4.2"
            definition = render(render_input(session, alloc, image, callees=callees))
            tasks = []
            for j, agent_id in enumerate(placed.assignments.get(demand.key, ())):
                agent = by_id[agent_id]
                for r in ("cpus", "mem", "disk"):
                    agent["used"][r] += getattr(demand, r)
                agent["used"]["ports"].extend([p, p] for p in demand.ports)
                tasks.append(
                    {
                        "id": f"prod_{name}.{j:04d}",
                        "host": agent["hostname"],
                        "agent_id": agent_id,
                        "ports": list(demand.ports),
                        "state": "TASK_RUNNING",
                        "started_at": started,
                    }
                )
            apps.append(
                {
                    "id": capacity.app_id(env, name),
                    "definition": definition,
                    "deployments": [],
                    "tasks": tasks,
                }
            )
        for agent in agents:
            agent["used"]["ports"].sort()
        return Reading(
            read_at=datetime.now(UTC),
            mesos_version=pic.snapshot.mesos_version,
            marathon_version=pic.snapshot.marathon_version,
            agents=agents,
            apps=sorted(apps, key=lambda a: a["id"]),
        )

    return in_transaction(ctx, work)


def writes(http: requests.Session, base: str) -> dict[str, float]:
    """One more service and its allocation on the seeded cluster, as a client makes them:
    what seeding through the API would cost per service at this size."""
    took = {}
    start = time.perf_counter()
    r = http.post(
        f"{base}/services",
        json={
            "name": "bench-extra",
            "runtime": "java",
            "team": "edge",
            "ports": [{"name": "http"}],
        },
        timeout=120,
    )
    took["post_service_s"] = round(time.perf_counter() - start, 3)
    assert r.status_code == 201, r.text[:500]
    start = time.perf_counter()
    r = http.put(
        f"{base}/environments/{ENV}/allocations/bench-extra",
        json={"cpus": 0.5, "mem": 512, "instances": 3, "constraints": [["hostname", "UNIQUE"]]},
        timeout=120,
    )
    took["put_allocation_s"] = round(time.perf_counter() - start, 3)
    assert r.status_code == 201, r.text[:500]
    # gone again, so that the in-process plans see the same 5,000
    http.delete(
        f"{base}/environments/{ENV}/allocations/bench-extra", timeout=120
    ).raise_for_status()
    http.delete(f"{base}/services/bench-extra", timeout=120).raise_for_status()
    print(
        f"{'one more service':>22}: POST /services {took['post_service_s']:.2f} s, "
        f"PUT its allocation (checked against the cluster) {took['put_allocation_s']:.2f} s"
    )
    return took


def figures(body: dict[str, Any]) -> str:
    k = body.get("extra_agents")
    return (
        f"fits {str(body.get('fits')):<5} extra agents {k!s:>4}  "
        f"placements {body.get('placements_tried')!s:>2}  "
        f"instances {body.get('instances_before')}->{body.get('instances_after')} "
        f"({len(body.get('services', []))} services scaled)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--top", type=int, default=14, help="profile entries per plan")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process passes")
    args = parser.parse_args()
    began = time.perf_counter()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores (other work slows every figure)")
    print(
        f"python {sys.version.split()[0]}, {platform.machine()}, PostgreSQL database {DATABASE}, "
        f"gunicorn {args.workers} workers"
    )

    sim, sim_url = start_simulator(args.agents)
    server: subprocess.Popen[bytes] | None = None
    try:
        print(f"simulator: {args.agents} agents in {time.perf_counter() - began:.1f} s")
        url = fresh_database()
        app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        token, took = seed(app, sim_url, args.services)
        print(
            "seeded through the use cases: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in took.items())
            + " (sync: what a plan adds when the snapshot is older than 5 min)"
        )
        port = free_port(*BERTH_PORTS)
        server = start_gunicorn(url, port, args.workers)
        base = f"http://127.0.0.1:{port}/api/v1"
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        for _ in range(4 * args.workers):  # imports and first connections in every worker
            http.get(f"{base}/plans", params={"limit": 1}, timeout=60).raise_for_status()

        results: dict[str, Any] = {"bench": "plans_api", "services": args.services}
        results["agents"] = args.agents
        results["seed_s"] = {k: round(v, 2) for k, v in took.items()}
        results["http"] = {}
        print(f"POST /api/v1/plans over HTTP ({args.services} services, {args.agents} agents):")
        for label, body in requests_to_plan(datetime.now(UTC)):
            start = time.perf_counter()
            r = http.post(f"{base}/plans", json=body, timeout=300)
            seconds = time.perf_counter() - start
            if r.status_code != 201:
                raise RuntimeError(f"{label}: {r.status_code} {r.text[:500]}")
            got = r.json()
            start = time.perf_counter()
            again = http.get(f"{base}/plans/{got['id']}", timeout=60)
            read = time.perf_counter() - start
            print(
                f"{label:>22}: {seconds:6.2f} s  {figures(got)}; "
                f"{len(r.content) / 1024:.0f} KiB, GET it back {read:.2f} s"
            )
            results["http"][label] = {
                "seconds": round(seconds, 3),
                "extra_agents": got["extra_agents"],
                "placements_tried": got["placements_tried"],
                "kib": round(len(r.content) / 1024),
                "get_seconds": round(read, 3),
                "get_status": again.status_code,
            }
        results["writes"] = writes(http, base)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        server = None

        if not args.no_profile:
            in_process(app, token, args.top, results)
        results["total_s"] = round(time.perf_counter() - began, 1)
        print(f"whole run {results['total_s']} s")
        print(json.dumps(results))
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=30)


def in_process(app: Flask, token: str, top: int, results: dict[str, Any]) -> None:
    """The same plans through the Flask test client: the steps, the ledger side's profile,
    and the ledger side again with a snapshot of 5,000 running apps."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    spy = PlanSpy()
    ledger.plans.plan = spy  # type: ignore[assignment]
    try:
        asked = requests_to_plan(datetime.now(UTC))
        labels = [label for label, _ in asked]
        columns = split(client, headers, asked, spy)
        print(
            "\n".join(
                split_table(
                    "in-process (Flask test client), the steps of POST /plans, own seconds:",
                    labels,
                    columns,
                )
            )
        )
        results["in_process"] = {
            label: {k: round(v, 3) for k, v in c.items()}
            for label, c in zip(labels, columns, strict=True)
        }
        spy.replay = True
        for label, body in asked[1:]:
            spy.label = label
            profiler = cProfile.Profile()
            profiler.enable()
            r = client.post("/api/v1/plans", json=body, headers=headers)
            profiler.disable()
            assert r.status_code == 201, r.get_data(as_text=True)[:500]
            print(f"cProfile of '{label}' without plan() (its answer replayed):")
            print("\n".join(profile_lines(profiler, top)))

        start = time.perf_counter()
        reading = running_reading(app)
        built = time.perf_counter() - start
        start = time.perf_counter()
        stored = store_snapshot(app.extensions["berth"].context(actor="bench"), CLUSTER, reading)
        saved = time.perf_counter() - start
        tasks = sum(len(a["tasks"]) for a in reading.apps)
        print(
            f"a snapshot with {len(reading.apps)} running apps and {tasks} tasks "
            f"({len(json.dumps(reading.apps)) / 2**20:.1f} MiB of apps): built in {built:.1f} s, "
            f"stored by ledger.sync.store_snapshot in {saved:.2f} s (snapshot {stored['id']})"
        )
        running = split(client, headers, asked, spy)
        print(
            "\n".join(
                split_table("the same plans, plan() replayed, with that snapshot:", labels, running)
            )
        )
        results["running_snapshot"] = {
            "store_s": round(saved, 3),
            "ledger_side_s": {
                label: round(c["total"] - c.get(STEPS[0][2], 0.0), 3)
                for label, c in zip(labels, running, strict=True)
            },
        }
    finally:
        ledger.plans.plan = spy.real


if __name__ == "__main__":
    main()
