"""What-if plans through the API, against agents the simulator reports over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from simulator import Simulator, serve
from simulator.demo import populate
from tests import factories as f
from tests.integration.conftest import sim_cluster

SOON = datetime.now(UTC) + timedelta(days=7)
WINDOW = [SOON.isoformat(), (SOON + timedelta(days=2)).isoformat()]
NO_SURGE = {"minimum_health_capacity": 0.5, "maximum_over_capacity": 0}


@pytest.fixture
def east(admin: Any, ops: Any) -> Iterator[Any]:
    """Three agents of 4 cpus and 8192 MiB, synced; environments production and test."""
    with serve(f.three_racks()) as server:
        sim_cluster(admin, "east", [server.url], server.url)
        f.environment(admin, "production", "east")
        f.environment(admin, "test", "east")
        # no host ports: instances of one service may share an agent
        f.service(ops, "cart", [], team="checkout", tags=["promo"])
        f.service(ops, "storefront", [], team="web", calls=[{"service": "cart", "fan_out": 2}])
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        yield server


def _allocate(api: Any, svc: str, env: str = "production", **fields: Any) -> None:
    body = {"cpus": 1.0, "mem": 1024, "upgrade_strategy": NO_SURGE, **fields}
    response = api.put(f.allocation_url(env, svc), json=body)
    assert response.status_code in (200, 201), response.get_json()


def _plan(api: Any, scale: dict[str, float], **extra: Any) -> Any:
    body = {"environment": "production", "scale": scale, "window": WINDOW, **extra}
    return api.post("/api/v1/plans", json=body)


def test_fewest_extra_agents_checked_both_ways_stored_and_listed(
    ops: Any, viewer: Any, east: Any
) -> None:
    # one instance of 2.5 cpus per agent: four do not fit on three agents although the
    # cpus add up (10.4 of 12); the volume bound says 0, placement says 1
    _allocate(ops, "storefront", cpus=2.4, instances=2)
    _allocate(ops, "cart", env="test", cpus=0.5, instances=2)
    made = _plan(ops, {"storefront": 2})
    assert made.status_code == 201, made.get_json()
    plan = made.get_json()
    assert plan["fits"] is False
    assert plan["extra_agents"] == 1
    assert plan["lower_bound"] == 0
    assert plan["checked"]["fits"]["extra_agents"] == 1
    assert plan["checked"]["does_not_fit"] == {
        "extra_agents": 0,
        "fits": False,
        "proven": True,  # three agents, four instances of 2.5 cpus: a search settles it
        "by": "placement",
        "agents_used": 3,
        "unplaced": 1,
    }
    assert plan["bottleneck"]["resource"] == "cpus"
    assert plan["agent_shape"]["cpus"] == 4 and plan["agent_shape"]["mem"] == 8192
    assert "add 1 agent of 4 cpus, 8192 MiB" in plan["advice"]
    assert plan["services"] == [
        {
            "service": "storefront",
            "factor": 2.0,
            "source": "explicit",
            "instances_before": 2,
            "instances_after": 4,
            "added": 2,
            "cpus": 2.4,
            "mem": 1024,
            "disk": 0,
            "constraints": [],
        }
    ]
    assert plan["unplaced_count"] == 1
    assert "storefront" in plan["unplaced"][0]["reason"]
    assert plan["snapshot_age_seconds"] >= 0
    assert made.headers["Location"] == f"/api/v1/plans/{plan['id']}"

    assert viewer.get(f"/api/v1/plans/{plan['id']}").get_json() == plan
    second = _plan(ops, {"team:web": 1.5}).get_json()
    assert second["fits"] is True and second["extra_agents"] == 0
    page = viewer.get("/api/v1/plans?limit=1").get_json()
    assert page["total"] == 2 and [p["id"] for p in page["plans"]] == [second["id"]]
    [listed] = viewer.get("/api/v1/plans?limit=1&offset=1").get_json()["plans"]
    # a page leaves out the per-service lines and unplaced instances: the rest is the plan
    assert "services" not in listed and "unplaced" not in listed
    assert listed == {k: v for k, v in plan.items() if k not in ("services", "unplaced")}
    assert _plan(viewer, {"storefront": 2}).status_code == 403
    assert viewer.get("/api/v1/plans/999999").status_code == 404
    audit = viewer.get("/api/v1/audit?entity_type=plan").get_json()["events"]
    assert [e["action"] for e in audit] == ["create", "create"]


def test_a_bigger_factor_never_asks_for_fewer_agents(ops: Any, east: Any) -> None:
    _allocate(ops, "storefront", cpus=0.9, mem=1500, instances=3)
    answers = [
        _plan(ops, {"storefront": factor}).get_json()["extra_agents"] for factor in (1, 2, 3, 5, 8)
    ]
    assert answers == sorted(answers) and answers[0] == 0 and answers[-1] > 0


def test_propagate_carries_load_along_calls_by_fan_out(ops: Any, east: Any) -> None:
    _allocate(ops, "storefront", cpus=0.5)
    _allocate(ops, "cart", cpus=0.5)
    alone = _plan(ops, {"storefront": 2}).get_json()
    assert [s["service"] for s in alone["services"]] == ["storefront"]

    carried = _plan(ops, {"storefront": 2}, propagate=True).get_json()
    by_name = {s["service"]: s for s in carried["services"]}
    # storefront is cart's only caller: cart doubles with it, whatever the fan-out
    assert by_name["cart"]["factor"] == 2.0 and by_name["cart"]["source"] == "propagated"
    assert by_name["cart"]["instances_after"] == 2
    assert by_name["storefront"]["instances_after"] == 2
    # tags and teams select services; a service's own factor beats them
    tagged = _plan(ops, {"tag:promo": 4, "cart": 1.5}).get_json()
    assert [(s["service"], s["instances_after"]) for s in tagged["services"]] == [("cart", 2)]


def test_propagation_weighs_callers_by_their_instances_in_the_plans_environment(
    ops: Any, east: Any
) -> None:
    # the README: a callee's factor is the mean of its callers' factors weighted by each
    # caller's instances in the plan's environment × fan_out
    f.service(ops, "batch", [], team="ops", calls=[{"service": "cart", "fan_out": 4}])
    f.service(ops, "mobile", [], team="web", calls=[{"service": "cart", "fan_out": 1}])
    _allocate(ops, "storefront", cpus=0.1, mem=128, instances=3)  # sends 3 × 2 = 6 shares
    _allocate(ops, "mobile", cpus=0.1, mem=128, instances=2)  # sends 2 × 1 = 2 shares
    _allocate(ops, "cart", cpus=0.1, mem=128, instances=7)
    # batch runs in test only: it sends production's cart nothing and weighs 0 there
    _allocate(ops, "batch", env="test", cpus=0.1, mem=128, instances=5)
    plan = _plan(ops, {"storefront": 3}, propagate=True).get_json()
    by_name = {s["service"]: s for s in plan["services"]}
    # (6 × 3 + 2 × 1) / (6 + 2) = 2.5; weighing batch's 5 × 4 as well would give 40 / 28
    assert by_name["cart"]["factor"] == 2.5
    assert by_name["cart"]["instances_after"] == 18  # ceil(7 × 2.5)
    assert "batch" not in by_name and "mobile" not in by_name


SHAPES = [
    {"name": "small", "cpus": 4, "mem": 8192, "cost": 1.0},
    {"name": "big", "cpus": 8, "mem": 16384, "cost": 1.5},
    {"name": "mem-heavy", "cpus": 2, "mem": 16384, "disk": 0, "cost": 0.9},
]


def test_a_plan_names_the_cheapest_mix_of_machines(ops: Any, viewer: Any, east: Any) -> None:
    # 3 agents of 4 cpus; storefront ×3 makes 12 instances of 1.5 cpus (with the
    # executor's 0.1): two per agent, 6 left over. A big machine holds 5 of them (7.5 of
    # 8 cpus), a mem-heavy one 1, a small one 2: big + mem-heavy (2.4) is the cheapest;
    # big + small costs 2.5, two bigs or three smalls 3.0. By volume alone one big (1.5)
    # would do: the exact search proves the rest
    _allocate(ops, "storefront", cpus=1.4, mem=512, instances=4)
    made = _plan(ops, {"storefront": 3}, agent_shapes=SHAPES)
    assert made.status_code == 201, made.get_json()
    plan = made.get_json()
    mix = plan["mix"]
    assert {s["name"]: s["count"] for s in mix["shapes"]} == {
        "small": 0,
        "big": 1,
        "mem-heavy": 1,
    }
    assert mix["cost"] == 2.4 and mix["agents"] == 2
    assert mix["proven"] is True and mix["gap"] == 0
    assert mix["lower_bound"]["cost"] == 2.4 and "exact" in mix["lower_bound"]["by"]
    assert mix["binds"] == "cpus"
    assert "1 × big" in mix["advice"] and "1 × mem-heavy" in mix["advice"]
    # the single shape's answer stays as it is: 3 agents of the common 4 cpus
    assert plan["extra_agents"] == 3 and plan["proven"] is True
    assert plan["request"]["agent_shapes"][0]["name"] == "small"
    assert viewer.get(f"/api/v1/plans/{plan['id']}").get_json()["mix"] == mix
    # nothing to buy when it fits
    fits = _plan(ops, {"storefront": 1.25}, agent_shapes=SHAPES).get_json()
    assert fits["fits"] and fits["mix"]["cost"] == 0 and fits["mix"]["agents"] == 0
    # without agent_shapes there is no mix
    assert "mix" not in _plan(ops, {"storefront": 2}).get_json()


@pytest.mark.parametrize(
    "shapes, field",
    [
        ([{"name": "a", "cpus": 4, "mem": 8192, "cost": 1}] * 2, "agent_shapes"),
        ([{"name": "a", "cpus": 4, "mem": 8192}], "agent_shapes.0.cost"),
        ([{"name": "a", "cpus": 4, "mem": 8192, "cost": 0}], "agent_shapes.0.cost"),
        ([{"name": "", "cpus": 4, "mem": 8192, "cost": 1}], "agent_shapes.0.name"),
        ([{"name": "a", "cpus": -1, "mem": 8192, "cost": 1}], "agent_shapes.0.cpus"),
        ([], "agent_shapes"),
        ([{"name": "a", "cpus": 4, "mem": 8192, "cost": 1e9 + 1}], "agent_shapes.0.cost"),
        ([{"name": "a", "cpus": 4097, "mem": 8192, "cost": 1}], "agent_shapes.0.cpus"),
        ([{"name": "a", "cpus": 4, "mem": 2**26 + 1, "cost": 1}], "agent_shapes.0.mem"),
        ([{"name": f"s{i}", "cpus": 4, "mem": 8192, "cost": 1} for i in range(9)], "agent_shapes"),
    ],
)
def test_bad_machine_shapes_are_refused_naming_the_field(
    ops: Any, east: Any, shapes: list[dict[str, Any]], field: str
) -> None:
    _allocate(ops, "storefront", cpus=1.5, mem=512, instances=4)
    made = _plan(ops, {"storefront": 4}, agent_shapes=shapes)
    assert made.status_code == 422, made.get_json()
    errors = made.get_json()["errors"]
    head, _, rest = field.partition(".")
    got = errors[head]
    for part in rest.split(".") if rest else []:
        got = got[part]
    assert got, errors
    assert ops.get("/api/v1/plans").get_json()["total"] == 0


BAD = [
    ({"scale": {"nobody": 2}}, "nobody"),
    ({"scale": {"team:ghosts": 2}}, "team:ghosts"),
    ({"scale": {"tag:nothing": 2}}, "tag:nothing"),
    ({"scale": {"storefront": 0}}, "scale"),
    ({"scale": {"storefront": -1}}, "scale"),
    ({"scale": {}}, "scale"),
    ({"scale": {"storefront": 2}, "environment": "staging"}, "environment"),
    ({"scale": {"storefront": 2}, "window": [WINDOW[1], WINDOW[0]]}, "window"),
    (
        {"scale": {"storefront": 2}, "window": ["2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"]},
        "window",
    ),
    ({"scale": {"storefront": 2}, "window": ["2030-01-01T00:00:00", WINDOW[1]]}, "window"),
    ({"scale": {"storefront": 2}, "window": {"starts_at": WINDOW[0]}}, "ends_at"),
    ({"scale": {"storefront": 2}, "agent_shape": {"cpus": 0, "mem": 10}}, "agent_shape"),
    ({"scale": {"cart": 2}}, "cart"),  # known, but not allocated in production
]


def test_bad_plans_are_422_naming_what_is_wrong(ops: Any, east: Any) -> None:
    _allocate(ops, "storefront")
    for body, field in BAD:
        response = ops.post(
            "/api/v1/plans", json={"environment": "production", "window": WINDOW, **body}
        )
        assert response.status_code == 422, (body, response.get_json())
        assert response.content_type == "application/problem+json"
        assert field in response.get_data(as_text=True), (body, response.get_json())
    assert ops.get("/api/v1/plans").get_json()["total"] == 0


def test_window_as_an_object_and_reservations_in_it_count(ops: Any, east: Any) -> None:
    _allocate(ops, "storefront", cpus=1.0, instances=3)
    window = {"starts_at": WINDOW[0], "ends_at": WINDOW[1]}
    before = _plan(ops, {"storefront": 3}, window=window).get_json()
    assert before["extra_agents"] == 0 and before["reservations_counted"] == []
    held = ops.post(
        "/api/v1/reservations",
        json={
            "cluster": "east",
            "count": 3,
            "cpus": 1.5,
            "mem": 1024,
            "reason": "sale",
            "starts_at": WINDOW[0],
            "ends_at": WINDOW[1],
        },
    )
    assert held.status_code == 201, held.get_json()
    during = _plan(ops, {"storefront": 3}, window=window).get_json()
    assert during["reservations_counted"] == [held.get_json()["id"]]
    assert during["extra_agents"] >= 1
    later = (SOON + timedelta(days=30)).isoformat(), (SOON + timedelta(days=31)).isoformat()
    after = _plan(ops, {"storefront": 3}, window=list(later)).get_json()
    assert after["reservations_counted"] == [] and after["extra_agents"] == 0


def test_reserve_a_plan_201_then_409_and_forced_by_admin(
    ops: Any, admin: Any, viewer: Any, east: Any
) -> None:
    _allocate(ops, "storefront", cpus=1.0, instances=2)
    fits = _plan(ops, {"storefront": 2}).get_json()
    assert fits["fits"] is True
    made = ops.post(f"/api/v1/plans/{fits['id']}/reserve")
    assert made.status_code == 201, made.get_json()
    [reservation] = made.get_json()["reservations"]
    assert reservation["count"] == 2 and reservation["cpus"] == 1.0
    assert reservation["reason"].startswith(f"plan {fits['id']}: storefront +2")
    assert (
        reservation["starts_at"]
        == viewer.get(f"/api/v1/plans/{fits['id']}").get_json()["starts_at"]
    )
    assert viewer.get(f"/api/v1/plans/{fits['id']}").get_json()["reservations"] == [
        reservation["id"]
    ]
    again = ops.post(f"/api/v1/plans/{fits['id']}/reserve")
    assert again.status_code == 409 and "reserved already" in again.get_json()["detail"]

    big = _plan(ops, {"storefront": 6}).get_json()
    assert big["extra_agents"] >= 1
    refused = ops.post(f"/api/v1/plans/{big['id']}/reserve")
    assert refused.status_code == 409, refused.get_json()
    assert "agent" in refused.get_json()["detail"] and "4 cpus" in refused.get_json()["detail"]
    assert len(viewer.get("/api/v1/reservations").get_json()) == 1  # nothing half-done
    assert ops.post(f"/api/v1/plans/{big['id']}/reserve?force=true").status_code == 403
    forced = admin.post(f"/api/v1/plans/{big['id']}/reserve?force=true")
    assert forced.status_code == 201 and forced.get_json()["reservations"][0]["forced"] is True
    actions = [
        e["action"] for e in viewer.get("/api/v1/audit?entity_type=plan").get_json()["events"]
    ]
    assert actions == ["reserve", "create", "reserve", "create"]


def test_plan_on_demo_data_with_propagation(
    app: Flask, admin: Any, ops: Any, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("the demo import is slow; planning is the same on both databases")
    source = Simulator(agents=12, seed=1)
    populate(source, ["/prod"], seed=1)
    with serve(source) as server:
        sim_cluster(admin, "prod", [server.url], server.url)
        f.environment(admin, "production", "prod", marathon_group="/prod")
        imported = app.test_cli_runner().invoke(
            args=["import-marathon", "--cluster", "prod", "--environment", "production"]
        )
        assert imported.exit_code == 0, imported.output
        assert admin.post("/api/v1/clusters/prod/sync").status_code == 200
        services = ops.get("/api/v1/services").get_json()
        team = sorted({s["team"] for s in services})[0]
        answers = []
        for factor in (1.0, 3.0):
            made = _plan(ops, {f"team:{team}": factor}, propagate=True)
            assert made.status_code == 201, made.get_json()
            answers.append(made.get_json())
    assert answers[0]["fits"] is True and answers[0]["extra_agents"] == 0
    ks = [a["extra_agents"] for a in answers]
    assert ks == sorted(ks) and ks[-1] > 0
    last = answers[-1]
    assert last["checked"]["fits"]["fits"] is True
    assert last["checked"]["does_not_fit"]["extra_agents"] == ks[-1] - 1
    assert all(s["instances_after"] >= s["instances_before"] for s in last["services"])


def test_two_reserves_of_one_plan_at_once_make_one_set(
    app: Flask, tokens: dict, ops: Any, viewer: Any, east: Any, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one write at a time")
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import Api

    _allocate(ops, "storefront", cpus=0.5, instances=2)
    plan_id = _plan(ops, {"storefront": 2}).get_json()["id"]

    start = threading.Barrier(4)

    def reserve(_: int) -> tuple[int, str]:
        api = Api(app.test_client(), tokens["ops"])
        start.wait()  # all four at once, so that only the plan's row lock orders them
        answer = api.post(f"/api/v1/plans/{plan_id}/reserve")
        return int(answer.status_code), str(answer.get_json().get("detail", ""))

    with ThreadPoolExecutor(4) as pool:
        answers = sorted(pool.map(reserve, range(4)))
    codes = [code for code, _ in answers]
    assert codes == [201, 409, 409, 409]
    assert all("reserved already" in detail for code, detail in answers if code == 409)
    assert len(viewer.get("/api/v1/reservations").get_json()) == 1


def test_a_plan_with_a_stale_snapshot_and_mesos_down_is_503_and_nothing_is_kept(
    app: Flask, ops: Any, viewer: Any, east: Any
) -> None:
    from dataclasses import replace

    _allocate(ops, "storefront", cpus=0.5, instances=2)
    east.sim.faults.add("drop")
    berth = app.extensions["berth"]
    settings = berth.settings
    berth.settings = replace(settings, snapshot_max_age=timedelta(0), cluster_timeout=(0.5, 0.5))
    try:
        refused = _plan(ops, {"storefront": 2})
    finally:
        berth.settings = settings
    assert refused.status_code == 503, refused.get_json()
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.headers["Retry-After"]
    assert viewer.get("/api/v1/plans").get_json()["total"] == 0


# --- refusals of a plan's reservation: 4xx problems that say what to do, and change nothing


def _refused(response: Any, status: int, *words: str) -> str:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    detail = str(response.get_json()["detail"])
    assert all(w in detail for w in words), detail
    return detail


def test_a_plan_whose_window_has_ended_is_refused_when_made_and_when_reserved(
    app: Flask, ops: Any, viewer: Any, east: Any
) -> None:
    """The API refuses to make a plan whose window is over, so the plan here gets a window
    that ends three seconds after it is made, and is reserved once that has passed."""
    import re
    import time

    _allocate(ops, "storefront", cpus=0.5, instances=2)
    over = ["2020-01-01T00:00:00+00:00", "2020-01-02T00:00:00+00:00"]
    before = f.rows(app)
    _refused(_plan(ops, {"storefront": 2}, window=over), 422, "window", "over already")
    assert f.rows(app) == before

    now = datetime.now(UTC)
    short = [(now - timedelta(hours=1)).isoformat(), (now + timedelta(seconds=3)).isoformat()]
    made = _plan(ops, {"storefront": 2}, window=short)
    assert made.status_code == 201, made.get_json()  # a slow machine: over before it was made
    plan = made.get_json()
    ends_at = datetime.fromisoformat(plan["ends_at"])
    time.sleep(max(0.0, (ends_at - datetime.now(UTC)).total_seconds()) + 0.2)

    before = f.rows(app)
    detail = _refused(ops.post(f"/api/v1/plans/{plan['id']}/reserve"), 409, "window ended at")
    # says when, as a time with its zone, the one the plan shows
    said = re.search(r"ended at (\S+)", detail)
    assert said is not None
    assert datetime.fromisoformat(said.group(1)) == ends_at, detail
    assert f.rows(app) == before
    assert viewer.get(f"/api/v1/plans/{plan['id']}").get_json()["reservations"] == []
    assert viewer.get("/api/v1/reservations?include_expired=true").get_json() == []


@pytest.mark.parametrize("factor", [1, 0.5])
def test_a_plan_that_adds_no_instances_has_nothing_to_reserve(
    app: Flask, ops: Any, viewer: Any, east: Any, factor: float
) -> None:
    _allocate(ops, "storefront", cpus=0.5, instances=2)
    made = _plan(ops, {"storefront": factor})
    assert made.status_code == 201, made.get_json()
    plan = made.get_json()
    assert [s["added"] for s in plan["services"]] == [plan["instances_after"] - 2]
    before = f.rows(app)
    _refused(
        ops.post(f"/api/v1/plans/{plan['id']}/reserve"),
        409,
        f"plan {plan['id']} adds no instances",
        "nothing to reserve",
    )
    assert f.rows(app) == before
    assert viewer.get("/api/v1/reservations").get_json() == []


def test_a_missing_plan_is_404_to_get_and_to_reserve(app: Flask, ops: Any, east: Any) -> None:
    _allocate(ops, "storefront", cpus=0.5, instances=2)
    plan_id = _plan(ops, {"storefront": 2}).get_json()["id"]
    missing = plan_id + 1000
    before = f.rows(app)
    _refused(ops.get(f"/api/v1/plans/{missing}"), 404, f"there is no plan {missing}")
    _refused(ops.post(f"/api/v1/plans/{missing}/reserve"), 404, f"there is no plan {missing}")
    # an id past the database's integer is no plan either, not a 500
    for url in ("/api/v1/plans/2147483648", "/api/v1/plans/99999999999999999999/reserve"):
        refused = ops.post(url) if url.endswith("reserve") else ops.get(url)
        assert refused.status_code == 404, refused.get_data(as_text=True)
        assert refused.mimetype == "application/problem+json"
    assert f.rows(app) == before


def test_a_plan_is_reserved_again_once_its_reservations_are_deleted(
    app: Flask, ops: Any, viewer: Any, east: Any
) -> None:
    _allocate(ops, "storefront", cpus=0.5, instances=2)
    plan_id = _plan(ops, {"storefront": 2}).get_json()["id"]
    first = ops.post(f"/api/v1/plans/{plan_id}/reserve")
    assert first.status_code == 201, first.get_json()
    [held] = first.get_json()["reservations"]
    _refused(ops.post(f"/api/v1/plans/{plan_id}/reserve"), 409, "reserved already", str(held["id"]))

    assert ops.delete(f"/api/v1/reservations/{held['id']}").status_code == 204
    second = ops.post(f"/api/v1/plans/{plan_id}/reserve")
    assert second.status_code == 201, second.get_json()
    [again] = second.get_json()["reservations"]
    assert (again["count"], again["cpus"], again["mem"]) == (held["count"], 0.5, 1024)
    assert viewer.get(f"/api/v1/plans/{plan_id}").get_json()["reservations"] == [again["id"]]
    assert [r["id"] for r in viewer.get("/api/v1/reservations").get_json()] == [again["id"]]
    before = f.rows(app)
    _refused(
        ops.post(f"/api/v1/plans/{plan_id}/reserve"), 409, "reserved already", str(again["id"])
    )
    assert f.rows(app) == before
    actions = [
        e["action"] for e in viewer.get("/api/v1/audit?entity_type=plan").get_json()["events"]
    ]
    assert actions == ["reserve", "reserve", "create"]


def test_a_reused_reservation_id_does_not_make_a_plan_reserved(
    ops: Any, viewer: Any, east: Any
) -> None:
    """A plan knows its reservations by id; were a deleted reservation's id handed to the
    next one (SQLite without AUTOINCREMENT), someone else's reservation would pass for the
    plan's and the 409 would tell the user to delete it."""
    _allocate(ops, "storefront", cpus=0.5, instances=2)
    plan_id = _plan(ops, {"storefront": 2}).get_json()["id"]
    [mine] = ops.post(f"/api/v1/plans/{plan_id}/reserve").get_json()["reservations"]
    assert ops.delete(f"/api/v1/reservations/{mine['id']}").status_code == 204
    theirs = ops.post(
        "/api/v1/reservations",
        json={
            "cluster": "east",
            "count": 1,
            "cpus": 0.1,
            "mem": 64,
            "reason": "someone else's",
            "starts_at": WINDOW[0],
            "ends_at": WINDOW[1],
        },
    )
    assert theirs.status_code == 201, theirs.get_json()
    again = ops.post(f"/api/v1/plans/{plan_id}/reserve")
    assert again.status_code == 201, again.get_json()
    assert theirs.get_json()["id"] not in [r["id"] for r in again.get_json()["reservations"]]


