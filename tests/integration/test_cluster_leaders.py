"""Leaders found as a real cluster shows them: Mesos masters in a real ZooKeeper, several
Marathon instances naming their leader through /v2/leader; real HTTP to the simulator,
nothing of ZooKeeper mocked."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from kazoo.client import KazooClient

from marathon import leader as marathon_leader
from marathon.errors import ClusterError
from marathon.zookeeper import close_all, leading_master
from simulator import Simulator, serve_cluster
from tests import factories as f
from tests.conftest import Api
from tests.integration.test_deployments import deploy
from tests.zookeeper import JAR, MAIN, ZooKeeper, _answers, _free_port


def _cluster(api: Any, masters: list[str], **marathon: Any) -> dict[str, Any]:
    body = {"name": "east", "mesos_masters": masters, "port_ranges": ["31000-32000"], **marathon}
    response = api.post("/api/v1/clusters", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    """Each test starts without the process's ZooKeeper clients and cached leaders."""
    yield
    close_all()
    marathon_leader._leaders.clear()


@pytest.fixture
def pipeline(app: Flask, tokens: dict[str, str]) -> Api:
    return Api(app.test_client(), tokens["pipeline"])


@pytest.fixture
def zk_client(zookeeper: ZooKeeper) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


# --- Mesos masters through ZooKeeper ----------------------------------------------------


def test_a_zk_cluster_syncs_from_the_leading_master(
    admin: Api, ops: Api, sim: Simulator, zookeeper: ZooKeeper
) -> None:
    path = zookeeper.unique_path()
    with serve_cluster(sim, masters=3, marathons=2, zk=zookeeper.zk(path)) as cluster:
        url = zookeeper.url(path)
        view = _cluster(admin, [url], marathon_url=cluster.marathons[0].url)
        assert view["mesos_masters"] == [url]
        response = ops.post("/api/v1/clusters/east/sync")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["agent_count"] == len(sim.agents)
        assert leading_master(url, timeout=1.0) == cluster.masters[0].url


def test_closing_the_leaders_session_moves_berth_to_the_next_master(
    admin: Api, ops: Api, sim: Simulator, zookeeper: ZooKeeper
) -> None:
    path = zookeeper.unique_path()
    with serve_cluster(sim, masters=3, marathons=2, zk=zookeeper.zk(path)) as cluster:
        url = zookeeper.url(path)
        _cluster(admin, [url], marathon_url=cluster.marathons[0].url)
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        first, second = cluster.masters[0], cluster.masters[1]
        assert leading_master(url, timeout=1.0) == first.url
        # the leader's session ends and its server goes: berth must not call it again
        assert first.close_zk_session() == second.address
        first.shutdown()
        cluster.masters.remove(first)
        _wait_for(lambda: leading_master(url, timeout=1.0) == second.url)
        response = ops.post("/api/v1/clusters/east/sync")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["agent_count"] == len(sim.agents)


def test_a_leader_gone_before_its_watch_fired_is_asked_for_again(
    admin: Api, ops: Api, sim: Simulator, zookeeper: ZooKeeper
) -> None:
    """Sync right after the leader goes, without waiting for the watch: still the next."""
    path = zookeeper.unique_path()
    with serve_cluster(sim, masters=2, marathons=2, zk=zookeeper.zk(path)) as cluster:
        url = zookeeper.url(path)
        _cluster(admin, [url], marathon_url=cluster.marathons[0].url)
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        first = cluster.masters[0]
        first.close_zk_session()
        first.shutdown()
        cluster.masters.remove(first)
        response = ops.post("/api/v1/clusters/east/sync")
        assert response.status_code == 200, response.get_json()


def _problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 503, response.get_json()
    assert response.content_type == "application/problem+json"
    assert response.headers["Retry-After"]
    return response.get_json()


