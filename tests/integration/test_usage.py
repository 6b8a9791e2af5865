"""Usage sampled over real HTTP from loopback agents: rates, attribution, an unreachable
agent, storage, roll-up and retention, the API and /metrics; only 127.0.0.0/8 is dialled."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ledger.context import Context
from ledger.errors import LedgerError
from ledger.usage import UsageSampler, environment_recommendations, run_sampling
from marathon.errors import ClusterError
from models import Cluster, Snapshot, UsageHour, UsageMinute, UsageSampling
from models.base import utcnow
from tests.factories import allocate, world

APP = "/production/order-service"
MIB = 1024 * 1024


class _Agent(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps(self.server.payload).encode()  # type: ignore[attr-defined]
        self.send_response(200 if self.path.startswith("/monitor/statistics") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def agent() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Agent)
    server.payload = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def entry(task: str, ts: float, cpu: float, rss_mib: int) -> dict[str, Any]:
    """One executor as the reference payload has it (monitor-statistics_docs-endpoints.json)."""
    return {
        "executor_id": task,
        "executor_name": f"Command Executor (Task: {task})",
        "framework_id": "marathon",
        "source": task,
        "statistics": {
            "cpus_limit": 1.1,
            "cpus_system_time_secs": cpu * 0.25,
            "cpus_user_time_secs": cpu * 0.75,
            "mem_rss_bytes": rss_mib * MIB,
            "mem_limit_bytes": 1056 * MIB,
            "timestamp": ts,
        },
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ctx(app: Flask) -> Context:
    return app.extensions["berth"].context()


@pytest.fixture
def measured(admin: Any, app: Flask, agent: ThreadingHTTPServer) -> None:
    """Cluster east with order-service (java, 1 cpus, 1024 MiB, 3 instances) in production,
    and a snapshot whose agents are the loopback server, a closed loopback port, and one
    that advertises no address (its hostname is made up and never dialled)."""
    world(admin)
    assert allocate(admin, cpus=1.0, mem=1024, instances=3).status_code in (200, 201)
    port = agent.server_address[1]
    agents = [
        {"id": "a1", "hostname": "10.0.1.10", "active": True, "pid": f"slave(1)@127.0.0.1:{port}"},
        {
            "id": "a2",
            "hostname": "10.0.1.11",
            "active": True,
            "pid": f"slave(1)@127.0.0.1:{_free_port()}",
        },
        {"id": "a3", "hostname": "10.0.1.12", "active": True},
        {"id": "a4", "hostname": "10.0.1.13", "active": False, "pid": "slave(1)@10.0.1.13:5051"},
    ]
    res = {"cpus": 8.0, "mem": 16384.0, "disk": 1e5, "gpus": 0.0, "ports": [[31000, 32000]]}
    for a in agents:
        a.update(resources=res, used={**res, "cpus": 0.0, "mem": 0.0, "ports": []})
        a.update(reserved={}, unreserved=res, attributes={})
    tasks = [
        {
            "id": f"production_order-service.t{i}",
            "host": "10.0.1.10",
            "agent_id": "a1",
            "ports": [],
            "state": "TASK_RUNNING",
            "started_at": None,
        }
        for i in (1, 2)
    ]
    now = utcnow()
    with app.extensions["berth"].sessions() as session:
        cluster = session.scalar(select(Cluster).where(Cluster.name == "east"))
        assert cluster is not None
        session.add(
            Snapshot(
                cluster_id=cluster.id,
                taken_at=now,
                confirmed_at=now,
                content_hash=f"usage-test-{port}",
                mesos_version="1.11.0",
                marathon_version="1.10.0",
                agents=agents,
                apps=[{"id": APP, "definition": {}, "deployments": [], "tasks": tasks}],
            )
        )
        session.commit()


T0 = datetime(2026, 12, 11, 9, 0, 30, tzinfo=UTC)


def rows(app: Flask) -> list[UsageMinute]:
    with app.extensions["berth"].sessions() as session:
        return list(session.scalars(select(UsageMinute).order_by(UsageMinute.minute)))


def test_rates_restart_kill_unreachable_and_attribution(
    measured: None, agent: ThreadingHTTPServer, ctx: Context, app: Flask, monkeypatch
) -> None:
    dialled: list[Any] = []
    connect = socket.socket.connect

    def recording(self: socket.socket, address: Any) -> Any:
        dialled.append(address)
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording)
    sampler = UsageSampler(ctx, "east")
    t1, t2 = "production_order-service.t1", "production_order-service.t2"
    t3 = "production_order-service.t3"  # started after the snapshot: its id names the app
    agent.payload = [
        entry(t1, 1000, 100, 400),
        entry(t2, 1000, 50, 500),
        entry("other.x", 1000, 1, 1),
    ]
    first = sampler.sample(T0)
    assert first is not None
    assert (first.agents, first.agents_unreachable) == (3, 2)  # the inactive one is not asked
    assert first.executors_unattributed == 1 and first.rates == 0
    # t1 used 0.5 cpus; t2 restarted (its counter went back): no rate, never a negative one;
    # t3 is new: memory only
    agent.payload = [entry(t1, 1060, 130, 450), entry(t2, 1060, 2, 300), entry(t3, 1060, 5, 200)]
    second = sampler.sample(T0 + timedelta(minutes=1))
    assert second is not None and second.rates == 1
    # t1 was killed: it leaves no point at all, not a zero
    agent.payload = [entry(t2, 1120, 14, 310), entry(t3, 1120, 11, 220)]
    sampler.sample(T0 + timedelta(minutes=2))
    sampler.close()
    points = rows(app)
    assert [(p.instances, p.cpu_instances) for p in points] == [(2, 0), (3, 1), (2, 2)]
    assert points[1].cpu_mean == pytest.approx(0.5) and points[1].mem_max == 450 * MIB
    assert points[2].cpu_mean == pytest.approx(0.15) and points[2].cpu_max == pytest.approx(0.2)
    assert all(p.cpu_mean >= 0 and p.cpu_max <= 1.1 for p in points)
    assert dialled and all(str(a[0]).startswith("127.") for a in dialled), dialled


def test_unreachable_agents_are_counted_on_metrics(
    measured: None, agent: ThreadingHTTPServer, ctx: Context, client: Any
) -> None:
    agent.payload = [entry("production_order-service.t1", 1000, 100, 400)]
    sampler = UsageSampler(ctx, "east")
    sampler.sample()
    agent.payload = [entry("production_order-service.t1", 1060, 160, 400)]
    sampler.sample()
    sampler.close()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'berth_usage_agents_unreachable{cluster="east"} 2.0' in text
    assert 'berth_environment_cpus_used{cluster="east",environment="production"} 1.0' in text
    assert 'berth_environment_cpus_wasted{cluster="east",environment="production"} 0.0' in text
    assert 'berth_environment_mem_used_bytes{cluster="east",environment="production"}' in text


def test_every_agent_down_is_a_round_that_stores_nothing_and_counts_them(
    measured: None, agent: ThreadingHTTPServer, ctx: Context, app: Flask
) -> None:
    agent.shutdown()
    agent.server_close()
    sampler = UsageSampler(ctx, "east")
    result = sampler.sample(T0)
    sampler.close()
    assert result is not None
    assert (result.agents, result.agents_unreachable, result.executors) == (3, 3, 0)
    assert result.allocations == 0
    assert rows(app) == []
    with app.extensions["berth"].sessions() as session:
        state = session.scalar(select(UsageSampling))
        assert state is not None
        assert (state.agents, state.agents_unreachable, state.executors) == (3, 3, 0)


def test_a_failed_round_does_not_stop_the_sampling(
    measured: None, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    sampler = UsageSampler(ctx, "east", replace(ctx.settings.usage, interval_seconds=1.0))
    stop = threading.Event()
    calls: list[int] = []

    def sample(now: datetime | None = None) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise LedgerError("the database is gone for a moment")
        if len(calls) == 2:
            raise ClusterError("the agents cannot be read")
        stop.set()

    monkeypatch.setattr(sampler, "sample", sample)
    thread = threading.Thread(target=run_sampling, args=(sampler, stop), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(calls) == 3


def _fill(app: Flask, start: datetime, minutes: int, cpu: float = 0.2, mem_mib: int = 600) -> None:
    with app.extensions["berth"].sessions() as session:
        alloc_id = session.scalar(select(UsageMinute.allocation_id).limit(1))
        if alloc_id is None:
            from models import Allocation

            alloc_id = session.scalar(select(Allocation.id))
        for i in range(minutes):
            session.merge(
                UsageMinute(
                    allocation_id=alloc_id,
                    minute=(start + timedelta(minutes=i)).replace(second=0, microsecond=0),
                    instances=3,
                    cpu_instances=3,
                    cpu_mean=cpu if i % 10 else cpu * 3,
                    cpu_max=cpu * 4,
                    mem_mean=mem_mib * MIB,
                    mem_max=mem_mib * MIB,
                )
            )
        session.commit()


def test_roll_up_and_retention(
    measured: None, agent: ThreadingHTTPServer, ctx: Context, app: Flask
) -> None:
    _fill(app, T0 - timedelta(days=3), 30)  # past the 2 days of minutes
    _fill(app, T0 - timedelta(hours=3), 120)  # two whole hours to aggregate
    agent.payload = []
    sampler = UsageSampler(ctx, "east")
    sampler.sample(T0)
    sampler.close()
    minutes = rows(app)
    assert minutes and min(m.minute for m in minutes) >= T0 - timedelta(days=2)
    with app.extensions["berth"].sessions() as session:
        hours = list(session.scalars(select(UsageHour).order_by(UsageHour.hour)))
    assert [h.hour for h in hours] == [
        datetime(2026, 12, 11, 6, tzinfo=UTC),
        datetime(2026, 12, 11, 7, tzinfo=UTC),
        datetime(2026, 12, 11, 8, tzinfo=UTC),
    ][: len(hours)] and len(hours) >= 2
    full = [h for h in hours if h.samples == 180]
    assert full and full[0].cpu_p50 == pytest.approx(0.2) and full[0].cpu_p99 == pytest.approx(0.6)
    assert full[0].mem_max == 600 * MIB and full[0].tasks == 3


def test_recommendations_and_usage_api(
    measured: None, app: Flask, viewer: Any, ctx: Context
) -> None:
    now = utcnow()
    _fill(app, now - timedelta(minutes=20), 20)
    early = environment_recommendations(ctx, "production", now=now)["allocations"][0]
    assert early["recommended"] is None and early["confidence"] == 0.0  # 20 minutes: none
    _fill(app, now - timedelta(hours=6), 6 * 60 - 1)
    r = viewer.get("/api/v1/environments/production/recommendations")
    assert r.status_code == 200, r.get_json()
    item = r.get_json()["allocations"][0]
    assert item["service"] == "order-service" and item["confidence"] == pytest.approx(0.5, abs=0.01)
    # 1 minute in 10 at 0.6: the p90 is still 0.2; + 15%
    assert item["recommended"]["cpus"] == pytest.approx(0.23)
    # java: 0.75 × mem must hold the 600 MiB peak less the JVM's 128 MiB
    assert item["recommended"]["mem"] == 690 and item["bound_by"]["mem"] == "usage"
    assert item["saving"]["mem"] == (1024 - 690) * 3
    series = viewer.get(
        "/api/v1/environments/production/allocations/order-service/usage?step=minute"
    )
    assert series.status_code == 200
    points = series.get_json()["points"]
    assert len(points) == 6 * 60 - 1 and points[0]["instances"] == 3
    hourly = viewer.get(
        "/api/v1/environments/production/allocations/order-service/usage?step=hour&since="
        + (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    )
    assert hourly.status_code == 200 and hourly.get_json()["step"] == "hour"
    for bad in ("step=second", "since=yesterday", "since=2026-12-11T09:00:00", "limit=3"):
        r = viewer.get(f"/api/v1/environments/production/allocations/order-service/usage?{bad}")
        assert r.status_code == 422, (bad, r.get_json())
    assert viewer.get("/api/v1/environments/nowhere/recommendations").status_code == 404
    assert viewer.get("/api/v1/environments/production/allocations/nobody/usage").status_code == 404


def test_hours_observed_are_the_time_the_points_cover_not_their_count() -> None:
    from datetime import UTC, datetime, timedelta

    from ledger.context import UsageSettings
    from ledger.usage import _hours_covered

    start = datetime(2026, 12, 1, tzinfo=UTC)
    every_five = UsageSettings(interval_seconds=300)
    day = [start + timedelta(minutes=5 * i) for i in range(288)]
    # a day sampled every 5 minutes is a day, not 288 minutes
    assert _hours_covered(day, every_five) == pytest.approx(24.0, abs=0.1)
    # a gap of six hours is not time seen: it adds two intervals at most
    gap = [*day[:144], *(t + timedelta(hours=6) for t in day[144:])]
    assert _hours_covered(gap, every_five) == pytest.approx(24.0 + 5 / 60, abs=0.1)
    assert _hours_covered([], every_five) == 0
    # sampled every minute, a gap of 5 minutes still counts (a round or four missed), a
    # longer one only up to 5 minutes
    every_minute = UsageSettings(interval_seconds=60)
    assert _hours_covered(day[:4], every_minute) == pytest.approx((60 + 3 * 300) / 3600)
    sparse = [start, start + timedelta(minutes=30)]
    assert _hours_covered(sparse, every_minute) == pytest.approx((60 + 300) / 3600)