# --- a plan's reservations are its services' allocations grown: host ports and constraints


def test_a_plans_reservation_needs_the_host_port_of_its_service(
    app: Flask, ops: Any, viewer: Any, east: Any
) -> None:
    """checkout's host port is taken on all three agents: its added instances need three
    new agents, and so do the slots that hold them, although cpus and memory would do."""
    f.service(ops, "checkout", ["http"], team="checkout")
    _allocate(ops, "checkout", cpus=1.0, instances=3)
    plan = _plan(ops, {"checkout": 2}).get_json()
    assert plan["extra_agents"] == 3 and plan["bottleneck"]["rule"] == "host port 31000"
    before = f.rows(app)
    detail = _refused(
        ops.post(f"/api/v1/plans/{plan['id']}/reserve"),
        409,
        "checkout (production)",
        "host ports are taken",
        "The plan says to add 3 agents",
    )
    assert detail.count("#") == 3, detail
    assert f.rows(app) == before
    assert viewer.get(f"/api/v1/plans/{plan['id']}").get_json()["reservations"] == []


def test_a_plans_reservation_holds_the_agents_with_the_host_port_free(
    ops: Any, viewer: Any, east: Any
) -> None:
    for rack in ("r1", "r2", "r3"):
        east.sim.add_agent(
            cpus=4, mem=8192, disk=20000, ports="[31000-32000]", attributes={"rack": rack}
        )
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    f.service(ops, "checkout", ["http"], team="checkout")
    _allocate(ops, "checkout", cpus=1.0, instances=3, constraints=[["rack", "GROUP_BY", "3"]])
    now = datetime.now(UTC)
    window = [(now - timedelta(hours=1)).isoformat(), (now + timedelta(days=2)).isoformat()]
    plan = _plan(ops, {"checkout": 2}, window=window).get_json()
    assert plan["fits"] is True and plan["extra_agents"] == 0

    made = ops.post(f"/api/v1/plans/{plan['id']}/reserve")
    assert made.status_code == 201, made.get_json()
    [held] = made.get_json()["reservations"]
    assert held["service"] == "checkout" and held["environment"] == "production"
    assert held["constraints"] == [["rack", "GROUP_BY", "3"]]
    # three instances and three slots need host port 31000 each: six agents, as many as
    # there are; the verdict counts them (plain slots would sit on three)
    fit = made.get_json()["fit"]
    assert fit["fits"] is True and fit["lower_bound"] == 6 and fit["agents_used"] == 6
    agents = viewer.get("/api/v1/clusters/east/capacity").get_json()["agents"]
    slots = {a["id"] for a in agents if a["instances"].get(f"reservation:{held['id']}")}
    instances = {a["id"] for a in agents if a["instances"].get("production/checkout")}
    assert len(slots) == 3 and len(instances) == 3 and not slots & instances
    assert viewer.get(f"/api/v1/reservations/{held['id']}").get_json()["service"] == "checkout"


