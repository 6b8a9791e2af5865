"""The watcher against the simulator over loopback HTTP: changes made in Marathon show in
berth's snapshot, drift and capacity without a sync; releases finish from the events; a
dropped stream is reconnected and reconciled; one active watcher per cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from ledger.watch import Watcher, WatchSettings
from models import Deployment, WatchLease
from tests.integration.conftest import sim_cluster

QUICK = WatchSettings(
    reconcile_seconds=300,
    lease_seconds=2.0,
    debounce_seconds=0.05,
    backoff_initial_seconds=0.1,
    backoff_max_seconds=0.5,
    read_timeout_seconds=10,
)


def until(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)


@pytest.fixture
def watching(app: Flask, admin: Any, sim_server: Any) -> Iterator[Watcher]:
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    watcher = Watcher(app.extensions["berth"].context(actor="test"), "east", QUICK)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    until(lambda: watcher.reconciliations >= 1)
    yield watcher
    stop.set()
    thread.join(5)


def _snapshot(api: Any) -> dict[str, Any]:
    body: dict[str, Any] = api.get("/api/v1/clusters/east/snapshot?full=true").get_json()
    return body


def _tasks(api: Any, app_id: str) -> list[dict[str, Any]]:
    for app in _snapshot(api).get("apps", []):
        if app["id"] == app_id:
            return list(app["tasks"])
    return []


def test_changes_in_marathon_show_without_a_sync(
    watching: Watcher, viewer: Any, sim_server: Any
) -> None:
    url = sim_server.url
    requests.post(
        f"{url}/v2/apps",
        json={"id": "/shop/cart", "cmd": "sleep 1000", "cpus": 0.5, "mem": 256, "instances": 2},
        timeout=5,
    ).raise_for_status()
    until(lambda: len(_tasks(viewer, "/shop/cart")) == 2)
    body = _snapshot(viewer)
    assert body["live"]["watching"] is True
    assert body["live"]["last_event_at"] and body["live"]["last_reconciled_at"]
    # scale through Marathon's own API
    requests.put(
        f"{url}/v2/apps/shop/cart", json={"instances": 4}, params={"force": "true"}, timeout=5
    ).raise_for_status()
    until(lambda: len(_tasks(viewer, "/shop/cart")) == 4)
    app_def = next(a for a in _snapshot(viewer)["apps"] if a["id"] == "/shop/cart")
    assert app_def["definition"]["instances"] == 4
    # kill a task: Marathon replaces it with another
    victim = _tasks(viewer, "/shop/cart")[0]["id"]
    requests.delete(f"{url}/v2/apps/shop/cart/tasks/{victim}", timeout=5).raise_for_status()
    until(
        lambda: (
            victim not in {t["id"] for t in _tasks(viewer, "/shop/cart")}
            and len(_tasks(viewer, "/shop/cart")) == 4
        )
    )
    # destroy the app
    requests.delete(f"{url}/v2/apps/shop/cart", timeout=5).raise_for_status()
    until(lambda: all(a["id"] != "/shop/cart" for a in _snapshot(viewer)["apps"]))
    assert watching.events_applied > 0 and watching.reconciliations == 1


def test_a_change_shows_in_drift_and_capacity(
    watching: Watcher, admin: Any, ops: Any, viewer: Any, sim_server: Any
) -> None:
    admin.post(
        "/api/v1/environments",
        json={"name": "test", "cluster": "east", "marathon_group": "/test"},
    )
    requests.post(
        f"{sim_server.url}/v2/apps",
        json={"id": "/test/stray", "cmd": "sleep 1000", "cpus": 1, "mem": 512, "instances": 3},
        timeout=5,
    ).raise_for_status()

    def drift_sees() -> bool:
        body = viewer.get("/api/v1/environments/test/drift").get_json()
        return any("stray" in str(u) for u in body.get("unmanaged", []))

    until(drift_sees)
    drift = viewer.get("/api/v1/environments/test/drift").get_json()
    assert drift["snapshot"]["live"]["watching"] is True
    capacity = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert capacity["snapshot"]["live"]["watching"] is True
    assert capacity["used"]["cpus"] >= 3


def test_a_release_succeeds_from_the_event_with_marathons_time(
    app: Flask, watching: Watcher, sim_server: Any
) -> None:
    answer = requests.post(
        f"{sim_server.url}/v2/apps",
        json={"id": "/shop/api", "cmd": "sleep 1000", "cpus": 0.1, "mem": 64, "instances": 1},
        timeout=5,
    ).json()
    plan_id = answer["deployments"][0]["id"]
    berth = app.extensions["berth"]
    with berth.sessions() as session, session.begin():
        cluster_id = session.scalar(select(WatchLease.cluster_id))
        d = Deployment(
            cluster_id=cluster_id,
            environment="test",
            service="api",
            app_id="/shop/api",
            image="shop/api:1",
            allocation_version=1,
            config={},
            config_hash="x" * 64,
            actor="test",
            status="deploying",
            marathon_deployment_id=plan_id,
        )
        session.add(d)
    # the event may have come before the id was recorded: the watcher settles it anyway

    def finished() -> Deployment | None:
        with berth.sessions() as session:
            row = session.scalar(select(Deployment).where(Deployment.app_id == "/shop/api"))
            return row if row is not None and row.status != "deploying" else None

    row = until(finished)
    assert row.status == "succeeded" and row.finished_at is not None
    assert row.finished_at.microsecond % 1000 == 0  # Marathon's millisecond timestamp


def test_a_dropped_stream_is_reconnected_and_reconciled(
    watching: Watcher, viewer: Any, sim_server: Any
) -> None:
    url = sim_server.url
    requests.post(f"{url}/_sim/events/drop", timeout=5).raise_for_status()
    until(lambda: watching.reconciliations >= 2)
    requests.post(
        f"{url}/v2/apps",
        json={"id": "/shop/late", "cmd": "sleep 1000", "cpus": 0.1, "mem": 64, "instances": 2},
        timeout=5,
    ).raise_for_status()
    until(lambda: len(_tasks(viewer, "/shop/late")) == 2)


def test_the_master_down_during_a_watch_is_retried_until_it_answers(
    watching: Watcher, viewer: Any, sim_server: Any
) -> None:
    url = sim_server.url
    requests.post(
        f"{url}/_sim/faults",
        json={"kind": "status", "status": 503, "path_prefix": "/master/"},
        timeout=5,
    ).raise_for_status()
    before = watching.reconciliations
    requests.post(f"{url}/_sim/events/drop", timeout=5).raise_for_status()
    time.sleep(1.5)
    # the stream comes back but no reading can be made: nothing stored, the watcher keeps
    # the cluster and tries again
    assert watching.reconciliations == before
    assert watching.active.is_set()
    requests.delete(f"{url}/_sim/faults", timeout=5).raise_for_status()
    until(lambda: watching.reconciliations > before, 15)
    requests.post(
        f"{url}/v2/apps",
        json={"id": "/shop/after", "cmd": "sleep 1000", "cpus": 0.1, "mem": 64, "instances": 1},
        timeout=5,
    ).raise_for_status()
    until(lambda: len(_tasks(viewer, "/shop/after")) == 1)


def test_one_active_watcher_per_cluster(app: Flask, admin: Any, sim_server: Any) -> None:
    sim_cluster(admin, "east", [sim_server.url], sim_server.url)
    ctx = app.extensions["berth"].context(actor="test")
    first, second = Watcher(ctx, "east", QUICK), Watcher(ctx, "east", QUICK)
    stop_first, stop_second = threading.Event(), threading.Event()
    threads = [
        threading.Thread(target=first.run, args=(stop_first,), daemon=True),
        threading.Thread(target=second.run, args=(stop_second,), daemon=True),
    ]
    for t in threads:
        t.start()
    until(lambda: first.active.is_set() or second.active.is_set())
    time.sleep(1.0)
    assert first.active.is_set() != second.active.is_set()
    active, standby, stop_active = (
        (first, second, stop_first) if first.active.is_set() else (second, first, stop_second)
    )
    stop_active.set()  # it lets go of its lease: the standby takes over
    until(lambda: standby.active.is_set() and standby.reconciliations >= 1, 5)
    assert not active.active.is_set()
    stop_first.set()
    stop_second.set()
    for t in threads:
        t.join(5)


def test_the_watcher_follows_marathons_leader_across_its_instances(
    app: Flask, admin: Any, viewer: Any, sim: Any
) -> None:
    from marathon import leader as marathon_leader
    from simulator import serve_cluster

    with serve_cluster(sim, masters=1, marathons=3) as cluster:
        leader, follower, other = cluster.marathons
        body = {
            "name": "east",
            "mesos_masters": [cluster.masters[0].url],
            "marathon_urls": [follower.url, other.url, leader.url],
            "port_ranges": ["31000-32000"],
        }
        assert admin.post("/api/v1/clusters", json=body).status_code == 201
        watcher = Watcher(app.extensions["berth"].context(actor="test"), "east", QUICK)
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        try:
            until(lambda: watcher.reconciliations >= 1)
            # leadership moves to the last instance, and the old leader and the first URL
            # given go away: every stream ends, and the watcher asks who leads now and
            # streams from there
            cluster.change_marathon_leader(other.address)
            for gone in (leader, follower):
                gone.shutdown()
                cluster.marathons.remove(gone)
            until(lambda: watcher.reconciliations >= 2, 10)
            requests.post(
                f"{other.url}/v2/apps",
                json={
                    "id": "/shop/moved",
                    "cmd": "sleep 1",
                    "cpus": 0.1,
                    "mem": 64,
                    "instances": 2,
                },
                timeout=5,
            ).raise_for_status()
            until(lambda: len(_tasks(viewer, "/shop/moved")) == 2)
            assert viewer.get("/api/v1/clusters/east/snapshot").get_json()["live"]["watching"]
        finally:
            stop.set()
            thread.join(5)
            marathon_leader._leaders.clear()