def test_zookeeper_down_is_a_quick_503_naming_it(
    admin: Api, ops: Api, sim_server: Any, quick_timeouts: None
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _cluster(admin, [f"zk://127.0.0.1:{port}/mesos"], marathon_url=sim_server.url)
    started = time.monotonic()
    problem = _problem(ops.post("/api/v1/clusters/east/sync"))
    assert time.monotonic() - started < 3
    assert f"ZooKeeper 127.0.0.1:{port} did not answer within 0.5 s" in problem["detail"]


def test_no_master_registered_is_a_503_naming_the_path(
    admin: Api, ops: Api, sim_server: Any, zookeeper: ZooKeeper, zk_client: KazooClient
) -> None:
    path = zookeeper.unique_path()
    _cluster(admin, [zookeeper.url(path)], marathon_url=sim_server.url)
    problem = _problem(ops.post("/api/v1/clusters/east/sync"))
    assert f"no Mesos master is registered under {path}" in problem["detail"]
    # the path exists, with only what is not a master's node
    zk_client.create(f"{path}/log_replicas", b"", makepath=True)
    zk_client.create(f"{path}/info_", b"\x08\x01", sequence=True)  # an old protobuf master
    problem = _problem(ops.post("/api/v1/clusters/east/sync"))
    assert f"no Mesos master is registered under {path}" in problem["detail"]


def test_unreadable_master_info_is_a_503(
    admin: Api, ops: Api, sim_server: Any, zookeeper: ZooKeeper, zk_client: KazooClient
) -> None:
    path = zookeeper.unique_path()
    zk_client.create(f"{path}/json.info_", b"{not json", sequence=True, makepath=True)
    _cluster(admin, [zookeeper.url(path)], marathon_url=sim_server.url)
    problem = _problem(ops.post("/api/v1/clusters/east/sync"))
    assert "cannot be read" in problem["detail"] and path in problem["detail"]


@pytest.mark.parametrize(
    ("masters", "words"),
    [
        (["zk://"], "at least one ZooKeeper host"),
        (["zk://127.0.0.1:2181"], "path"),
        (["zk://127.0.0.1:2181/"], "path"),
        (["zk://127.0.0.1/mesos"], "host:port"),
        (["zk://127.0.0.1:99999/mesos"], "1-65535"),
        (["zk://zk1:2181,/mesos"], "host:port"),
        (["zk://bad_host!:2181/mesos"], "host name"),
        (["zk://u:p@zk1:2181/mesos"], "credentials"),
        (["zk://zk1:2181/a//b"], "plain names"),
        (["zk://zk1:2181/mesos", "http://m:5050"], "only entry"),
        (["ftp://m:5050"], "URL"),
    ],
)
def test_bad_zk_urls_are_422(admin: Api, masters: list[str], words: str) -> None:
    body = {"name": "x", "mesos_masters": masters, "marathon_url": "http://m:8080"}
    response = admin.post("/api/v1/clusters", json=body)
    assert response.status_code == 422, response.get_json()
    assert words in str(response.get_json()["errors"]["mesos_masters"])


def test_a_zk_url_is_taken_and_patched(admin: Api) -> None:
    url = "zk://zk1:2181,zk2.example.org:2182/mesos/prod"
    assert _cluster(admin, [url], marathon_url="http://m:8080")["mesos_masters"] == [url]
    bad = admin.patch("/api/v1/clusters/east", json={"mesos_masters": ["zk://zk1:2181/"]})
    assert bad.status_code == 422 and "mesos_masters" in bad.get_json()["errors"]
    back = admin.patch("/api/v1/clusters/east", json={"mesos_masters": ["http://m:5050"]})
    assert back.status_code == 200 and back.get_json()["mesos_masters"] == ["http://m:5050"]


# --- several Marathon instances ---------------------------------------------------------


def test_marathon_url_and_marathon_urls_stay_one_contract(admin: Api) -> None:
    one = _cluster(admin, ["http://m:5050"], marathon_url="http://a:8080")
    assert one["marathon_url"] == "http://a:8080" and one["marathon_urls"] == ["http://a:8080"]
    urls = ["http://b:8080", "http://c:8080"]
    several = admin.patch("/api/v1/clusters/east", json={"marathon_urls": urls}).get_json()
    assert several["marathon_urls"] == urls and several["marathon_url"] == "http://b:8080"
    both = admin.patch(
        "/api/v1/clusters/east", json={"marathon_url": "http://b:8080", "marathon_urls": urls}
    )
    assert both.status_code == 200
    clash = admin.patch(
        "/api/v1/clusters/east", json={"marathon_url": "http://c:8080", "marathon_urls": urls}
    )
    assert clash.status_code == 422 and "marathon_url" in clash.get_json()["errors"]
    twice = admin.patch("/api/v1/clusters/east", json={"marathon_urls": urls + urls[:1]})
    assert twice.status_code == 422 and "marathon_urls" in twice.get_json()["errors"]
    bad = admin.patch("/api/v1/clusters/east", json={"marathon_urls": ["zk://z:1/marathon"]})
    assert bad.status_code == 422 and "marathon_urls" in bad.get_json()["errors"]
    # marathon_url alone stands for a list of that one URL, as before several were possible
    alone = admin.patch("/api/v1/clusters/east", json={"marathon_url": "http://d:8080"})
    assert alone.get_json()["marathon_urls"] == ["http://d:8080"]
    missing = admin.post(
        "/api/v1/clusters", json={"name": "west", "mesos_masters": ["http://m:5050"]}
    )
    assert missing.status_code == 422 and "marathon_url" in missing.get_json()["errors"]
    created = _cluster_named(admin, "west", marathon_urls=urls)
    assert created["marathon_url"] == urls[0]


def _cluster_named(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "mesos_masters": ["http://m:5050"], **fields}
    response = api.post("/api/v1/clusters", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _leader_known(urls: list[str]) -> str | None:
    return marathon_leader._leaders.get(tuple(urls))


def test_several_marathons_sync_and_deploy_through_the_leader_and_after_a_change(
    admin: Api, ops: Api, pipeline: Api, viewer: Api, sim: Simulator
) -> None:
    with serve_cluster(sim, masters=1, marathons=3) as cluster:
        leader, follower, other = cluster.marathons
        # the leader is not the first URL given: berth asks and calls it directly
        urls = [follower.url, other.url, leader.url]
        _cluster(admin, [cluster.masters[0].url], marathon_urls=urls)
        f.environment(admin, "production", "east")
        f.service(admin, "order-service", ["http", "dubbo"])
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        assert _leader_known(urls) == leader.url
        assert f.allocate(ops, instances=2).status_code == 201
        first = deploy(pipeline)
        assert first.status_code == 202, first.get_json()
        assert viewer.get(f"/api/v1/deployments/{first.get_json()['id']}").get_json()["status"] == (
            "succeeded"
        )

        # leadership moves on and the old leader goes away; berth follows, no restart
        cluster.change_marathon_leader(follower.address)
        leader.shutdown()
        cluster.marathons.remove(leader)
        second = deploy(pipeline, "registry.local/shop/order-service:2.0")
        assert second.status_code == 202, second.get_json()
        assert _leader_known(urls) == follower.url
        assert viewer.get(f"/api/v1/deployments/{second.get_json()['id']}").get_json()[
            "status"
        ] == ("succeeded")
        response = ops.post("/api/v1/clusters/east/sync")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["app_count"] >= 1


def test_no_marathon_answering_is_a_503(
    admin: Api, ops: Api, sim_server: Any, dead_url: str, quick_timeouts: None
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        other = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _cluster(admin, [sim_server.url], marathon_urls=[dead_url, other])
    problem = _problem(ops.post("/api/v1/clusters/east/sync"))
    assert "no Marathon instance named a leader" in problem["detail"]


def _start_zookeeper(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """A private standalone ZooKeeper on `port`, to stop and start within one test."""
    (workdir / "data").mkdir(exist_ok=True)
    (workdir / "zoo.cfg").write_text(
        f"tickTime=500\ndataDir={workdir / 'data'}\nclientPort={port}\n"
        "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxClientCnxns=0\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        ["java", "-Xmx128m", "-cp", str(JAR), MAIN, str(workdir / "zoo.cfg")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    _wait_for(lambda: _answers(port), timeout=30)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=10)


def test_zookeeper_stopping_under_a_connected_berth_is_a_quick_503_then_it_recovers(
    admin: Api,
    ops: Api,
    sim: Simulator,
    zookeeper: ZooKeeper,  # installs ZooKeeper (or skips)
    quick_timeouts: None,
    tmp_path: Path,
) -> None:
    port = _free_port()
    server = _start_zookeeper(tmp_path, port)
    private = ZooKeeper("127.0.0.1", port)
    path = private.unique_path()
    try:
        with serve_cluster(sim, masters=2, marathons=2, zk=private.zk(path)) as cluster:
            _cluster(admin, [private.url(path)], marathon_url=cluster.marathons[0].url)
            assert ops.post("/api/v1/clusters/east/sync").status_code == 200
            _stop(server)
            # the masters stay up, but without ZooKeeper nobody can say who leads
            _wait_for(lambda: leading_master_or_none(private.url(path)) is None)
            started = time.monotonic()
            problem = _problem(ops.post("/api/v1/clusters/east/sync"))
            assert time.monotonic() - started < 3
            assert f"ZooKeeper 127.0.0.1:{port} did not answer" in problem["detail"]
            # back, with the same data: berth's client reconnects by itself
            server = _start_zookeeper(tmp_path, port)
            _wait_for(lambda: leading_master_or_none(private.url(path)) is not None, 15)
            response = ops.post("/api/v1/clusters/east/sync")
            assert response.status_code == 200, response.get_json()
    finally:
        _stop(server)


def leading_master_or_none(url: str) -> str | None:
    try:
        return leading_master(url, timeout=0.5)
    except ClusterError:
        return None
