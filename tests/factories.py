"""Small builders of test data, through the public API like a user would."""

from __future__ import annotations

from typing import Any


def cluster(api: Any, name: str = "east", ranges: list[str] | None = None, **extra: Any) -> dict:
    body = {
        "name": name,
        "mesos_masters": ["http://127.0.0.1:5050"],
        "marathon_url": "http://127.0.0.1:8080",
        "port_ranges": ranges or ["31000-31999"],
        **extra,
    }
    response = api.post("/api/v1/clusters", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def environment(
    api: Any, name: str = "production", cluster_name: str = "east", **extra: Any
) -> dict:
    body = {"name": name, "cluster": cluster_name, "marathon_group": f"/{name}", **extra}
    response = api.post("/api/v1/environments", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def service(
    api: Any, name: str = "order-service", ports: list[str] | None = None, **extra: Any
) -> dict:
    body = {
        "name": name,
        "runtime": "java",
        "team": "orders",
        "ports": [{"name": p} for p in (ports if ports is not None else ["http", "dubbo"])],
        **extra,
    }
    response = api.post("/api/v1/services", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def allocation_url(env: str, svc: str) -> str:
    return f"/api/v1/environments/{env}/allocations/{svc}"


def allocate(
    api: Any,
    env: str = "production",
    svc: str = "order-service",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Any:
    body = {"cpus": 0.5, "mem": 1024, **fields}
    return api.put(allocation_url(env, svc), json=body, headers=headers)


def world(api: Any, ranges: list[str] | None = None) -> None:
    """A cluster 'east' with environments test and production and service order-service."""
    cluster(api, ranges=ranges)
    environment(api, "test")
    environment(api, "production")
    service(api)
