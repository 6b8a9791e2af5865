"""The Marathon and Mesos clients against the simulator over HTTP: results and typed errors."""

from __future__ import annotations

from typing import Any

import pytest

from marathon.client import MarathonClient
from marathon.errors import (
    ClusterNotFoundError,
    ClusterServerError,
    ClusterTimeoutError,
    ClusterUnreachableError,
    MarathonConflictError,
    MarathonInvalidError,
    NoLeaderError,
)
from marathon.http import make_session
from marathon.mesos import MesosClient
from simulator import Simulator

APP = {"id": "/prod/order-service", "cmd": "sleep 1000", "cpus": 0.5, "mem": 256, "instances": 2}


def _client(url: str, timeout: float = 2.0) -> MarathonClient:
    return MarathonClient(url, session=make_session(retries=2, backoff=0), timeout=(1, timeout))


def test_mesos_leader_is_found_through_a_follower(
    dead_url: str, sim_server: Any, sim_follower: Any
) -> None:
    client = MesosClient([dead_url, sim_follower.url])
    assert client.leader().base_url == sim_server.url
    state = client.state()
    assert len(state.agents) == 6
    assert all(a.port_ranges for a in state.agents)
    assert len(client.agents()) == 6


def test_no_master_answering_is_no_leader(dead_url: str) -> None:
    client = MesosClient([dead_url], session=make_session(retries=0))
    with pytest.raises(NoLeaderError):
        client.state()


def test_put_get_delete_and_deployments(sim_server: Any) -> None:
    client = _client(sim_server.url)
    assert client.ping()
    result = client.put_app(APP["id"], APP)
    assert result.deployment_id and result.version
    app = client.app(APP["id"])
    assert app.definition["instances"] == 2 and len(app.tasks) == 2
    assert {a.id for a in client.apps("/prod")} == {APP["id"]}
    assert client.apps("/test") == []
    # a whole-definition PUT (partialUpdate=false) drops fields it does not carry
    client.put_app(APP["id"], {**APP, "labels": {"team": "orders"}})
    client.put_app(APP["id"], APP)
    assert not client.app(APP["id"]).definition.get("labels")
    assert isinstance(client.deployments(), list)
    assert isinstance(client.queue(), list)
    client.delete_app(APP["id"])
    with pytest.raises(ClusterNotFoundError):
        client.app(APP["id"])


def test_locked_app_gives_the_blocking_deployment_ids() -> None:
    from simulator import serve

    sim = Simulator(agents=3, seed=1, deploy_seconds=600)
    with serve(sim) as server:
        client = _client(server.url)
        first = client.put_app(APP["id"], APP)
        with pytest.raises(MarathonConflictError) as locked:
            client.put_app(APP["id"], {**APP, "instances": 3})
        assert locked.value.deployment_ids == [first.deployment_id]
        forced = client.put_app(APP["id"], {**APP, "instances": 3}, force=True)
        assert forced.deployment_id != first.deployment_id


def test_an_invalid_definition_gives_marathons_details(sim_server: Any) -> None:
    bad = {**APP, "upgradeStrategy": {"minimumHealthCapacity": 2}}
    with pytest.raises(MarathonInvalidError) as invalid:
        _client(sim_server.url).put_app(APP["id"], bad)
    assert invalid.value.status == 422
    assert any("minimumHealthCapacity" in d.get("path", "") for d in invalid.value.details)


@pytest.mark.parametrize(
    "fault, error",
    [
        ({"kind": "status", "status": 500}, ClusterServerError),
        ({"kind": "status", "status": 503}, ClusterServerError),
        ({"kind": "drop"}, ClusterUnreachableError),
        ({"kind": "latency", "seconds": 1.5}, ClusterTimeoutError),
    ],
)
def test_faults_become_typed_errors(
    sim: Simulator, sim_server: Any, fault: dict, error: type
) -> None:
    sim.faults.add(**fault)
    with pytest.raises(error):
        _client(sim_server.url, timeout=0.5).info()


def test_a_flapping_read_is_retried(sim: Simulator, sim_server: Any) -> None:
    sim.faults.add("status", status=503, times=2)
    assert _client(sim_server.url).info()["name"] == "marathon"  # GET retried past two 503s
