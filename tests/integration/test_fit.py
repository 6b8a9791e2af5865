"""Every change is checked against the real agents: the classic traps, surge, reservations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator import Simulator, serve
from tests import factories as f
from tests.integration.conftest import sim_cluster


@pytest.fixture
def small() -> Iterator[tuple[Simulator, Any]]:
    """Three agents of 4 cpus and 8192 MiB, one rack each."""
    sim = Simulator(agents=0, seed=3)
    for rack in ("r1", "r2", "r3"):
        sim.add_agent(
            cpus=4, mem=8192, disk=20000, ports="[31000-32000]", attributes={"rack": rack}
        )
    with serve(sim) as server:
        yield sim, server


@pytest.fixture
def synced(admin: Any, ops: Any, small: tuple[Simulator, Any]) -> Any:
    _, server = small
    sim_cluster(admin, "east", [server.url], server.url)
    f.environment(admin, "production", "east")
    f.environment(admin, "test", "east")
    for name in ("order-service", "user-service", "cart-service"):
        f.service(admin, name, ["http"])
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    return server


def put(api: Any, svc: str, env: str = "production", query: str = "", **fields: Any) -> Any:
    body = {
        "cpus": 0.5,
        "mem": 1024,
        "upgrade_strategy": {"minimum_health_capacity": 0.5, "maximum_over_capacity": 0},
        **fields,
    }
    return api.put(f.allocation_url(env, svc) + query, json=body)


def _promotion(ops: Any, start: datetime) -> Any:
    """Next week's promotion: 3 slots of 3 cpus and 6000 MiB for two days from `start`."""
    body = {
        "cluster": "east",
        "count": 3,
        "cpus": 3,
        "mem": 6000,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=2)).isoformat(),
        "reason": "singles day promotion",
    }
    return ops.post("/api/v1/reservations", json=body)


