"""The simulator answers with the keys and JSON types of real Marathon and Mesos payloads.

Each check walks a reference payload from ../shared/reference and requires every
key in it, at every depth, in the simulator's answer with the same JSON type.
The few keys deliberately left out are listed next to each check, with why.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from simulator import Simulator
from tests.simulator.conftest import Http, reference, sleeper


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _counterpart(item: Any, candidates: list[Any]) -> Any:
    """The reference element to hold a list item against: same `name`/`reason`, else the first."""
    if isinstance(item, dict):
        for key in ("name", "reason", "action"):
            for candidate in candidates:
                if isinstance(candidate, dict) and key in item and candidate.get(key) == item[key]:
                    return candidate
    return candidates[0]


def mismatches(
    ref: Any,
    actual: Any,
    path: str = "",
    absent: Collection[str] = (),
    maps: Collection[str] = (),
    opaque: Collection[str] = (),
) -> list[str]:
    """Keys of `ref` missing from `actual`, and values of another JSON type.

    `absent`: paths allowed to be missing; `maps`: objects keyed by data (roles,
    attribute names), whose values are held against the reference's first value;
    `opaque`: paths whose type alone is compared. Paths look like
    `/apps[]/tasks[]/ports`. A reference null matches anything.
    """
    if ref is None:
        return []
    if json_type(ref) != json_type(actual):
        return [f"{path or '/'}: {json_type(actual)}, expected {json_type(ref)}"]
    if path in opaque:
        return []
    found: list[str] = []
    if isinstance(ref, dict):
        if path in maps:
            if ref and actual:
                model = next(iter(ref.values()))
                for value in actual.values():
                    found += mismatches(model, value, f"{path}/*", absent, maps, opaque)
            return found
        for key, value in ref.items():
            where = f"{path}/{key}"
            if key not in actual:
                if where not in absent:
                    found.append(f"{where}: missing")
                continue
            found += mismatches(value, actual[key], where, absent, maps, opaque)
    elif isinstance(ref, list) and ref:
        for item in actual:
            found += mismatches(_counterpart(item, ref), item, f"{path}[]", absent, maps, opaque)
    return found


def test_the_comparer_finds_missing_keys_and_wrong_types() -> None:
    ref = {"a": 1, "b": {"c": "x"}, "d": [{"e": True}], "f": None}
    assert mismatches(ref, {"a": 2.5, "b": {"c": "y"}, "d": [{"e": False}], "f": 3}) == []
    assert mismatches(ref, {"a": "1", "b": {}, "d": [{"e": 1}], "f": None}) == [
        "/a: string, expected number",
        "/b/c: missing",
        "/d[]/e: number, expected boolean",
    ]


BRIDGE_APP = {
    "id": "/shop/pywebserver",
    "cmd": "python -m http.server 80",
    "cpus": 0.1,
    "mem": 128,
    "instances": 2,
    "acceptedResourceRoles": ["*"],
    "labels": {"HAPROXY_GROUP": "external"},
    "networks": [{"mode": "container/bridge"}],
    "container": {
        "type": "DOCKER",
        "docker": {"image": "python:3"},
        "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "test"}],
    },
    "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}],
}


@pytest.fixture
def deployed(sim: Simulator, http: Http) -> Http:
    """A bridge app with health checks, one host-networking app on every agent."""
    assert http.post("/v2/apps", json=BRIDGE_APP).status_code == 201
    host_app = sleeper(
        "/shop/dubbo",
        instances=len(sim.agents),
        constraints=[["hostname", "UNIQUE"]],
        portDefinitions=[{"port": 31500, "name": "dubbo"}, {"port": 0, "name": "http"}],
        requirePorts=True,
    )
    assert http.post("/v2/apps", json=host_app).status_code == 201
    return http


# Keys of the 1.2.0 DC/OS fixture that a plain Mesos master does not have (DC/OS log path)
STATE_ABSENT = {"/external_log_file"}
STATE_MAPS = {"/slaves[]/reserved_resources", "/slaves[]/attributes"}
STATE_OPAQUE = {"/flags"}  # flags are strings; which flags a master shows varies


def test_master_state_has_the_keys_of_a_real_master(deployed: Http) -> None:
    ref = reference("mesos/master-state_mesos-1.2.0_dcos-ui-fixture.json")
    state = deployed.get("/master/state").json()
    ref_marathon = next(f for f in ref["frameworks"] if f["name"] == "marathon")
    ref = {**ref, "frameworks": [ref_marathon]}
    assert mismatches(ref, state, absent=STATE_ABSENT, maps=STATE_MAPS, opaque=STATE_OPAQUE) == []
    assert any(s["reserved_resources"] for s in state["slaves"])
    assert any("ports" in s["used_resources"] for s in state["slaves"])
    assert state["frameworks"][0]["tasks"], "the marathon framework carries the tasks"


def test_master_slaves_agents_are_state_agents_plus_full_resources(deployed: Http) -> None:
    ref_state = reference("mesos/master-state_mesos-1.2.0_dcos-ui-fixture.json")
    ref_agents = reference("mesos/v1_GET_AGENTS_response_docs-operator-http-api.json")
    protobuf = ref_agents["get_agents"]["agents"][0]["total_resources"]
    body = deployed.get("/master/slaves").json()
    assert body["recovered_slaves"] == []
    ref_slave = {
        **ref_state["slaves"][0],
        "unreserved_resources_full": protobuf,
        "used_resources_full": protobuf,
        "offered_resources_full": protobuf,
    }
    for agent in body["slaves"]:
        assert mismatches(ref_slave, agent, maps={"/reserved_resources", "/attributes"}) == []
        assert isinstance(agent["reserved_resources_full"], dict)
        for resources in agent["reserved_resources_full"].values():
            assert mismatches(protobuf, resources) == []
    reserved = next(a for a in body["slaves"] if a["reserved_resources_full"])
    ports = next(r for r in reserved["reserved_resources_full"]["kafka"] if r["name"] == "ports")
    assert ports == {
        "name": "ports",
        "type": "RANGES",
        "ranges": {"range": [{"begin": 31000, "end": 31009}]},
        "role": "kafka",
        "reservations": [{"type": "STATIC", "role": "kafka"}],
    }


# Marathon 1.5 capture (marathon-lb): every key there is here; labels are data
APP_ABSENT: set[str] = set()
APP_MAPS = {"/labels", "/container/portMappings[]/labels"}


def test_apps_with_embedded_tasks_match_a_marathon_15_capture(deployed: Http) -> None:
    plain = reference("marathon/marathon-lb/marathon15_apps.json")["apps"][0]
    healthy = reference("marathon/marathon-lb/zdd_app_blue_marathon1.5.json")["apps"][0]
    apps = deployed.get("/v2/apps", params={"embed": "apps.tasks"}).json()["apps"]
    app = next(a for a in apps if a["id"] == BRIDGE_APP["id"])
    assert mismatches(plain, app, absent=APP_ABSENT, maps=APP_MAPS) == []
    assert mismatches(healthy, app, absent=APP_ABSENT, maps=APP_MAPS) == []
    assert len(app["tasks"]) == 2 and app["tasksHealthy"] == 2


def test_one_app_matches_the_capture_too(deployed: Http) -> None:
    healthy = reference("marathon/marathon-lb/zdd_app_blue_marathon1.5.json")["apps"][0]
    body = deployed.get(f"/v2/apps{BRIDGE_APP['id']}").json()
    assert mismatches(healthy, body["app"], absent=APP_ABSENT, maps=APP_MAPS) == []


# Mesos fault domains (region, zone) are not simulated, and Marathon leaves them out then
TASK_ABSENT = {"/tasks[]/region", "/tasks[]/zone"}


def test_app_tasks_and_all_tasks_match_the_raml_examples(deployed: Http) -> None:
    body = deployed.get(f"/v2/apps{BRIDGE_APP['id']}/tasks").json()
    assert len(body["tasks"]) == 2
    assert (
        mismatches(reference("marathon/raml/v2/examples/app_tasks.json"), body, absent=TASK_ABSENT)
        == []
    )
    every = deployed.get("/v2/tasks").json()
    assert (
        mismatches(reference("marathon/raml/v2/examples/tasks.json"), every, absent=TASK_ABSENT)
        == []
    )


def test_deployments_match_the_raml_example(clock: Any) -> None:
    from simulator import serve

    sim = Simulator(agents=2, seed=1, deploy_seconds=60, now=clock)
    with serve(sim) as server:
        http = Http(server.url)
        http.post("/v2/apps", json=sleeper("/foo", instances=2))
        body = http.get("/v2/deployments").json()
    ref = reference("marathon/raml/v2/examples/deployments.json")
    assert len(body) == 1
    assert mismatches(ref, body) == []
    assert body[0]["steps"][0]["actions"] == [{"action": "StartApplication", "app": "/foo"}]


# The example's `app` is a pre-1.5 definition (ports, docker.network), so only its type is
# compared; its offer resource mixes scalar, ranges and set in one object for illustration,
# while a real offer has one of them per resource, and attributes here are text.
QUEUE_ABSENT = {
    f"/queue[]/lastUnusedOffers[]/offer/{part}[]/{key}"
    for part in ("resources", "attributes")
    for key in ("scalar", "ranges", "set")
}


def test_queue_matches_the_raml_example(sim: Simulator, http: Http) -> None:
    app = sleeper("/tools/datadog-agent", instances=len(sim.agents) + 1)
    app["constraints"] = [["hostname", "UNIQUE"]]
    http.post("/v2/apps", json=app)
    body = http.get("/v2/queue").json()
    ref = reference("marathon/raml/v2/examples/queue.json")
    ref = {"queue": [ref["queue"][1]]}  # the entry with every optional part
    assert mismatches(ref, body, absent=QUEUE_ABSENT, opaque={"/queue[]/app"}) == []
    assert body["queue"][0]["app"]["id"] == "/tools/datadog-agent"


def test_info_and_deployment_result_match_the_raml_examples(http: Http) -> None:
    info = http.get("/v2/info").json()
    assert mismatches(reference("marathon/raml/v2/examples/info.json"), info) == []
    assert info["marathon_config"]["local_port_min"] == 10000
    result = http.put("/v2/apps/foo", json=sleeper("/foo"))
    assert result.status_code == 201  # created by PUT
    ref = reference("marathon/raml/v2/examples/deployments_result.json")
    assert mismatches(ref, result.json()) == []
    assert result.headers["Marathon-Deployment-Id"] == result.json()["deploymentId"]
    again = http.put("/v2/apps/foo", json={"instances": 2})
    assert again.status_code == 200
    assert mismatches(ref, again.json()) == []
