"""The agents' GET /monitor/statistics: reached on loopback through the advertised pids,
in Mesos' shape, driven by usage profiles and the simulator's clock."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulator import Simulator, serve
from simulator.demo import populate
from simulator.server import ServerHandle

from .conftest import Clock, Http, reference, sleeper

START = 1_700_000_040.0  # on a minute boundary, so windows hold whole minutes


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


def agent_urls(http: Http) -> dict[str, str]:
    """Each active agent's statistics URL, from its pid in /master/state, as berth finds it."""
    state = http.get("/master/state").json()
    urls = {}
    for agent in state["slaves"]:
        if agent["active"]:
            address = agent["pid"].split("@", 1)[1]
            urls[agent["id"]] = f"http://{address}/monitor/statistics"
    return urls


def statistics(http: Http) -> dict[str, dict[str, Any]]:
    """Every executor's entry across the cluster, by executor id."""
    out = {}
    for url in agent_urls(http).values():
        for entry in requests.get(url, timeout=5).json():
            out[entry["executor_id"]] = entry
    return out


def cpu(entry: dict[str, Any]) -> float:
    stats = entry["statistics"]
    return stats["cpus_user_time_secs"] + stats["cpus_system_time_secs"]


def test_pids_are_loopback_ports_and_hostnames_stay(http: Http, sim: Simulator) -> None:
    state = http.get("/master/state").json()
    slaves = http.get("/master/slaves").json()["slaves"]
    for agent in [*state["slaves"], *slaves]:
        host, port = agent["pid"].removeprefix("slave(1)@").split(":")
        assert agent["pid"].startswith("slave(1)@")
        assert host == "127.0.0.1" and int(port) > 0
        assert agent["hostname"].startswith("agent-")
    assert len({a["pid"] for a in state["slaves"]}) == len(sim.agents)


def test_the_entries_have_the_reference_shape(http: Http) -> None:
    example = reference("mesos/monitor-statistics_docs-endpoints.json")[0]
    http.post("/v2/apps", json=sleeper("/shape", cpus=0.5, mem=256, instances=2))
    entries = list(statistics(http).values())
    assert len(entries) == 2
    for entry in entries:
        assert set(entry) == set(example)
        assert set(entry["statistics"]) == set(example["statistics"])
        for key, value in example["statistics"].items():
            assert type(entry["statistics"][key]) is type(value), key
        assert entry["executor_id"] == entry["source"]
        assert entry["framework_id"] == http.get("/master/state").json()["frameworks"][0]["id"]
        stats = entry["statistics"]
        assert stats["cpus_limit"] == pytest.approx(0.6)  # 0.5 + the executor's 0.1
        assert stats["mem_limit_bytes"] == (256 + 32) * 1024 * 1024
        assert 0 < stats["mem_rss_bytes"] <= stats["mem_limit_bytes"]
    tasks = {t["id"] for t in http.get("/v2/apps/shape/tasks").json()["tasks"]}
    assert {e["source"] for e in entries} == tasks
    url = next(iter(agent_urls(http).values()))
    assert requests.get(url + ".json", timeout=5).status_code == 200


def test_counters_follow_the_clock_never_go_back_and_restart_with_the_task(
    http: Http, clock: Clock
) -> None:
    http.post("/v2/apps", json=sleeper("/busy", cpus=1, mem=512, instances=2))
    first = statistics(http)
    assert all(cpu(e) == 0 for e in first.values())
    seen: dict[str, float] = {}
    for _ in range(5):
        clock.advance(600)
        now = statistics(http)
        for task_id, entry in now.items():
            assert cpu(entry) >= seen.get(task_id, 0.0)
            assert cpu(entry) > 0
            assert entry["statistics"]["timestamp"] == clock.now
            seen[task_id] = cpu(entry)
    # the rate between two readings is the profile's, within the quota
    rate = (cpu(now[task_id]) - cpu(first[task_id])) / 3000
    assert 0 < rate <= 1.1
    # a task killed mid-window is gone from its agent; its replacement starts from zero
    victim = next(iter(now))
    http.delete(f"/v2/apps/busy/tasks/{victim}")
    after = statistics(http)
    assert victim not in after
    new = set(after) - set(now)
    assert len(new) == 1 and cpu(after[new.pop()]) == 0


