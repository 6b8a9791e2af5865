"""Bad input: a clear 4xx problem, never a 500, and nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories as f

URL = f.allocation_url("production", "order-service")


def _nothing_written(ops: Any) -> None:
    assert ops.get(URL).status_code == 404
    assert ops.get("/api/v1/audit?entity_type=allocation").get_json()["total"] == 0


def test_malformed_json_is_400(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = ops.put(URL, data='{"cpus": 1, "mem":', content_type="application/json")
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    _nothing_written(ops)


def test_wrong_content_type_is_415(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = ops.put(URL, data="cpus=1&mem=512", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    _nothing_written(ops)


def test_oversized_body_is_413(ops: Any, admin: Any) -> None:
    f.world(admin)
    big = '{"cpus": 1, "mem": 512, "overrides": {"x": "' + "a" * (2 * 1024 * 1024) + '"}}'
    response = ops.put(URL, data=big, content_type="application/json")
    assert response.status_code == 413
    _nothing_written(ops)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"cpus": 0, "mem": 512}, "cpus"),
        ({"cpus": -1, "mem": 512}, "cpus"),
        ({"cpus": 1, "mem": 16}, "mem"),
        ({"cpus": 1, "mem": 512, "instances": -1}, "instances"),
        ({"cpus": 1, "mem": 512, "disk": -5}, "disk"),
        ({"cpus": 1, "mem": 512, "network": "overlay"}, "network"),
        ({"cpus": 1, "mem": 512, "ports": {"http": 70000}}, "ports"),
        ({"cpus": 1, "mem": 512, "ports": {"http": 0}}, "ports"),
        ({"cpus": 1, "mem": 512, "constraints": [["hostname", "NEAR"]]}, "constraints"),
        (
            {"cpus": 1, "mem": 512, "upgrade_strategy": {"minimum_health_capacity": 2}},
            "upgrade_strategy",
        ),
        ({"cpus": "lots", "mem": 512}, "cpus"),
        ({"cpus": True, "mem": 512}, "cpus"),
        ({"cpus": 1, "mem": 512.5}, "mem"),
        ({"mem": 512}, "cpus"),
        ({"cpus": 1, "mem": 512, "colour": "blue"}, "colour"),
    ],
)
def test_invalid_fields_are_422_with_a_message_per_field(
    ops: Any, admin: Any, body: dict, field: str
) -> None:
    f.world(admin)
    response = ops.put(URL, json=body)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["status"] == 422 and field in problem["errors"]
    assert field in problem["detail"]
    _nothing_written(ops)


@pytest.mark.parametrize("body", [[], "text", 42, None])
def test_a_body_that_is_not_an_object_is_4xx(ops: Any, admin: Any, body: Any) -> None:
    f.world(admin)
    import json

    response = ops.put(URL, data=json.dumps(body), content_type="application/json")
    assert 400 <= response.status_code < 500
    _nothing_written(ops)


@pytest.mark.parametrize("name", ["Order", "order_service", "-order", "a" * 64, "order.svc"])
def test_names_must_be_dns_labels(ops: Any, name: str) -> None:
    response = ops.post("/api/v1/services", json={"name": name, "runtime": "java", "team": "t"})
    assert response.status_code == 422
    assert "DNS label" in response.get_json()["errors"]["name"][0]


def test_unknown_route_and_method_are_problems(ops: Any) -> None:
    assert ops.get("/api/v1/nothing-here").status_code == 404
    response = ops.post("/api/v1/clusters/east/ports", json={})
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"


def test_nul_characters_are_refused_not_stored(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = ops.post(
        "/api/v1/services",
        json={"name": "a", "runtime": "node", "team": "t", "description": "x\x00"},
    )
    assert response.status_code == 422 and "description" in response.get_json()["errors"]
    assert ops.get("/api/v1/audit?entity=%00").status_code == 422


def test_deeply_nested_json_is_a_4xx(ops: Any, admin: Any) -> None:
    f.world(admin)
    deep = '{"cpus": 1, "mem": 512, "overrides": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = ops.put(URL, data=deep, content_type="application/json")
    assert 400 <= response.status_code < 500
    _nothing_written(ops)


def test_out_of_range_query_numbers_are_422(viewer: Any) -> None:
    assert viewer.get("/api/v1/audit?offset=100000000000000000000").status_code == 422
    assert viewer.get("/api/v1/audit?limit=0").status_code == 422
    assert viewer.get("/api/v1/audit?since=yesterday").status_code == 422
    assert viewer.get("/api/v1/audit?since=2026-01-01T00:00:00").status_code == 422  # no zone


@pytest.mark.parametrize("name", ["order\n", "order-service\n"])
def test_a_trailing_newline_is_not_a_dns_label(ops: Any, name: str) -> None:
    response = ops.post("/api/v1/services", json={"name": name, "runtime": "java", "team": "t"})
    assert response.status_code == 422
    assert ops.get("/api/v1/services").get_json() == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(ops: Any, admin: Any, literal: str) -> None:
    f.world(admin)
    body = '{"cpus": 1, "mem": 512, "overrides": {"x": ' + literal + "}}"
    response = ops.put(URL, data=body, content_type="application/json")
    assert response.status_code == 422
    assert "overrides" in response.get_json()["errors"]
    _nothing_written(ops)


def test_two_names_asking_for_one_port_is_422(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = f.allocate(ops, ports={"http": 31600, "dubbo": 31600})
    assert response.status_code == 422 and "31600" in response.get_json()["detail"]
    _nothing_written(ops)


def test_max_per_needs_ascii_digits(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = f.allocate(ops, constraints=[["hostname", "MAX_PER", "²"]])
    assert response.status_code == 422


def test_a_nul_in_the_path_names_nothing(ops: Any) -> None:
    assert ops.get("/api/v1/services/a%00b").status_code == 404
    assert ops.get("/api/v1/environments/x%00/allocations/y").status_code == 404


def test_times_far_out_are_422_not_500(viewer: Any) -> None:
    assert viewer.get("/api/v1/audit?since=0001-01-01T00:00:00%2B05:00").status_code == 422
    assert viewer.get("/api/v1/audit?until=9999-12-31T23:00:00-05:00").status_code == 422


def test_unknown_query_parameters_are_refused(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = ops.put(URL + "?dry_rnu=true", json={"cpus": 1, "mem": 512})
    assert response.status_code == 422 and "dry_rnu" in response.get_json()["errors"]
    _nothing_written(ops)