def test_unsynced_clusters_save_unchecked_and_say_so(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = f.allocate(ops)
    assert response.status_code == 201
    assert response.get_json()["fit"]["checked"] is False
    assert "sync" in response.get_json()["fit"]["why"]


def test_totals_fit_but_no_agent_can_take_the_instance(ops: Any, synced: Any) -> None:
    assert put(ops, "order-service", instances=3, mem=5000).status_code == 201
    # 3 × 3160 MiB are left in all, but no single agent has 4032 MiB (4000 + the executor's 32)
    refused = put(ops, "user-service", mem=4000)
    assert refused.status_code == 409, refused.get_json()
    problem = refused.get_json()
    assert problem["type"] == "urn:berth:problem:does-not-fit"
    assert "user-service (production) #1: needs 4032 MiB" in problem["detail"]
    assert (
        "the closest fit among the agents with port 31001 free, agent-01, has 3160 MiB free"
        in problem["detail"]
    )
    assert problem["fit"]["unplaced"][0]["shortfall"]["mem"] == pytest.approx(872)
    assert ops.get(f.allocation_url("production", "user-service")).status_code == 404
    dry = put(ops, "user-service", "production", "?dry_run=true", mem=4000)
    assert dry.status_code == 409  # a dry run answers the same, without saving


def test_the_executor_overhead_is_counted(ops: Any, synced: Any) -> None:
    assert put(ops, "order-service", mem=8192).status_code == 409  # 8192 + 32 > 8192
    assert put(ops, "order-service", mem=8160).status_code == 201


def test_the_surge_of_a_rolling_upgrade_must_fit(ops: Any, synced: Any) -> None:
    unique = [["hostname", "UNIQUE"]]
    # Marathon's defaults (1, 1) double the app while it deploys: 4 instances, 3 agents
    doubled = put(
        ops,
        "order-service",
        instances=2,
        constraints=unique,
        upgrade_strategy={"minimum_health_capacity": 1, "maximum_over_capacity": 1},
    )
    assert doubled.status_code == 409, doubled.get_json()
    assert "during a deploy" in doubled.get_json()["detail"]
    fine = put(ops, "order-service", instances=2, constraints=unique)
    assert fine.status_code == 201
    assert fine.get_json()["fit"]["surge"]["instances"] == 0


def test_admin_may_force_an_overcommit_and_capacity_shows_it(
    ops: Any, admin: Any, viewer: Any, synced: Any
) -> None:
    assert put(ops, "order-service", "production", "?force=true", mem=9000).status_code == 403
    forced = put(admin, "order-service", "production", "?force=true", mem=9000)
    assert forced.status_code == 201
    assert forced.get_json()["fit"]["fits"] is False
    events = viewer.get("/api/v1/audit?entity=production/order-service").get_json()["events"]
    assert events[0]["action"] == "create-forced"
    capacity = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert capacity["fits"] is False and capacity["forced"] == ["production/order-service"]
    assert "order-service (production) #1" in capacity["unplaceable"][0]["reason"]


def test_capacity_of_a_cluster_and_an_environment(ops: Any, viewer: Any, synced: Any) -> None:
    put(ops, "order-service", instances=3, mem=2048)
    put(ops, "cart-service", "test", cpus=1, mem=1024)
    cluster = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert cluster["fits"] is True and cluster["agents_active"] == 3
    assert cluster["totals"] == {"cpus": 12.0, "mem": 24576.0, "disk": 60000.0}
    assert cluster["allocated"]["mem"] == 3 * (2048 + 32) + (1024 + 32)
    # the largest deploy's surge is kept free too: cart-service's one extra instance
    assert cluster["surge"]["deploys"] == ["test/cart-service"]
    assert cluster["free"]["mem"] == 24576 - cluster["allocated"]["mem"] - (1024 + 32)
    assert cluster["lower_bound"] >= 3 and cluster["agents_used"] >= cluster["lower_bound"]
    assert cluster["snapshot"]["age_seconds"] >= 0
    placed = sum(a["instances"].get("production/order-service", 0) for a in cluster["agents"])
    assert placed == 3
    env = viewer.get("/api/v1/environments/test/capacity").get_json()
    assert env["environment"] == "test" and env["allocated"]["mem"] == 1024 + 32
    # production's instances take room from test as well: free is the cluster's
    assert env["free"] == cluster["free"]
    assert all("production/order-service" not in a["instances"] for a in env["agents"])


def test_a_change_that_collides_with_next_weeks_reservation_is_refused(
    ops: Any, viewer: Any, synced: Any
) -> None:
    start = datetime.now(UTC) + timedelta(days=7)
    reservation = _promotion(ops, start)
    assert reservation.status_code == 201, reservation.get_json()
    assert reservation.get_json()["state"] == "upcoming"
    # fits today, but not during the promotion
    refused = put(ops, "order-service", instances=3, mem=3000)
    assert refused.status_code == 409, refused.get_json()
    assert "from " + start.isoformat(timespec="minutes")[:10] in refused.get_json()["detail"]
    assert put(ops, "order-service", instances=3, mem=1024).status_code == 201
    capacity = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert capacity["reserved"]["now"]["mem"] == 0
    assert capacity["reserved"]["peak"]["mem"] == 3 * (6000 + 32)


def test_a_reservation_that_does_not_fit_is_refused(ops: Any, viewer: Any, synced: Any) -> None:
    now = datetime.now(UTC)
    body = {
        "environment": "production",
        "count": 4,
        "cpus": 3,
        "mem": 1024,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "reason": "load test",
    }
    refused = ops.post("/api/v1/reservations", json=body)
    assert refused.status_code == 409 and "reservation" in refused.get_json()["detail"]
    assert viewer.get("/api/v1/reservations").get_json() == []
    ok = ops.post("/api/v1/reservations", json={**body, "count": 3})
    assert ok.status_code == 201
    assert ok.get_json()["state"] == "active" and ok.get_json()["cluster"] == "east"
    over = ops.post(
        "/api/v1/reservations",
        json={
            **body,
            "starts_at": (now - timedelta(days=2)).isoformat(),
            "ends_at": (now - timedelta(days=1)).isoformat(),
        },
    )
    assert over.status_code == 422
    assert ops.delete(f"/api/v1/reservations/{ok.get_json()['id']}").status_code == 204


def test_a_write_with_a_stale_snapshot_and_mesos_down_is_503(
    app: Any, ops: Any, synced: Any, small: tuple[Simulator, Any]
) -> None:
    from dataclasses import replace

    sim, _ = small
    sim.faults.add("drop")
    berth = app.extensions["berth"]
    settings = berth.settings
    berth.settings = replace(settings, snapshot_max_age=timedelta(0), cluster_timeout=(0.5, 0.5))
    try:
        response = put(ops, "order-service")
    finally:
        berth.settings = settings
    assert response.status_code == 503
    assert "s old" in response.get_json()["detail"]
    assert ops.get(f.allocation_url("production", "order-service")).status_code == 404


def test_cluster_settings_change_the_verdict(ops: Any, admin: Any, synced: Any) -> None:
    # 8160 + 32 fills an agent; with a bigger executor overhead it no longer fits
    assert put(ops, "order-service", mem=8160).status_code == 201
    assert admin.patch("/api/v1/clusters/east", json={"executor_mem": 64}).status_code == 200
    assert put(ops, "order-service", mem=8160, cpus=1).status_code == 409
    assert admin.patch("/api/v1/clusters/east", json={"executor_mem": 0}).status_code == 200
    assert put(ops, "order-service", mem=8192, cpus=1).status_code == 200


def test_concurrent_changes_never_overcommit_together(
    app: Any, database_url: str, admin: Any, ops: Any, tokens: dict, synced: Any
) -> None:
    """Eight processes each ask for 3000 MiB: each would fit alone, six fit together."""
    from tests.integration.test_concurrent_ports import _run

    names = [f"svc-{i}" for i in range(8)]
    for name in names:
        f.service(admin, name, [])  # no ports: nothing but the cluster lock orders them
    body = {
        "cpus": 0.1,
        "mem": 3000,
        "upgrade_strategy": {"minimum_health_capacity": 0, "maximum_over_capacity": 0},
    }
    plans = [[("put", f.allocation_url("production", n), body)] for n in names]
    answers = _run(database_url, tokens["ops"], plans)
    statuses = sorted(status for *_, status in answers)
    # 3 agents × 2 instances of 3032 MiB; the rest must be refused, not squeezed in
    assert statuses == [201] * 6 + [409] * 2, statuses
    capacity = ops.get("/api/v1/clusters/east/capacity").get_json()
    assert capacity["fits"] is True and capacity["allocated"]["mem"] == 6 * 3032


def test_a_forced_overcommit_does_not_block_every_other_change(
    ops: Any, admin: Any, synced: Any
) -> None:
    assert put(ops, "order-service", instances=3, mem=4000).status_code == 201
    forced = put(admin, "user-service", "production", "?force=true", instances=3, mem=6000)
    assert forced.status_code == 201 and forced.get_json()["fit"]["fits"] is False
    # a change that only takes less is never refused
    assert put(ops, "order-service", instances=2, mem=4000).status_code == 200
    # another small change is judged on its own instances, not blamed for the forced ones
    assert put(ops, "cart-service", mem=256, cpus=0.1).status_code == 201


def test_huge_ids_are_404_not_500(viewer: Any) -> None:
    assert viewer.get("/api/v1/reservations/99999999999999999999").status_code == 404
    assert viewer.get("/api/v1/deployments/99999999999999999999").status_code == 404


def test_an_environment_holding_reservations_does_not_move(
    ops: Any, admin: Any, synced: Any
) -> None:
    now = datetime.now(UTC)
    ops.post(
        "/api/v1/reservations",
        json={
            "environment": "test",
            "count": 1,
            "cpus": 1,
            "mem": 512,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "reason": "load test",
        },
    )
    f.cluster(admin, "west")
    moved = admin.patch("/api/v1/environments/test", json={"cluster": "west"})
    assert moved.status_code == 409 and "reservations" in moved.get_json()["detail"]


def test_free_leaves_out_the_headroom_kept_on_agents_in_use(
    ops: Any, admin: Any, viewer: Any, synced: Any
) -> None:
    before = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert before["headroom_kept"] == {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
    assert (
        admin.patch("/api/v1/environments/production", json={"headroom": 0.25}).status_code == 200
    )
    put(ops, "order-service", instances=1, mem=1024)
    after = viewer.get("/api/v1/clusters/east/capacity").get_json()
    # each agent holding an instance (here the app and its deploy's surge) keeps a quarter
    # of its 8192 MiB free; the idle one keeps nothing
    holding = [a for a in after["agents"] if a["instances"]]
    assert len(holding) == 2
    assert all(a["headroom_kept"]["mem"] == 2048 for a in holding)
    assert all(a["free"]["mem"] == 8192 - (1024 + 32) - 2048 for a in holding)
    assert after["headroom_kept"]["mem"] == 2 * 2048
    assert after["free"]["mem"] == 24576 - 2 * (1024 + 32) - 2 * 2048


def test_times_inside_capacity_and_fit_answers_are_iso_8601(
    ops: Any, admin: Any, viewer: Any, synced: Any
) -> None:
    """The same form as every other time of the API (a reservation's starts_at), never
    the RFC 1123 that Flask writes for times inside free-form objects."""
    start = datetime.now(UTC) + timedelta(days=7)
    made = _promotion(ops, start).get_json()
    refused = put(ops, "order-service", instances=3, mem=3000)
    assert refused.status_code == 409
    when = refused.get_json()["fit"]["when"]
    assert when["from"] == made["starts_at"] and when["until"] == made["ends_at"]
    assert datetime.fromisoformat(when["from"]) == start
    put(admin, "order-service", "production", "?force=true", instances=3, mem=3000)
    for url in ("/api/v1/clusters/east/capacity", "/api/v1/environments/production/capacity"):
        capacity = viewer.get(url).get_json()
        snapshot = viewer.get("/api/v1/clusters/east/snapshot").get_json()
        assert capacity["snapshot"]["taken_at"] == snapshot["taken_at"]
        assert datetime.fromisoformat(capacity["snapshot"]["confirmed_at"]).tzinfo is not None
        window = capacity["reserved"]["window"]
        assert "GMT" not in window["from"] + window["until"]
        assert datetime.fromisoformat(window["until"]) - datetime.fromisoformat(
            window["from"]
        ) == timedelta(days=30)
        assert capacity["when_it_stops_fitting"]["from"] == made["starts_at"]


def test_agents_are_listed_by_hostname_in_number_order(admin: Any, viewer: Any) -> None:
    """Ids S0, S1, ... sort as text as S0, S1, S10, S11, S2: people look for hosts by name."""
    sim = Simulator(agents=0, seed=5)
    names = [f"agent-{n}" for n in (10, 2, 1, 11, 3, 4, 5, 6, 7, 8, 9, 12)] + ["agent-2"]
    for name in names:
        sim.add_agent(cpus=1, mem=1024, disk=1000, ports="[31000-32000]", hostname=name)
    with serve(sim) as server:
        sim_cluster(admin, "west", [server.url], server.url)
        assert admin.post("/api/v1/clusters/west/sync").status_code == 200
        capacity = viewer.get("/api/v1/clusters/west/capacity").get_json()
        report = viewer.get("/api/v1/reports/capacity?cluster=west&format=csv")
    shown = [(a["hostname"], a["id"]) for a in capacity["agents"]]
    ids = {a.hostname: a.id for a in sim.agents.values() if a.hostname != "agent-2"}
    twins = sorted(a.id for a in sim.agents.values() if a.hostname == "agent-2")
    expected = [(f"agent-{n}", ids.get(f"agent-{n}")) for n in range(1, 13)]
    expected[1:2] = [("agent-2", twins[0]), ("agent-2", twins[1])]
    assert shown == expected
    rows = report.get_data(as_text=True).splitlines()[1:]
    assert [r.split(",")[3] for r in rows] == [h for h, _ in expected]


def test_a_three_day_reservation_shows_on_three_days_of_the_report(
    ops: Any, viewer: Any, synced: Any
) -> None:
    """Days of the report's headroom are UTC calendar days, as their labels say."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today + timedelta(days=10)
    made = ops.post(
        "/api/v1/reservations",
        json={
            "cluster": "east",
            "count": 1,
            "cpus": 1,
            "mem": 1000,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(days=3)).isoformat(),
            "reason": "three days of load tests",
        },
    )
    assert made.status_code == 201, made.get_json()
    report = viewer.get("/api/v1/reports/capacity?cluster=east").get_json()
    days = report["clusters"][0]["headroom"]
    held = [d["day"] for d in days if d["reserved"]["mem"] > 0]
    assert held == [(start + timedelta(days=n)).date().isoformat() for n in range(3)]
    assert days[0]["day"] == today.date().isoformat()
    assert days[0]["until"] == (today + timedelta(days=1)).isoformat()