def test_a_restarted_agent_restarts_its_tasks_from_zero(http: Http, clock: Clock) -> None:
    http.post("/v2/apps", json=sleeper("/r", cpus=1, mem=512, instances=3))
    clock.advance(900)
    before = statistics(http)
    agent = http.get("/v2/apps/r/tasks").json()["tasks"][0]["slaveId"]
    lost = http.post(f"/_sim/agents/{agent}/restart").json()["lost"]
    assert lost
    after = statistics(http)
    assert not set(lost) & set(after)
    for task_id, entry in after.items():
        if task_id in before:
            assert cpu(entry) >= cpu(before[task_id])
        else:
            assert cpu(entry) == 0
    events = {t["id"] for t in http.get("/v2/apps/r/tasks").json()["tasks"]}
    assert len(events) == 3


def test_an_agent_can_refuse_or_hang(http: Http) -> None:
    urls = agent_urls(http)
    agent_id, url = next(iter(urls.items()))
    assert http.put(f"/_sim/agents/{agent_id}/http", json={"mode": "refuse"}).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    assert http.put(f"/_sim/agents/{agent_id}/http", json={"mode": "hang"}).ok
    with pytest.raises(requests.Timeout):
        requests.get(url, timeout=0.3)
    others = [u for a, u in urls.items() if a != agent_id]
    assert all(requests.get(u, timeout=2).ok for u in others)
    assert http.put(f"/_sim/agents/{agent_id}/http", json={"mode": "up"}).ok
    assert requests.get(url, timeout=2).ok
    assert agent_urls(http)[agent_id] == url  # same port after the fault
    assert http.put(f"/_sim/agents/{agent_id}/http", json={"mode": "sideways"}).status_code == 400


def test_removed_and_added_agents(http: Http) -> None:
    urls = agent_urls(http)
    gone = next(iter(urls))
    http.delete(f"/_sim/agents/{gone}")
    with pytest.raises(requests.ConnectionError):
        requests.get(urls[gone], timeout=2)
    added = http.post("/_sim/agents", json={}).json()
    url = agent_urls(http)[added["id"]]
    assert requests.get(url, timeout=2).json() == []


def test_the_clock(http: Http, clock: Clock) -> None:
    assert http.get("/_sim/clock").json()["epoch"] == START
    moved = http.put("/_sim/clock", json={"advance_seconds": 90}).json()
    assert moved["epoch"] == START + 90
    later = http.put("/_sim/clock", json={"now": "2023-11-15T00:00:00Z"}).json()
    assert later["epoch"] == 1_700_006_400.0 and later["now"] == "2023-11-15T00:00:00.000Z"
    assert http.put("/_sim/clock", json={"now": START}).status_code == 400  # backwards
    assert http.put("/_sim/clock", json={"advance_seconds": -1}).status_code == 400
    assert http.put("/_sim/clock", json={}).status_code == 400


def test_profiles_and_truth(http: Http, clock: Clock) -> None:
    http.post("/v2/apps", json=sleeper("/team/svc", cpus=2, mem=1024, instances=2))
    default = http.get("/_sim/usage/team/svc").json()
    assert default["appId"] == "/team/svc"
    assert 0.2 * 2 <= default["cpu"]["peak"] <= 0.6 * 2
    assert http.get("/_sim/usage/team/svc").json() == default  # fixed once read
    profile = {
        "cpu": {"base": 0.2, "peak": 0.8, "peak_hour": 15, "noise": 0.0, "spikes": {"per_day": 0}},
        "mem": {"start": 200, "plateau": 400, "ramp_minutes": 60},
    }
    put = http.put("/_sim/usage/team/svc", json=profile).json()
    assert put["cpu"]["peak"] == 0.8 and put["mem"]["plateau"] == 400
    assert put["cpu"]["spikes"]["factor"] == default["cpu"]["spikes"]["factor"]
    assert http.put("/_sim/usage/team/svc", json={"cpu": {"bogus": 1}}).status_code == 400
    assert http.put("/_sim/usage/team/svc", json={"cpu": {"peak": 0.1}}).status_code == 400
    assert "/team/svc" in http.get("/_sim/usage").json()["profiles"]
    first = statistics(http)
    clock.advance(86400)
    last = statistics(http)
    truth = http.get(f"/_sim/usage/team/svc/truth?from={START}&to={START + 86400}").json()
    assert truth["minutes"] == 1440
    assert 0.2 <= truth["cpu_p50"] <= truth["cpu_p90"] <= truth["cpu_max"] <= 0.8 + 1e-9
    assert truth["cpu_p90"] > 0.7  # a cosine day spends a fifth of it near the peak
    # the counters integrate the same function: the day's mean rate is the truth's
    for task_id, entry in last.items():
        rate = (cpu(entry) - cpu(first[task_id])) / 86400
        assert rate == pytest.approx(truth["cpu_mean"], rel=1e-3)
        rss = entry["statistics"]["mem_rss_bytes"] / 2**20
        assert 400 * 0.97 <= rss <= 400 * 1.03  # on its plateau
    assert truth["mem_peak_mib"] == pytest.approx(400, rel=0.03)
    iso = http.get(
        "/_sim/usage/team/svc/truth", params={"from": "2023-11-14T22:14:00Z", "to": START + 600}
    ).json()
    assert iso["minutes"] == 10
    assert iso["mem_peak_mib"] < 400  # still ramping in the first ten minutes


