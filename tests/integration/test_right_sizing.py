"""GET /api/v1/clusters/{name}/right-sizing against a simulated cluster: both sets placed
by the packer, the agents freed bracketed by the lower bounds, the waste per environment
and team; and plans on observed peaks (basis "observed_peak")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from allocator.model import Demand
from allocator.placement import place
from ledger.capacity import picture
from models import Allocation, Cluster, Service, UsageMinute
from models.base import utcnow
from simulator import Simulator, serve
from tests.factories import allocate, environment, service

MIB = 1024 * 1024
SERVICES = {  # name → (team, runtime)
    "alpha": ("orders", "python"),
    "bravo": ("orders", "python"),
    "charlie": ("orders", "java"),
    "delta": ("payments", "python"),
    "echo": ("payments", "node"),
    "foxtrot": ("payments", "python"),  # seen for 20 minutes only: no recommendation
}


@pytest.fixture
def cluster_of_six() -> Iterator[str]:
    """Six agents of 4 cpus and 8192 MiB, served on loopback."""
    sim = Simulator(agents=0, seed=3)
    for _ in range(6):
        sim.add_agent(cpus=4, mem=8192, disk=20000, ports="[31000-32000]")
    server = serve(sim)
    yield server.url
    server.shutdown()


def fill(app: Flask, service_name: str, start: datetime, minutes: int, cpu: float, mem_mib: int):
    """Minute points as the sampler stores them (2 instances, every one with a rate)."""
    with app.extensions["berth"].sessions() as session:
        alloc_id = session.scalar(
            select(Allocation.id).join(Service).where(Service.name == service_name)
        )
        session.add_all(
            UsageMinute(
                allocation_id=alloc_id,
                minute=(start + timedelta(minutes=i)).replace(second=0, microsecond=0),
                instances=2,
                cpu_instances=2,
                cpu_mean=cpu * (2.0 if i % 50 == 0 else 1.0),  # a busy minute in fifty
                cpu_max=cpu * 2.5,
                mem_mean=mem_mib * MIB,
                mem_max=mem_mib * MIB,
            )
            for i in range(minutes)
        )
        session.commit()


@pytest.fixture
def oversized(admin: Any, app: Flask, cluster_of_six: str) -> datetime:
    """Six services of 2 × (1.5 cpus, 3072 MiB) that use 0.2 cpus and 300 MiB (5 of them
    for 6 hours, foxtrot for 20 minutes); synced."""
    body = {
        "name": "east",
        "mesos_masters": [cluster_of_six],
        "marathon_url": cluster_of_six,
        "port_ranges": ["31000-31999"],
    }
    assert admin.post("/api/v1/clusters", json=body).status_code == 201
    environment(admin, "production", "east")
    for name, (team, runtime) in SERVICES.items():
        service(admin, name, ports=[], team=team, runtime=runtime)
        r = allocate(admin, svc=name, cpus=1.5, mem=3072, instances=2)
        assert r.status_code in (200, 201), r.get_json()
    assert admin.post("/api/v1/clusters/east/sync").status_code == 200
    now = utcnow()
    for name in SERVICES:
        minutes = 20 if name == "foxtrot" else 6 * 60
        fill(app, name, now - timedelta(minutes=minutes), minutes, 0.2, 300)
    return now


def test_right_sizing_frees_agents_bracketed_by_the_bounds(
    oversized: datetime, viewer: Any, app: Flask
) -> None:
    r = viewer.get("/api/v1/clusters/east/right-sizing")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["agents"], body["allocations"], body["measured"]) == (6, 6, 5)
    alloc, rec = body["as_allocated"], body["as_recommended"]
    # as allocated: 1.6 cpus an instance, two to a 4-cpu agent: all six agents
    assert alloc["agents_used"] == 6 and alloc["lower_bound"] == 6 and alloc["unplaced"] == 0
    # recommended: five at 0.23 cpus (+0.1) and foxtrot as allocated: two agents
    assert rec["agents_used"] == 2 and rec["unplaced"] == 0
    assert body["agents_freed"] == alloc["agents_used"] - rec["agents_used"] == 4
    low, high = body["freed_bounds"]["at_least"], body["freed_bounds"]["at_most"]
    assert low == alloc["lower_bound"] - rec["agents_used"]
    assert high == alloc["agents_used"] - rec["lower_bound"]
    assert low <= body["agents_freed"] <= high
    items = {i["service"]: i for i in body["by_allocation"]}
    assert items["foxtrot"]["recommended"] is None and items["foxtrot"]["confidence"] == 0
    assert items["alpha"]["recommended"]["cpus"] == pytest.approx(0.23)
    assert items["alpha"]["recommended"]["mem"] == 345  # 300 MiB + 15%
    # java: the rendered heap (0.75 × mem) must hold the peak less the JVM's 128 MiB → the
    # 345 of the margin is enough here too
    assert items["charlie"]["recommended"]["mem"] == 345

    # the packer, asked again outside the API on both sets, agrees
    with app.extensions["berth"].sessions() as session:
        cluster = session.scalar(select(Cluster).where(Cluster.name == "east"))
        assert cluster is not None
        pic = picture(session, cluster)
        demands = [d for _, d in pic.allocations]
        sizes = {i["service"]: i["recommended"] for i in body["by_allocation"] if i["recommended"]}
        shrunk = [
            Demand(
                key=d.key,
                count=d.count,
                cpus=sizes[a.service.name]["cpus"] + 0.1 if a.service.name in sizes else d.cpus,
                mem=sizes[a.service.name]["mem"] + 32 if a.service.name in sizes else d.mem,
                disk=d.disk,
            )
            for (a, _), d in zip(pic.allocations, demands, strict=True)
        ]
        assert place(pic.agents, demands).agents_used == alloc["agents_used"]
        assert place(pic.agents, shrunk).agents_used == rec["agents_used"]

    env = body["waste_by_environment"]
    assert [e["environment"] for e in env] == ["production"]
    assert env[0]["allocations"] == 6 and env[0]["measured"] == 5
    assert env[0]["cpus_wasted"] == pytest.approx(5 * 2 * (1.5 - 0.23))
    assert env[0]["mem_wasted"] == 5 * 2 * (3072 - 345)
    teams = {t["team"]: t for t in body["waste_by_team"]}
    assert teams["orders"]["measured"] == 3 and teams["payments"]["measured"] == 2
    assert teams["payments"]["mem_wasted"] == 2 * 2 * (3072 - 345)


def test_right_sizing_refusals(admin: Any, viewer: Any, anonymous: Any) -> None:
    assert viewer.get("/api/v1/clusters/nowhere/right-sizing").status_code == 404
    body = {
        "name": "east",
        "mesos_masters": ["http://127.0.0.1:9"],
        "marathon_url": "http://127.0.0.1:9",
        "port_ranges": ["31000-31999"],
    }
    assert admin.post("/api/v1/clusters", json=body).status_code == 201
    r = viewer.get("/api/v1/clusters/east/right-sizing")
    assert r.status_code == 409 and "sync" in r.get_json()["detail"]
    assert anonymous.get("/api/v1/clusters/east/right-sizing").status_code == 401


WINDOW = ["2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z"]


def test_plans_on_observed_peaks(oversized: datetime, ops: Any) -> None:
    def plan(**extra: Any) -> dict[str, Any]:
        body = {
            "environment": "production",
            "scale": {"team:orders": 3, "foxtrot": 2},
            "window": WINDOW,
            **extra,
        }
        r = ops.post("/api/v1/plans", json=body)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    allocated = plan()
    assert allocated["basis"] == "allocated" and allocated["basis_fallback"] == []
    # 18 + 4 + 4 instances of 1.6 cpus, two to an agent: 13 agents, 7 more than there are,
    # and more for the deploy surge
    assert allocated["extra_agents"] >= 7
    peak = plan(basis="observed_peak")
    assert peak["basis"] == "observed_peak" and peak["request"]["basis"] == "observed_peak"
    assert peak["basis_fallback"] == ["foxtrot"]
    services = {s["service"]: s for s in peak["services"]}
    assert services["foxtrot"]["basis"] == "allocated"  # fell back
    assert services["foxtrot"]["basis_reason"] == "not enough usage data"
    alpha = services["alpha"]
    # the p99 of the minutes (one in fifty at 0.4) is above the recommendation's 0.23
    assert alpha["basis"] == "observed_peak" and alpha["planned_cpus"] == pytest.approx(0.4)
    # the peak memory (300) is below the recommendation (345): the recommendation holds
    assert alpha["planned_mem"] == 345
    assert alpha["instances_after"] == 6 and alpha["cpus"] == 1.5  # the allocation stays
    # 18 × 0.5 + 8 × 1.6 cpus (and the surge) need far fewer agents
    assert peak["extra_agents"] is not None
    assert peak["extra_agents"] <= allocated["extra_agents"] - 4, peak["extra_agents"]
    bad = ops.post(
        "/api/v1/plans",
        json={"environment": "production", "scale": {"alpha": 2}, "window": WINDOW, "basis": "p"},
    )
    assert bad.status_code == 422
