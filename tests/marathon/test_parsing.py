"""The clients read the real payloads of ../shared/reference into the right facts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from marathon.apps import describe
from marathon.client import parse_app
from marathon.http import Credentials
from marathon.mesos import parse_port_ranges, parse_state

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
# skipped on a machine without ../shared; in CI, where it is always there, never skipped
needs_reference = pytest.mark.skipif(
    not REFERENCE.exists() and not os.environ.get("CI"),
    reason="../shared/reference is not beside this checkout",
)


def load(path: str) -> Any:
    return json.loads((REFERENCE / path).read_text())


@needs_reference
def test_mesos_state_agents_with_reservations_and_split_port_ranges() -> None:
    state = parse_state(load("mesos/master-state_mesos-1.2.0_dcos-ui-fixture.json"))
    assert state.version == "1.2.0"
    by_id = {a.id: a for a in state.agents}
    agent = by_id["74f1836b-6784-4030-816e-aacbdd45ff57-S1"]
    assert agent.hostname == "10.0.2.121" and agent.active
    assert agent.resources.cpus == 4 and agent.resources.mem == 14018
    assert agent.port_ranges[0] == (1025, 2180) and agent.port_ranges[-1] == (8182, 32000)
    assert agent.used.ports == ((1025, 1025), (9234, 9234), (24348, 24349), (29557, 29557))
    kafka = agent.reserved["confluent-kafka-role"]
    assert (kafka.cpus, kafka.mem, kafka.ports) == (1.5, 2560, ((1025, 1025), (9234, 9234)))
    assert agent.unreserved.cpus == 2.5
    assert (9235, 32000) in agent.unreserved.ports
    public = [a for a in state.agents if a.attributes.get("public_ip") == "true"]
    assert public and public[0].reserved["slave_public"].cpus > 0
    assert any(t.framework == "marathon" for t in state.tasks)


def test_port_ranges_text_and_v1_forms() -> None:
    assert parse_port_ranges("[31000-31005, 31010-32000]") == ((31000, 31005), (31010, 32000))
    assert parse_port_ranges({"range": [{"begin": 1, "end": 2}]}) == ((1, 2),)
    assert parse_port_ranges(None) == ()


@needs_reference
def test_marathon_15_app_with_tasks() -> None:
    body = load("marathon/marathon-lb/marathon15_apps.json")
    app = parse_app(body["apps"][0])
    assert app.id == "/pywebserver"
    assert app.tasks and app.tasks[0].ports
    assert "tasks" not in app.definition and "tasksRunning" not in app.definition
    shape = describe(app.definition)
    assert shape.network == "bridge"
    assert shape.ports[0].name == "test" and shape.ports[0].container_port == 80
    assert shape.ports[0].host_port is None  # hostPort 0: Marathon picks per task


@needs_reference
@pytest.mark.parametrize(
    "path, network, first_port",
    [
        ("marathon/marathon-lb/ci-backends_docker_host.json", "host", ("port0", None, None)),
        ("marathon/marathon-lb/ci-backends_docker_bridge.json", "bridge", ("port0", None, 80)),
        ("marathon/marathon-lb/1-nginx.json", "bridge", None),
        ("marathon/system-test-apps/readiness-and-health-app.json", "host", ("api", None, None)),
    ],
)
def test_describe_reads_both_network_syntaxes(
    path: str, network: str, first_port: tuple | None
) -> None:
    shape = describe(load(path))
    assert shape.network == network
    if first_port is not None:
        port = shape.ports[0]
        assert (port.name, port.host_port, port.container_port) == first_port


def test_describe_fixed_host_ports_constraints_health_and_dependencies() -> None:
    shape = describe(
        {
            "id": "/prod/order-service",
            "cpus": 0.5,
            "mem": 1024,
            "instances": 3,
            "networks": [{"mode": "host"}],
            "requirePorts": True,
            "portDefinitions": [{"port": 31000, "name": "http"}, {"port": 31001, "name": "dubbo"}],
            "constraints": [["hostname", "UNIQUE"], "rack:MAX_PER:2"],
            "healthChecks": [
                {"protocol": "MESOS_HTTP", "path": "/actuator/health", "portIndex": 0}
            ],
            "dependencies": ["../prod/user-service", "/prod/cart-service"],
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
            "container": {"type": "DOCKER", "docker": {"image": "registry/shop/order:1.0"}},
            "labels": {"team": "orders"},
        }
    )
    assert [(p.name, p.host_port) for p in shape.ports] == [("http", 31000), ("dubbo", 31001)]
    assert shape.constraints == (("hostname", "UNIQUE"), ("rack", "MAX_PER", "2"))
    assert shape.health is not None and shape.health.port_name == "http"
    assert shape.dependencies == ("/prod/user-service", "/prod/cart-service")
    assert (shape.group, shape.name) == ("/prod", "order-service")
    assert (shape.minimum_health_capacity, shape.maximum_over_capacity) == (0.5, 0.2)


@pytest.mark.parametrize(
    "value, basic, header",
    [
        ("ops:s3cret", ("ops", "s3cret"), None),
        ("token=abc.def", None, "token=abc.def"),
        ("Bearer xyz", None, "Bearer xyz"),
        ("", None, None),
    ],
)
def test_credentials_come_from_the_named_variable(value: str, basic: Any, header: Any) -> None:
    creds = Credentials.from_env("BERTH_CREDENTIALS_EAST", {"BERTH_CREDENTIALS_EAST": value})
    assert creds.basic == basic and creds.header == header
    assert Credentials.from_env(None) == Credentials()
    # any other variable of berth's (the database URL, say) is never sent anywhere
    assert (
        Credentials.from_env("BERTH_DATABASE_URL", {"BERTH_DATABASE_URL": "a:b"}) == Credentials()
    )
