"""Deployments with an injected clock: locks, force, partial updates, rolling restarts, reverts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator import Simulator, serve
from simulator.errors import LOCKED
from tests.simulator.conftest import Clock, Http, sleeper

DEPLOY_SECONDS = 60


@pytest.fixture
def slow(clock: Clock) -> Iterator[tuple[Simulator, Http]]:
    sim = Simulator(agents=4, seed=2, deploy_seconds=DEPLOY_SECONDS, now=clock)
    with serve(sim) as server:
        yield sim, Http(server.url)


def deployments(http: Http) -> list[dict]:
    return http.get("/v2/deployments").json()


def task_versions(http: Http, app_id: str) -> list[str]:
    return sorted(t["version"] for t in http.get(f"/v2/apps{app_id}/tasks").json()["tasks"])


def test_a_running_deployment_locks_its_app_until_it_is_done(slow: tuple, clock: Clock) -> None:
    sim, http = slow
    created = http.post("/v2/apps", json=sleeper("/shop/cart", instances=2))
    deployment_id = created.headers["Marathon-Deployment-Id"]
    assert created.json()["deployments"] == [{"id": deployment_id}]
    listed = deployments(http)
    assert [(d["id"], d["affectedApps"]) for d in listed] == [(deployment_id, ["/shop/cart"])]
    for method in ("put", "delete"):
        kwargs = {"json": {"instances": 3}} if method == "put" else {}
        locked = getattr(http, method)("/v2/apps/shop/cart", **kwargs)
        assert locked.status_code == 409
        assert locked.json() == {"message": LOCKED, "deployments": [{"id": deployment_id}]}
    assert LOCKED.endswith("View details at '/v2/deployments/<DEPLOYMENT_ID>'.")
    app = http.get("/v2/apps/shop/cart").json()["app"]
    assert app["deployments"] == [{"id": deployment_id}] and app["tasksRunning"] == 2
    clock.advance(DEPLOY_SECONDS - 1)
    assert len(deployments(http)) == 1
    clock.advance(1)
    assert deployments(http) == []
    assert http.put("/v2/apps/shop/cart", json={"instances": 3}).status_code == 200


def test_force_cancels_the_running_deployment(slow: tuple) -> None:
    sim, http = slow
    first = http.post("/v2/apps", json=sleeper("/shop/cart")).headers["Marathon-Deployment-Id"]
    forced = http.put("/v2/apps/shop/cart?force=true", json={"instances": 2})
    assert forced.status_code == 200
    assert [d["id"] for d in deployments(http)] == [forced.json()["deploymentId"]]
    assert forced.json()["deploymentId"] != first
    assert http.delete("/v2/apps/shop/cart?force=true").status_code == 200


def test_a_scale_keeps_the_rest_of_the_definition(http: Http) -> None:
    app = sleeper("/shop/cart", labels={"team": "checkout"}, env={"A": "1"})
    http.post("/v2/apps", json=app)
    before = http.get("/v2/apps/shop/cart").json()["app"]
    assert http.put("/v2/apps/shop/cart", json={"instances": 3}).status_code == 200
    after = http.get("/v2/apps/shop/cart").json()["app"]
    assert after["instances"] == 3 and after["tasksRunning"] == 3
    assert (after["labels"], after["env"], after["cmd"]) == (
        {"team": "checkout"},
        {"A": "1"},
        app["cmd"],
    )
    assert after["version"] > before["version"]
    assert after["versionInfo"]["lastScalingAt"] == after["version"]
    assert after["versionInfo"]["lastConfigChangeAt"] == before["versionInfo"]["lastConfigChangeAt"]
    # a scale leaves the running instances alone
    assert {t["id"] for t in before["tasks"]} <= {t["id"] for t in after["tasks"]}


def test_partial_update_false_replaces_the_definition(http: Http) -> None:
    http.post("/v2/apps", json=sleeper("/shop/cart", labels={"team": "checkout"}))
    response = http.put(
        "/v2/apps/shop/cart?partialUpdate=false", json=sleeper("/shop/cart", mem=64)
    )
    assert response.status_code == 200
    app = http.get("/v2/apps/shop/cart").json()["app"]
    assert app["mem"] == 64 and app["labels"] == {}
    assert app["versionInfo"]["lastConfigChangeAt"] == app["version"]


def test_a_restart_runs_old_and_new_instances_until_the_deploy_time_is_over(
    slow: tuple, clock: Clock
) -> None:
    sim, http = slow
    http.post("/v2/apps", json=sleeper("/shop/cart", instances=2, cpus=1))
    clock.advance(DEPLOY_SECONDS)
    old_version = http.get("/v2/apps/shop/cart").json()["app"]["version"]
    result = http.put("/v2/apps/shop/cart", json={"cmd": "sleep 2000"}).json()
    steps = deployments(http)[0]["steps"]
    assert steps == [{"actions": [{"action": "RestartApplication", "app": "/shop/cart"}]}]
    # upgradeStrategy 1/1 (the defaults): all old ones stay, as many new ones start
    assert task_versions(http, "/shop/cart") == [old_version] * 2 + [result["version"]] * 2
    used = sum(s["used_resources"]["cpus"] for s in http.get("/master/state").json()["slaves"])
    assert used == pytest.approx(4 * 1.1)
    clock.advance(DEPLOY_SECONDS)
    assert task_versions(http, "/shop/cart") == [result["version"]] * 2
    assert deployments(http) == []


def test_a_restart_with_no_over_capacity_replaces_in_place(slow: tuple, clock: Clock) -> None:
    sim, http = slow
    app = sleeper("/shop/cart", instances=4)
    app["upgradeStrategy"] = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}
    http.post("/v2/apps", json=app)
    clock.advance(DEPLOY_SECONDS)
    new = http.put("/v2/apps/shop/cart", json={"mem": 64}).json()["version"]
    versions = task_versions(http, "/shop/cart")
    assert len(versions) == 4 and versions.count(new) == 2
    clock.advance(DEPLOY_SECONDS)
    assert task_versions(http, "/shop/cart") == [new] * 4


def test_a_deployment_is_not_done_while_instances_wait(slow: tuple, clock: Clock) -> None:
    sim, http = slow
    app = sleeper("/shop/cart", instances=5, constraints=[["hostname", "UNIQUE"]])
    http.post("/v2/apps", json=app)
    clock.advance(DEPLOY_SECONDS * 10)
    assert len(deployments(http)) == 1
    assert http.post("/_sim/agents", json={"hostname": "extra"}).status_code == 201
    assert deployments(http) == []


def test_deleting_a_deployment_reverts_the_app(slow: tuple, clock: Clock) -> None:
    sim, http = slow
    http.post("/v2/apps", json=sleeper("/shop/cart", instances=2))
    clock.advance(DEPLOY_SECONDS)
    before = http.get("/v2/apps/shop/cart").json()["app"]
    change = http.put("/v2/apps/shop/cart", json={"cmd": "sleep 2000"}).json()
    response = http.delete(f"/v2/deployments/{change['deploymentId']}")
    assert response.status_code == 200
    revert = response.json()
    assert (
        set(revert) == {"deploymentId", "version"}
        and revert["deploymentId"] != change["deploymentId"]
    )
    assert [d["id"] for d in deployments(http)] == [revert["deploymentId"]]
    app = http.get("/v2/apps/shop/cart").json()["app"]
    assert (app["cmd"], app["version"]) == (before["cmd"], before["version"])
    clock.advance(DEPLOY_SECONDS)
    assert deployments(http) == []
    assert task_versions(http, "/shop/cart") == [before["version"]] * 2


def test_reverting_a_new_app_removes_it_and_force_only_cancels(slow: tuple) -> None:
    sim, http = slow
    created = http.post("/v2/apps", json=sleeper("/shop/cart"))
    http.delete(f"/v2/deployments/{created.headers['Marathon-Deployment-Id']}")
    assert http.get("/v2/apps/shop/cart").status_code == 404
    http.post("/v2/apps", json=sleeper("/shop/cart"))
    change = http.put("/v2/apps/shop/cart?force=true", json={"cmd": "sleep 3"}).json()
    cancelled = http.delete(f"/v2/deployments/{change['deploymentId']}?force=true")
    assert (cancelled.status_code, cancelled.content) == (202, b"")
    assert deployments(http) == []
    assert http.get("/v2/apps/shop/cart").json()["app"]["cmd"] == "sleep 3"
    missing = http.delete("/v2/deployments/nope")
    assert missing.status_code == 404
    assert missing.json() == {"message": "DeploymentPlan nope does not exist"}


def test_a_quick_deployment_is_gone_by_the_time_the_answer_arrives(http: Http) -> None:
    created = http.post("/v2/apps", json=sleeper("/shop/cart", instances=2))
    assert created.status_code == 201
    body = created.json()
    # like Marathon, the answer to POST knows of no task yet
    assert (body["tasksRunning"], body["tasks"]) == (0, [])
    assert deployments(http) == []
    assert http.get("/v2/apps/shop/cart").json()["app"]["tasksRunning"] == 2


def test_the_clock_can_be_moved_over_http(slow: tuple) -> None:
    sim, http = slow
    http.post("/v2/apps", json=sleeper("/shop/cart"))
    assert http.post("/_sim/tick", json={"seconds": 1}).json()["deployments"] == 1
    assert http.post("/_sim/tick", json={"seconds": DEPLOY_SECONDS}).json()["deployments"] == 0


def test_deleting_an_app_kills_its_tasks(server, http: Http) -> None:
    http.post("/v2/apps", json=sleeper("/shop/cart", instances=2))
    response = http.delete("/v2/apps/shop/cart")
    assert response.status_code == 200
    assert response.headers["Marathon-Deployment-Id"] == response.json()["deploymentId"]
    gone = http.get("/v2/apps/shop/cart")
    assert (gone.status_code, gone.json()) == (404, {"message": "App '/shop/cart' does not exist"})
    assert http.get("/v2/tasks").json() == {"tasks": []}
    marathon = http.get("/master/state").json()["frameworks"][0]
    assert [t["state"] for t in marathon["completed_tasks"]] == ["TASK_KILLED"] * 2
    missing = http.delete("/v2/apps/shop/cart")
    assert missing.status_code == 404


def test_creating_an_existing_app_is_409_and_put_creates(http: Http) -> None:
    assert http.post("/v2/apps", json=sleeper("/x")).status_code == 201
    again = http.post("/v2/apps", json=sleeper("/x"))
    assert (again.status_code, again.json()) == (
        409,
        {"message": "An app with id [/x] already exists."},
    )
    created = http.put("/v2/apps/prod/order-service", json={"cmd": "sleep 1"})
    assert created.status_code == 201
    assert http.get("/v2/apps/prod/order-service").json()["app"]["id"] == "/prod/order-service"
