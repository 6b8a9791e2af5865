"""Drift against the simulator over HTTP: a change made in Marathon behind berth's back shows
up with both values; an app berth does not know shows up as unmanaged; a clean deploy is clean."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask

from tests import factories as f
from tests.conftest import Api
from tests.integration.conftest import sim_cluster

IMAGE = "registry.local/shop/order-service:1.0"
APP = "/production/order-service"


@pytest.fixture
def deployed(app: Flask, tokens: dict, admin: Any, ops: Any, sim_server: Any) -> Any:
    """order-service deployed through berth into the simulator, followed to success, synced."""
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    f.environment(admin, "production", "east", defaults={"env": {"FEATURE_X": "on"}})
    f.service(
        admin,
        "order-service",
        ["http", "dubbo"],
        health_check={"port": "http", "path": "/actuator/health"},
    )
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    assert f.allocate(ops, instances=2).status_code == 201
    pipeline = Api(app.test_client(), tokens["pipeline"])
    body = {"service": "order-service", "environment": "production", "image": IMAGE}
    release = pipeline.post("/api/v1/deployments", json=body)
    assert release.status_code == 202, release.get_json()
    followed = pipeline.get(f"/api/v1/deployments/{release.get_json()['id']}").get_json()
    assert followed["status"] == "succeeded", followed
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    return sim_server


def _drift(viewer: Any, query: str = "") -> dict:
    response = viewer.get(f"/api/v1/environments/production/drift{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _marathon_put(server: Any, body: dict) -> None:
    """A change made straight in Marathon, as someone with its UI would (a partial update)."""
    response = requests.put(f"{server.url}/v2/apps{APP}", json=body, timeout=5)
    assert response.status_code == 200, response.text


def test_a_clean_deploy_shows_no_drift(ops: Any, viewer: Any, deployed: Any) -> None:
    drift = _drift(viewer)
    assert drift["in_sync"] is True, drift
    assert drift["in_sync_services"] == ["order-service"]
    assert drift["summary"] == {
        "allocations": 1,
        "in_sync": 1,
        "drifted": 0,
        "missing": 0,
        "unmanaged": 0,
    }
    assert drift["snapshot"]["age_seconds"] >= 0 and drift["snapshot"]["taken_at"]
    # a ledger change not deployed yet is drift too, and told apart from a change in Marathon
    assert f.allocate(ops, instances=2, cpus=1).status_code == 200
    [app] = _drift(viewer)["drifted"]
    assert app["ledger_changed_since_release"] is True
    assert {"field": "cpus", "ledger": 1, "running": 0.5} in app["differences"]


def test_changes_behind_berths_back_show_both_values(ops: Any, viewer: Any, deployed: Any) -> None:
    current = requests.get(f"{deployed.url}/v2/apps{APP}", timeout=5).json()["app"]
    checks = [{**current["healthChecks"][0], "path": "/ping"}]
    hotfix = {"type": "DOCKER", "docker": {"image": IMAGE.replace("1.0", "1.1-hotfix")}}
    env = {**current["env"], "DEBUG": "1"}
    env.pop("FEATURE_X")
    _marathon_put(
        deployed,
        {
            "mem": 2048,
            "instances": 3,
            "container": hotfix,
            "healthChecks": checks,
            "env": env,
        },
    )
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    drift = _drift(viewer)
    assert drift["in_sync"] is False
    [app] = drift["drifted"]
    assert app["app_id"] == APP and app["ledger_changed_since_release"] is False
    found = {d["field"]: (d["ledger"], d["running"]) for d in app["differences"]}
    assert found == {
        "mem": (1024, 2048),
        "instances": (2, 3),
        "image": (IMAGE, IMAGE.replace("1.0", "1.1-hotfix")),
        "health_checks[0].path": ("/actuator/health", "/ping"),
        "env.FEATURE_X": ("on", None),
        "env.DEBUG": (None, "1"),
    }


def test_an_app_made_in_marathon_is_unmanaged_and_a_stopped_one_missing(
    ops: Any, viewer: Any, deployed: Any
) -> None:
    stray = {
        "id": "/production/cron-job",
        "cpus": 0.1,
        "mem": 64,
        "instances": 1,
        "container": {"type": "DOCKER", "docker": {"image": "busybox:1"}},
    }
    assert requests.post(f"{deployed.url}/v2/apps", json=stray, timeout=5).status_code == 201
    elsewhere = {**stray, "id": "/staging/cron-job"}
    assert requests.post(f"{deployed.url}/v2/apps", json=elsewhere, timeout=5).status_code == 201
    response = requests.delete(f"{deployed.url}/v2/apps{APP}", timeout=5)
    assert response.status_code == 200
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    drift = _drift(viewer)
    assert [u["app_id"] for u in drift["unmanaged"]] == ["/production/cron-job"]
    assert drift["unmanaged"][0]["image"] == "busybox:1"
    assert drift["missing"] == [{"service": "order-service", "app_id": APP, "instances": 2}]


def test_refresh_syncs_a_stale_snapshot_and_marathon_failing_is_503(
    app: Flask, viewer: Any, deployed: Any, sim: Any, quick_timeouts: None
) -> None:
    _marathon_put(deployed, {"mem": 1536})
    assert _drift(viewer)["in_sync"] is True  # the snapshot does not know yet
    berth = app.extensions["berth"]
    original = berth.settings
    berth.settings = replace(original, snapshot_max_age=timedelta(seconds=0))
    try:
        drift = _drift(viewer, "?refresh=true")
        assert drift["drifted"][0]["differences"] == [
            {"field": "mem", "ledger": 1024, "running": 1536}
        ]
        sim.faults.add("status", path_prefix="/v2/apps", status=500)
        response = viewer.get("/api/v1/environments/production/drift?refresh=true")
        assert response.status_code == 503, response.get_json()
        assert response.mimetype == "application/problem+json"
    finally:
        berth.settings = original
        sim.faults.clear()


def test_unknown_environment_never_synced_and_bad_query(admin: Any, viewer: Any) -> None:
    assert viewer.get("/api/v1/environments/nowhere/drift").status_code == 404
    f.world(admin)
    response = viewer.get("/api/v1/environments/production/drift")
    assert response.status_code == 409 and "sync" in response.get_json()["detail"]
    assert viewer.get("/api/v1/environments/production/drift?refresh=maybe").status_code == 422
    assert viewer.get("/api/v1/environments/production/drift?refesh=true").status_code == 422


def test_an_imported_app_is_compared_on_what_the_ledger_holds(
    app: Flask, admin: Any, ops: Any, viewer: Any, sim_server: Any
) -> None:
    running = {
        "id": "/production/user-service",
        "cpus": 0.5,
        "mem": 512,
        "instances": 1,
        "container": {"type": "DOCKER", "docker": {"image": "registry.local/shop/user:7"}},
        "env": {"SERVICE_NAME": "user-service"},
        "networks": [{"mode": "host"}],
        "portDefinitions": [{"port": 31200, "name": "http"}],
        "requirePorts": True,
        "healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0}],
    }
    assert requests.post(f"{sim_server.url}/v2/apps", json=running, timeout=5).status_code == 201
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    f.environment(admin, "production", "east")
    imported = app.test_cli_runner().invoke(
        args=["import-marathon", "--cluster", "east", "--environment", "production"]
    )
    assert imported.exit_code == 0, imported.output
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    assert _drift(viewer)["in_sync_services"] == ["user-service"]
    moved = {"portDefinitions": [{"port": 31201, "name": "http"}], "cpus": 1}
    response = requests.put(
        f"{sim_server.url}/v2/apps/production/user-service", json=moved, timeout=5
    )
    assert response.status_code == 200, response.text
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    [drifted] = _drift(viewer)["drifted"]
    assert drifted["release"] is None and "image" not in drifted["compared"]
    assert drifted["differences"] == [
        {"field": "cpus", "ledger": 0.5, "running": 1},
        {"field": "ports.http", "ledger": 31200, "running": 31201},
    ]
