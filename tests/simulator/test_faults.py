"""Faults on demand, through the Python API and over HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from simulator import ServerHandle, Simulator, serve
from simulator.errors import LOCKED
from tests.simulator.conftest import Http, sleeper


def test_latency_delays_the_answer(sim: Simulator, http: Http) -> None:
    sim.faults.add("latency", path_prefix="/v2/info", seconds=0.3)
    started = time.monotonic()
    assert http.get("/v2/info").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    http.get("/ping")
    assert time.monotonic() - started < 0.3  # another path is not slowed


def test_latency_makes_a_short_read_timeout_fire(sim: Simulator, http: Http) -> None:
    sim.faults.add("latency", seconds=0.5, times=1)
    with pytest.raises(requests.ReadTimeout):
        http.get("/v2/apps", timeout=(1, 0.2))


def test_status_answers_with_a_marathon_like_body(sim: Simulator, http: Http) -> None:
    sim.faults.add("status", path_prefix="/v2/apps", status=502)
    response = http.get("/v2/apps")
    assert response.status_code == 502
    assert response.json() == {"message": "Bad Gateway"}
    assert http.get("/v2/info").status_code == 200


def test_drop_closes_the_connection_without_an_answer(sim: Simulator, http: Http) -> None:
    sim.faults.add("drop", path_prefix="/master/state")
    with pytest.raises(requests.ConnectionError):
        http.get("/master/state")
    with pytest.raises(requests.ConnectionError):
        http.put("/master/state", json={"a": "body to leave unread" * 100})
    assert http.get("/ping").text == "pong"


def test_lock_makes_changes_of_apps_409(sim: Simulator, http: Http) -> None:
    http.post("/v2/apps", json=sleeper("/shop/cart"))
    sim.faults.add("lock")
    locked = http.put("/v2/apps/shop/cart", json={"instances": 2})
    assert locked.status_code == 409
    body = locked.json()
    assert body["message"] == LOCKED and len(body["deployments"]) == 1
    assert http.delete("/v2/apps/shop/cart").status_code == 409
    assert http.get("/v2/apps/shop/cart").status_code == 200  # reads are not locked


def test_a_fault_with_times_flaps_and_disappears(sim: Simulator, http: Http) -> None:
    sim.faults.add("status", status=503, times=2)
    assert [http.get("/v2/info").status_code for _ in range(3)] == [503, 503, 200]
    assert sim.faults.list() == []


def test_faults_over_http(sim: Simulator, server: ServerHandle, http: Http) -> None:
    created = http.post(
        "/_sim/faults",
        json={"kind": "status", "status": 500, "path_prefix": "/v2/queue", "times": 1},
    )
    assert created.status_code == 201
    fault = created.json()
    assert fault["kind"] == "status" and fault["times"] == 1
    assert http.get("/_sim/faults").json()["faults"] == [fault]
    assert http.get("/v2/queue").status_code == 500
    assert http.get("/v2/queue").status_code == 200
    http.post("/_sim/faults", json={"kind": "drop"})
    http.post("/_sim/faults", json={"kind": "latency", "seconds": 0.1, "methods": ["POST"]})
    assert http.get("/_sim/faults").status_code == 200  # control paths are never faulted
    with pytest.raises(requests.ConnectionError):
        http.get("/v2/apps")
    assert http.delete("/_sim/faults").status_code == 204
    assert http.get("/_sim/faults").json() == {"faults": []}
    assert http.get("/v2/apps").status_code == 200
    bad = http.post("/_sim/faults", json={"kind": "explode"})
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["message"]


def test_a_fault_can_hit_one_server_only(sim: Simulator, server: ServerHandle) -> None:
    with serve(sim, leader=server) as follower:
        sim.faults.add("status", status=503, port=server.port)
        assert Http(server.url).get("/v2/info").status_code == 503
        assert Http(follower.url).get("/v2/info").status_code == 200
        sim.faults.clear()
        assert Http(server.url).get("/v2/info").status_code == 200
