"""Placement over HTTP: resources with the executor overhead, host ports, constraints, the queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulator import ServerHandle, Simulator, serve
from tests.simulator.conftest import Clock, Http, sleeper


@pytest.fixture
def empty(clock: Clock) -> Iterator[tuple[Simulator, Http]]:
    """A simulator without agents; each test adds exactly the agents it needs."""
    sim = Simulator(agents=0, seed=1, now=clock)
    with serve(sim) as server:
        yield sim, Http(server.url)


@pytest.fixture
def fleet(clock: Clock) -> Iterator[tuple[Simulator, Http]]:
    """Eight agents: racks r1..r4 (two agents each), zones a and b."""
    sim = Simulator(agents=8, seed=1, now=clock)
    with serve(sim) as server:
        yield sim, Http(server.url)


def hosts(http: Http, app_id: str) -> list[str]:
    return sorted(t["host"] for t in http.get(f"/v2/apps{app_id}/tasks").json()["tasks"])


def queued(http: Http, app_id: str) -> dict[str, Any] | None:
    for item in http.get("/v2/queue").json()["queue"]:
        if item["app"]["id"] == app_id:
            return item
    return None


def declined(item: dict[str, Any]) -> dict[str, int]:
    summary = item["processedOffersSummary"]["rejectSummaryLastOffers"]
    return {s["reason"]: s["declined"] for s in summary if s["declined"]}


def agents_by_host(http: Http) -> dict[str, dict[str, Any]]:
    return {a["hostname"]: a for a in http.get("/master/slaves").json()["slaves"]}


def test_instances_fit_exactly_with_the_executor_overhead(empty: tuple) -> None:
    sim, http = empty
    sim.add_agent(cpus=2, mem=1024, disk=1000, hostname="small")
    app = sleeper("/fit", cpus=0.9, mem=480, disk=100, instances=3)
    assert http.post("/v2/apps", json=app).status_code == 201
    assert hosts(http, "/fit") == ["small", "small"]  # 2 x (0.9 + 0.1) cpus, 2 x (480 + 32) MiB
    item = queued(http, "/fit")
    assert item is not None and item["count"] == 1
    assert declined(item) == {"InsufficientCpus": 1}
    assert item["lastUnusedOffers"][0]["reason"] == ["InsufficientCpus", "InsufficientMemory"]
    used = agents_by_host(http)["small"]["used_resources"]
    assert (used["cpus"], used["mem"], used["disk"]) == (2, 1024, 200)


def test_used_resources_carry_the_executor_overhead_and_tasks_do_not(clock: Clock) -> None:
    sim = Simulator(agents=0, seed=1, executor_cpus=0.2, executor_mem=64, now=clock)
    sim.add_agent(cpus=8, mem=8192, hostname="one")
    with serve(sim) as server:
        http = Http(server.url)
        http.post("/v2/apps", json=sleeper("/x", cpus=0.5, mem=256, instances=2))
        used = agents_by_host(http)["one"]["used_resources"]
        assert (used["cpus"], used["mem"]) == (1.4, 640)
        marathon = http.get("/master/state").json()["frameworks"][0]
        assert (marathon["used_resources"]["cpus"], marathon["used_resources"]["mem"]) == (1.4, 640)
        task = marathon["tasks"][0]["resources"]
        assert (task["cpus"], task["mem"]) == (0.5, 256)
        overhead = [e["resources"] for e in marathon["executors"]]
        assert [(e["cpus"], e["mem"]) for e in overhead] == [(0.2, 64), (0.2, 64)]


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"mem": 2000}, "InsufficientMemory"),
        ({"disk": 5000}, "InsufficientDisk"),
        ({"cpus": 4}, "InsufficientCpus"),
    ],
)
def test_each_resource_is_a_reason_to_wait(empty: tuple, fields: dict, reason: str) -> None:
    sim, http = empty
    sim.add_agent(cpus=4, mem=1024, disk=1000)
    http.post("/v2/apps", json=sleeper("/big", **fields))
    item = queued(http, "/big")
    assert item is not None and declined(item) == {reason: 1}


def test_a_required_host_port_is_taken_once_per_agent(empty: tuple) -> None:
    sim, http = empty
    sim.add_agent(hostname="a")
    sim.add_agent(hostname="b")
    dubbo = sleeper(
        "/dubbo",
        instances=3,
        networks=[{"mode": "host"}],
        portDefinitions=[{"port": 31005, "name": "dubbo"}],
        requirePorts=True,
    )
    http.post("/v2/apps", json=dubbo)
    assert hosts(http, "/dubbo") == ["a", "b"]
    assert declined(queued(http, "/dubbo") or {}) == {"InsufficientPorts": 2}
    # a bridge app with the same fixed host port has nowhere to go either
    bridge = sleeper(
        "/web",
        networks=[{"mode": "container/bridge"}],
        container={
            "type": "DOCKER",
            "docker": {"image": "nginx"},
            "portMappings": [{"containerPort": 80, "hostPort": 31005}],
        },
    )
    http.post("/v2/apps", json=bridge)
    assert hosts(http, "/web") == []
    tasks = http.get("/v2/apps/dubbo/tasks").json()["tasks"]
    assert [t["ports"] for t in tasks] == [[31005], [31005]]


def test_a_port_outside_the_agents_ranges_never_fits(empty: tuple) -> None:
    sim, http = empty
    sim.add_agent(ports="[31000-32000]")
    app = sleeper("/far", portDefinitions=[{"port": 40000}], requirePorts=True)
    http.post("/v2/apps", json=app)
    assert declined(queued(http, "/far") or {}) == {"InsufficientPorts": 1}


def test_dynamic_ports_come_from_the_ranges_and_follow_the_seed(clock: Clock) -> None:
    picked = []
    for _ in range(2):
        sim = Simulator(agents=2, seed=9, now=clock)
        with serve(sim) as server:
            http = Http(server.url)
            app = sleeper("/dyn", instances=2, portDefinitions=[{"port": 0}, {"port": 0}])
            app["constraints"] = [["hostname", "UNIQUE"]]
            http.post("/v2/apps", json=app)
            tasks = http.get("/v2/apps/dyn/tasks").json()["tasks"]
            picked.append(sorted((t["host"], tuple(t["ports"])) for t in tasks))
    assert picked[0] == picked[1]
    for host, ports in picked[0]:
        assert len(set(ports)) == 2
        for port in ports:
            assert 31000 <= port <= 32000
            if host == "agent-02":  # [31000-31500, 31600-32000]
                assert not 31500 < port < 31600


def test_service_ports_are_assigned_from_local_port_min(http: Http) -> None:
    http.post("/v2/apps", json=sleeper("/a", portDefinitions=[{"port": 0}, {"port": 0}]))
    http.post("/v2/apps", json=sleeper("/b"))
    a = http.get("/v2/apps/a").json()["app"]
    b = http.get("/v2/apps/b").json()["app"]
    assert [p["port"] for p in a["portDefinitions"]] == [10000, 10001]
    assert b["portDefinitions"] == [
        {"port": 10002, "protocol": "tcp", "name": "default", "labels": {}}
    ]
    assert a["tasks"][0]["servicePorts"] == [10000, 10001]


CONSTRAINTS = [
    ([["hostname", "UNIQUE"]], 8, lambda placed: len(set(placed)) == 8),
    ([["rack", "MAX_PER", "2"]], 8, lambda placed: set(Counter(placed).values()) == {2}),
    ([["zone", "CLUSTER", "a"]], 3, lambda placed: set(placed) == {"a"}),
    (
        [["hostname", "LIKE", "agent-0[12]"]],
        2,
        lambda placed: set(placed) <= {"agent-01", "agent-02"},
    ),
    ([["rack", "UNLIKE", "r[12]"]], 3, lambda placed: set(placed) <= {"r3", "r4"}),
    ([["zone", "GROUP_BY"]], 4, lambda placed: Counter(placed) == {"a": 2, "b": 2}),
    ([["rack", "IS", "r2"]], 2, lambda placed: set(placed) == {"r2"}),
]


@pytest.mark.parametrize(
    "constraints, instances, holds", CONSTRAINTS, ids=[c[0][0][1] for c in CONSTRAINTS]
)
def test_constraints_are_honoured(
    fleet: tuple, constraints: list, instances: int, holds: Callable[[list[str]], bool]
) -> None:
    sim, http = fleet
    app = sleeper("/c", instances=instances, constraints=constraints)
    http.post("/v2/apps", json=app)
    field = constraints[0][0]
    agents = agents_by_host(http)
    tasks = http.get("/v2/apps/c/tasks").json()["tasks"]
    assert len(tasks) == instances
    placed = [
        t["host"] if field == "hostname" else agents[t["host"]]["attributes"][field] for t in tasks
    ]
    assert holds(placed), placed
    assert queued(http, "/c") is None


@pytest.mark.parametrize(
    "constraints, instances",
    [
        ([["hostname", "UNIQUE"]], 9),
        ([["rack", "MAX_PER", "2"]], 9),
        ([["hostname", "LIKE", "agent-0"]], 1),  # LIKE matches the whole value
        ([["rack", "CLUSTER", "r9"]], 1),
    ],
)
def test_unfulfilled_constraints_wait(fleet: tuple, constraints: list, instances: int) -> None:
    sim, http = fleet
    http.post("/v2/apps", json=sleeper("/c", instances=instances, constraints=constraints))
    item = queued(http, "/c")
    assert item is not None and item["count"] == 1
    assert set(declined(item)) == {"UnfulfilledConstraint"}


def test_waiting_instances_are_placed_when_an_agent_is_activated(empty: tuple) -> None:
    sim, http = empty
    one = sim.add_agent(hostname="one")
    assert http.post("/_sim/agents/one/deactivate").json()["active"] is False
    http.post("/v2/apps", json=sleeper("/w", instances=2))
    item = queued(http, "/w")
    assert item is not None and item["count"] == 2
    assert item["processedOffersSummary"]["processedOffersCount"] == 0  # no offers at all
    state = http.get("/master/state").json()
    assert (state["activated_slaves"], state["deactivated_slaves"]) == (0, 1)
    assert http.post(f"/_sim/agents/{one.id}/activate").status_code == 200
    assert hosts(http, "/w") == ["one", "one"]
    assert queued(http, "/w") is None


def test_a_deactivated_agent_keeps_its_tasks_but_gets_no_new_ones(empty: tuple) -> None:
    sim, http = empty
    sim.add_agent(hostname="one")
    http.post("/v2/apps", json=sleeper("/k"))
    sim.deactivate_agent("one")
    http.put("/v2/apps/k", json={"instances": 2})
    assert hosts(http, "/k") == ["one"]
    assert queued(http, "/k")["count"] == 1


def test_waiting_instances_are_placed_when_capacity_is_freed(empty: tuple) -> None:
    sim, http = empty
    sim.add_agent(cpus=4, mem=2048, hostname="one")
    http.post("/v2/apps", json=sleeper("/hog", mem=1500))
    http.post("/v2/apps", json=sleeper("/late", mem=1000))
    assert declined(queued(http, "/late") or {}) == {"InsufficientMemory": 1}
    http.put("/v2/apps/hog", json={"instances": 0})
    assert hosts(http, "/late") == ["one"]
    assert queued(http, "/late") is None


def test_waiting_instances_are_placed_on_an_added_agent(empty: tuple) -> None:
    sim, http = empty
    http.post("/v2/apps", json=sleeper("/n", instances=2))
    assert queued(http, "/n")["count"] == 2
    response = http.post("/_sim/agents", json={"cpus": 4, "mem": 4096, "hostname": "new"})
    assert response.status_code == 201
    assert hosts(http, "/n") == ["new", "new"]


def test_resources_reserved_for_another_role_are_not_used(clock: Clock) -> None:
    sim = Simulator(agents=3, seed=1, now=clock)
    with serve(sim) as server:
        http = Http(server.url)
        agent = agents_by_host(http)["agent-03"]
        assert agent["reserved_resources"]["kafka"]["ports"] == "[31000-31009]"
        unreserved = agent["unreserved_resources"]
        assert unreserved["cpus"] == agent["resources"]["cpus"] - 4
        assert unreserved["ports"] == "[31010-32000]"
        pinned = [["hostname", "CLUSTER", "agent-03"]]
        port = sleeper("/port", constraints=pinned, portDefinitions=[{"port": 31005}])
        port["requirePorts"] = True
        http.post("/v2/apps", json=port)
        others = {"UnfulfilledConstraint": 2}
        assert declined(queued(http, "/port") or {}) == {**others, "InsufficientPorts": 1}
        cpus = sleeper("/cpus", constraints=pinned, cpus=unreserved["cpus"] - 0.05)
        http.post("/v2/apps", json=cpus)
        assert declined(queued(http, "/cpus") or {}) == {**others, "InsufficientCpus": 1}
        fits = sleeper("/fits", constraints=pinned, cpus=unreserved["cpus"] - 0.1)
        http.post("/v2/apps", json=fits)
        assert hosts(http, "/fits") == ["agent-03"]


def test_an_app_for_another_role_only_is_unfulfilled_role(server: ServerHandle, http: Http) -> None:
    http.post("/v2/apps", json=sleeper("/public", acceptedResourceRoles=["slave_public"]))
    item = queued(http, "/public")
    assert item is not None
    assert declined(item) == {"UnfulfilledRole": len(server.sim.agents)}


def test_the_reject_summary_is_a_funnel(fleet: tuple) -> None:
    sim, http = fleet
    app = sleeper("/f", instances=9, constraints=[["hostname", "UNIQUE"]], cpus=0.5)
    http.post("/v2/apps", json=app)
    summary = queued(http, "/f")["processedOffersSummary"]["rejectSummaryLastOffers"]
    reasons = [s["reason"] for s in summary]
    assert reasons[:2] == ["UnfulfilledRole", "UnfulfilledConstraint"]
    assert "InsufficientPorts" in reasons
    processed = [s["processed"] for s in summary]
    assert processed[0] == 8 and processed == sorted(processed, reverse=True)
    for before, after in zip(summary, summary[1:], strict=False):
        assert after["processed"] == before["processed"] - before["declined"]