def test_the_openapi_document_describes_the_plans_new_fields(ops: Any, east: Any) -> None:
    spec = ops.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    body = spec["paths"]["/api/v1/plans"]["post"]["requestBody"]["content"]["application/json"]
    plan_in = schemas[body["schema"]["$ref"].rsplit("/", 1)[-1]]
    shapes = plan_in["properties"]["agent_shapes"]
    assert shapes["type"] == "array" and shapes["maxItems"] == 8
    shape = schemas[shapes["items"]["$ref"].rsplit("/", 1)[-1]]
    assert {"name", "cpus", "mem", "cost"} <= set(shape["required"])
    assert {"disk", "attributes"} <= set(shape["properties"])
    plan_out = schemas["PlanOut"]
    assert plan_out["properties"]["proven"]["type"] == "boolean"
    [ref] = plan_out["properties"]["mix"]["allOf"]
    mix = schemas[ref["$ref"].rsplit("/", 1)[-1]]
    assert {"shapes", "cost", "lower_bound", "gap", "proven", "binds"} <= set(mix["properties"])
    # a real answer carries what the document says it does
    _allocate(ops, "storefront", cpus=1.4, mem=512, instances=4)
    plan = _plan(ops, {"storefront": 3}, agent_shapes=SHAPES).get_json()
    assert set(plan["mix"]) <= set(mix["properties"])
    assert set(plan) <= set(plan_out["properties"])


