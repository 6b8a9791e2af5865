"""A reservation of a service's allocation is used up as that allocation grows: the
instances it has beyond those it had when the slots were reserved take them, so a
scale-up inside (or before) the window is not counted twice; checked against agents the
simulator reports over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from ledger import standing
from simulator import serve
from tests import factories as f
from tests.integration.conftest import sim_cluster

# Marathon starts no extra instance during a deploy: the room counted is instances and slots
NO_SURGE = {"minimum_health_capacity": 0, "maximum_over_capacity": 0}
# 1 cpu and 1024 MiB, plus the executor's 0.1 cpus and 32 MiB: three on an agent of 4 cpus
SLOT_CPUS = 1.1


@pytest.fixture
def racks(admin: Any, ops: Any) -> Iterator[Any]:
    """Three agents of 4 cpus and 8192 MiB, synced: room for nine instances or slots of
    1 cpu and 1024 MiB. Environments production and test; storefront has no host port
    (its instances and slots may share agents), cart has one."""
    with serve(f.three_racks()) as server:
        sim_cluster(admin, "east", [server.url], server.url)
        f.environment(admin, "production", "east")
        f.environment(admin, "test", "east")
        f.service(ops, "storefront", [], team="web")
        f.service(ops, "cart", ["http"], team="checkout")
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        yield server


def _put(api: Any, svc: str, instances: int, env: str = "production") -> Any:
    body = {"cpus": 1.0, "mem": 1024, "instances": instances, "upgrade_strategy": NO_SURGE}
    return api.put(f.allocation_url(env, svc), json=body)


def _allocate(api: Any, svc: str, instances: int, env: str = "production") -> None:
    response = _put(api, svc, instances, env)
    assert response.status_code in (200, 201), response.get_json()


def _reserve(api: Any, count: int, **extra: Any) -> dict[str, Any]:
    """`count` slots of storefront's allocation in production, active from a minute ago
    for two days."""
    now = datetime.now(UTC)
    body = {
        "environment": "production",
        "service": "storefront",
        "count": count,
        "cpus": 1.0,
        "mem": 1024,
        "reason": "the promotion",
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(days=2)).isoformat(),
        **extra,
    }
    body = {k: v for k, v in body.items() if v is not None}
    response = api.post("/api/v1/reservations", json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def _held(api: Any, rid: int) -> tuple[int, int | None]:
    """The reservation's (slots_used, base_instances), as GET shows it and as the list does."""
    one = api.get(f"/api/v1/reservations/{rid}").get_json()
    [listed] = [r for r in api.get("/api/v1/reservations").get_json() if r["id"] == rid]
    assert (listed["slots_used"], listed["base_instances"]) == (
        one["slots_used"],
        one["base_instances"],
    )
    return one["slots_used"], one["base_instances"]


def _slots_placed(api: Any, rid: int) -> int:
    """How many of the reservation's slots the capacity answer places now."""
    answer = api.get("/api/v1/clusters/east/capacity").get_json()
    return sum(a["instances"].get(f"reservation:{rid}", 0) for a in answer["agents"])


def _reserved_cpus(api: Any) -> float:
    return float(api.get("/api/v1/clusters/east/capacity").get_json()["reserved"]["now"]["cpus"])


def _placed_afresh(api: Any, rid: int) -> int:
    """As `_slots_placed`, with this process's standing placement made again from the
    database rather than caught up from the log of changes."""
    standing.forget()
    return _slots_placed(api, rid)


