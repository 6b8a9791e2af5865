"""The renderer: valid under Marathon's own schema and rules, deterministic, patchable."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from marathon.render import (
    Port,
    RenderInput,
    config_hash,
    merge_patch,
    render,
    valid_image,
)
from marathon.validation import findings

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "simulator/schema/AppDefinition.json").read_text()
)
VALIDATOR = Draft4Validator(SCHEMA)

JAVA = RenderInput(
    group="/prod",
    service="order-service",
    runtime="java",
    team="orders",
    cpus=1.0,
    mem=2048,
    disk=512,
    instances=3,
    network="host",
    ports=(Port("http", 31000), Port("dubbo", 31001)),
    image="registry.local/shop/order-service:1.4.2",
    allocation_version=7,
    health_check={"protocol": "HTTP", "port": "http", "path": "/actuator/health"},
    constraints=(("hostname", "UNIQUE"),),
    minimum_health_capacity=0.5,
    maximum_over_capacity=0.0,
    dependencies=("user-service",),
)
NODE = replace(
    JAVA,
    service="cart-api",
    runtime="node",
    network="bridge",
    ports=(Port("http", 31002, container_port=3000),),
    health_check={"protocol": "MESOS_HTTP", "port": "http", "path": "/health"},
    dependencies=(),
)


def valid(definition: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(definition), key=str)
    assert not errors, [e.message for e in errors]
    assert findings(definition) == []


def test_java_on_host_networking() -> None:
    app = render(JAVA)
    valid(app)
    assert app["id"] == "/prod/order-service"
    assert app["networks"] == [{"mode": "host"}] and app["requirePorts"] is True
    assert app["portDefinitions"] == [
        {"port": 31000, "name": "http", "protocol": "tcp"},
        {"port": 31001, "name": "dubbo", "protocol": "tcp"},
    ]
    assert app["env"]["JAVA_OPTS"] == "-Xms1536m -Xmx1536m"
    assert app["env"]["DUBBO_PORT_TO_REGISTRY"] == "31001"
    assert app["healthChecks"][0]["portIndex"] == 0
    assert app["dependencies"] == ["/prod/user-service"]
    assert app["labels"]["BERTH_ALLOCATION_VERSION"] == "7"
    assert "docker" in app["container"] and "network" not in app["container"]["docker"]


def test_node_on_bridge_networking() -> None:
    app = render(NODE)
    valid(app)
    assert app["networks"] == [{"mode": "container/bridge"}]
    assert app["container"]["portMappings"] == [
        {"containerPort": 3000, "hostPort": 31002, "name": "http", "protocol": "tcp"}
    ]
    assert "portDefinitions" not in app and "JAVA_OPTS" not in app["env"]


def test_dubbo_in_bridge_mode_learns_the_host() -> None:
    app = render(replace(JAVA, network="bridge"))
    valid(app)
    assert app["env"]["DUBBO_IP_TO_REGISTRY_FROM"] == "HOST"


def test_the_same_inputs_give_the_same_bytes_and_hash() -> None:
    first, second = render(JAVA), render(JAVA)
    assert json.dumps(first) == json.dumps(second)
    assert first["labels"]["BERTH_CONFIG_HASH"] == config_hash(second)
    other = render(replace(JAVA, mem=4096))
    assert other["labels"]["BERTH_CONFIG_HASH"] != first["labels"]["BERTH_CONFIG_HASH"]
    build = render(replace(JAVA, build_url="https://ci/job/1", git_sha="abc123"))
    assert build["labels"]["BERTH_GIT_SHA"] == "abc123"
    # the build's labels are not configuration: the hash stays
    assert build["labels"]["BERTH_CONFIG_HASH"] == first["labels"]["BERTH_CONFIG_HASH"]


def test_defaults_then_overrides_as_merge_patches() -> None:
    app = render(
        replace(
            JAVA,
            defaults={
                "env": {"TZ": "Asia/Shanghai"},
                "labels": {"env": "prod"},
                "java_heap_share": 0.5,
                "patch": {"backoffSeconds": 5},
            },
            overrides={"backoffSeconds": 10, "env": {"TZ": None}, "id": "/elsewhere"},
        )
    )
    valid(app)
    assert app["backoffSeconds"] == 10 and "TZ" not in app["env"]
    assert app["labels"]["env"] == "prod" and app["env"]["JAVA_OPTS"] == "-Xms1024m -Xmx1024m"
    assert app["id"] == "/prod/order-service"


def test_merge_patch_follows_rfc_7396() -> None:
    assert merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}}) == {
        "a": "z",
        "c": {"d": "e"},
    }
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert merge_patch({"a": 1}, ["x"]) == ["x"]


@pytest.mark.parametrize(
    "image, ok",
    [
        ("registry.local/shop/order-service:1.4.2", True),
        ("nginx", True),
        ("localhost:5000/a/b:latest", True),
        ("repo/app@sha256:" + "a" * 64, True),
        ("UPPER/case:1", False),
        ("repo:tag with space", False),
        ("", False),
        ("repo:", False),
    ],
)
def test_image_references(image: str, ok: bool) -> None:
    assert valid_image(image) is ok


def test_the_rules_the_schema_misses_are_caught() -> None:
    app = render(NODE)
    app["container"]["portMappings"][0]["hostPort"] = 0
    [found] = findings(app)
    assert found.where == "container.portMappings.0.hostPort"
    app = render(JAVA)
    app["portDefinitions"][1]["name"] = "http"
    assert [f.message for f in findings(app)] == ["port names must not repeat"]
    app = render(JAVA) | {"cmd": "run.sh", "args": ["--fast"]}
    assert [f.message for f in findings(app)] == ["give either cmd or args, not both"]


def test_dockerfiles_agree_with_the_allocation() -> None:
    from marathon.dockerfile import dockerfile

    java = dockerfile(
        service="order-service",
        runtime="java",
        environment="prod",
        mem_mib=2048,
        container_ports=[31001, 31000],
    )
    assert 'ENV JAVA_OPTS="-Xms1536m -Xmx1536m"' in java and "EXPOSE 31000 31001" in java
    assert "DUBBO_IP_TO_REGISTRY=${DUBBO_IP_TO_REGISTRY:-$HOST}" in java
    node = dockerfile(
        service="cart-api",
        runtime="node",
        environment="prod",
        mem_mib=512,
        container_ports=[3000],
        heap_share=0.5,
    )
    assert "--max-old-space-size=256" in node and "EXPOSE 3000" in node
    own = dockerfile(
        service="x",
        runtime="java",
        environment="e",
        mem_mib=1000,
        container_ports=[],
        template="FROM mine\nENV OPTS=$java_opts\n",
    )
    assert own == "FROM mine\nENV OPTS=-Xms750m -Xmx750m\n"
