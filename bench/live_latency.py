"""How long a change made in Marathon takes to show in berth, with `flask --app app watch`.

Part A: changes made directly in the simulated Marathon (deploy a new app, scale one, kill
a task), each timed until berth's snapshot, drift and capacity answers (over HTTP, berth
under gunicorn on PostgreSQL) show it; p50/p95/max (target p95 <= 2 s). Part B: releases
deployed through berth, timed from Marathon's `deployment_success` (as an SSE client of
the simulator receives it) to the release's row saying `succeeded`, read straight from the
database: nobody asks berth, whose GET would follow the release itself (target <= 1 s).

    .venv/bin/python -m bench.live_latency [--changes 60] [--releases 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from app import create_app
from bench.plans_api import fresh_database
from bench.servers import free_port, start_gunicorn, start_simulator_process
from ledger.tokens import create_token
from marathon.events import stream_events

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "berth_bench_live"
GROUP = "/bench"


def start_simulator(agents: int) -> tuple[subprocess.Popen[bytes], str]:
    return start_simulator_process(agents, seed=7)


def start_watcher(db_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BERTH_DATABASE_URL": db_url, "BERTH_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("flask")), "--app", "app", "watch"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Berth:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> dict[str, Any]:
        r = self.http.get(self.base + path, timeout=30)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def tasks(self, app_id: str) -> list[str]:
        for app in self.get("/api/v1/clusters/east/snapshot?full=true")["apps"]:
            if app["id"] == app_id:
                return [t["id"] for t in app["tasks"]]
        return []

    def drift_instances(self, app_id: str) -> int | None:
        for u in self.get("/api/v1/environments/bench/drift").get("unmanaged", []):
            if u.get("app_id") == app_id:
                return int(u.get("instances", 0))
        return None

    def used_cpus(self) -> float:
        return float(self.get("/api/v1/clusters/east/capacity")["used"]["cpus"])


def wait(checks: dict[str, Any], started: float, limit: float = 20.0) -> dict[str, float]:
    """Seconds from `started` until each check first holds."""
    seen: dict[str, float] = {}
    while len(seen) < len(checks):
        for name, check in checks.items():
            if name not in seen and check():
                seen[name] = time.monotonic() - started
        if time.monotonic() - started > limit:
            raise RuntimeError(f"not visible within {limit} s: {set(checks) - set(seen)}")
        time.sleep(0.01)
    return seen


def part_a(berth: Berth, sim: str, changes: int) -> list[dict[str, Any]]:
    http = requests.Session()
    cpus = 0.1
    executor = 0.1
    apps: dict[str, int] = {}
    base_used = berth.used_cpus()
    out = []
    for i in range(changes):
        kind = ("deploy", "scale", "kill")[i % 3] if apps else "deploy"
        if kind == "deploy":
            app_id = f"{GROUP}/app-{i:03d}"
            apps[app_id] = 1 + i % 2
            started = time.monotonic()
            http.post(
                f"{sim}/v2/apps",
                json={
                    "id": app_id,
                    "cmd": "sleep 1000",
                    "cpus": cpus,
                    "mem": 32,
                    "instances": apps[app_id],
                },
                timeout=10,
            ).raise_for_status()
        elif kind == "scale":
            app_id = sorted(apps)[i % len(apps)]
            apps[app_id] = 1 + (apps[app_id] % 3)
            started = time.monotonic()
            http.put(
                f"{sim}/v2/apps{app_id}",
                json={"instances": apps[app_id]},
                params={"force": "true"},
                timeout=10,
            ).raise_for_status()
        else:
            app_id = sorted(apps)[i % len(apps)]
            victim = berth.tasks(app_id)[0]
            started = time.monotonic()
            http.delete(f"{sim}/v2/apps{app_id}/tasks/{victim}", timeout=10).raise_for_status()
        want = apps[app_id]
        used = round(base_used + sum(n * (cpus + executor) for n in apps.values()), 3)
        if kind == "kill":
            checks = {
                "snapshot": lambda a=app_id, v=victim, n=want: (
                    (t := berth.tasks(a)) and v not in t and len(t) == n
                )
            }
        else:
            checks = {
                "snapshot": lambda a=app_id, n=want: len(berth.tasks(a)) == n,
                "drift": lambda a=app_id, n=want: berth.drift_instances(a) == n,
                "capacity": lambda u=used: abs(berth.used_cpus() - u) < 1e-3,
            }
        seen = wait(checks, started)
        out.append({"kind": kind, **seen, "visible": max(seen.values())})
    return out


def part_b(berth: Berth, admin: Berth, sim: str, engine: Any, releases: int) -> list[float]:
    """Releases through berth, timed from Marathon's deployment_success to the row."""
    success: dict[str, float] = {}
    attached = threading.Event()

    def listen() -> None:
        try:
            _listen()
        except Exception:  # noqa: BLE001 - the simulator stops at the end of the run
            pass

    def _listen() -> None:
        for event in stream_events(
            sim, event_types=("event_stream_attached", "deployment_success")
        ):
            if event.type == "event_stream_attached":
                attached.set()
            else:
                success[str(event.body.get("id"))] = time.monotonic()

    threading.Thread(target=listen, daemon=True).start()
    attached.wait(10)
    out = []
    for i in range(releases):
        name = f"rel-{i:02d}"
        admin.http.post(
            admin.base + "/api/v1/services",
            json={"name": name, "runtime": "java", "team": "bench", "ports": [{"name": "http"}]},
            timeout=30,
        ).raise_for_status()
        admin.http.put(
            admin.base + f"/api/v1/environments/bench/allocations/{name}",
            json={"cpus": 0.1, "mem": 64, "instances": 1},
            timeout=30,
        ).raise_for_status()
        r = admin.http.post(
            admin.base + "/api/v1/deployments",
            json={"service": name, "environment": "bench", "image": f"registry.local/{name}:1"},
            timeout=30,
        )
        r.raise_for_status()
        release = r.json()
        plan = release["marathon_deployment_id"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                status = conn.scalar(
                    text("SELECT status FROM deployments WHERE id = :id"), {"id": release["id"]}
                )
            if status == "succeeded" and plan in success:
                out.append(max(0.0, time.monotonic() - success[plan]))
                break
            time.sleep(0.005)
        else:
            raise RuntimeError(f"release {release['id']} did not succeed from the event")
    return out


def watching(berth: Berth) -> bool:
    try:
        return bool(berth.get("/api/v1/clusters/east/snapshot").get("live", {}).get("watching"))
    except requests.HTTPError:
        return False  # no snapshot yet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--releases", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    url = fresh_database(DATABASE)
    sim, sim_url = start_simulator(8)
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    ctx = app.extensions["berth"].context(actor="bench")
    token = create_token(ctx, "bench-live", "admin")
    port = free_port(8090, 8099)
    server = start_gunicorn(url, port, args.workers)
    watcher = None
    engine = create_engine(url)
    try:
        admin = Berth(f"http://127.0.0.1:{port}", token)
        admin.http.post(
            admin.base + "/api/v1/clusters",
            json={
                "name": "east",
                "mesos_masters": [sim_url],
                "marathon_url": sim_url,
                "port_ranges": ["31000-32000"],
            },
            timeout=30,
        ).raise_for_status()
        admin.http.post(
            admin.base + "/api/v1/environments",
            json={"name": "bench", "cluster": "east", "marathon_group": GROUP},
            timeout=30,
        ).raise_for_status()
        watcher = start_watcher(url)
        deadline = time.monotonic() + 30
        while not watching(admin):
            if time.monotonic() > deadline:
                raise RuntimeError("the watcher did not attach")
            time.sleep(0.1)
        changes = part_a(admin, sim_url, args.changes)
        releases = part_b(admin, admin, sim_url, engine, args.releases)
    finally:
        for proc in (watcher, server, sim):
            if proc is not None:
                proc.terminate()
                proc.wait(10)
        engine.dispose()
    visible = [c["visible"] for c in changes]
    for kind in ("deploy", "scale", "kill"):
        v = [c["visible"] for c in changes if c["kind"] == kind]
        if v:
            print(
                f"{kind:7s} n={len(v):3d} p50 {statistics.median(v):.3f} s  "
                f"p95 {pct(v, 0.95):.3f} s  max {max(v):.3f} s"
            )
    print(
        f"changes n={len(visible)} p50 {statistics.median(visible):.3f} s  p95 "
        f"{pct(visible, 0.95):.3f} s  max {max(visible):.3f} s (snapshot, drift, capacity)"
    )
    print(
        f"releases n={len(releases)} deployment_success -> succeeded: p50 "
        f"{statistics.median(releases):.3f} s  max {max(releases):.3f} s"
    )
    print(
        json.dumps(
            {
                "bench": "live_latency",
                "changes": len(visible),
                "p50_s": round(statistics.median(visible), 3),
                "p95_s": round(pct(visible, 0.95), 3),
                "max_s": round(max(visible), 3),
                "target_p95_s": 2.0,
                "releases": len(releases),
                "release_p50_s": round(statistics.median(releases), 3),
                "release_max_s": round(max(releases), 3),
                "target_release_s": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