def test_machine_shapes_at_the_limits_give_the_cheapest_mix_not_a_500(ops: Any, east: Any) -> None:
    # eight shapes at the schema's limits: costs from 1e-6 to 1e9 must not round to the
    # same number of units (the tiniest is the cheapest) nor overflow the search
    _allocate(ops, "storefront", cpus=1.4, mem=512, instances=4)
    huge = {"cpus": 4096, "mem": 2**26, "disk": 2**26}
    shapes = [
        {"name": "dear", **huge, "cost": 1e9},
        {"name": "dear-too", **huge, "cost": 999_999_999},
        {"name": "tiny-5", "cpus": 8, "mem": 16384, "cost": 5e-6},
        {"name": "tiny-3", "cpus": 8, "mem": 16384, "cost": 3e-6},
        {"name": "tiny-2", "cpus": 8, "mem": 16384, "cost": 2e-6},
        {"name": "tiniest", "cpus": 8, "mem": 16384, "cost": 1e-6},
        {"name": "small", "cpus": 0.01, "mem": 1, "cost": 1e-6},
        {"name": "mid", "cpus": 8, "mem": 16384, "cost": 1},
    ]
    made = _plan(ops, {"storefront": 3}, agent_shapes=shapes)
    assert made.status_code == 201, made.get_json()
    mix = made.get_json()["mix"]
    counts = {s["name"]: s["count"] for s in mix["shapes"]}
    # 6 instances of 1.5 cpus left over: two of the tiniest 8-cpu shape (5 per agent)
    assert counts == {n["name"]: 2 if n["name"] == "tiniest" else 0 for n in shapes}, mix
    assert mix["cost"] == pytest.approx(2e-6)
    assert 0 < mix["lower_bound"]["cost"] <= mix["cost"]


def test_a_plan_on_a_cluster_never_synced_is_409_cluster_not_synced(admin: Any, ops: Any) -> None:
    f.world(admin)
    assert f.allocate(ops, "production", instances=2).status_code == 201
    made = _plan(ops, {"order-service": 2})
    _refused(made, 409, "no snapshot yet", "/sync")
    assert made.get_json()["title"] == "Cluster not synced"
    assert ops.get("/api/v1/plans").get_json()["total"] == 0
