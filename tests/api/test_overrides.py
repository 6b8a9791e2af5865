"""Overrides and defaults are held to Marathon's schema and rules when saved, and nothing
broken is served: 422 naming the field when saving, 409 naming the allocation when
serving data saved before the checks, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from marathon.validation import findings
from models import Allocation
from tests import factories as f

IMAGE = "registry.local/shop/order-service:1.0"
MARATHON = f.allocation_url("production", "order-service") + "/marathon?image=" + IMAGE


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"env": {"FEATURE_N": 1}}, "overrides.env.FEATURE_N", "must be a string"),
        ({"labels": {"replicas": 3}}, "overrides.labels.replicas", "must be a string"),
        ({"healthChecks": "none"}, "overrides.healthChecks", "must be a list"),
        ({"cmd": "run.sh", "args": ["--fast"]}, "overrides.cmd", "give either cmd or args"),
        ({"backoffSeconds": -3}, "overrides.backoffSeconds", "must be at least 0"),
        ({"container": {"docker": {"image": 5}}}, "overrides.container.docker.image", "build's"),
        ({"container": None}, "overrides.container", "the build's image"),
        ({"container": {"docker": None}}, "overrides.container.docker", "the build's image"),
        ({"labels": {"BERTH_SERVICE": "x"}}, "overrides.labels.BERTH_SERVICE", "berth writes"),
        ({"fetch": [{"uri": 5}]}, "overrides.fetch.0.uri", "must be a string"),
        ({"unknownField": True}, "overrides.unknownField", "not a field Marathon knows"),
        (
            {"healthChecks": [{"protocol": "HTTP", "portIndex": 7}]},
            "overrides.healthChecks.0.portIndex",
            "must address one of 2 ports",
        ),
    ],
)
def test_an_override_marathon_refuses_is_422_naming_it_and_nothing_is_saved(
    admin: Any, ops: Any, overrides: dict[str, Any], field: str, message: str
) -> None:
    f.world(admin)
    refused = f.allocate(ops, overrides=overrides)
    assert refused.status_code == 422, refused.get_json()
    problem = refused.get_json()
    assert problem["type"] == "urn:berth:problem:invalid"
    assert any(message in m for m in problem["errors"][field]), problem["errors"]
    assert f"{field}: " in problem["detail"]
    assert ops.get(f.allocation_url("production", "order-service")).status_code == 404
    # an allocation that is there keeps what it had
    assert f.allocate(ops).status_code == 201
    again = f.allocate(ops, overrides=overrides)
    assert again.status_code == 422
    assert ops.get(f.allocation_url("production", "order-service")).get_json()["overrides"] == {}


def test_what_a_patch_nulls_out_berth_writes_back(admin: Any, ops: Any, tokens: dict) -> None:
    f.world(admin)
    assert f.allocate(ops, overrides={"labels": None, "env": None}).status_code == 201
    pipeline = ops.get(MARATHON)
    assert pipeline.status_code == 200, pipeline.get_json()
    definition = pipeline.get_json()
    assert definition["labels"]["BERTH_SERVICE"] == "order-service"
    assert definition["container"]["docker"]["image"] == IMAGE
    assert findings(definition) == []


def test_a_default_marathon_refuses_is_422_naming_it(admin: Any, ops: Any) -> None:
    f.world(admin)
    bad = {"defaults": {"patch": {"backoffSeconds": -1}}}
    refused = admin.patch("/api/v1/environments/production", json=bad)
    assert refused.status_code == 422, refused.get_json()
    assert "defaults.patch.backoffSeconds" in refused.get_json()["errors"]
    # a default that breaks only with an allocation's own override is named with it
    assert f.allocate(ops, overrides={"cmd": "run.sh"}).status_code == 201
    clash = admin.patch(
        "/api/v1/environments/production", json={"defaults": {"patch": {"args": ["-x"]}}}
    )
    assert clash.status_code == 422, clash.get_json()
    assert any("order-service" in k for k in clash.get_json()["errors"])
    created = admin.post(
        "/api/v1/environments",
        json={"name": "stage", "cluster": "east", "marathon_group": "/stage", **bad},
    )
    assert created.status_code == 422
    assert admin.get("/api/v1/environments/stage").status_code == 404


def test_a_definition_saved_before_the_checks_is_refused_with_409_not_served(
    app: Any, admin: Any, ops: Any
) -> None:
    f.world(admin)
    assert f.allocate(ops).status_code == 201
    with app.extensions["berth"].sessions() as session:  # as an older berth saved it
        session.execute(update(Allocation).values(overrides={"env": {"X": "\ud800"}}))
        session.commit()
    answer = ops.get(MARATHON)
    assert answer.status_code == 409, answer.get_json()
    assert "order-service in production" in answer.get_json()["detail"]
    with app.extensions["berth"].sessions() as session:
        session.execute(update(Allocation).values(overrides={"backoffSeconds": -3}))
        session.commit()
    answer = ops.get(MARATHON)
    assert answer.status_code == 409 and "backoffSeconds" in answer.get_json()["detail"]
