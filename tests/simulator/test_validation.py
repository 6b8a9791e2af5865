"""Validation: the real schema (draft-04) and Marathon's server-side rules, over HTTP."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from simulator.validation import SCHEMA_DIR, app_problems
from tests.simulator.conftest import REFERENCE, Http, missing_reference, reference, sleeper

VALID_APPS = [
    "marathon/system-test-apps/http-server.json",
    "marathon/system-test-apps/docker-http-server.json",
    "marathon/system-test-apps/readiness-and-health-app.json",
    "marathon/system-test-apps/healthcheck-and-volume.json",
    "marathon/system-test-apps/sleep-app.json",
    "marathon/marathon-lb/1-nginx.json",
    "marathon/marathon-lb/1-nginx-marathon1.5.json",
    "marathon/marathon-lb/ci-backends_docker_bridge.json",
    "marathon/marathon-lb/ci-backends_docker_host.json",
]
VALID_GROUPS = [
    "marathon/system-test-apps/sleep-group.json",
    "marathon/raml/v2/examples/group.json",
]
INVALID_APPS = {
    "marathon/raml/v2/examples/app.json": {"/tty", "/"},
    "marathon/raml/v2/examples/app-check-http-example.json": {"/check"},
    "marathon/system-test-apps/pinger-bridge-app.json": {"/container/docker/requirePorts"},
}


def test_the_schema_copies_are_the_reference_files_byte_for_byte() -> None:
    original = REFERENCE / "marathon/schema"
    if not original.exists():
        missing_reference()
    for name in ("AppDefinition.json", "Group.json"):
        assert (SCHEMA_DIR / name).read_bytes() == (original / name).read_bytes(), name
    assert "Apache" in (SCHEMA_DIR / "NOTICE").read_text(encoding="utf-8")


@pytest.mark.parametrize("relative", VALID_APPS)
def test_valid_reference_apps_are_accepted(http: Http, relative: str) -> None:
    app = reference(relative)
    app["id"] = "/reference/" + Path(relative).stem.replace("_", "-").replace(".", "-")
    response = http.post("/v2/apps", json=app)
    assert response.status_code == 201, response.json()
    assert response.json()["id"] == app["id"]


def test_the_raml_apps_create_example_is_accepted(http: Http) -> None:
    for app in reference("marathon/raml/v2/examples/apps_create.json"):
        response = http.post("/v2/apps", json=app)
        assert response.status_code == 201, response.json()


def _prefixed(group: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The group with every absolute id moved below `prefix`, so that ids are unique."""
    out = copy.deepcopy(group)

    def move(node: dict[str, Any]) -> None:
        if node.get("id", "").startswith("/"):
            node["id"] = prefix + node["id"].rstrip("/")
        node["dependencies"] = [
            prefix + d if d.startswith("/") else d for d in node.get("dependencies") or []
        ]
        for child in [*(node.get("apps") or []), *(node.get("groups") or [])]:
            move(child)

    move(out)
    return out


@pytest.mark.parametrize("relative", VALID_GROUPS)
def test_valid_reference_groups_are_accepted(http: Http, relative: str) -> None:
    group = _prefixed(reference(relative), "/reference-" + Path(relative).stem.replace("_", "-"))
    response = http.post("/v2/groups", json=group)
    assert response.status_code == 201, response.json()
    assert set(response.json()) == {"deploymentId", "version"}


@pytest.mark.parametrize("relative", sorted(INVALID_APPS))
def test_invalid_reference_apps_get_422_with_details(http: Http, relative: str) -> None:
    response = http.post("/v2/apps", json=reference(relative))
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "Object is not valid"
    assert {d["path"] for d in body["details"]} == INVALID_APPS[relative]
    assert all(
        d["errors"] and all(isinstance(e, str) for e in d["errors"]) for d in body["details"]
    )


HOST = {"networks": [{"mode": "host"}]}
BRIDGE = {
    "networks": [{"mode": "container/bridge"}],
    "container": {"type": "DOCKER", "docker": {"image": "nginx"}},
}


def _bridge(*mappings: dict[str, Any]) -> dict[str, Any]:
    app = copy.deepcopy(BRIDGE)
    app["container"]["portMappings"] = list(mappings)
    return app


