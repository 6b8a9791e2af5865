"""Small builders of test data, through the public API like a user would."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from models import Base
from simulator import Simulator


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


def rows(app: Flask) -> dict[str, int]:
    """Rows per table: a refused request must leave every one of them as it was."""
    with app.extensions["berth"].engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def three_racks() -> Simulator:
    """Three agents of 4 cpus and 8192 MiB with ports 31000-32000, one per rack r1-r3."""
    sim = Simulator(agents=0, seed=3)
    for rack in ("r1", "r2", "r3"):
        sim.add_agent(
            cpus=4, mem=8192, disk=20000, ports="[31000-32000]", attributes={"rack": rack}
        )
    return sim


def synced_world(api: Any, url: str, environments: tuple[str, ...] = ("production",)) -> None:
    """Cluster 'east' on a simulator at `url` (ports 31000-31999), its environments,
    order-service with a health check, synced: the start of most tests that deploy."""
    body = {
        "name": "east",
        "mesos_masters": [url],
        "marathon_url": url,
        "port_ranges": ["31000-31999"],
    }
    assert api.post("/api/v1/clusters", json=body).status_code == 201
    for env in environments:
        environment(api, env, "east")
    service(api, "order-service", health_check={"port": "http", "path": "/actuator/health"})
    assert api.post("/api/v1/clusters/east/sync").status_code == 200
