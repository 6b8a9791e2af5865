"""Clusters, environments and services: create, read, change, delete, and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories as f


def test_cluster_lifecycle(admin: Any, viewer: Any) -> None:
    created = f.cluster(admin, ranges=["32000-32099", "31000-31099"])
    assert created["port_ranges"] == ["31000-31099", "32000-32099"]
    assert viewer.get("/api/v1/clusters").get_json()[0]["name"] == "east"
    changed = admin.patch("/api/v1/clusters/east", json={"marathon_url": "http://marathon:8080"})
    assert (
        changed.status_code == 200 and changed.get_json()["marathon_url"] == "http://marathon:8080"
    )
    assert admin.delete("/api/v1/clusters/east").status_code == 204
    assert viewer.get("/api/v1/clusters/east").status_code == 404


def test_cluster_defaults_to_mesos_default_port_range(admin: Any) -> None:
    response = admin.post(
        "/api/v1/clusters",
        json={"name": "east", "mesos_masters": ["http://m1:5050"], "marathon_url": "http://m:8080"},
    )
    assert response.get_json()["port_ranges"] == ["31000-32000"]


def test_cluster_name_taken_is_409(admin: Any) -> None:
    f.cluster(admin)
    again = admin.post(
        "/api/v1/clusters",
        json={"name": "east", "mesos_masters": ["http://m:5050"], "marathon_url": "http://m:8080"},
    )
    assert again.status_code == 409 and "already exists" in again.get_json()["detail"]


def test_bad_port_ranges_are_422_per_field(admin: Any) -> None:
    for ranges, words in [
        (["31000-30000"], "starts after it ends"),
        (["31000-31500", "31400-31600"], "overlap"),
        (["70000-70001"], "1-65535"),
    ]:
        response = admin.post(
            "/api/v1/clusters",
            json={
                "name": "x",
                "mesos_masters": ["http://m:5050"],
                "marathon_url": "http://m:8080",
                "port_ranges": ranges,
            },
        )
        assert response.status_code == 422, ranges
        assert words in str(response.get_json()["errors"]["port_ranges"])


def test_cluster_with_environments_cannot_be_deleted(admin: Any) -> None:
    f.cluster(admin)
    f.environment(admin)
    response = admin.delete("/api/v1/clusters/east")
    assert response.status_code == 409 and "production" in response.get_json()["detail"]


def test_environment_lifecycle_and_refusals(admin: Any, ops: Any) -> None:
    f.cluster(admin)
    f.cluster(admin, "west")
    env = f.environment(admin, headroom=0.2, defaults={"env": {"TZ": "UTC"}})
    assert (
        env["cluster"] == "east"
        and env["headroom"] == 0.2
        and env["marathon_group"] == "/production"
    )
    unknown = admin.post(
        "/api/v1/environments", json={"name": "x", "cluster": "nowhere", "marathon_group": "/x"}
    )
    assert unknown.status_code == 422 and "nowhere" in str(unknown.get_json()["errors"]["cluster"])
    bad_group = admin.post(
        "/api/v1/environments", json={"name": "x", "cluster": "east", "marathon_group": "prod"}
    )
    assert bad_group.status_code == 422 and "marathon_group" in bad_group.get_json()["errors"]
    f.service(admin)
    f.allocate(ops)
    moved = admin.patch("/api/v1/environments/production", json={"cluster": "west"})
    assert moved.status_code == 409
    assert admin.delete("/api/v1/environments/production").status_code == 409
    ops.delete(f.allocation_url("production", "order-service"))
    assert (
        admin.patch("/api/v1/environments/production", json={"cluster": "west"}).status_code == 200
    )
    assert admin.delete("/api/v1/environments/production").status_code == 204


def test_service_lifecycle_with_calls_and_health_check(ops: Any, viewer: Any) -> None:
    f.service(ops, "user-service", ["http"], team="identity")
    created = f.service(
        ops,
        "order-service",
        health_check={"port": "http", "path": "/actuator/health"},
        calls=["user-service"],
        tags=["dubbo", "core"],
    )
    assert created["calls"] == [{"service": "user-service", "fan_out": 1.0}]
    assert created["health_check"]["path"] == "/actuator/health"
    assert created["health_check"]["grace_period_seconds"] == 300
    assert [s["name"] for s in viewer.get("/api/v1/services?team=identity").get_json()] == [
        "user-service"
    ]
    assert [s["name"] for s in viewer.get("/api/v1/services?tag=core").get_json()] == [
        "order-service"
    ]
    called = ops.delete("/api/v1/services/user-service")
    assert called.status_code == 409 and "order-service" in called.get_json()["detail"]
    assert ops.delete("/api/v1/services/order-service").status_code == 204
    assert ops.delete("/api/v1/services/user-service").status_code == 204


def test_service_refusals(ops: Any) -> None:
    unknown_call = ops.post(
        "/api/v1/services",
        json={"name": "a", "runtime": "node", "team": "t", "calls": ["ghost"]},
    )
    assert unknown_call.status_code == 422 and "ghost" in str(unknown_call.get_json()["errors"])
    bad_health = ops.post(
        "/api/v1/services",
        json={
            "name": "a",
            "runtime": "node",
            "team": "t",
            "ports": [{"name": "http"}],
            "health_check": {"port": "admin"},
        },
    )
    assert bad_health.status_code == 422
    dup_ports = ops.post(
        "/api/v1/services",
        json={
            "name": "a",
            "runtime": "node",
            "team": "t",
            "ports": [{"name": "http"}, {"name": "http"}],
        },
    )
    assert dup_ports.status_code == 422 and "unique" in str(dup_ports.get_json()["errors"]["ports"])
    bad_runtime = ops.post("/api/v1/services", json={"name": "a", "runtime": "cobol", "team": "t"})
    assert bad_runtime.status_code == 422 and "runtime" in bad_runtime.get_json()["errors"]
    assert ops.get("/api/v1/services").get_json() == []


def test_service_with_allocations_cannot_be_deleted(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops)
    response = ops.delete("/api/v1/services/order-service")
    assert response.status_code == 409 and "production" in response.get_json()["detail"]


def test_plain_names_are_short_for_ports_and_calls(admin: Any, ops: Any) -> None:
    f.service(ops, "user-service", ports=["http"])
    plain = ops.post(
        "/api/v1/services",
        json={
            "name": "a",
            "runtime": "node",
            "team": "t",
            "ports": ["http", "metrics"],
            "calls": ["user-service"],
        },
    )
    assert plain.status_code == 201, plain.get_json()
    assert [p["name"] for p in plain.get_json()["ports"]] == ["http", "metrics"]
    assert plain.get_json()["calls"] == [{"service": "user-service", "fan_out": 1.0}]


@pytest.mark.parametrize(
    "ports", [[1], [True], [["http"]], [{"protocol": "tcp"}], [{"name": "http"}, "http"]]
)
def test_malformed_port_lists_are_422(ops: Any, ports: list) -> None:
    response = ops.post(
        "/api/v1/services", json={"name": "a", "runtime": "node", "team": "t", "ports": ports}
    )
    assert response.status_code == 422, response.get_json()
    assert "ports" in response.get_json()["errors"]