def test_a_scale_up_inside_the_window_uses_the_reservation_up_rather_than_counting_twice(
    app: Flask, ops: Any, viewer: Any, racks: Any
) -> None:
    # one cart in test, three storefronts and five slots for them: nine, the cluster is full
    _allocate(ops, "cart", 1, env="test")
    _allocate(ops, "storefront", 3)
    held = _reserve(ops, 5)
    assert held["fit"]["fits"] is True
    assert (held["slots_used"], held["base_instances"]) == (0, 3)
    full = _put(ops, "cart", 2, env="test")
    assert full.status_code == 409, full.get_json()  # no room left besides the slots

    # the scale-up takes the room its own reservation holds: accepted, nothing counted twice
    grown = _put(ops, "storefront", 8)
    assert grown.status_code == 200, grown.get_json()
    assert grown.get_json()["fit"]["fits"] is True
    assert _held(viewer, held["id"]) == (5, 3)
    capacity = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert capacity["fits"] is True and capacity["unplaceable"] == []
    assert capacity["allocated"]["cpus"] == pytest.approx(9 * SLOT_CPUS)
    assert capacity["reserved"]["now"]["cpus"] == 0
    assert _slots_placed(viewer, held["id"]) == 0
    assert _placed_afresh(viewer, held["id"]) == 0
    # and nothing else got the room in between
    assert _put(ops, "cart", 2, env="test").status_code == 409


def test_a_scale_back_gives_the_slots_back(ops: Any, viewer: Any, racks: Any) -> None:
    _allocate(ops, "cart", 1, env="test")
    _allocate(ops, "storefront", 3)
    held = _reserve(ops, 5)
    _allocate(ops, "storefront", 8)
    assert _held(viewer, held["id"]) == (5, 3)

    back = _put(ops, "storefront", 5)
    assert back.status_code == 200 and back.get_json()["fit"]["fits"] is True
    assert _held(viewer, held["id"]) == (2, 3)
    assert _reserved_cpus(viewer) == pytest.approx(3 * SLOT_CPUS)
    assert _slots_placed(viewer, held["id"]) == 3
    assert _placed_afresh(viewer, held["id"]) == 3
    # the room is the reservation's again: the verdict counts it
    taken = _put(ops, "cart", 2, env="test")
    assert taken.status_code == 409, taken.get_json()
    assert "cart (test)" in taken.get_json()["detail"]

    # below its base the allocation uses nothing: every slot is held
    assert _put(ops, "storefront", 1).status_code == 200
    assert _held(viewer, held["id"]) == (0, 3)
    assert _reserved_cpus(viewer) == pytest.approx(5 * SLOT_CPUS)
    assert _slots_placed(viewer, held["id"]) == 5


def test_growing_beyond_the_reservation_uses_it_up_to_its_count_and_no_further(
    ops: Any, viewer: Any, racks: Any
) -> None:
    _allocate(ops, "storefront", 3)
    held = _reserve(ops, 5)  # eight of nine

    grown = _put(ops, "storefront", 9)
    assert grown.status_code == 200, grown.get_json()
    assert _held(viewer, held["id"]) == (5, 3)  # not 6: at most its count
    assert _reserved_cpus(viewer) == 0
    assert _slots_placed(viewer, held["id"]) == 0
    capacity = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert capacity["allocated"]["cpus"] == pytest.approx(9 * SLOT_CPUS)
    assert capacity["free"]["cpus"] == pytest.approx(12 - 9 * SLOT_CPUS)
    # a used-up reservation gives no room it never held
    beyond = _put(ops, "storefront", 10)
    assert beyond.status_code == 409, beyond.get_json()
    assert _held(viewer, held["id"]) == (5, 3)


def test_deleting_the_allocation_holds_every_slot_again_as_plain_slots(
    ops: Any, viewer: Any, racks: Any
) -> None:
    _allocate(ops, "storefront", 3)
    held = _reserve(ops, 5)
    _allocate(ops, "storefront", 8)
    assert _held(viewer, held["id"]) == (5, 3)

    assert ops.delete(f.allocation_url("production", "storefront")).status_code == 204
    assert _held(viewer, held["id"]) == (0, 3)
    assert _reserved_cpus(viewer) == pytest.approx(5 * SLOT_CPUS)
    assert _slots_placed(viewer, held["id"]) == 5
    assert _placed_afresh(viewer, held["id"]) == 5
    # allocated there again, it is the allocation's again, counted from the same base
    _allocate(ops, "storefront", 4)
    assert _held(viewer, held["id"]) == (1, 3)
    assert _slots_placed(viewer, held["id"]) == 4


