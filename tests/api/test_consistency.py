"""GET /services/{name}/consistency: what may not differ between two environments, and the
exceptions a service allows on purpose."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories as f

URL = "/api/v1/services/order-service/consistency?a=test&b=production"


@pytest.fixture
def two_environments(admin: Any, ops: Any) -> None:
    """order-service in test (a feature flag, JDK 21 by env var) and production (the Dockerfile's
    JDK 17), with different resources, instances and ports."""
    f.cluster(admin)
    f.environment(admin, "test", defaults={"env": {"FEATURE_X": "on", "JAVA_VERSION": "21"}})
    f.environment(admin, "production", defaults={"env": {"LOG_LEVEL": "warn"}})
    f.service(admin, health_check={"port": "http", "path": "/actuator/health"})
    assert f.allocate(ops, "test", cpus=0.5, mem=512, instances=1).status_code == 201
    assert f.allocate(ops, "production", cpus=2, mem=4096, instances=6).status_code == 201


def _check(viewer: Any, url: str = URL) -> dict:
    response = viewer.get(url)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_differences_beyond_the_allowed_ones_are_reported(
    viewer: Any, two_environments: None
) -> None:
    answer = _check(viewer)
    assert answer["consistent"] is False
    assert answer["differences"] == [
        {"field": "runtime_version", "a": "21", "b": "17"},
        {"field": "env:FEATURE_X", "a": "set", "b": "not set"},
        {"field": "env:LOG_LEVEL", "a": "not set", "b": "set"},
    ]
    assert answer["a"]["runtime_version_source"] == "env JAVA_VERSION"
    assert answer["b"]["runtime_version_source"] == "Dockerfile FROM eclipse-temurin:17-jre"
    # never deployed and not running: no image to compare, and the answer says so
    assert answer["not_compared"] == [
        {"field": "base_image", "why": "no image known in test, production"}
    ]
    # JAVA_OPTS differs in value only (sized from mem): names match, so it is not reported
    assert "JAVA_OPTS" in answer["a"]["env_names"] and "JAVA_OPTS" in answer["b"]["env_names"]


def test_a_health_path_changed_by_an_override_is_caught(
    ops: Any, viewer: Any, two_environments: None
) -> None:
    check = {"protocol": "HTTP", "path": "/health", "portIndex": 0}
    assert (
        f.allocate(ops, "production", cpus=2, mem=4096, overrides={"healthChecks": [check]})
    ).status_code == 200
    found = {d["field"]: (d["a"], d["b"]) for d in _check(viewer)["differences"]}
    assert found["health_path"] == ("/actuator/health", "/health")


def test_exceptions_allow_marked_differences_and_are_named(
    ops: Any, viewer: Any, two_environments: None
) -> None:
    marked = ["env:FEATURE_*", "runtime_version"]
    response = ops.patch("/api/v1/services/order-service", json={"consistency_exceptions": marked})
    assert response.status_code == 200, response.get_json()
    answer = _check(viewer)
    assert answer["consistent"] is False  # LOG_LEVEL is still not allowed
    allowed = {d["field"]: d.get("allowed_because") for d in answer["differences"]}
    assert allowed == {
        "runtime_version": "exception 'runtime_version' of order-service",
        "env:FEATURE_X": "exception 'env:FEATURE_*' of order-service",
        "env:LOG_LEVEL": None,
    }
    assert answer["exceptions_applied"] == ["runtime_version", "env:FEATURE_*"]
    ops.patch(
        "/api/v1/services/order-service",
        json={"consistency_exceptions": [*marked, "env:LOG_LEVEL", "health_path"]},
    )
    answer = _check(viewer)
    assert answer["consistent"] is True
    assert answer["exceptions"] == [*marked, "env:LOG_LEVEL", "health_path"]
    assert "health_path" not in answer["exceptions_applied"]  # nothing needed it


def test_the_same_config_everywhere_is_consistent(admin: Any, ops: Any, viewer: Any) -> None:
    f.world(admin)
    assert f.allocate(ops, "test", cpus=0.25, instances=1).status_code == 201
    assert f.allocate(ops, "production", cpus=4, mem=8192, instances=9).status_code == 201
    answer = _check(viewer)
    assert answer["consistent"] is True and answer["differences"] == []


REFUSALS = [
    ("/api/v1/services/order-service/consistency?a=test&b=test", 422),
    ("/api/v1/services/order-service/consistency?a=test", 422),
    ("/api/v1/services/order-service/consistency?a=test&b=Prod!", 422),
    ("/api/v1/services/order-service/consistency?a=test&b=production&x=1", 422),
    ("/api/v1/services/order-service/consistency?a=test&b=staging", 404),
    ("/api/v1/services/nobody/consistency?a=test&b=production", 404),
    ("/api/v1/services/order-service/consistency?a=test&b=production", 409),
]


def test_refusals_say_what_to_fix(admin: Any, ops: Any, viewer: Any) -> None:
    f.world(admin)
    assert f.allocate(ops, "test").status_code == 201  # not allocated in production
    for url, status in REFUSALS:
        response = viewer.get(url)
        assert response.status_code == status, (url, response.get_json())
        assert response.mimetype == "application/problem+json"
    detail = viewer.get(REFUSALS[-1][0]).get_json()["detail"]
    assert "not allocated in 'production'" in detail


def test_exceptions_are_validated_and_need_ops(admin: Any, viewer: Any) -> None:
    f.service(admin)
    url = "/api/v1/services/order-service"
    for bad in (["image"], ["env:"], ["env:A B"], ["health_path", "health_path"]):
        response = admin.patch(url, json={"consistency_exceptions": bad})
        assert response.status_code == 422, (bad, response.get_json())
    assert viewer.patch(url, json={"consistency_exceptions": []}).status_code == 403
    assert admin.get(url).get_json()["consistency_exceptions"] == []
