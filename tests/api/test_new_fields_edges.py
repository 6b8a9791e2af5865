"""The input fields added with usage, machine mixes, tokens and HA clusters, at their edges:
a lone surrogate, numbers past their limits, NaN, null where an object or list goes, and
empty lists are a 422 problem naming the field, never a 5xx. Bodies are raw JSON text, so
what no Python client would send (\\ud800, NaN, 1e400) reaches the server as written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simulator import Simulator, serve
from tests import factories as f
from tests.conftest import Api

WINDOW = '"window": ["2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z"]'
USAGE = "/api/v1/environments/production/allocations/order-service/usage"


def _plan(extra: str) -> str:
    return (
        '{"environment": "production", "scale": {"order-service": 2}, '
        + WINDOW
        + ", "
        + extra
        + "}"
    )


def _shape(**fields: str) -> str:
    given = {"name": '"m5"', "cpus": "8", "mem": "8192", "cost": "1", **fields}
    return '"agent_shapes": [{' + ", ".join(f'"{k}": {v}' for k, v in given.items()) + "}]"


def _cluster(extra: str) -> str:
    return '{"name": "west", ' + extra + "}"


HTTP_MASTER = '"mesos_masters": ["http://127.0.0.1:9"]'
MARATHON = '"marathon_url": "http://127.0.0.1:9"'

# (method, path, raw JSON body, the field the 422 must name: a key of `errors`, or its start)
CASES: list[tuple[str, str, str, str]] = [
    ("post", "/api/v1/plans", _plan(_shape(name='"\\ud800"')), "agent_shapes.0.name"),
    ("post", "/api/v1/plans", _plan(_shape(name="null")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(name='""')), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(attributes='{"rack": "\\ud800"}')), "agent_shapes.0"),
    ("post", "/api/v1/plans", _plan(_shape(attributes='{"\\ud800": "a"}')), "agent_shapes.0"),
    ("post", "/api/v1/plans", _plan(_shape(attributes="null")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(attributes="[]")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(attributes='{"rack": null}')), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(cpus="1e400")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(cpus="NaN")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(cost="Infinity")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(cost="-1")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(cost="1e308")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(mem="99999999999999999999999999999")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan(_shape(disk="-1")), "agent_shapes"),
    ("post", "/api/v1/plans", _plan('"agent_shapes": null'), "agent_shapes"),
    ("post", "/api/v1/plans", _plan('"agent_shapes": []'), "agent_shapes"),
    ("post", "/api/v1/plans", _plan('"agent_shapes": [null]'), "agent_shapes"),
    ("post", "/api/v1/plans", _plan('"agent_shapes": {}'), "agent_shapes"),
    ("post", "/api/v1/plans", _plan('"agent_shapes": [7]'), "agent_shapes"),
    ("post", "/api/v1/plans", _plan('"basis": "\\ud800"'), "basis"),
    ("post", "/api/v1/plans", _plan('"basis": null'), "basis"),
    ("post", "/api/v1/plans", _plan('"basis": 1e400'), "basis"),
    ("post", "/api/v1/plans", _plan('"basis": []'), "basis"),
    ("post", "/api/v1/plans", _plan('"basis": "peak"'), "basis"),
    ("post", "/api/v1/tokens", '{"name": "\\ud800", "role": "viewer"}', "name"),
    ("post", "/api/v1/tokens", '{"name": "ci", "role": "\\ud800"}', "role"),
    ("post", "/api/v1/tokens", '{"name": null, "role": "viewer"}', "name"),
    ("post", "/api/v1/tokens", '{"name": "ci", "role": null}', "role"),
    ("post", "/api/v1/tokens", '{"name": 1e400, "role": "viewer"}', "name"),
    ("post", "/api/v1/tokens", '{"name": NaN, "role": "viewer"}', "name"),
    ("post", "/api/v1/tokens", '{"name": [], "role": "viewer"}', "name"),
    ("post", "/api/v1/tokens", '{"name": "' + "x" * 10_000 + '", "role": "viewer"}', "name"),
    ("post", "/api/v1/tokens", '{"name": "ci", "role": "root"}', "role"),
    (
        "post",
        "/api/v1/clusters",
        _cluster('"mesos_masters": ["zk://\\ud800/mesos"], ' + MARATHON),
        "mesos_masters",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster('"mesos_masters": ["zk://"], ' + MARATHON),
        "mesos_masters",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster('"mesos_masters": ["zk://a:99999999999999999999/mesos"], ' + MARATHON),
        "mesos_masters",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster('"mesos_masters": ["zk://a:-1/mesos"], ' + MARATHON),
        "mesos_masters",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster('"mesos_masters": ["zk://[::1/mesos"], ' + MARATHON),
        "mesos_masters",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster('"mesos_masters": ["zk://a:2181/' + "m" * 3000 + '"], ' + MARATHON),
        "mesos_masters",
    ),
    ("post", "/api/v1/clusters", _cluster('"mesos_masters": [null], ' + MARATHON), "mesos_masters"),
    ("post", "/api/v1/clusters", _cluster('"mesos_masters": null, ' + MARATHON), "mesos_masters"),
    ("post", "/api/v1/clusters", _cluster('"mesos_masters": [], ' + MARATHON), "mesos_masters"),
    (
        "post",
        "/api/v1/clusters",
        _cluster('"mesos_masters": [1e400], ' + MARATHON),
        "mesos_masters",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster('"mesos_masters": ["http://a:99999999"], ' + MARATHON),
        "mesos_masters",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster(HTTP_MASTER + ', "marathon_urls": ["\\ud800"]'),
        "marathon_urls",
    ),
    ("post", "/api/v1/clusters", _cluster(HTTP_MASTER + ', "marathon_urls": []'), "marathon_urls"),
    (
        "post",
        "/api/v1/clusters",
        _cluster(HTTP_MASTER + ', "marathon_urls": null'),
        "marathon_urls",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster(HTTP_MASTER + ', "marathon_urls": [null]'),
        "marathon_urls",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster(HTTP_MASTER + ', "marathon_urls": [NaN]'),
        "marathon_urls",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster(HTTP_MASTER + ', "marathon_urls": ["http://a:99999999"]'),
        "marathon_urls",
    ),
    (
        "post",
        "/api/v1/clusters",
        _cluster(HTTP_MASTER + ', "marathon_urls": ["http://[::1"]'),
        "marathon_urls",
    ),
    (
        "patch",
        "/api/v1/clusters/east",
        '{"mesos_masters": ["zk://a:99999999/mesos"]}',
        "mesos_masters",
    ),
    ("patch", "/api/v1/clusters/east", '{"mesos_masters": []}', "mesos_masters"),
    ("patch", "/api/v1/clusters/east", '{"mesos_masters": null}', "mesos_masters"),
    ("patch", "/api/v1/clusters/east", '{"marathon_urls": []}', "marathon_urls"),
    ("patch", "/api/v1/clusters/east", '{"marathon_urls": [null]}', "marathon_urls"),
    ("patch", "/api/v1/clusters/east", '{"marathon_urls": ["http://a:65536"]}', "marathon_urls"),
    ("patch", "/api/v1/clusters/east", '{"marathon_url": "http://a:1e3"}', "marathon_url"),
]


@pytest.fixture
def world(admin: Api, ops: Api) -> Iterator[None]:
    with serve(Simulator(agents=3, seed=4)) as server:
        f.synced_world(admin, server.url)
        assert f.allocate(ops, instances=1, mem=256).status_code == 201
        yield


def _names(errors: dict[str, Any], field: str) -> bool:
    return any(key == field or key.startswith(field + ".") for key in errors)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_new_fields_at_their_edges_are_a_422_naming_the_field(admin: Api, world: None) -> None:
    wrong = []
    for method, path, body, field in CASES:
        answer = getattr(admin, method)(
            path, data=body, headers={"Content-Type": "application/json"}
        )
        errors = (answer.get_json(silent=True) or {}).get("errors") or {}
        if (
            answer.status_code != 422
            or answer.content_type != "application/problem+json"
            or not _names(errors, field)
        ):
            wrong.append((method, path, body[:120], answer.status_code, errors))
    assert not wrong, wrong


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize(
    "query",
    [
        "since=0001-01-01T00:00:00%2B01:00",  # before year 1 in UTC
        "since=9999-12-31T23:59:59-23:59",  # after 9999 in UTC
        "since=0001-01-01T00:00:00Z",
        "since=1969-12-31T23:59:59Z&step=hour",
        "since=%ED%A0%80",
        "since=NaN",
        "since=-1",
        "since=",
        "since=2026-01-01T00:00:00",  # no zone
        "step=",
        "step=%ED%A0%80",
        "step=day",
    ],
)
def test_usage_query_at_its_edges_is_a_422_naming_it(viewer: Api, world: None, query: str) -> None:
    answer = viewer.get(f"{USAGE}?{query}")
    assert answer.status_code == 422, answer.get_data(as_text=True)[:300]
    assert answer.content_type == "application/problem+json"
    assert query.split("=")[0] in answer.get_json()["errors"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_usage_since_at_the_sane_limits_answers(viewer: Api, world: None) -> None:
    for query in ("since=1970-01-01T00:00:00Z&step=hour", "since=9999-12-30T00:00:00Z"):
        answer = viewer.get(f"{USAGE}?{query}")
        assert answer.status_code == 200, (query, answer.get_json())
        assert answer.get_json()["points"] == []
