"""Mesos and Marathon slow, down and flapping during a run of allocation writes and deploys.

The single-fault cases are in tests/integration (test_sync, test_fit, test_deployments);
here faults come and go within one run, as a flapping cluster does: every answer is either
a success or a clean 502/503 problem, later requests succeed, and the ledger afterwards
holds exactly what was acknowledged, with nothing half-written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import text

from simulator import Simulator
from tests import factories as f
from tests.conftest import Api
from tests.integration.conftest import sim_cluster

IMAGE = "registry.local/shop/order-service:{}"
# (fault or None, what the answer must be): reads are retried, a timed-out or dropped
# read is not; writes to Marathon are never retried
WRITE_SCHEDULE: list[tuple[dict[str, Any] | None, set[int]]] = [
    (None, {201}),
    ({"kind": "drop", "path_prefix": "/master"}, {503}),
    (None, {201}),
    ({"kind": "latency", "seconds": 1.0, "path_prefix": "/master"}, {503}),
    ({"kind": "status", "status": 500, "path_prefix": "/v2/apps"}, {503}),
    (None, {201}),
    ({"kind": "status", "status": 503, "times": 1, "path_prefix": "/master"}, {201}),
    ({"kind": "drop", "path_prefix": "/v2"}, {503}),
    (None, {201}),
]
DEPLOY_SCHEDULE: list[tuple[dict[str, Any] | None, set[int]]] = [
    (None, {202}),
    ({"kind": "status", "status": 503, "times": 1, "methods": ["PUT"]}, {502, 503}),
    (None, {202}),
    ({"kind": "drop", "times": 1, "methods": ["PUT"]}, {503}),
    ({"kind": "latency", "seconds": 0.2, "methods": ["PUT"]}, {202}),  # slow, within time
    ({"kind": "status", "status": 500, "times": 2, "methods": ["PUT"]}, {502}),
    (None, {202}),
]


@pytest.fixture
def flaky(app: Flask, admin: Api, ops: Api, sim_server: Any) -> Iterator[Any]:
    """A synced cluster whose snapshot is always stale, so every write reads Mesos first."""
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    f.environment(admin, "production", "east")
    f.service(admin, "order-service", health_check={"port": "http", "path": "/health"})
    for n in range(len(WRITE_SCHEDULE)):
        f.service(admin, f"svc-{n}")
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    berth = app.extensions["berth"]
    settings = berth.settings
    berth.settings = replace(settings, snapshot_max_age=timedelta(0), cluster_timeout=(0.5, 0.5))
    yield sim_server
    berth.settings = settings


def _rows(app: Flask, sql: str) -> list[Any]:
    with app.extensions["berth"].engine.connect() as conn:
        return list(conn.execute(text(sql)).all())


def _clean_failure(response: Any, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.status_code, response.get_json())
    if response.status_code >= 500:
        assert response.content_type == "application/problem+json"
        problem = response.get_json()
        assert problem["status"] == response.status_code and problem["detail"]
        assert response.status_code == 502 or response.headers["Retry-After"]


def test_allocation_writes_while_the_cluster_flaps(
    app: Flask, ops: Api, sim: Simulator, flaky: Any
) -> None:
    acknowledged: dict[str, dict[str, int]] = {}
    failed = []
    for n, (fault, allowed) in enumerate(WRITE_SCHEDULE):
        sim.faults.clear()
        if fault:
            sim.faults.add(**fault)
        response = f.allocate(ops, svc=f"svc-{n}", cpus=0.1, mem=128)
        _clean_failure(response, allowed)
        if response.status_code == 201:
            acknowledged[f"svc-{n}"] = response.get_json()["ports"]
        else:
            failed.append(f"svc-{n}")
    sim.faults.clear()
    assert failed, "no write met a fault"
    for service in failed:  # later requests succeed
        response = f.allocate(ops, svc=service, cpus=0.1, mem=128)
        assert response.status_code == 201, response.get_json()
        acknowledged[service] = response.get_json()["ports"]

    rows = _rows(
        app,
        "SELECT s.name, a.port_name, a.port FROM port_assignments a "
        "JOIN allocations al ON al.id = a.allocation_id JOIN services s ON s.id = al.service_id",
    )
    saved: dict[str, dict[str, int]] = {}
    for service, name, port in rows:
        saved.setdefault(service, {})[name] = port
    assert saved == acknowledged  # every acknowledged write, exactly as answered; no other
    assert len({port for *_, port in rows}) == len(rows)
    events = _rows(app, "SELECT entity FROM audit_events WHERE entity_type = 'allocation'")
    assert sorted(e for (e,) in events) == sorted(f"production/{s}" for s in acknowledged)
    used = _rows(app, "SELECT coalesce(sum(used), 0) FROM port_blocks")[0][0]
    assert used == len(rows)


def test_deploys_while_marathon_flaps(
    app: Flask, ops: Api, viewer: Api, tokens: dict[str, str], sim: Simulator, flaky: Any
) -> None:
    pipeline = Api(ops.client, tokens["pipeline"])
    assert f.allocate(ops, instances=2, cpus=0.1, mem=128).status_code == 201
    allocation = ops.get(f.allocation_url("production", "order-service")).get_json()
    outcomes = []
    for n, (fault, allowed) in enumerate(DEPLOY_SCHEDULE):
        sim.faults.clear()
        if fault:
            sim.faults.add(path_prefix="/v2/apps", **fault)
        response = pipeline.post(
            "/api/v1/deployments",
            json={
                "service": "order-service",
                "environment": "production",
                "image": IMAGE.format(n),
            },
        )
        _clean_failure(response, allowed)
        release = response.get_json()
        if response.status_code == 202:
            followed = viewer.get(f"/api/v1/deployments/{release['id']}").get_json()
            assert followed["status"] == "succeeded", followed
        outcomes.append((n, response.status_code))
    sim.faults.clear()

    history = viewer.get("/api/v1/deployments?service=order-service").get_json()
    assert len(history) == len(DEPLOY_SCHEDULE)  # one record per request, none lost
    by_image = {r["config"]["container"]["docker"]["image"]: r for r in history}
    for n, status in outcomes:
        record = by_image[IMAGE.format(n)]
        if status == 202:
            assert record["status"] == "succeeded"
        else:
            assert record["status"] == "failed" and record["error"], record
    # Marathon runs the last build that succeeded, and the allocation never moved
    last_ok = max(n for n, status in outcomes if status == 202)
    running = requests.get(f"{flaky.url}/v2/apps/production/order-service", timeout=5).json()
    assert running["app"]["container"]["docker"]["image"] == IMAGE.format(last_ok)
    assert ops.get(f.allocation_url("production", "order-service")).get_json() == allocation
