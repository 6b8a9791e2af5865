"""Several Marathon instances and Mesos masters registered in a real ZooKeeper."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import requests
from kazoo.client import KazooClient

from simulator import Simulator, serve_cluster
from tests.simulator.conftest import Http, sleeper
from tests.simulator.sse import EventStream
from tests.zookeeper import ZooKeeper


def wait_for(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_three_marathons_name_one_leader_and_any_of_them_serves(sim: Simulator) -> None:
    with serve_cluster(sim, marathons=3, event_keepalive=0.5) as cluster:
        urls = [m.url for m in cluster.marathons]
        assert len(set(urls)) == 3
        leader = cluster.marathons[0].address
        for url in urls:
            assert requests.get(url + "/v2/leader", timeout=5).json() == {"leader": leader}
        follower = Http(urls[2])
        created = follower.post("/v2/apps", json=sleeper("/via-follower"))
        assert created.status_code == 201
        assert created.headers["X-Marathon-Leader"] == f"http://{leader}"
        assert created.headers["X-Marathon-Via"] == f"1.1 {cluster.marathons[2].address}"
        assert Http(urls[0]).get("/v2/apps/via-follower").status_code == 200
        assert Http(urls[1]).get("/v2/info").json()["elected"] is False
        assert Http(urls[0]).get("/v2/info").json()["elected"] is True


def test_a_leader_change_moves_leadership_and_drops_the_streams(sim: Simulator) -> None:
    with serve_cluster(sim, marathons=3) as cluster:
        first, second = cluster.marathons[0], cluster.marathons[1]
        proxied = EventStream(cluster.marathons[2].url + "/v2/events")
        direct = EventStream(first.url + "/v2/events")
        proxied.next(), direct.next()
        moved = Http(second.url).post("/_sim/marathon/leader").json()
        assert moved["leader"] == second.address
        for url in (m.url for m in cluster.marathons):
            assert requests.get(url + "/v2/leader", timeout=5).json()["leader"] == second.address
        assert proxied.ended() and direct.ended()
        proxied.close(), direct.close()
        again = EventStream(first.url + "/v2/events")
        try:
            assert again.next().event == "event_stream_attached"
            Http(first.url).post("/v2/apps", json=sleeper("/after-change"))
            assert again.until("deployment_success")
        finally:
            again.close()
        # Marathon's own abdication moves it on again
        answer = Http(first.url).delete("/v2/leader")
        assert answer.json() == {"message": "Leadership abdicated"}
        assert cluster.marathon_leader is cluster.marathons[2]


def _masters(client: KazooClient, path: str) -> list[tuple[str, dict]]:
    children = sorted(c for c in client.get_children(path) if c.startswith("json.info_"))
    return [(c, json.loads(client.get(f"{path}/{c}")[0])) for c in children]


def test_masters_register_in_zookeeper_and_the_lowest_leads(
    sim: Simulator, zookeeper: ZooKeeper
) -> None:
    path = zookeeper.unique_path()
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=10)
    try:
        with serve_cluster(sim, masters=3, zk=zookeeper.zk(path)) as cluster:
            nodes = _masters(client, path)
            assert [len(name) for name, _ in nodes] == [len("json.info_") + 10] * 3
            assert [info["port"] for _, info in nodes] == [m.port for m in cluster.masters]
            first = nodes[0][1]
            master = cluster.masters[0]
            assert first["address"] == {
                "hostname": "127.0.0.1",
                "ip": "127.0.0.1",
                "port": master.port,
            }
            assert first["pid"] == f"master@127.0.0.1:{master.port}"
            assert first["ip"] == 16777343 and first["hostname"] == "127.0.0.1"
            assert first["id"] and first["version"]
            assert all(
                ephemeral
                for ephemeral in (client.exists(f"{path}/{n}").ephemeralOwner for n, _ in nodes)
            )
            for handle in cluster.masters:
                redirect = Http(handle.url).get("/master/redirect", allow_redirects=False)
                assert redirect.headers["Location"] == f"//{master.address}"
            # closing the leader's session hands leadership to the next
            closed = Http(master.url).delete("/_sim/zk/session").json()
            assert closed["open"] is False and closed["leader"] == cluster.masters[1].address
            assert [info["port"] for _, info in _masters(client, path)] == [
                m.port for m in cluster.masters[1:]
            ]
            for handle in cluster.masters:
                wait_for(lambda h=handle: h.context.leader == cluster.masters[1].address)
                redirect = Http(handle.url).get("/master/redirect", allow_redirects=False)
                assert redirect.headers["Location"] == f"//{cluster.masters[1].address}"
            state = Http(cluster.masters[1].url).get("/master/state").json()
            assert state["leader"] == f"master@{cluster.masters[1].address}"
            # a restarted master registers again, last in line
            reopened = Http(master.url).post("/_sim/zk/session").json()
            assert reopened["open"] and reopened["node"] > f"{path}/{nodes[-1][0]}"
        # shutting down closes every session: the nodes are gone
        wait_for(lambda: _masters(client, path) == [])
    finally:
        client.stop()
        client.close()


def test_the_command_line_serves_marathons_and_registers_in_zookeeper(
    zookeeper: ZooKeeper,
) -> None:
    path = zookeeper.unique_path()
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--bind", "127.0.0.1:0", "--agents", "2",
         "--marathons", "2", "--marathon-port", "0", "--zk", zookeeper.zk(path)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=10)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "marathon" in line, line
        wait_for(lambda: client.exists(path) and len(_masters(client, path)) == 1, timeout=10)
        marathons = [w.removeprefix("http://") for w in line.split() if w.startswith("http://")]
        leaders = {
            requests.get(f"http://{m}/v2/leader", timeout=5).json()["leader"] for m in marathons[1:]
        }
        assert len(leaders) == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
        client.stop()
        client.close()
