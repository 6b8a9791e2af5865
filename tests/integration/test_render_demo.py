"""Every allocation of the demo renders to a definition Marathon (the simulator) accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask
from jsonschema import Draft4Validator

from marathon.client import MarathonClient
from marathon.validation import findings
from simulator import Simulator, serve
from simulator.demo import populate
from tests import factories as f
from tests.integration.conftest import sim_cluster

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "simulator/schema/AppDefinition.json").read_text()
)


def test_every_demo_allocation_renders_valid_and_deploys(
    app: Flask, admin: Any, tokens: dict
) -> None:
    from tests.conftest import Api

    pipeline = Api(app.test_client(), tokens["pipeline"])
    source = Simulator(agents=12, seed=1)
    populate(source, ["/prod"], seed=1)
    with serve(source) as server:
        sim_cluster(admin, "prod", [server.url], server.url)
        admin.post(
            "/api/v1/environments",
            json={"name": "production", "cluster": "prod", "marathon_group": "/prod"},
        )
        imported = app.test_cli_runner().invoke(
            args=["import-marathon", "--cluster", "prod", "--environment", "production"]
        )
        assert imported.exit_code == 0, imported.output
        assert admin.post("/api/v1/clusters/prod/sync").status_code == 200
    allocations = admin.get("/api/v1/environments/production/allocations").get_json()
    assert len(allocations) == 120
    validator = Draft4Validator(SCHEMA)
    target = Simulator(agents=12, seed=9)  # an empty cluster of the same size
    with serve(target) as empty:
        marathon = MarathonClient(empty.url)
        for allocation in allocations:
            url = f.allocation_url("production", allocation["service"]) + "/marathon"
            response = pipeline.get(url + "?image=registry.local/shop/x:1.0&git_sha=abc123")
            assert response.status_code == 200, response.get_json()
            definition = response.get_json()
            errors = [e.message for e in validator.iter_errors(definition)]
            assert not errors, (allocation["service"], errors)
            assert findings(definition) == []
            assert response.headers["ETag"].strip('"') == definition["labels"]["BERTH_CONFIG_HASH"]
            marathon.put_app(definition["id"], definition)
        apps = {a.id: a for a in marathon.apps()}
        assert len(apps) == 120
        assert marathon.queue() == []  # every task placed
        for allocation in allocations:
            running = apps["/prod/" + allocation["service"]]
            assert running.tasks_running == allocation["instances"]


def test_the_pipelines_call_refuses_clearly(ops: Any, admin: Any, tokens: dict, app: Flask) -> None:
    from tests.conftest import Api

    pipeline = Api(app.test_client(), tokens["pipeline"])
    viewer = Api(app.test_client(), tokens["viewer"])
    f.world(admin)
    url = f.allocation_url("production", "order-service") + "/marathon?image=repo/app:1"
    assert pipeline.get(url).status_code == 404
    f.allocate(ops)
    assert viewer.get(url).status_code == 403
    ok = pipeline.get(url)
    assert ok.status_code == 200 and ok.get_json()["id"] == "/production/order-service"
    bad = pipeline.get(url.replace("repo/app:1", "Not%20An%20Image"))
    assert bad.status_code == 422 and "image" in bad.get_json()["errors"]
    assert pipeline.get(url.split("?")[0]).status_code == 422  # image is required


def test_the_dockerfile_of_a_service(ops: Any, admin: Any, viewer: Any) -> None:
    f.world(admin)
    f.allocate(ops, mem=4096)
    response = viewer.get("/api/v1/services/order-service/dockerfile?environment=production")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "-Xmx3072m" in response.get_data(as_text=True)
    ops.patch(
        "/api/v1/services/order-service", json={"dockerfile_template": "FROM x\n# $heap_mib\n"}
    )
    own = viewer.get("/api/v1/services/order-service/dockerfile?environment=production")
    assert own.get_data(as_text=True) == "FROM x\n# 3072\n"
    assert (
        viewer.get("/api/v1/services/order-service/dockerfile?environment=test").status_code == 404
    )
