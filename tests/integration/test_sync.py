"""Sync over HTTP against the simulator: leader redirect, snapshots, faults, the lease."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from ledger.sync import acquire_lease
from models import Snapshot, SyncLease
from simulator import Simulator
from tests.integration.conftest import sim_cluster


def _count_snapshots(app: Flask) -> int:
    with app.extensions["berth"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Snapshot)) or 0


def test_sync_follows_the_leader_and_keeps_a_dated_snapshot(
    admin: Any, ops: Any, sim_server: Any, sim_follower: Any
) -> None:
    # the follower is listed first: berth must be redirected to the leader
    sim_cluster(admin, "east", [sim_follower.url, sim_server.url], sim_server.url)
    response = ops.post("/api/v1/clusters/east/sync")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["agent_count"] == 6 and body["changed"] is True
    full = ops.get("/api/v1/clusters/east/snapshot?full=true").get_json()
    assert full["id"] == body["id"] and full["age_seconds"] >= 0
    agent = full["agents"][0]
    assert agent["hostname"] and agent["resources"]["cpus"] > 0
    assert agent["resources"]["ports"] and "rack" in agent["attributes"]


def test_an_unchanged_cluster_only_confirms_its_snapshot(
    admin: Any, ops: Any, sim_server: Any
) -> None:
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    first = ops.post("/api/v1/clusters/east/sync").get_json()
    again = ops.post("/api/v1/clusters/east/sync").get_json()
    assert again["changed"] is False and again["id"] == first["id"]
    assert again["confirmed_at"] >= first["confirmed_at"]
    requests.post(
        f"{sim_server.url}/v2/apps",
        json={"id": "/shop/cart", "cmd": "sleep 1000", "cpus": 0.5, "mem": 256, "instances": 2},
        timeout=5,
    ).raise_for_status()
    changed = ops.post("/api/v1/clusters/east/sync").get_json()
    assert changed["changed"] is True and changed["id"] != first["id"]
    assert changed["app_count"] == 1 and changed["task_count"] == 2


@pytest.mark.parametrize(
    "fault, status",
    [
        ({"kind": "latency", "seconds": 2.0}, 503),
        ({"kind": "status", "status": 500}, 502),
        ({"kind": "drop"}, 503),
    ],
)
def test_a_failing_cluster_gives_a_clear_5xx_and_stores_nothing(
    app: Flask,
    admin: Any,
    ops: Any,
    sim: Simulator,
    sim_server: Any,
    quick_timeouts: None,
    fault: dict,
    status: int,
) -> None:
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    sim.faults.add(**fault)
    response = ops.post("/api/v1/clusters/east/sync")
    assert response.status_code == status, response.get_json()
    problem = response.get_json()
    assert response.content_type == "application/problem+json"
    assert "cluster 'east'" in problem["detail"]
    assert _count_snapshots(app) == 0
    sim.faults.clear()
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200  # the lease was let go


def test_unreachable_masters_are_503(
    dead_url: str, admin: Any, ops: Any, quick_timeouts: None
) -> None:
    sim_cluster(admin, "east", [dead_url, dead_url], dead_url)
    response = ops.post("/api/v1/clusters/east/sync")
    assert response.status_code == 503
    assert "no Mesos master named a leader" in response.get_json()["detail"]


def test_a_second_syncer_waits_for_the_lease(
    app: Flask, admin: Any, ops: Any, sim_server: Any
) -> None:
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    ctx = app.extensions["berth"].context()
    acquire_lease(ctx, "east", "other-host:1:x", timedelta(minutes=1))
    busy = ops.post("/api/v1/clusters/east/sync")
    assert busy.status_code == 409 and "other-host" in busy.get_json()["detail"]
    with app.extensions["berth"].sessions() as session, session.begin():
        lease = session.scalar(select(SyncLease))
        assert lease is not None
        lease.expires_at = lease.last_attempt_at  # it ran out
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200


def test_a_stale_snapshot_with_mesos_down_is_503_with_its_age(
    app: Flask, admin: Any, ops: Any, sim: Simulator, sim_server: Any, quick_timeouts: None
) -> None:
    from dataclasses import replace

    from ledger.errors import SnapshotStaleError
    from ledger.sync import fresh_snapshot

    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    berth = app.extensions["berth"]
    fresh = fresh_snapshot(berth.context(), "east")  # none yet: it syncs
    assert fresh["agent_count"] == 6
    sim.faults.add("drop")
    young = fresh_snapshot(berth.context(), "east")  # young enough: no call made
    assert young["id"] == fresh["id"]
    settings = berth.settings
    berth.settings = replace(settings, snapshot_max_age=timedelta(0))
    try:
        with pytest.raises(SnapshotStaleError) as refused:
            fresh_snapshot(berth.context(), "east")
    finally:
        berth.settings = settings
    assert "s old" in refused.value.detail and refused.value.extra["age_seconds"] >= 0


def test_sync_every_runs_as_its_own_process(
    app: Flask, database_url: str, admin: Any, ops: Any, sim_server: Any
) -> None:
    import os
    import subprocess
    import sys
    import time

    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    env = {**os.environ, "BERTH_DATABASE_URL": database_url, "BERTH_LOG_LEVEL": "WARNING"}
    syncer = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "sync", "--every", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _count_snapshots(app) == 0:
            time.sleep(0.2)
        first = ops.get("/api/v1/clusters/east/snapshot").get_json()["confirmed_at"]
        # between its rounds the lease is free: an API sync is 200, or 409 mid-round
        assert ops.post("/api/v1/clusters/east/sync").status_code in (200, 409)
        time.sleep(1.5)
        assert ops.get("/api/v1/clusters/east/snapshot").get_json()["confirmed_at"] > first
    finally:
        syncer.terminate()
        syncer.wait(timeout=10)
    assert _count_snapshots(app) == 1  # nothing changed in the cluster: one snapshot
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200


@pytest.mark.parametrize(
    "path, body",
    [
        ("/master/state", {"slaves": [], "frameworks": "oops"}),
        ("/master/state", {"slaves": [{"id": "a", "hostname": "h", "resources": {"cpus": "x"}}]}),
        ("/v2/apps", {"apps": [{"id": "/a", "tasks": [{"ports": ["abc"]}]}]}),
        ("/v2/apps", {"apps": [{"id": "/a", "tasksRunning": "many"}]}),
    ],
)
def test_a_malformed_answer_is_502_not_500(
    app: Flask, admin: Any, ops: Any, sim: Simulator, sim_server: Any, path: str, body: dict
) -> None:
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    sim.faults.add("status", path_prefix=path, status=200, body=body)
    response = ops.post("/api/v1/clusters/east/sync")
    assert response.status_code == 502, response.get_json()
    assert "cannot be read" in response.get_json()["detail"]
    assert _count_snapshots(app) == 0


def test_readers_see_the_newest_snapshot_and_reading_changes_no_row(
    app: Flask, admin: Any, ops: Any, sim_server: Any
) -> None:
    """Each process keeps the decoded content of a cluster's latest snapshot (ledger/
    snapshots): a new reading must replace it at once, and reading must not write."""
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    first = ops.post("/api/v1/clusters/east/sync").get_json()
    before = ops.get("/api/v1/clusters/east/capacity").get_json()
    assert len(before["agents"]) == 6
    with app.extensions["berth"].sessions() as session:
        row = session.get(Snapshot, first["id"])
        assert row is not None
        kept = (row.confirmed_at, row.content_hash, len(row.agents))
    for _ in range(2):  # from the copy now
        assert len(ops.get("/api/v1/clusters/east/capacity").get_json()["agents"]) == 6
    with app.extensions["berth"].sessions() as session:
        row = session.get(Snapshot, first["id"])
        assert row is not None and (row.confirmed_at, row.content_hash, len(row.agents)) == kept

    added = requests.post(f"{sim_server.url}/_sim/agents", json={"hostname": "extra"}, timeout=5)
    assert added.status_code == 201
    second = ops.post("/api/v1/clusters/east/sync").get_json()
    assert second["changed"] is True and second["agent_count"] == 7
    after = ops.get("/api/v1/clusters/east/capacity").get_json()
    assert len(after["agents"]) == 7
    assert "extra" in {a["hostname"] for a in after["agents"]}
    full = ops.get("/api/v1/clusters/east/snapshot?full=true").get_json()
    assert full["id"] == second["id"] and len(full["agents"]) == 7