def test_the_audit_log_and_a_new_reservation_show_what_is_used(
    ops: Any, viewer: Any, racks: Any
) -> None:
    _allocate(ops, "storefront", 2)
    held = _reserve(ops, 2)
    audit = viewer.get(f"/api/v1/audit?entity_type=reservation&entity={held['id']}").get_json()
    assert audit["events"][0]["after"]["slots_used"] == 0
    assert audit["events"][0]["after"]["base_instances"] == 2
    _allocate(ops, "storefront", 3)
    assert ops.delete(f"/api/v1/reservations/{held['id']}").status_code == 204
    audit = viewer.get(f"/api/v1/audit?entity_type=reservation&entity={held['id']}").get_json()
    assert audit["events"][0]["action"] == "delete"
    assert audit["events"][0]["before"]["slots_used"] == 1
    # plain slots: no base, nothing used whatever grows
    plain = _reserve(ops, 1, service=None)
    assert (plain["service"], plain["base_instances"], plain["slots_used"]) == (None, None, 0)
    _allocate(ops, "storefront", 5)
    assert _held(viewer, plain["id"]) == (0, None)


def test_a_plans_reservation_counts_from_the_plans_instances_before(
    ops: Any, viewer: Any, racks: Any
) -> None:
    _allocate(ops, "storefront", 2)
    now = datetime.now(UTC)
    window = [(now - timedelta(hours=1)).isoformat(), (now + timedelta(days=2)).isoformat()]
    made = ops.post(
        "/api/v1/plans",
        json={"environment": "production", "scale": {"storefront": 3}, "window": window},
    )
    assert made.status_code == 201, made.get_json()
    plan = made.get_json()
    [grows] = plan["services"]
    assert (grows["instances_before"], grows["added"]) == (2, 4)
    # the team scales up between the plan and its reserve: that growth uses the slots
    _allocate(ops, "storefront", 3)

    reserved = ops.post(f"/api/v1/plans/{plan['id']}/reserve")
    assert reserved.status_code == 201, reserved.get_json()
    [held] = reserved.get_json()["reservations"]
    assert (held["count"], held["base_instances"], held["slots_used"]) == (4, 2, 1)
    assert _held(viewer, held["id"]) == (1, 2)
    assert _reserved_cpus(viewer) == pytest.approx(3 * SLOT_CPUS)
    assert _slots_placed(viewer, held["id"]) == 3
    # the plan's scale-up made: every slot used, nothing counted twice
    done = _put(ops, "storefront", 6)
    assert done.status_code == 200, done.get_json()
    assert _held(viewer, held["id"]) == (4, 2)
    assert _reserved_cpus(viewer) == 0


def test_a_plan_of_a_reserved_allocation_counts_its_slots_as_used_by_the_scale_up(
    ops: Any, racks: Any
) -> None:
    # nine places: storefront 3 and 6 slots reserved for it fill the cluster
    _allocate(ops, "storefront", 3)
    _reserve(ops, 6)
    now = datetime.now(UTC)
    window = [(now + timedelta(hours=1)).isoformat(), (now + timedelta(days=1)).isoformat()]
    body = {"environment": "production", "scale": {"storefront": 3}, "window": window}
    made = ops.post("/api/v1/plans", json=body)
    assert made.status_code == 201, made.get_json()
    plan = made.get_json()
    # ×3 is the 9 instances the slots were reserved for: it fits as it is, and does not
    # ask for 2 agents more to hold 9 instances next to 6 slots
    assert plan["fits"] is True and plan["extra_agents"] == 0
    over = ops.post("/api/v1/plans", json={**body, "scale": {"storefront": 4}}).get_json()
    assert over["fits"] is False and over["extra_agents"] == 1  # 12 places, 9 here
