"""Deploying through Marathon (the simulator, over HTTP): records, follow-up, faults, rollback."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask

from simulator import Simulator
from tests import factories as f
from tests.conftest import Api
from tests.integration.conftest import sim_cluster

IMAGE = "registry.local/shop/order-service:1.0"


@pytest.fixture
def pipeline(app: Flask, tokens: dict) -> Api:
    return Api(app.test_client(), tokens["pipeline"])


@pytest.fixture
def ready(admin: Any, ops: Any, sim_server: Any) -> Any:
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    f.environment(admin, "production", "east")
    f.service(
        admin,
        "order-service",
        ["http", "dubbo"],
        health_check={"port": "http", "path": "/actuator/health"},
    )
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    assert f.allocate(ops, instances=2).status_code == 201
    return sim_server


def deploy(api: Api, image: str = IMAGE, query: str = "") -> Any:
    body = {
        "service": "order-service",
        "environment": "production",
        "image": image,
        "git_sha": "abc1234",
    }
    return api.post("/api/v1/deployments" + query, json=body)


def test_a_deploy_is_recorded_sent_and_followed_to_success(
    pipeline: Api, viewer: Any, ready: Any
) -> None:
    response = deploy(pipeline)
    assert response.status_code == 202, response.get_json()
    release = response.get_json()
    assert release["status"] == "deploying" and release["marathon_deployment_id"]
    assert release["config"]["container"]["docker"]["image"] == IMAGE
    followed = viewer.get(f"/api/v1/deployments/{release['id']}").get_json()
    assert followed["status"] == "succeeded", followed
    app = requests.get(f"{ready.url}/v2/apps/production/order-service", timeout=5).json()["app"]
    assert app["tasksRunning"] == 2 and app["labels"]["BERTH_GIT_SHA"] == "abc1234"
    history = viewer.get("/api/v1/deployments?service=order-service").get_json()
    assert [r["id"] for r in history] == [release["id"]]


def test_rollback_sends_the_previous_good_config(pipeline: Api, viewer: Any, ready: Any) -> None:
    first = deploy(pipeline, IMAGE).get_json()
    viewer.get(f"/api/v1/deployments/{first['id']}")
    second = deploy(pipeline, IMAGE.replace("1.0", "2.0")).get_json()
    viewer.get(f"/api/v1/deployments/{second['id']}")
    back = pipeline.post(f"/api/v1/deployments/{second['id']}/rollback")
    assert back.status_code == 202, back.get_json()
    assert back.get_json()["rollback_of"] == second["id"]
    assert back.get_json()["config_hash"] == first["config_hash"]
    assert viewer.get(f"/api/v1/deployments/{back.get_json()['id']}").get_json()["status"] == (
        "succeeded"
    )
    app = requests.get(f"{ready.url}/v2/apps/production/order-service", timeout=5).json()["app"]
    assert app["container"]["docker"]["image"] == IMAGE


@pytest.mark.parametrize(
    "fault, status, words",
    [
        ({"kind": "lock"}, 409, "locked by deployment"),
        (
            {
                "kind": "status",
                "status": 422,
                "body": {
                    "message": "Object is not valid",
                    "details": [{"path": "/cpus", "errors": ["error.min"]}],
                },
            },
            502,
            "/cpus",
        ),
        ({"kind": "status", "status": 500}, 502, "500"),
        ({"kind": "drop"}, 503, "cannot reach"),
    ],
)
def test_marathon_failing_gives_a_clear_answer_and_a_failed_record(
    pipeline: Api,
    ops: Any,
    viewer: Any,
    sim: Simulator,
    ready: Any,
    quick_timeouts: None,
    fault: dict,
    status: int,
    words: str,
) -> None:
    before = ops.get(f.allocation_url("production", "order-service")).get_json()
    sim.faults.add(path_prefix="/v2/apps", methods=["PUT"], **fault)
    response = deploy(pipeline)
    assert response.status_code == status, response.get_json()
    assert words in response.get_json()["detail"]
    [release] = viewer.get("/api/v1/deployments").get_json()
    assert release["status"] == "failed" and release["error"]
    assert ops.get(f.allocation_url("production", "order-service")).get_json() == before
    sim.faults.clear()
    assert requests.get(f"{ready.url}/v2/apps", timeout=5).json()["apps"] == []


def test_a_refused_connection_is_503(
    app: Flask, admin: Any, ops: Any, pipeline: Api, viewer: Any, dead_url: str
) -> None:
    f.world(admin)
    admin.patch(
        "/api/v1/clusters/east", json={"marathon_url": dead_url, "mesos_masters": [dead_url]}
    )
    f.allocate(ops)
    response = deploy(pipeline)
    assert response.status_code == 503
    assert viewer.get("/api/v1/deployments").get_json()[0]["status"] == "failed"


def test_only_admins_may_force(pipeline: Api, ready: Any) -> None:
    assert deploy(pipeline, query="?force=true").status_code == 403


def test_a_malformed_image_is_422_and_nothing_recorded(
    pipeline: Api, viewer: Any, ready: Any
) -> None:
    assert deploy(pipeline, "not an image").status_code == 422
    assert viewer.get("/api/v1/deployments").get_json() == []


def test_a_timed_out_deploy_is_followed_not_written_off(
    pipeline: Api, viewer: Any, sim: Simulator, ready: Any, quick_timeouts: None
) -> None:
    import time

    sim.faults.add("latency", path_prefix="/v2/apps", methods=["PUT"], seconds=1.0, times=1)
    response = deploy(pipeline)
    assert response.status_code == 503
    assert "may have applied" in response.get_json()["detail"]
    [release] = viewer.get("/api/v1/deployments").get_json()
    assert release["status"] == "deploying" and "may have taken" in release["error"]
    time.sleep(1.2)  # the simulator applies the PUT once its delay is over
    followed = viewer.get(f"/api/v1/deployments/{release['id']}").get_json()
    assert followed["status"] == "succeeded", followed


def test_rollback_refuses_a_config_whose_ports_moved(
    pipeline: Api, ops: Any, viewer: Any, ready: Any
) -> None:
    first = deploy(pipeline).get_json()
    viewer.get(f"/api/v1/deployments/{first['id']}")
    moved = f.allocate(ops, instances=2, ports={"http": 31900})
    assert moved.status_code == 200
    second = deploy(pipeline, IMAGE.replace("1.0", "2.0")).get_json()
    viewer.get(f"/api/v1/deployments/{second['id']}")
    refused = pipeline.post(f"/api/v1/deployments/{second['id']}/rollback")
    assert refused.status_code == 409 and "deploy its image" in refused.get_json()["detail"]


def test_two_deploys_of_one_build_both_succeed(pipeline: Api, viewer: Any, ready: Any) -> None:
    one, two = deploy(pipeline).get_json(), deploy(pipeline, query="").get_json()
    for release in (one, two):
        assert viewer.get(f"/api/v1/deployments/{release['id']}").get_json()["status"] == (
            "succeeded"
        )
