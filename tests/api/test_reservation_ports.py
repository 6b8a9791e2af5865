"""Reservations of a service's allocation: their slots are placed like more of its
instances (its host ports, its constraints counted with its instances), checked against
agents the simulator reports over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from simulator import serve
from tests import factories as f
from tests.integration.conftest import sim_cluster

# Marathon starts no extra instance during a deploy (a surge would need the host port too)
NO_SURGE = {"minimum_health_capacity": 0, "maximum_over_capacity": 0}


@pytest.fixture
def racks(admin: Any, ops: Any) -> Iterator[Any]:
    """Three agents of 4 cpus and 8192 MiB, synced; environments production and test;
    cart has a host port, storefront none."""
    with serve(f.three_racks()) as server:
        sim_cluster(admin, "east", [server.url], server.url)
        f.environment(admin, "production", "east")
        f.environment(admin, "test", "east")
        f.service(ops, "cart", ["http"], team="checkout")
        f.service(ops, "storefront", [], team="web")
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        yield server


def _allocate(api: Any, svc: str, env: str = "production", **fields: Any) -> dict[str, Any]:
    body = {"cpus": 1.0, "mem": 1024, "upgrade_strategy": NO_SURGE, **fields}
    response = api.put(f.allocation_url(env, svc), json=body)
    assert response.status_code in (200, 201), response.get_json()
    return dict(response.get_json())


def _reservation(count: int, **extra: Any) -> dict[str, Any]:
    """Slots of 1 cpu and 1024 MiB held from a minute ago for two days: active now, so
    that the capacity answer shows where they are placed."""
    now = datetime.now(UTC)
    return {
        "environment": "production",
        "count": count,
        "cpus": 1.0,
        "mem": 1024,
        "reason": "the promotion",
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(days=2)).isoformat(),
        **extra,
    }


def _placed(api: Any) -> dict[str, set[str]]:
    """Demand key → the agents that hold its instances now, from the capacity answer."""
    answer = api.get("/api/v1/clusters/east/capacity").get_json()
    out: dict[str, set[str]] = {}
    for agent in answer["agents"]:
        for key in agent.get("instances", {}):
            out.setdefault(key, set()).add(agent["hostname"])
    return out


def test_slots_of_a_service_with_a_host_port_never_share_its_agents(
    app: Flask, ops: Any, viewer: Any, racks: Any
) -> None:
    # cart's host port on every agent: plain slots fit beside the instances, cart's do not
    _allocate(ops, "cart", instances=3)
    plain = ops.post("/api/v1/reservations?dry_run=true", json=_reservation(3))
    assert plain.status_code == 200, plain.get_json()
    assert plain.get_json()["fit"]["fits"] is True and plain.get_json()["service"] is None

    before = f.rows(app)
    refused = ops.post("/api/v1/reservations", json=_reservation(3, service="cart"))
    assert refused.status_code == 409, refused.get_json()
    assert refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert "would not fit" in problem["detail"]
    assert "for cart (production)" in problem["detail"]
    assert "host ports are taken" in problem["detail"], problem["detail"]
    assert len(problem["fit"]["unplaced"]) == 3
    assert all(u["demand"].startswith("reservation:") for u in problem["fit"]["unplaced"])
    assert f.rows(app) == before
    assert viewer.get("/api/v1/reservations").get_json() == []


def test_held_slots_of_a_service_sit_on_agents_without_its_instances(
    ops: Any, viewer: Any, racks: Any
) -> None:
    _allocate(ops, "cart", instances=1)
    made = ops.post("/api/v1/reservations", json=_reservation(2, service="cart"))
    assert made.status_code == 201, made.get_json()
    held = made.get_json()
    assert held["service"] == "cart" and held["environment"] == "production"
    assert held["fit"]["fits"] is True
    # one instance and two slots need host port 31000 each: three agents
    assert held["fit"]["lower_bound"] == 3 and held["fit"]["agents_used"] == 3
    placed = _placed(viewer)
    slots, instances = placed[f"reservation:{held['id']}"], placed["production/cart"]
    assert len(slots) == 2 and len(instances) == 1 and not slots & instances
    # the view shows the service, alone and in the list; plain reservations show null
    assert viewer.get(f"/api/v1/reservations/{held['id']}").get_json()["service"] == "cart"
    plain = ops.post("/api/v1/reservations", json=_reservation(1, cpus=0.1, mem=64))
    assert plain.status_code == 201, plain.get_json()
    listed = {r["id"]: r["service"] for r in viewer.get("/api/v1/reservations").get_json()}
    assert listed == {held["id"]: "cart", plain.get_json()["id"]: None}
    audit = viewer.get(f"/api/v1/audit?entity_type=reservation&entity={held['id']}").get_json()
    assert audit["events"][0]["after"]["service"] == "cart"
    # cart grows into the agents its own slots hold (using them up), and no further
    grown = ops.put(
        f.allocation_url("production", "cart"),
        json={"cpus": 1.0, "mem": 1024, "instances": 3, "upgrade_strategy": NO_SURGE},
    )
    assert grown.status_code == 200, grown.get_json()
    assert viewer.get(f"/api/v1/reservations/{held['id']}").get_json()["slots_used"] == 2
    beyond = ops.put(
        f.allocation_url("production", "cart"),
        json={"cpus": 1.0, "mem": 1024, "instances": 4, "upgrade_strategy": NO_SURGE},
    )
    assert beyond.status_code == 409, beyond.get_json()


def test_unique_hostname_counts_slots_with_the_instances(
    app: Flask, ops: Any, viewer: Any, racks: Any
) -> None:
    unique = [["hostname", "UNIQUE"]]
    _allocate(ops, "storefront", instances=3, constraints=unique)
    # UNIQUE among its own slots only: one slot fits beside the instances
    plain = ops.post("/api/v1/reservations?dry_run=true", json=_reservation(1, constraints=unique))
    assert plain.status_code == 200 and plain.get_json()["fit"]["fits"] is True

    before = f.rows(app)
    refused = ops.post("/api/v1/reservations", json=_reservation(1, service="storefront"))
    assert refused.status_code == 409, refused.get_json()
    assert refused.mimetype == "application/problem+json"
    detail = refused.get_json()["detail"]
    assert "for storefront (production)" in detail and "UNIQUE hostname" in detail, detail
    assert f.rows(app) == before


def test_the_slots_take_the_allocations_constraints_and_keep_them(
    ops: Any, viewer: Any, racks: Any
) -> None:
    # the slots obey storefront's UNIQUE hostname with its instance: three agents
    _allocate(ops, "storefront", instances=1, constraints=[["hostname", "UNIQUE"]])
    made = ops.post("/api/v1/reservations", json=_reservation(2, service="storefront"))
    assert made.status_code == 201, made.get_json()
    held = made.get_json()
    # kept with the reservation: what its slots fall back to without the allocation
    assert held["constraints"] == [["hostname", "UNIQUE"]]
    placed = _placed(viewer)
    assert len(placed[f"reservation:{held['id']}"] | placed["production/storefront"]) == 3


def test_deleting_the_allocation_leaves_the_reservation_as_plain_slots(
    app: Flask, admin: Any, ops: Any, viewer: Any, racks: Any
) -> None:
    _allocate(ops, "cart", instances=1)
    held = ops.post("/api/v1/reservations", json=_reservation(2, service="cart")).get_json()
    assert ops.delete(f.allocation_url("production", "cart")).status_code == 204

    kept = viewer.get(f"/api/v1/reservations/{held['id']}")
    assert kept.status_code == 200
    assert {k: kept.get_json()[k] for k in ("service", "count", "state")} == {
        "service": "cart",
        "count": 2,
        "state": "active",
    }
    capacity = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert capacity["fits"] is True and capacity["reserved"]["now"]["cpus"] >= 2
    # its slots need port 31000 no more: another service may now have it on every agent
    f.service(ops, "pricing", ["http"])
    berth = app.extensions["berth"]
    original = berth.settings
    berth.settings = replace(original, port_quarantine=timedelta(0))
    try:
        taken = _allocate(ops, "pricing", instances=3, ports={"http": 31000})
    finally:
        berth.settings = original
    assert taken["ports"] == {"http": 31000}
    placed = _placed(viewer)
    assert len(placed["production/pricing"]) == 3 and len(placed[f"reservation:{held['id']}"])

    # the service itself may go: the reservation stays, naming no service
    assert ops.delete("/api/v1/services/cart").status_code == 204
    after = viewer.get(f"/api/v1/reservations/{held['id']}").get_json()
    assert after["service"] is None and after["count"] == 2
    # and the audit log says that the reservation lost its service, and why
    events = viewer.get(f"/api/v1/audit?entity_type=reservation&entity={held['id']}").get_json()[
        "events"
    ]
    assert events[0]["action"] == "update"
    assert (events[0]["before"]["service"], events[0]["after"]["service"]) == ("cart", None)


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"service": "nobody"}, "service", "no service named 'nobody'"),
        ({"service": "cart"}, "service", "no allocation in environment 'production'"),
        (
            {"service": "storefront", "environment": None, "cluster": "east"},
            "service",
            "environment",
        ),
        (
            {"service": "storefront", "constraints": [["rack", "LIKE", "r1"]]},
            "constraints",
            "leave constraints out",
        ),
        ({"service": "Not a name"}, "service", "DNS label"),
    ],
)
def test_a_service_without_an_allocation_there_is_422_naming_the_field(
    app: Flask, ops: Any, racks: Any, extra: dict[str, Any], field: str, words: str
) -> None:
    _allocate(ops, "cart", env="test", instances=1)  # cart: in test only
    _allocate(ops, "storefront", instances=1)
    body = {k: v for k, v in {**_reservation(1), **extra}.items() if v is not None}
    before = f.rows(app)
    refused = ops.post("/api/v1/reservations", json=body)
    assert refused.status_code == 422, refused.get_json()
    assert refused.mimetype == "application/problem+json"
    errors = refused.get_json()["errors"]
    assert list(errors) == [field] and words in str(errors[field]), errors
    assert f.rows(app) == before