def test_the_demo_is_over_allocated_with_a_few_tight_services() -> None:
    sim = Simulator(agents=20, seed=0, now=Clock(START))
    ids = populate(sim, ["/test"])
    cpu_shares, mem_shares = [], []
    for app_id in ids:
        spec = sim.apps[app_id].spec
        truth = sim.usage_truth(app_id, START - 86400, START)
        cpu_shares.append(truth["cpu_p90"] / (spec.cpus / 1000))
        mem_shares.append(sim.profile(app_id).mem.plateau / (spec.mem / 1000))
    for shares in (cpu_shares, mem_shares):
        over = sum(1 for s in shares if 0.15 <= s <= 0.65)
        tight = sum(1 for s in shares if s >= 0.8)
        assert over >= 0.8 * len(shares)
        assert 0 < tight <= 0.2 * len(shares)
        assert all(s <= 1.0 for s in shares)


@pytest.fixture
def dialled() -> Iterator[list[Any]]:
    """Every address a socket of this process connects to during the test."""
    addresses: list[Any] = []
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def recording_connect(self: socket.socket, address: Any) -> None:
        addresses.append(address)
        return connect(self, address)

    def recording_connect_ex(self: socket.socket, address: Any) -> int:
        addresses.append(address)
        return connect_ex(self, address)

    socket.socket.connect = recording_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = recording_connect_ex  # type: ignore[method-assign]
    try:
        yield addresses
    finally:
        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def test_reading_every_agent_dials_loopback_only(dialled: list[Any]) -> None:
    sim = Simulator(agents=12, seed=5, now=Clock(START))
    populate(sim, ["/test"])
    with serve(sim) as server:
        http = Http(server.url)
        seen = statistics(http)
        assert len(seen) == len(sim.tasks)
        state = http.get("/master/state").json()
        # reported addresses (task IPs, agents' made-up ips) exist but are never dialled
        assert any(
            not t["statuses"][0]["container_status"]["network_infos"][0]["ip_addresses"][0][
                "ip_address"
            ].startswith("127.")
            for t in state["frameworks"][0]["tasks"]
        )
    inet = [a for a in dialled if isinstance(a, tuple)]
    assert len(inet) >= 13
    for host, *_ in inet:
        assert ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8"), host


def test_servers_share_the_agents_endpoints(sim: Simulator) -> None:
    with serve(sim) as first:
        with serve(sim, leader=first):
            assert sim.agent_http is not None
        assert sim.agent_http is not None
        assert sim.agent_http.listening == len(sim.agents)
    assert sim.agent_http is None
    with serve(sim, agent_http=False) as plain:
        assert sim.agent_http is None
        pid = Http(plain.url).get("/master/state").json()["slaves"][0]["pid"]
        assert pid.startswith("slave(1)@127.0.0.1:")


def test_a_thousand_agents_are_one_thread(clock: Clock) -> None:
    import threading

    before = threading.active_count()
    sim = Simulator(agents=1000, seed=9, now=clock)
    server: ServerHandle
    with serve(sim) as server:
        assert threading.active_count() - before == 2  # the master's server and the agents'
        assert sim.agent_http is not None and sim.agent_http.listening == 1000
        urls = list(agent_urls(Http(server.url)).values())
        session = requests.Session()
        assert all(session.get(u, timeout=5).json() == [] for u in urls[::50])
