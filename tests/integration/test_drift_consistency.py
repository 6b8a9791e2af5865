"""Consistency with images from real releases (the simulator over HTTP): a new tag is no
difference, another base image is, unless the service allows it."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests import factories as f
from tests.conftest import Api
from tests.integration.conftest import sim_cluster

URL = "/api/v1/services/order-service/consistency?a=test&b=production"


def _deploy(pipeline: Api, env: str, image: str) -> None:
    body = {"service": "order-service", "environment": env, "image": image}
    release = pipeline.post("/api/v1/deployments", json=body)
    assert release.status_code == 202, release.get_json()
    followed = pipeline.get(f"/api/v1/deployments/{release.get_json()['id']}").get_json()
    assert followed["status"] == "succeeded", followed


def test_base_images_from_releases_are_compared(
    app: Flask, tokens: dict, admin: Any, ops: Any, viewer: Any, sim_server: Any
) -> None:
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    f.environment(admin, "test", "east")
    f.environment(admin, "production", "east")
    f.service(admin, "order-service", ["http"], health_check={"port": "http", "path": "/health"})
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    assert f.allocate(ops, "test", cpus=0.25, mem=256, instances=1).status_code == 201
    assert f.allocate(ops, "production", cpus=1, mem=1024, instances=2).status_code == 201
    pipeline = Api(app.test_client(), tokens["pipeline"])
    _deploy(pipeline, "test", "registry.local/shop/order-service:2.0")
    _deploy(pipeline, "production", "registry.local/shop/order-service:1.9")
    answer = viewer.get(URL).get_json()
    assert answer["consistent"] is True, answer  # tags, resources, instances, ports differ
    assert answer["a"]["image_source"].startswith("release ")
    assert answer["b"]["base_image"] == "registry.local/shop/order-service"

    _deploy(pipeline, "production", "registry.local/legacy/order-service:1.9")
    answer = viewer.get(URL).get_json()
    assert answer["consistent"] is False
    assert answer["differences"] == [
        {
            "field": "base_image",
            "a": "registry.local/shop/order-service",
            "b": "registry.local/legacy/order-service",
        }
    ]
    ops.patch("/api/v1/services/order-service", json={"consistency_exceptions": ["base_image"]})
    answer = viewer.get(URL).get_json()
    assert answer["consistent"] is True and answer["exceptions_applied"] == ["base_image"]
    assert answer["differences"][0]["allowed_because"] == "exception 'base_image' of order-service"