SERVER_RULES = [
    (
        "port names unique (portDefinitions)",
        {**HOST, "portDefinitions": [{"port": 0, "name": "http"}, {"port": 0, "name": "http"}]},
        "/portDefinitions",
        "Port names must be unique.",
    ),
    (
        "port names unique (portMappings)",
        _bridge({"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}),
        "/container/portMappings",
        "Port names must be unique.",
    ),
    (
        "host ports unique (portDefinitions)",
        {**HOST, "portDefinitions": [{"port": 31001}, {"port": 31001}], "requirePorts": True},
        "/portDefinitions",
        "Ports must be unique.",
    ),
    (
        "host ports unique (portMappings)",
        _bridge({"containerPort": 80, "hostPort": 31001}, {"containerPort": 81, "hostPort": 31001}),
        "/container/portMappings",
        "Host ports must be unique.",
    ),
    (
        "portDefinitions only with host networking",
        {**BRIDGE, "portDefinitions": [{"port": 0}]},
        "/",
        "portDefinitions are only allowed with host-networking",
    ),
    (
        "portMappings not with host networking",
        {**_bridge({"containerPort": 80}), **HOST},
        "/",
        "portMappings are not allowed with host-networking",
    ),
    (
        "UNIQUE takes no value",
        {"constraints": [["hostname", "UNIQUE", "x"]]},
        "/constraints(0)",
        "Value specified but not used",
    ),
    (
        "MAX_PER needs a value",
        {"constraints": [["rack", "MAX_PER"]]},
        "/constraints(0)",
        "Value was not specified or is not a number",
    ),
    (
        "MAX_PER needs an integer",
        {"constraints": [["rack", "MAX_PER", "two"]]},
        "/constraints(0)",
        "Value was not specified or is not a number",
    ),
    (
        "LIKE needs a valid regex",
        {"constraints": [["hostname", "LIKE", "agent-("]]},
        "/constraints(0)",
        "'agent-(' is not a valid regular expression",
    ),
    (
        "UNLIKE needs a regex",
        {"constraints": [["hostname", "UNLIKE"]]},
        "/constraints(0)",
        "A regular expression value must be provided",
    ),
    (
        "CLUSTER needs a value",
        {"constraints": [["rack", "CLUSTER"]]},
        "/constraints(0)",
        "Missing value",
    ),
    (
        "cmd and args not both",
        {"args": ["sleep", "1"]},
        "/",
        "AppDefinition must not contain both 'cmd' and 'args'.",
    ),
    (
        "id segments valid",
        {"id": "/shop/a.-b"},
        "/id",
        "'a.-b' must fully match regular expression",
    ),
    (
        "no dot segments in ids",
        {"id": "/shop/../b"},
        "/id",
        "'..' must fully match regular expression",
    ),
    (
        "health check port index exists",
        {**HOST, "healthChecks": [{"protocol": "HTTP", "portIndex": 3}]},
        "/healthChecks(0)",
        "Health check port indices must address an element",
    ),
]


@pytest.mark.parametrize(
    "fields, path, message", [r[1:] for r in SERVER_RULES], ids=[r[0] for r in SERVER_RULES]
)
def test_each_server_side_rule_gives_422(
    http: Http, fields: dict[str, Any], path: str, message: str
) -> None:
    app = {**sleeper("/shop/rules"), **fields}
    assert app_problems(app), "the rule must catch it"
    response = http.post("/v2/apps", json=app)
    assert response.status_code == 422, response.json()
    details = response.json()["details"]
    assert any(d["path"] == path and any(message in e for e in d["errors"]) for d in details), (
        details
    )


def test_neither_cmd_nor_args_nor_container_is_refused(http: Http) -> None:
    response = http.post("/v2/apps", json={"id": "/shop/empty", "cpus": 0.1})
    assert response.status_code == 422
    assert "and/or a 'container'" in response.json()["details"][0]["errors"][0]


def test_malformed_json_is_400_invalid_json(http: Http) -> None:
    response = http.post(
        "/v2/apps", data=b'{"id": "/x",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Invalid JSON" and body["details"][0]["errors"]


def test_a_wrong_type_is_400_as_marathons_json_readers_answer(http: Http) -> None:
    response = http.post("/v2/apps", json={"id": 5, "cmd": "sleep 1"})
    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid JSON",
        "details": [{"path": "/id", "errors": ["error.expected.jsstring"]}],
    }
    response = http.put("/v2/apps/x", json=[{"id": "/x"}])
    assert response.status_code == 400
    assert response.json()["details"] == [{"path": "", "errors": ["error.expected.jsobject"]}]


def test_schema_ranges_are_422_with_the_path(http: Http) -> None:
    bad = sleeper("/shop/x", upgradeStrategy={"minimumHealthCapacity": 2})
    response = http.post("/v2/apps", json=bad)
    assert response.status_code == 422
    assert response.json()["details"][0]["path"] == "/upgradeStrategy/minimumHealthCapacity"


def test_a_partial_update_is_validated_merged(http: Http) -> None:
    app = sleeper("/shop/merge", **HOST, portDefinitions=[{"port": 0, "name": "http"}])
    assert http.post("/v2/apps", json=app).status_code == 201
    # alone this body is a fine update; merged, it puts port mappings on a host app
    update = {"container": {"type": "DOCKER", "docker": {"image": "x"}, "portMappings": []}}
    assert http.put("/v2/apps/shop/merge", json=update).status_code == 200
    update["container"]["portMappings"] = [{"containerPort": 80, "name": "web"}]
    response = http.put("/v2/apps/shop/merge", json=update)
    assert response.status_code == 422
    assert response.json()["details"][0]["errors"] == [
        "portMappings are not allowed with host-networking"
    ]
    response = http.put("/v2/apps/shop/merge", json={"cpus": -1})
    assert response.status_code == 422
    assert response.json()["details"][0]["path"] == "/cpus"


def test_what_the_simulator_answers_is_valid_again(http: Http) -> None:
    """A definition read back (status fields removed) can be sent again unchanged."""
    for relative in VALID_APPS:
        app = reference(relative)
        app["id"] = "/again/" + Path(relative).stem.replace("_", "-").replace(".", "-")
        http.post("/v2/apps", json=app)
    for app in http.get("/v2/apps").json()["apps"]:
        for key in ("tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments"):
            app.pop(key)
        assert app_problems(app) == [], app["id"]
