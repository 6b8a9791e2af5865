"""The demo workload fits the demo clusters; the command line serves it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from simulator import Simulator, serve
from simulator.demo import DOMAINS, KINDS, TEAMS, definitions, populate, service_names
from simulator.validation import app_problems
from tests.simulator.conftest import Http

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def nonprod() -> Simulator:
    sim = Simulator(agents=8, seed=2)
    populate(sim, ["/test", "/integration"], seed=2)
    return sim


@pytest.fixture(scope="module")
def prod() -> Simulator:
    sim = Simulator(agents=12, seed=1)
    populate(sim, ["/prod"], seed=1)
    return sim


def host_ports(app: dict[str, Any]) -> list[int]:
    ports = [pd["port"] for pd in app.get("portDefinitions", []) if app["requirePorts"]]
    ports += [m["hostPort"] for m in app.get("container", {}).get("portMappings", [])]
    return ports


@pytest.mark.parametrize("name", ["nonprod", "prod"])
def test_everything_is_placed_and_nothing_waits(request: pytest.FixtureRequest, name: str) -> None:
    sim: Simulator = request.getfixturevalue(name)
    with serve(sim) as server:
        http = Http(server.url)
        assert http.get("/v2/queue").json() == {"queue": []}
        apps = http.get("/v2/apps").json()["apps"]
        assert len(apps) == (240 if name == "nonprod" else 120)
        assert all(a["tasksRunning"] == a["instances"] for a in apps)
        assert http.get("/v2/deployments").json() == []


def test_names_are_dns_labels_of_thirty_domains_and_four_kinds() -> None:
    names = service_names()
    assert len(names) == len(set(names)) == 120 == len(DOMAINS) * len(KINDS)
    assert all(DNS_LABEL.match(n) for n in names)
    assert {"order-service", "cart-api", "payment-worker"} <= set(names)


def test_definitions_are_valid_and_look_like_a_shop(nonprod: Simulator) -> None:
    apps = [a.definition for a in nonprod.apps.values()]
    for app in definitions(Simulator(agents=8, seed=2), ["/test", "/integration"], seed=2):
        assert app_problems(app) == [], app["id"]
        assert "network" not in app["container"]["docker"]
        assert re.fullmatch(
            r"registry\.local/shop/[a-z0-9-]+:\d+\.\d+\.\d+", app["container"]["docker"]["image"]
        )
    assert {a["labels"]["team"] for a in apps} == set(TEAMS)
    assert set(Counter(a["labels"]["runtime"] for a in apps)) == {"java", "node", "python"}
    for app in apps:
        labels, runtime = app["labels"], app["labels"]["runtime"]
        assert labels["base-image"]
        check = app["healthChecks"][0]
        assert check["protocol"] in ("HTTP", "MESOS_HTTP") and check["portIndex"] == 0
        if runtime == "java":
            assert "JAVA_OPTS" in app["env"] and check["path"] == "/actuator/health"
            assert 0.5 <= app["cpus"] <= 1 and 1024 <= app["mem"] <= 2048
        else:
            assert check["path"] == "/health"
            assert 0.25 <= app["cpus"] <= 0.5 and 256 <= app["mem"] <= 512
        if app["networks"] == [{"mode": "host"}]:
            assert [p["name"] for p in app["portDefinitions"]] == ["http", "dubbo"]
            assert app["requirePorts"] is True and runtime == "java"
        else:
            assert app["networks"] == [{"mode": "container/bridge"}]
            assert [m["name"] for m in app["container"]["portMappings"]] == ["http"]
        assert app["instances"] == 1 and "constraints" not in app


def test_host_ports_are_unique_on_a_simulator_and_inside_the_ranges(nonprod: Simulator) -> None:
    ports = [p for app in nonprod.apps.values() for p in host_ports(app.definition)]
    assert len(ports) == len(set(ports))
    assert min(ports) == 31000 and max(ports) <= 32000
    assert not [p for p in ports if 31500 < p < 31600]  # agent-02 lacks those


def test_dependencies_point_back_within_the_group(nonprod: Simulator) -> None:
    order = {name: i for i, name in enumerate(service_names())}
    with_deps = 0
    for app in nonprod.apps.values():
        deps = app.definition.get("dependencies", [])
        assert len(deps) <= 3
        group, name = app.id.rsplit("/", 1)
        for dep in deps:
            dep_group, dep_name = dep.rsplit("/", 1)
            assert dep_group == group and order[dep_name] < order[name]
        with_deps += bool(deps)
    assert with_deps > 100


def test_production_runs_several_instances_on_distinct_hosts(prod: Simulator) -> None:
    for app in prod.apps.values():
        assert 2 <= app.definition["instances"] <= 4
        assert app.definition["constraints"] == [["hostname", "UNIQUE"]]
        hosts = [t.host for t in prod.tasks_of(app.id)]
        assert len(hosts) == len(set(hosts)) == app.definition["instances"]


def test_the_demo_is_the_same_for_the_same_seed() -> None:
    first = definitions(Simulator(agents=8, seed=2), ["/test"], seed=4)
    again = definitions(Simulator(agents=8, seed=2), ["/test"], seed=4)
    assert first == again


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_command_line_serves_until_terminated() -> None:
    port, follower = _free_port(), _free_port()
    command = [
        sys.executable,
        "-m",
        "simulator",
        "--bind",
        f"127.0.0.1:{port}",
        "--agents",
        "8",
        "--follower-bind",
        f"127.0.0.1:{follower}",
        "--demo",
        "/test",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.1)
        assert (response.status_code, response.text) == (200, "pong")
        assert (
            len(requests.get(f"http://127.0.0.1:{port}/v2/apps", timeout=5).json()["apps"]) == 120
        )
        redirect = requests.get(
            f"http://127.0.0.1:{follower}/master/redirect", allow_redirects=False, timeout=5
        )
        assert redirect.headers["Location"] == f"//127.0.0.1:{port}"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in stderr and f"http://127.0.0.1:{follower}" in stderr


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_the_demo_fits_for_other_seeds_too(seed: int) -> None:
    nonprod = Simulator(agents=8, seed=seed)
    populate(nonprod, ["/test", "/integration"], seed=seed)
    prod = Simulator(agents=12, seed=seed)
    populate(prod, ["/prod"], seed=seed)
    assert [a.id for s in (nonprod, prod) for a in s.apps.values() if a.queue] == []
